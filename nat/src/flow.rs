//! Flows: what identifies one (its key), what kind it is, and the state the
//! translator keeps for it.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use smoltcp::wire::EthernetAddress;

use crate::tcp::TcpFlow;

/// A flow's name in commands and calls. Never reused by one translator, so
/// a late call for a finished flow cannot reach a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId(pub u64);

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flow#{}", self.0)
    }
}

/// What a flow translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// Client -> outside UDP, one connected host socket.
    Udp,
    /// Client -> outside ICMP echo, one ping socket.
    Ping,
    /// Client -> outside TCP.
    Tcp,
    /// Outside -> published host UDP port -> client.
    PublishedUdp,
    /// Outside -> published host TCP port -> client.
    PublishedTcp,
}

impl FlowKind {
    pub const ALL: [FlowKind; 5] = [
        FlowKind::Udp,
        FlowKind::Ping,
        FlowKind::Tcp,
        FlowKind::PublishedUdp,
        FlowKind::PublishedTcp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FlowKind::Udp => "udp",
            FlowKind::Ping => "ping",
            FlowKind::Tcp => "tcp",
            FlowKind::PublishedUdp => "published_udp",
            FlowKind::PublishedTcp => "published_tcp",
        }
    }

    pub(crate) fn index(self) -> usize {
        FlowKind::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or_default()
    }
}

/// Flow counts for `tok status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Flows per kind, indexed like `FlowKind::ALL`.
    pub by_kind: [usize; 5],
    /// TCP flows whose host side is finished, kept for TIME-WAIT.
    pub tcp_time_wait: usize,
    /// Flows per client address, ascending.
    pub per_client: Vec<(Ipv4Addr, usize)>,
}

impl FlowStats {
    pub fn kind(&self, kind: FlowKind) -> usize {
        self.by_kind[kind.index()]
    }

    pub fn total(&self) -> usize {
        self.by_kind.iter().sum()
    }
}

/// The transport a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Transport {
    Udp,
    Tcp,
    Icmp,
}

/// A flow's identity as the client sees it. For ICMP echo the client
/// "port" is the echo identifier and the remote port is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FlowKey {
    pub transport: Transport,
    pub client: SocketAddrV4,
    pub remote: SocketAddrV4,
}

/// One flow's state.
#[derive(Debug)]
pub(crate) struct Flow {
    pub key: FlowKey,
    pub kind: FlowKind,
    /// Where frames to the client go (the gateway learnt it from the client's
    /// frames or resolved it for a published port).
    pub client_mac: EthernetAddress,
    /// When the flow's timer fires (idle, connect or closing timeout).
    pub deadline: Instant,
    pub state: FlowState,
}

#[derive(Debug)]
pub(crate) enum FlowState {
    /// Outbound UDP or echo: all state is in the key and the host socket.
    Datagram,
    /// Published UDP: replies leave through the listener on `host_port`.
    PublishedUdp {
        host_port: u16,
    },
    Tcp(Box<TcpFlow>),
}
