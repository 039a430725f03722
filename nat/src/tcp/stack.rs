//! The smoltcp interface that terminates clients' TCP connections.
//!
//! One `any_ip` interface answers for every outside address: its only
//! address is the gateway's, and a default route via that address makes
//! smoltcp accept packets to any unicast destination (smoltcp's AnyIP
//! rule). Each flow is one socket whose local endpoint is the outside
//! address the client dialled, so the client sees the remote host.
//! Medium IP: the translator strips and adds Ethernet headers itself, so no
//! ARP or neighbour cache is involved.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{HardwareAddress, IpCidr, IpEndpoint, IpListenEndpoint};

use super::device::Pipe;

/// Packets smoltcp may queue between two drains.
const TX_QUEUE: usize = 256;

pub(crate) struct TcpStack {
    iface: Interface,
    device: Pipe,
    sockets: SocketSet<'static>,
    epoch: std::time::Instant,
}

impl std::fmt::Debug for TcpStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStack")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Socket settings for one flow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketParams {
    pub buffer: usize,
    pub user_timeout: Duration,
}

impl TcpStack {
    pub fn new(gateway_ip: Ipv4Addr, mtu: usize, seed: u64, now: std::time::Instant) -> Self {
        let mut device = Pipe::new(mtu, TX_QUEUE);
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        // Initial sequence numbers come from this seed (RFC 6528 wants them
        // unpredictable: the caller passes a random seed).
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, SmolInstant::ZERO);
        iface.update_ip_addrs(|addrs| {
            // The table holds several addresses; one never overflows it.
            let _ = addrs.push(IpCidr::new(gateway_ip.into(), 32));
        });
        // A default route via our own address: smoltcp's AnyIP condition.
        let _ = iface.routes_mut().add_default_ipv4_route(gateway_ip);
        iface.set_any_ip(true);
        TcpStack {
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            epoch: now,
        }
    }

    fn at(&self, now: std::time::Instant) -> SmolInstant {
        let micros = now.saturating_duration_since(self.epoch).as_micros();
        SmolInstant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// Hands smoltcp one client IP packet and lets it answer.
    pub fn feed(&mut self, now: std::time::Instant, packet: &[u8]) {
        self.device.rx.push_back(packet.to_vec());
        self.poll(now);
        // A packet smoltcp did not take (device busy) is dropped like a
        // full NIC ring would: TCP retransmits.
        self.device.rx.clear();
    }

    pub fn poll(&mut self, now: std::time::Instant) {
        let at = self.at(now);
        self.iface.poll(at, &mut self.device, &mut self.sockets);
    }

    /// The next IP packet smoltcp sent.
    pub fn take_tx(&mut self) -> Option<Vec<u8>> {
        self.device.tx.pop_front()
    }

    /// When smoltcp wants `poll` again (retransmit, delayed ACK, TIME-WAIT).
    pub fn poll_at(&mut self, now: std::time::Instant) -> Option<std::time::Instant> {
        let at = self.at(now);
        let next = self.iface.poll_at(at, &self.sockets)?;
        let micros = u64::try_from(next.total_micros()).unwrap_or(0);
        Some(self.epoch + Duration::from_micros(micros))
    }

    fn socket_new(params: SocketParams) -> tcp::Socket<'static> {
        let rx = tcp::SocketBuffer::new(vec![0u8; params.buffer]);
        let tx = tcp::SocketBuffer::new(vec![0u8; params.buffer]);
        let mut socket = tcp::Socket::new(rx, tx);
        socket.set_timeout(Some(SmolDuration::from_millis(
            u64::try_from(params.user_timeout.as_millis()).unwrap_or(u64::MAX),
        )));
        // We relay: the sender already chose its segment sizes.
        socket.set_nagle_enabled(false);
        socket
    }

    /// A socket listening on the outside address the client dialled, for
    /// the held SYN about to be fed.
    pub fn listen(&mut self, outside: SocketAddrV4, params: SocketParams) -> Option<SocketHandle> {
        let mut socket = Self::socket_new(params);
        let endpoint = IpListenEndpoint {
            addr: Some((*outside.ip()).into()),
            port: outside.port(),
        };
        socket.listen(endpoint).ok()?;
        Some(self.sockets.add(socket))
    }

    /// A socket connecting to a client from an outside address (published
    /// port).
    pub fn connect(
        &mut self,
        client: SocketAddrV4,
        outside: SocketAddrV4,
        params: SocketParams,
    ) -> Option<SocketHandle> {
        let mut socket = Self::socket_new(params);
        let remote = IpEndpoint::new((*client.ip()).into(), client.port());
        let local = IpListenEndpoint {
            addr: Some((*outside.ip()).into()),
            port: outside.port(),
        };
        socket.connect(self.iface.context(), remote, local).ok()?;
        Some(self.sockets.add(socket))
    }

    /// The socket of a live flow (handles are only kept by live flows).
    pub fn socket(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut(handle)
    }

    pub fn remove(&mut self, handle: SocketHandle) {
        self.sockets.remove(handle);
    }
}
