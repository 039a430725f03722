//! TCP by termination and splice.
//!
//! A client's SYN to a new (client, remote) pair is held and the I/O side
//! asked to connect a host socket (`Command::OpenTcp`). Only when the host
//! connection is up (`tcp_connected`) is the SYN fed to the smoltcp stack,
//! which answers SYN-ACK as the remote host; a refused or failed connect
//! answers the held SYN with RST, so the client sees what it would have seen
//! without NAT ("connection refused") instead of a connection that accepts
//! and then breaks. Then bytes are spliced both ways with bounded buffers:
//!
//! - client -> host: read from the smoltcp socket into `SendTcp` while fewer
//!   than `Limits::tcp_in_flight` bytes are unconfirmed (`tcp_written`);
//!   otherwise the socket's receive buffer fills and the window it
//!   advertises to the client closes;
//! - host -> client: `tcp_received` puts what fits into the socket's send
//!   buffer and returns how much; the I/O side stops reading the host socket
//!   until `Command::ResumeRecv`.
//!
//! Half-close: the client's FIN becomes `ShutdownWrite` after its bytes;
//! host EOF (`tcp_closed`) closes the socket's send side after its bytes.
//! RST either way aborts the other side.

mod client;
mod device;
mod host;
mod service;
mod stack;

pub(crate) use stack::{SocketParams, TcpStack};

use smoltcp::iface::SocketHandle;

/// A TCP flow's splice state.
#[derive(Debug)]
pub(crate) struct TcpFlow {
    pub phase: Phase,
    /// Bytes handed out in `SendTcp` not yet confirmed by `tcp_written`.
    pub in_flight: usize,
    /// `tcp_received` took less than offered: a `ResumeRecv` is owed.
    pub host_blocked: bool,
    /// The client's FIN arrived (smoltcp does not say so once its socket
    /// is closed, so it is noted when seen).
    pub peer_fin: bool,
    /// The client's FIN was passed on as `ShutdownWrite`.
    pub client_fin: bool,
    /// The host side reported EOF; our FIN to the client is queued.
    pub host_eof: bool,
    /// The handshake with the client completed.
    pub established: bool,
    /// The terminal command was emitted; the socket lingers in TIME-WAIT.
    pub released: bool,
}

#[derive(Debug)]
pub(crate) enum Phase {
    /// Outbound: the client's SYN (its IP packet), held until the host
    /// connect completes.
    Connecting { syn: Vec<u8> },
    /// A smoltcp socket carries the client side.
    Open { handle: SocketHandle },
}

impl TcpFlow {
    pub fn new(phase: Phase) -> Self {
        TcpFlow {
            phase,
            in_flight: 0,
            host_blocked: false,
            peer_fin: false,
            client_fin: false,
            host_eof: false,
            established: false,
            released: false,
        }
    }

    pub fn handle(&self) -> Option<SocketHandle> {
        match self.phase {
            Phase::Open { handle } => Some(handle),
            Phase::Connecting { .. } => None,
        }
    }

    /// Whether the flow is closing: either side has finished.
    pub fn closing(&self) -> bool {
        self.released || self.client_fin || self.host_eof
    }
}
