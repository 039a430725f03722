//! Frames out to a port, by what is behind it: sealed into the socket's
//! send lanes for a session (they leave as GSO sends when the loop
//! flushes), queued for a websocket. Free functions over the node's parts,
//! so every file that sends (the data path, the services, session
//! lifecycle) shares one way to do it without a cycle through `Node`.

use std::net::SocketAddr;
use std::time::Instant;

use udpio::{Sent, UdpIo};
use vswitch::endpoint::Endpoint;
use vswitch::wire::PacketKind;

use crate::network::{Egress, LocalPort, WsId};
use crate::status::Counters;
use crate::wss::ports::WsPorts;

/// Delivers `frame` to the port `local`: sealed for a client's or peer's
/// session, queued for a websocket. (A service port's frames are the
/// services' to handle: nothing is sent.)
pub(crate) async fn deliver(
    ws: &mut WsPorts,
    endpoint: &mut Endpoint,
    udp: &mut UdpIo,
    counters: &mut Counters,
    now: Instant,
    local: LocalPort,
    frame: &[u8],
) {
    match local {
        LocalPort::Client(egress) | LocalPort::Peer(egress) => {
            seal_and_send(endpoint, udp, counters, now, egress, frame).await;
        }
        LocalPort::Ws(id) => deliver_ws(ws, counters, id, frame),
        LocalPort::Service(_) => {}
    }
}

fn deliver_ws(ws: &mut WsPorts, counters: &mut Counters, id: WsId, frame: &[u8]) {
    if ws.deliver(id, frame) {
        counters.frames_forwarded += 1;
    }
}

/// Seals `frame` for `egress`'s session and queues it in the socket's send
/// lane (it leaves with others to the same address, in order, at the
/// latest when the loop flushes).
async fn seal_and_send(
    endpoint: &mut Endpoint,
    udp: &mut UdpIo,
    counters: &mut Counters,
    now: Instant,
    egress: Egress,
    frame: &[u8],
) {
    match endpoint.seal(now, egress.session, PacketKind::Frame, frame, udp.tx_slot()) {
        Ok(len) => {
            counters.frames_forwarded += 1;
            let sent = udp.tx_commit(len, egress.remote).await;
            count(counters, sent);
        }
        Err(err) => {
            counters.send_errors += 1;
            tracing::debug!(session = %egress.session, %err, "sealing a frame failed");
        }
    }
}

/// Sends one datagram after what the lanes hold, counting it or its
/// failure. A full socket buffer makes this wait (backpressure), it does
/// not drop.
pub(crate) async fn send(udp: &mut UdpIo, counters: &mut Counters, packet: &[u8], to: SocketAddr) {
    let sent = udp.send_to(packet, to).await;
    count(counters, sent);
}

/// Sends what the lanes hold (end of a burst).
pub(crate) async fn flush(udp: &mut UdpIo, counters: &mut Counters) {
    let sent = udp.flush().await;
    count(counters, sent);
}

/// Adds a send's outcome to the node's counters.
fn count(counters: &mut Counters, sent: Sent) {
    counters.packets_sent += sent.packets;
    counters.send_errors += sent.errors;
    counters.send_calls += sent.calls;
}
