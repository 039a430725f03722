//! Published ports, node side (issue 6, item 3): the host listeners. A node
//! listens on a published host port only while the client that owns the
//! publication's address is attached to it (`Node::sync_published`), so
//! the listener moves with the client.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use nat::{Protocol, Translator};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vswitch::key::ChainId;

use super::io::IoEvent;

#[derive(Debug)]
struct Listener {
    task: JoinHandle<()>,
    /// UDP: a non-blocking duplicate of the reader's socket, for replies.
    udp: Option<std::net::UdpSocket>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One network's open host listeners.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    open: HashMap<(Protocol, u16), Listener>,
    /// Ports whose bind failed (logged once until they bind or go).
    failed: HashSet<(Protocol, u16)>,
}

impl Listeners {
    pub(crate) fn is_open(&self, proto: Protocol, port: u16) -> bool {
        self.open.contains_key(&(proto, port))
    }

    pub(crate) fn ports(&self) -> Vec<(Protocol, u16)> {
        self.open.keys().copied().collect()
    }

    /// Opens the host listener of `port` if it is not open. Returns false
    /// when binding failed for the first time (to be counted).
    pub(crate) fn ensure(
        &mut self,
        network: ChainId,
        proto: Protocol,
        port: u16,
        tx: &mpsc::Sender<IoEvent>,
    ) -> bool {
        if self.is_open(proto, port) {
            return true;
        }
        let opened = match proto {
            Protocol::Tcp => listen_tcp(network, port, tx.clone()),
            Protocol::Udp => listen_udp(network, port, tx.clone()),
        };
        match opened {
            Ok(listener) => {
                self.failed.remove(&(proto, port));
                tracing::info!(?proto, port, "published port listening");
                self.open.insert((proto, port), listener);
                true
            }
            Err(err) => {
                if self.failed.insert((proto, port)) {
                    tracing::warn!(?proto, port, %err, "published port could not be bound");
                    return false;
                }
                true
            }
        }
    }

    pub(crate) fn close(&mut self, proto: Protocol, port: u16) {
        self.failed.remove(&(proto, port));
        if self.open.remove(&(proto, port)).is_some() {
            tracing::info!(?proto, port, "published port closed here");
        }
    }

    /// A client's reply on a published UDP port. False: not sent.
    pub(crate) fn send_udp(&self, port: u16, remote: SocketAddrV4, payload: &[u8]) -> bool {
        self.open
            .get(&(Protocol::Udp, port))
            .and_then(|l| l.udp.as_ref())
            .is_some_and(|socket| socket.send_to(payload, remote).is_ok())
    }
}

/// The client address `port` is published to in this translator.
pub(crate) fn client_of(t: &Translator, proto: Protocol, port: u16) -> Option<Ipv4Addr> {
    t.published()
        .find(|(p, host_port, _)| *p == proto && *host_port == port)
        .map(|(_, _, client)| *client.ip())
}

fn listen_tcp(network: ChainId, port: u16, tx: mpsc::Sender<IoEvent>) -> std::io::Result<Listener> {
    let std = std::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))?;
    std.set_nonblocking(true)?;
    let listener = TcpListener::from_std(std)?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, remote)) = listener.accept().await else {
                // Out of descriptors or similar: back off a little.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let event = IoEvent::InboundTcp {
                network,
                host_port: port,
                remote,
                stream,
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    Ok(Listener { task, udp: None })
}

fn listen_udp(network: ChainId, port: u16, tx: mpsc::Sender<IoEvent>) -> std::io::Result<Listener> {
    let std = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))?;
    std.set_nonblocking(true)?;
    let socket = std.try_clone()?;
    let reader = UdpSocket::from_std(std)?;
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((len, remote)) = reader.recv_from(&mut buf).await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let remote: SocketAddr = remote;
            let event = IoEvent::InboundUdp {
                network,
                host_port: port,
                remote,
                payload: buf.get(..len).unwrap_or_default().to_vec(),
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    Ok(Listener {
        task,
        udp: Some(socket),
    })
}
