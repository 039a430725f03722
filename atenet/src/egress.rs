//! Frames out to a port, by what is behind it: sealed into the node's
//! [`Outbox`] for a session (the edge moves them into the socket's GSO send
//! lanes after the input), queued for a websocket. Free functions over the
//! node's parts, so every file that sends (the data path, the services,
//! session lifecycle) shares one way to do it without a cycle through
//! `Node`. Nothing here awaits: the core decides, the edge sends.

use std::net::SocketAddr;
use std::time::Instant;

use vswitch::endpoint::Endpoint;
use vswitch::wire::PacketKind;

use crate::network::{Egress, LocalPort, WsId};
use crate::outbox::Outbox;
use crate::status::Counters;
use crate::wss::ports::WsPorts;

/// Delivers `frame` to the port `local`: sealed for a client's or peer's
/// session, queued for a websocket. (A service port's frames are the
/// services' to handle: nothing is sent.)
pub(crate) fn deliver(
    ws: &mut WsPorts,
    endpoint: &mut Endpoint,
    out: &mut Outbox,
    counters: &mut Counters,
    now: Instant,
    local: LocalPort,
    frame: &[u8],
) {
    match local {
        LocalPort::Client(egress) | LocalPort::Peer(egress) => {
            seal_into(endpoint, out, counters, now, egress, frame);
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

/// Seals `frame` for `egress`'s session straight into the outbox.
fn seal_into(
    endpoint: &mut Endpoint,
    out: &mut Outbox,
    counters: &mut Counters,
    now: Instant,
    egress: Egress,
    frame: &[u8],
) {
    match endpoint.seal(now, egress.session, PacketKind::Frame, frame, out.slot()) {
        Ok(len) => {
            counters.frames_forwarded += 1;
            out.commit(len, egress.remote);
        }
        Err(err) => {
            counters.send_errors += 1;
            tracing::debug!(session = %egress.session, %err, "sealing a frame failed");
        }
    }
}

/// Queues one datagram (a handshake message, a reply) after what the
/// outbox holds.
pub(crate) fn send(out: &mut Outbox, packet: &[u8], to: SocketAddr) {
    out.push(packet, to);
}
