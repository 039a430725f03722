//! Errors of local calls (network input never errors: it is counted).

use std::fmt;
use std::net::SocketAddrV4;

/// Why `tcp_connect` or `udp_send` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A connection between these endpoints exists.
    InUse {
        local_port: u16,
        remote: SocketAddrV4,
    },
    /// `max_sockets_total` connections exist.
    CapTotal,
    /// `max_sockets_per_peer_ip` connections to this peer exist.
    CapPerPeerIp(SocketAddrV4),
    /// Port 0, or an unspecified/broadcast/multicast remote.
    BadEndpoint(SocketAddrV4),
    /// The datagram does not fit the MTU.
    TooLarge { len: usize, max: usize },
    /// The transmit queue is full.
    QueueFull,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InUse { local_port, remote } => {
                write!(f, "a connection from port {local_port} to {remote} exists")
            }
            Error::CapTotal => write!(f, "the total connection cap is reached"),
            Error::CapPerPeerIp(r) => write!(f, "the connection cap for {} is reached", r.ip()),
            Error::BadEndpoint(r) => write!(f, "{r} is not a unicast endpoint with a port"),
            Error::TooLarge { len, max } => {
                write!(f, "a {len}-byte datagram exceeds the {max}-byte limit")
            }
            Error::QueueFull => write!(f, "the transmit queue is full"),
        }
    }
}

impl std::error::Error for Error {}
