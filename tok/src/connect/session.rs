//! The `tok connect` event loop: one task, one UDP socket, one tap.
//!
//! tap read -> seal Frame into the socket's send lane -> one GSO send per
//! burst; UDP batch receive (`recvmmsg`, GRO) -> `Endpoint::handle` ->
//! Frame -> tap write. Tap reads may be TCP super-frames (TSO, see
//! [`super::offload`]): they are cut into MTU-sized frames before sealing;
//! frames from the node are coalesced during a burst of packets and written
//! when the burst ends. Keepalives when the endpoint's timers say so, a
//! gratuitous ARP every 15 s, failover when the node is silent for 3 s.
//! Buffers are allocated once; nothing is allocated per frame.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use rand::rngs::OsRng;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use udpio::{RxBatch, Sent, UdpIo};
use vswitch::endpoint::{Endpoint, EndpointConfig, EndpointEvent, Received};
use vswitch::key::{AccessKey, KeyRole};
use vswitch::wire::{PacketKind, SessionId, MAX_FRAME, MAX_PACKET, MIN_FRAME};

use super::dhcp_apply::{Applier, Apply};
use super::failover::{Failover, GaveUp, RETRY, SILENCE};
use super::garp::{self, GARP_INTERVAL, GARP_LEN};
use super::iproute;
use super::offload::coalesce::{CoalesceStats, Coalescer};
use super::offload::segment::{self, Read, SegmentStats};
use super::offload::VNET_HDR_LEN;
use super::tap::Tap;
use ::dhcp::client::wire::MAX_CLIENT_FRAME;
use ::dhcp::client::Client as DhcpClient;

mod dhcp;

/// Tap reads: the virtio header and a frame of any MTU a user may set later
/// with `ip`, or a TCP super-frame (64 KiB by default: twice that).
const TAP_BUF: usize = VNET_HDR_LEN + 131_072;
/// Tap frames handled per wake-up before the loop polls its other sources
/// again.
const BURST: usize = 64;
/// Receive batches (`recvmmsg` of up to 32 buffers, each possibly many
/// GRO-glued datagrams) handled per wake-up.
const RECEIVE_BURST: usize = 4;
/// Sealed packets and handshake messages we write.
const OUT_BUF: usize = MAX_PACKET + 512;

/// Counts shown at debug level on exit.
#[derive(Debug, Default)]
struct Stats {
    frames_to_node: u64,
    frames_from_node: u64,
    tap_drops_no_session: u64,
    tap_drops_size: u64,
    tap_write_drops: u64,
    packets_dropped: u64,
    send_errors: u64,
    /// `sendmsg` calls (GSO carries several packets in one).
    send_calls: u64,
    packets_sent: u64,
    /// Tap reads: super-frames cut, checksums completed, malformed dropped.
    tap_offload: SegmentStats,
    /// Tap writes: super-frames built from the node's frames.
    tap_coalesce: CoalesceStats,
}

/// Everything the loop owns.
#[derive(Debug)]
pub struct Client {
    key: AccessKey,
    endpoint: Endpoint,
    failover: Failover,
    /// The handshake in flight with the current address.
    pending: Option<SessionId>,
    /// The established session with the current address.
    session: Option<SessionId>,
    tap: Tap,
    mac: [u8; 6],
    /// The UDP socket with batched receive and GSO send lanes.
    udp: UdpIo,
    /// The socket is IPv6 (some node is): IPv4 nodes are sent to as
    /// v4-mapped addresses.
    dual_stack: bool,
    rng: OsRng,
    tap_buf: Box<[u8]>,
    /// One segment of a TCP super-frame read from the tap.
    seg_buf: Box<[u8]>,
    /// Frames from the node on their way to the tap.
    coalescer: Coalescer,
    out_buf: Box<[u8]>,
    reply_buf: Box<[u8]>,
    garp_buf: [u8; GARP_LEN],
    /// The tap's IPv4 addresses, refreshed every 15 s by a helper task.
    ipv4: Vec<Ipv4Addr>,
    /// `--dhcp`: the client and where its leases are applied.
    dhcp: Option<Dhcp>,
    dhcp_buf: Box<[u8]>,
    stats: Stats,
}

/// `--dhcp`: our DHCP client, started at the first session.
#[derive(Debug)]
struct Dhcp {
    hostname: Option<String>,
    client: Option<DhcpClient>,
    applier: mpsc::UnboundedSender<Apply>,
}

/// Why the loop ended.
enum Stop {
    Signal(&'static str),
}

impl Client {
    /// `dhcp`: obtain a lease for the tap (`--dhcp`); must be called inside
    /// the tokio runtime.
    pub fn new(
        key: AccessKey,
        nodes: Vec<SocketAddr>,
        tap: Tap,
        mac: [u8; 6],
        dhcp: bool,
    ) -> Result<Client> {
        let dual_stack = nodes.iter().any(SocketAddr::is_ipv6);
        let udp = super::udp_socket::bind(dual_stack)?;
        let dhcp = dhcp.then(|| Dhcp {
            hostname: system_hostname(),
            client: None,
            applier: Applier::spawn(tap.name().to_owned()),
        });
        Ok(Client {
            key,
            endpoint: Endpoint::new(EndpointConfig::default()),
            failover: Failover::new(nodes, SILENCE, RETRY),
            pending: None,
            session: None,
            coalescer: Coalescer::new(tap.offload()),
            tap,
            mac,
            udp,
            dual_stack,
            rng: OsRng,
            tap_buf: vec![0; TAP_BUF].into_boxed_slice(),
            seg_buf: vec![0; MAX_FRAME].into_boxed_slice(),
            out_buf: vec![0; OUT_BUF].into_boxed_slice(),
            reply_buf: vec![0; OUT_BUF].into_boxed_slice(),
            garp_buf: [0; GARP_LEN],
            ipv4: Vec::new(),
            dhcp,
            dhcp_buf: vec![0; MAX_CLIENT_FRAME].into_boxed_slice(),
            stats: Stats::default(),
        })
    }

    /// Runs until SIGINT/SIGTERM (then sends Leave and returns Ok) or a
    /// fatal error (revoked key, tap gone).
    pub async fn run(mut self) -> Result<()> {
        let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut addresses = spawn_address_watch(self.tap.name().to_owned());

        let mut rx = RxBatch::new();
        self.poll_failover(Instant::now()).await;
        let stop = loop {
            // What the last event sealed waits in the send lane: it leaves
            // (as one GSO send when it can) before the loop waits again.
            self.flush().await;
            let deadline = self.deadline();
            tokio::select! {
                _ = sigint.recv() => break Stop::Signal("SIGINT"),
                _ = sigterm.recv() => break Stop::Signal("SIGTERM"),
                read = self.tap.recv(&mut self.tap_buf) => {
                    let n = read.with_context(|| format!("reading tap {}", self.tap.name()))?;
                    // Drain what else is queued before polling everything
                    // again: up to BURST frames (a super-frame counts as
                    // the segments it makes).
                    let mut frames = self.on_tap_read(n).await;
                    while frames < BURST {
                        match self.tap.try_recv(&mut self.tap_buf) {
                            Ok(Some(n)) => frames += self.on_tap_read(n).await,
                            Ok(None) => break,
                            Err(e) => {
                                return Err(e).with_context(|| format!("reading tap {}", self.tap.name()));
                            }
                        }
                    }
                }
                recv = self.udp.recv(&mut rx) => {
                    match recv {
                        Ok(_) => self.on_batch(&mut rx).await?,
                        Err(e) => tracing::debug!(error = %e, "udp recv"),
                    }
                    for _ in 1..RECEIVE_BURST {
                        match self.udp.try_recv(&mut rx) {
                            Ok(0) => break,
                            Ok(_) => self.on_batch(&mut rx).await?,
                            Err(e) => {
                                tracing::debug!(error = %e, "udp recv");
                                break;
                            }
                        }
                    }
                    self.flush_tap();
                }
                Some(ips) = addresses.recv() => {
                    self.ipv4 = ips;
                    self.send_garps().await;
                }
                () = sleep_until(deadline) => self.on_timer().await,
            }
        };
        let Stop::Signal(which) = stop;
        tracing::info!(signal = which, "stopping");
        self.leave().await;
        self.flush().await;
        tracing::debug!(stats = ?self.stats, "tok connect stopped");
        Ok(())
    }

    /// The next time something is due (endpoint timers, failover).
    fn deadline(&self) -> Option<Instant> {
        let dhcp = self
            .dhcp
            .as_ref()
            .and_then(|d| d.client.as_ref())
            .and_then(DhcpClient::poll_timeout);
        [self.endpoint.poll_timeout(), self.failover.deadline(), dhcp]
            .into_iter()
            .flatten()
            .min()
    }

    fn wire_addr(&self, addr: SocketAddr) -> SocketAddr {
        match addr.ip() {
            IpAddr::V4(v4) if self.dual_stack => {
                SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), addr.port())
            }
            _ => addr,
        }
    }

    /// Sends `out_buf[..len]` now, after what the send lane holds.
    async fn send(&mut self, len: usize, to: SocketAddr) {
        let to = self.wire_addr(to);
        let sent = self.udp.send_to(&self.out_buf[..len], to).await;
        self.count(sent);
    }

    /// Sends what the send lane holds.
    async fn flush(&mut self) {
        let sent = self.udp.flush().await;
        self.count(sent);
    }

    fn count(&mut self, sent: Sent) {
        self.stats.packets_sent += sent.packets;
        self.stats.send_errors += sent.errors;
        self.stats.send_calls += sent.calls;
        if sent.errors > 0 {
            tracing::debug!(lost = sent.errors, "udp send failed");
        }
    }

    /// Seals `kind` with `payload` for the current session into the send
    /// lane; it leaves with the rest of the burst.
    async fn seal_and_send(&mut self, kind: PacketKind, payload: Payload) {
        let Some(session) = self.session else {
            return;
        };
        let payload: &[u8] = match payload {
            Payload::Empty => &[],
            Payload::Tap(start, end) => &self.tap_buf[start..end],
            Payload::Segment(n) => &self.seg_buf[..n],
            Payload::Garp => &self.garp_buf,
            Payload::Dhcp(n) => &self.dhcp_buf[..n],
        };
        match self
            .endpoint
            .seal(Instant::now(), session, kind, payload, self.udp.tx_slot())
        {
            Ok(len) => {
                let to = self.wire_addr(self.failover.current());
                let sent = self.udp.tx_commit(len, to).await;
                self.count(sent);
            }
            Err(e) => tracing::debug!(error = %e, ?kind, "seal"),
        }
    }

    /// One tap read (`n` bytes of `tap_buf`, virtio header first): one
    /// frame, or a TCP super-frame cut into segments here.
    /// Returns how many frames it made (at least 1).
    async fn on_tap_read(&mut self, n: usize) -> usize {
        if self.session.is_none() {
            self.stats.tap_drops_no_session += 1;
            return 1;
        }
        match segment::prepare(
            &mut self.tap_buf[..n],
            MAX_FRAME,
            &mut self.stats.tap_offload,
        ) {
            Read::Frame(at) => {
                self.on_tap_frame(Payload::Tap(at.start, at.end)).await;
                1
            }
            Read::Gso(gso) => {
                for i in 0..gso.count() {
                    let len = gso.segment(i, &self.tap_buf[..n], &mut self.seg_buf);
                    self.on_tap_frame(Payload::Segment(len)).await;
                }
                gso.count()
            }
            Read::Dropped(reason) => {
                tracing::trace!(?reason, "tap read dropped");
                1
            }
        }
    }

    async fn on_tap_frame(&mut self, frame: Payload) {
        let n = match frame {
            Payload::Tap(start, end) => end - start,
            Payload::Segment(n) => n,
            _ => 0,
        };
        if !(MIN_FRAME..=MAX_FRAME).contains(&n) {
            self.stats.tap_drops_size += 1;
            tracing::trace!(len = n, "tap frame of unsupported size dropped");
            return;
        }
        self.stats.frames_to_node += 1;
        self.seal_and_send(PacketKind::Frame, frame).await;
    }

    /// Writes what the coalescer holds: at the end of each burst of packets
    /// from the node.
    fn flush_tap(&mut self) {
        let (tap, drops) = (&self.tap, &mut self.stats.tap_write_drops);
        self.coalescer
            .flush(&mut self.stats.tap_coalesce, &mut |vnet, frame| {
                write_tap(tap, drops, vnet, frame);
            });
    }

    /// Handles what one `recvmmsg` brought (GRO glues a sender's datagrams
    /// at a fixed stride).
    async fn on_batch(&mut self, rx: &mut RxBatch) -> Result<()> {
        for (from, packet) in rx.datagrams() {
            self.on_packet(packet, from).await?;
        }
        Ok(())
    }

    async fn on_packet(&mut self, packet: &mut [u8], from: SocketAddr) -> Result<()> {
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        let now = Instant::now();
        let got = match self
            .endpoint
            .handle(now, from, packet, &mut self.rng, &mut self.reply_buf)
        {
            Received::Frame { session, frame } => {
                if Some(session) == self.session {
                    self.failover.heard(now);
                    self.stats.frames_from_node += 1;
                    if let Some(client) = self.dhcp.as_mut().and_then(|d| d.client.as_mut()) {
                        client.handle_frame(now, frame);
                    }
                    // DHCP replies go to the tap too: harmless, and a
                    // client run on the tap by hand still sees them.
                    // Written now or at the end of the burst (flush_tap).
                    let (tap, drops) = (&self.tap, &mut self.stats.tap_write_drops);
                    self.coalescer
                        .push(frame, &mut self.stats.tap_coalesce, &mut |vnet, f| {
                            write_tap(tap, drops, vnet, f);
                        });
                }
                Got::Nothing
            }
            Received::Keepalive { session } | Received::Control { session, .. } => {
                if Some(session) == self.session {
                    self.failover.heard(now);
                }
                Got::Nothing
            }
            Received::Leave { session } => Got::Leave(session),
            Received::Established { session } => Got::Established(session),
            Received::Accepted { session, .. } => Got::Unexpected(session),
            Received::Revoked { key_id, .. } => Got::Revoked(key_id),
            Received::Reply { len } => Got::Reply(len),
            Received::Dropped(reason) => {
                self.stats.packets_dropped += 1;
                tracing::trace!(?reason, %from, "packet dropped");
                Got::Nothing
            }
        };
        match got {
            Got::Nothing => {}
            Got::Established(session) => self.on_established(now, session).await,
            Got::Leave(session) => {
                // The endpoint has removed the session already.
                if Some(session) == self.session {
                    self.session = None;
                    self.failover.node_left();
                }
            }
            Got::Unexpected(session) => {
                self.endpoint.remove_session(session);
            }
            Got::Revoked(key_id) => {
                if key_id == self.key.key_id {
                    return Err(anyhow!("access key {key_id} was revoked"));
                }
            }
            Got::Reply(len) => {
                self.out_buf[..len].copy_from_slice(&self.reply_buf[..len]);
                self.send(len, from).await;
            }
        }
        self.drain_events().await;
        self.drain_dhcp().await;
        self.poll_failover(now).await;
        Ok(())
    }

    async fn on_established(&mut self, now: Instant, session: SessionId) {
        if self.pending != Some(session) {
            // A late answer to a handshake we already gave up on.
            self.endpoint.remove_session(session);
            return;
        }
        self.pending = None;
        self.session = Some(session);
        self.failover.established(now);
        eprintln!(
            "connected to {} (network {}, key {})",
            self.failover.current(),
            self.key.chain_id,
            self.key.key_id
        );
        self.seal_and_send(PacketKind::Keepalive, Payload::Empty)
            .await;
        self.send_garps().await;
        if let Some(dhcp) = &mut self.dhcp {
            match &mut dhcp.client {
                Some(client) => client.kick(now),
                None => {
                    dhcp.client = Some(
                        DhcpClient::new(self.mac, rand::RngCore::next_u64(&mut self.rng), now)
                            .with_hostname(dhcp.hostname.clone()),
                    );
                }
            }
            self.on_dhcp_timer(now).await;
        }
    }

    async fn drain_events(&mut self) {
        while let Some(ev) = self.endpoint.poll_event() {
            match ev {
                EndpointEvent::KeepaliveDue(session) if Some(session) == self.session => {
                    self.seal_and_send(PacketKind::Keepalive, Payload::Empty)
                        .await;
                }
                EndpointEvent::Expired(session) => {
                    if Some(session) == self.session {
                        tracing::debug!(%session, "session expired");
                        self.session = None;
                    } else if Some(session) == self.pending {
                        self.pending = None;
                    }
                }
                _ => {}
            }
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
            self.drain_events().await;
        }
        self.on_dhcp_timer(now).await;
        self.poll_failover(now).await;
    }

    /// Starts a handshake when the failover says so, reporting why.
    async fn poll_failover(&mut self, now: Instant) {
        let Some(step) = self.failover.poll(now) else {
            return;
        };
        match step.gave_up {
            None => {}
            Some(GaveUp::NoAnswer(addr)) => {
                eprintln!("no answer from {addr} (node down, or key not accepted)");
            }
            Some(GaveUp::Silent(addr)) => eprintln!(
                "node {addr} silent for {} s; trying {}",
                SILENCE.as_secs(),
                step.handshake
            ),
            Some(GaveUp::Left(addr)) => {
                eprintln!("node {addr} closed the session; trying {}", step.handshake);
            }
        }
        for old in [self.session.take(), self.pending.take()]
            .into_iter()
            .flatten()
        {
            self.endpoint.remove_session(old);
        }
        match self.endpoint.connect(
            now,
            step.handshake,
            &self.key,
            KeyRole::Client,
            &[],
            &mut self.rng,
            &mut self.out_buf,
        ) {
            Ok(init) => {
                tracing::trace!(node = %step.handshake, session = %init.session, "handshake init sent");
                self.pending = Some(init.session);
                self.send(init.len, step.handshake).await;
                self.drain_events().await;
            }
            Err(e) => tracing::warn!(error = %e, node = %step.handshake, "handshake init"),
        }
    }

    /// One gratuitous ARP per IPv4 address of the tap.
    async fn send_garps(&mut self) {
        if self.session.is_none() {
            return;
        }
        for i in 0..self.ipv4.len() {
            garp::build(self.mac, self.ipv4[i], &mut self.garp_buf);
            self.seal_and_send(PacketKind::Frame, Payload::Garp).await;
        }
    }

    /// Tells the node we are going (best effort).
    async fn leave(&mut self) {
        let mut released = None;
        if let Some(client) = self.dhcp.as_mut().and_then(|d| d.client.as_mut()) {
            released = client.release();
            if let Some(lease) = &released {
                eprintln!("releasing {}/{}", lease.addr, lease.prefix);
            }
            self.drain_dhcp().await;
        }
        if let Some(dhcp) = self.dhcp.take() {
            // Drop the address, restore resolv.conf; wait for it (bounded).
            let (done, wait) = tokio::sync::oneshot::channel();
            if dhcp
                .applier
                .send(Apply::Shutdown {
                    lease: released,
                    done,
                })
                .is_ok()
            {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wait).await;
            }
        }
        if self.session.is_some() {
            self.seal_and_send(PacketKind::Leave, Payload::Empty).await;
        }
        if let Some(session) = self.session.take() {
            self.endpoint.remove_session(session);
        }
    }
}

/// What to seal: borrowed from one of the client's buffers.
#[derive(Clone, Copy)]
enum Payload {
    Empty,
    /// A frame read from the tap: `tap_buf[start..end]`.
    Tap(usize, usize),
    /// A segment of a super-frame read from the tap, in `seg_buf`.
    Segment(usize),
    Garp,
    /// A DHCP client frame in `dhcp_buf`.
    Dhcp(usize),
}

/// What `Endpoint::handle` asked of us, detached from the packet buffer.
enum Got {
    Nothing,
    Established(SessionId),
    Leave(SessionId),
    Unexpected(SessionId),
    Revoked(vswitch::key::KeyId),
    Reply(usize),
}

/// One tap write; a full queue or an error counts as a drop.
fn write_tap(tap: &Tap, drops: &mut u64, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) {
    match tap.send(vnet, frame) {
        Ok(true) => {}
        Ok(false) => *drops += 1,
        Err(e) => {
            *drops += 1;
            tracing::debug!(error = %e, "tap write");
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// The system host name (DHCP option 12), if it has a usable one.
fn system_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name != "(none)").then(|| name.to_owned())
}

/// Reads the tap's IPv4 addresses now and every 15 s, off the data path
/// (it spawns `ip`), and hands each list to the loop.
fn spawn_address_watch(tap: String) -> mpsc::Receiver<Vec<Ipv4Addr>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(GARP_INTERVAL);
        loop {
            tick.tick().await;
            let name = tap.clone();
            let ips = tokio::task::spawn_blocking(move || iproute::ipv4_addresses(&name)).await;
            let ips = match ips {
                Ok(Ok(ips)) => ips,
                Ok(Err(e)) => {
                    tracing::debug!(error = %format!("{e:#}"), "reading tap addresses");
                    continue;
                }
                Err(_) => continue,
            };
            if tx.send(ips).await.is_err() {
                return;
            }
        }
    });
    rx
}
