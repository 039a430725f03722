//! One session's state as the endpoint keeps it.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::handshake::{Initiator, MAX_INIT_PAYLOAD};
use crate::key::{ChainId, KeyId, KeyRole};
use crate::replay::ReplayWindow;
use crate::seal::PacketKey;
use crate::wire::SessionId;

/// A session, from `connect`/init to removal.
#[derive(Debug)]
pub(crate) struct Session {
    pub chain: ChainId,
    pub key_id: KeyId,
    pub role: KeyRole,
    pub remote: SocketAddr,
    /// The address that created a responder session: what per-source caps
    /// count against (kept even if the peer roams).
    pub source: Option<IpAddr>,
    pub peer_payload: [u8; MAX_INIT_PAYLOAD],
    pub peer_payload_len: usize,
    pub created: Instant,
    pub last_heard: Instant,
    pub keepalive_at: Instant,
    /// The time of this session's one authoritative timer-heap entry.
    pub timer_at: Instant,
    pub state: State,
}

#[derive(Debug)]
pub(crate) enum State {
    /// We sent an init and wait for the reply.
    Initiating(Box<Initiator>),
    /// Keys are set; a responder session is half-open until `confirmed`.
    Live(Box<Live>),
}

#[derive(Debug)]
pub(crate) struct Live {
    /// The id the peer receives under: goes in the header of what we seal.
    pub remote_id: SessionId,
    pub send: PacketKey,
    pub recv: PacketKey,
    pub send_counter: u64,
    pub window: ReplayWindow,
    /// Initiator: always. Responder: after the first authentic packet
    /// (key confirmation), until then the session is half-open.
    pub confirmed: bool,
}

impl Session {
    pub fn live(&self) -> Option<&Live> {
        match &self.state {
            State::Live(l) => Some(l),
            State::Initiating(_) => None,
        }
    }

    pub fn is_half_open(&self) -> bool {
        self.live().is_some_and(|l| !l.confirmed)
    }

    /// When this session next needs the timer: handshake or half-open
    /// lifetime, or the earlier of keepalive and idle expiry.
    pub fn deadline(&self, cfg: &super::EndpointConfig) -> Instant {
        match &self.state {
            State::Initiating(_) => self.created + cfg.handshake_timeout,
            State::Live(l) if !l.confirmed => self.created + cfg.half_open_lifetime,
            State::Live(_) => (self.last_heard + cfg.idle_timeout).min(self.keepalive_at),
        }
    }
}

/// What `session_info` tells about a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Network.
    pub chain: ChainId,
    /// Key the session runs under.
    pub key_id: KeyId,
    /// Peer node or client.
    pub role: KeyRole,
    /// Where the last authentic packet came from (or where we connected).
    pub remote: SocketAddr,
    /// The initiator's init payload (a node's node id); empty for
    /// sessions we initiated.
    pub peer_payload: Vec<u8>,
    /// When we last heard an authentic packet.
    pub last_heard: Instant,
    /// Whether we sent the init.
    pub initiator: bool,
    /// Usable for sealing (handshake done and key confirmed).
    pub established: bool,
}
