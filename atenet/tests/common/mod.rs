//! What the integration tests share: a `tok`-like in-process client and
//! helpers to start nodes and wait for their status.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use atenet::status::Snapshot;
use atenet::{Config, Running};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::UdpSocket;
use vswitch::endpoint::{Endpoint, EndpointConfig, EndpointEvent, Received};
use vswitch::key::{AccessKey, KeyRole};
use vswitch::wire::{PacketKind, SessionId};

/// A `tok`-like client: one session with one node.
pub struct TestClient {
    socket: UdpSocket,
    endpoint: Endpoint,
    session: SessionId,
    node: SocketAddr,
    rng: StdRng,
}

impl TestClient {
    pub async fn connect(node: SocketAddr, key: &AccessKey) -> TestClient {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut endpoint = Endpoint::new(EndpointConfig::default());
        let mut rng = StdRng::from_entropy();
        let mut buf = [0u8; 2048];
        let init = endpoint
            .connect(
                Instant::now(),
                node,
                key,
                KeyRole::Client,
                &[],
                &mut rng,
                &mut buf,
            )
            .unwrap();
        socket.send_to(&buf[..init.len], node).await.unwrap();
        let mut client = TestClient {
            socket,
            endpoint,
            session: init.session,
            node,
            rng,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match client.next(deadline).await {
                Some(Got::Established) => break,
                Some(_) => {}
                None => panic!("no handshake reply from {node}"),
            }
        }
        client
    }

    pub async fn send(&mut self, kind: PacketKind, payload: &[u8]) {
        let mut buf = [0u8; 2048];
        let len = self
            .endpoint
            .seal(Instant::now(), self.session, kind, payload, &mut buf)
            .unwrap();
        self.socket.send_to(&buf[..len], self.node).await.unwrap();
    }

    /// The next interesting thing before `deadline`; keepalives are
    /// answered on the way.
    pub async fn next(&mut self, deadline: Instant) -> Option<Got> {
        let mut buf = [0u8; 2048];
        let mut reply = [0u8; 2048];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let received =
                tokio::time::timeout(deadline - now, self.socket.recv_from(&mut buf)).await;
            let Ok(Ok((len, from))) = received else {
                return None;
            };
            let got = match self.endpoint.handle(
                Instant::now(),
                from,
                &mut buf[..len],
                &mut self.rng,
                &mut reply,
            ) {
                Received::Frame { frame, .. } => Some(Got::Frame(frame.to_vec())),
                Received::Established { .. } => Some(Got::Established),
                Received::Leave { .. } => Some(Got::Leave),
                _ => None,
            };
            while let Some(event) = self.endpoint.poll_event() {
                if let EndpointEvent::KeepaliveDue(session) = event {
                    if session == self.session {
                        self.send(PacketKind::Keepalive, &[]).await;
                    }
                }
            }
            if got.is_some() {
                return got;
            }
        }
    }

    pub async fn next_frame(&mut self, within: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + within;
        loop {
            match self.next(deadline).await? {
                Got::Frame(frame) => return Some(frame),
                Got::Established | Got::Leave => {}
            }
        }
    }

    pub async fn wait_leave(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            match self.next(deadline).await {
                Some(Got::Leave) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    }
}

#[derive(Debug)]
pub enum Got {
    Frame(Vec<u8>),
    Established,
    Leave,
}

pub async fn start_node(dir: &Path, metrics: bool) -> Running {
    start_node_at(dir, "127.0.0.1:0".parse().unwrap(), metrics).await
}

pub async fn start_node_at(dir: &Path, listen: SocketAddr, metrics: bool) -> Running {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    atenet::start(Config {
        data_dir: dir.to_path_buf(),
        store: String::new(),
        listen,
        advertise: listen,
        metrics: metrics.then_some(loopback),
        wss: None,
        dns: Vec::new(),
        nat_idle: None,
    })
    .await
    .unwrap()
}

/// Polls a node's snapshot until `check` holds (or panics after 10 s).
pub async fn wait_for(node: &Running, what: &str, check: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snapshot = node.handle.snapshot().await.unwrap();
        if check(&snapshot) {
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {snapshot:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn peer_up(snapshot: &Snapshot) -> bool {
    snapshot.peers.len() == 1 && snapshot.peers[0].connected && snapshot.peers[0].reachable
}

impl TestClient {
    /// The next frame `wanted` accepts, skipping others (probes, floods).
    pub async fn next_where(
        &mut self,
        within: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let frame = self.next_frame(left).await?;
            if wanted(&frame) {
                return Some(frame);
            }
        }
    }
}
