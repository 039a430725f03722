//! The one trait every service on the gateway address implements (DNS
//! today; the IoT relay, the device protocol and CoAP/DTLS next).
//!
//! A service is Sans-IO: it is handed what its listeners received on the
//! virtual host of a network and what came back on its host sockets, with
//! `now`; it answers through [`Cx`]: bytes to a connection or datagram on
//! a virtual host, datagrams or TCP messages to the host network. It never
//! sees another service, the switch or a socket.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::Instant;

use rand::RngCore;
use vhost::{Event, Protocol, VirtualHost};
use vswitch::key::ChainId;

use super::Hosts;

/// How a host message travels (between the node and the host network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostTransport {
    /// One datagram from the service's UDP socket.
    Udp,
    /// One message over a fresh TCP connection, framed with a two-byte
    /// length (RFC 7766 style); the answer comes back the same way.
    Tcp,
}

/// Bytes a service sends to the host network (the edge owns the sockets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTransmit {
    /// Index of the sending service (filled in by the runtime).
    pub service: usize,
    pub to: SocketAddr,
    pub transport: HostTransport,
    pub bytes: Vec<u8>,
}

/// Bytes that came back from the host network to a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMessage {
    pub from: SocketAddr,
    pub transport: HostTransport,
    pub bytes: Vec<u8>,
}

/// What a service may touch while it handles one input.
pub struct Cx<'a> {
    pub now: Instant,
    /// The virtual hosts of every network (answers go through them).
    pub hosts: &'a mut Hosts,
    /// Host-network sends; `service` is set by the runtime.
    pub host_out: &'a mut Vec<HostTransmit>,
    /// Randomness (IDs, ports), seeded by the caller.
    pub rng: &'a mut dyn RngCore,
}

impl std::fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cx")
            .field("now", &self.now)
            .field("host_out", &self.host_out.len())
            .finish_non_exhaustive()
    }
}

impl Cx<'_> {
    /// The virtual host of `network`, if it still has one.
    pub fn host(&mut self, network: ChainId) -> Option<&mut VirtualHost> {
        self.hosts.get_mut(network)
    }

    /// Queues bytes for the host network.
    pub fn send_host(&mut self, to: SocketAddr, transport: HostTransport, bytes: Vec<u8>) {
        self.host_out.push(HostTransmit {
            service: usize::MAX,
            to,
            transport,
            bytes,
        });
    }
}

/// A service on the gateway address of every network.
///
/// Drain rule: the runtime calls `handle_*` and then drains the virtual
/// hosts and `host_out` itself; a service only queues.
pub trait GatewayService: Debug + Send {
    /// Its name in logs, metrics and `tok status` (`dns`, `relay`, ...).
    fn name(&self) -> &'static str;

    /// The ports it listens on, on the gateway address of every network.
    fn listeners(&self) -> Vec<(Protocol, u16)>;

    /// An event of `network`'s virtual host on one of its listeners or
    /// connections (`TcpAccepted`, `TcpReadable`, `UdpDatagram`, ...).
    fn handle_event(&mut self, cx: &mut Cx<'_>, network: ChainId, event: Event);

    /// Bytes that came back on one of its host sockets.
    fn handle_host(&mut self, cx: &mut Cx<'_>, message: HostMessage) {
        let _ = (cx, message);
    }

    /// When [`GatewayService::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }

    /// A network's virtual host went away: forget its state.
    fn network_removed(&mut self, network: ChainId) {
        let _ = network;
    }

    /// Its counters by name (drops as `drop_<reason>`).
    fn counters(&self) -> Vec<(&'static str, u64)>;
}
