//! What the host tells its services.

use std::fmt;
use std::net::SocketAddrV4;

/// A TCP connection's handle: stable for the connection's life, never
/// reused by the same host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// A transport protocol of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// Something a service must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client completed a handshake with a listened port.
    TcpAccepted {
        conn: ConnId,
        local_port: u16,
        peer: SocketAddrV4,
    },
    /// An outbound connection (`tcp_connect`) completed its handshake.
    TcpConnected(ConnId),
    /// Bytes wait in `conn`: call `tcp_recv` until it returns 0. Sent again
    /// only after a `tcp_recv` left the buffer empty.
    TcpReadable(ConnId),
    /// `tcp_send` took less than offered earlier and there is room now.
    TcpWritable(ConnId),
    /// The peer sent FIN and every byte before it was read: it sends no
    /// more. The service may still send, then `tcp_close`.
    TcpPeerClosed(ConnId),
    /// The connection is gone (closed, reset or timed out) and its handle
    /// is invalid. Last event of every `TcpAccepted`/`tcp_connect`.
    TcpClosed(ConnId),
    /// A datagram to a listened UDP port.
    UdpDatagram {
        local_port: u16,
        peer: SocketAddrV4,
        data: Vec<u8>,
    },
}
