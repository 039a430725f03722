//! What the translator asks of the I/O side.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::flow::FlowId;

/// A request to the I/O side (host sockets), drained with
/// `Translator::poll_command`.
///
/// Lifecycle: every flow the I/O side hears of through an `Open*` command or
/// `Translator::inbound_tcp` ends with exactly one `Close` or `Reset` for it,
/// even when the I/O side reported the end itself; that is when it frees the
/// socket. Calls for a flow after its end are ignored (and counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a UDP socket connected to `dst` from an ephemeral host port of
    /// its own (the flow's unique source port), then send queued datagrams.
    OpenUdp { flow: FlowId, dst: SocketAddrV4 },
    /// Send one datagram on the flow's UDP socket.
    SendUdp { flow: FlowId, payload: Vec<u8> },
    /// Send one datagram from the published listener on `host_port` to
    /// `remote` (a client's reply on a published UDP port).
    SendUdpTo {
        host_port: u16,
        remote: SocketAddrV4,
        payload: Vec<u8>,
    },
    /// Open an unprivileged ICMP echo socket
    /// (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`, allowed by the sysctl
    /// `net.ipv4.ping_group_range`) towards `dst`.
    OpenPing { flow: FlowId, dst: Ipv4Addr },
    /// Send an echo request with this sequence number and payload; the
    /// kernel picks the identifier, the translator restores the client's.
    SendPing {
        flow: FlowId,
        seq: u16,
        payload: Vec<u8>,
    },
    /// Connect a TCP socket to `dst` without blocking; report the outcome
    /// with `tcp_connected` or `tcp_refused`.
    OpenTcp { flow: FlowId, dst: SocketAddrV4 },
    /// Write these bytes to the flow's TCP socket, in order after earlier
    /// ones. Confirm them with `tcp_written` as the socket takes them.
    SendTcp { flow: FlowId, bytes: Vec<u8> },
    /// The client sent FIN: after the bytes already handed over,
    /// `shutdown(SHUT_WR)` the host socket.
    ShutdownWrite { flow: FlowId },
    /// `tcp_received` will take bytes again: resume reading the host socket.
    ResumeRecv { flow: FlowId },
    /// The flow ended normally: close the socket (after pending writes).
    Close { flow: FlowId },
    /// The flow was aborted: reset the host TCP connection (`SO_LINGER` 0)
    /// or close the datagram socket, dropping pending writes.
    Reset { flow: FlowId },
}

impl Command {
    /// Packet-carrying commands may be dropped when the queue is full;
    /// control commands may not (they are bounded by the flow table).
    pub(crate) fn is_droppable(&self) -> bool {
        matches!(
            self,
            Command::SendUdp { .. } | Command::SendUdpTo { .. } | Command::SendPing { .. }
        )
    }
}
