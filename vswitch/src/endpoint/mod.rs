//! The Sans-IO session manager: one per node process and one per `tok`.
//!
//! It owns the keys table, the handshakes, every session's keys, counters,
//! replay window and timers. The caller moves UDP datagrams and time:
//!
//! - a received datagram goes to [`Endpoint::handle`], which says what it
//!   was ([`Received`]) and may write an answer into the caller's `reply`;
//! - [`Endpoint::connect`] writes a handshake init, [`Endpoint::seal`] a
//!   data packet;
//! - timers: sleep until [`Endpoint::poll_timeout`], then call
//!   [`Endpoint::handle_timeout`].
//!
//! **Drain rule** (quinn-proto style): after every `handle`, `connect`,
//! `handle_timeout` or `revoke_key`, call [`Endpoint::poll_event`] until it
//! returns `None`.
//!
//! Every session ends in exactly one way the caller hears of: an
//! [`EndpointEvent::Expired`] (idle, half-open or handshake timeout), a
//! [`Received::Leave`] or [`Received::Revoked`], or the caller's own
//! [`Endpoint::remove_session`] / [`Endpoint::revoke_key`].
//!
//! Sealing takes `&mut self` today; every per-packet piece
//! ([`crate::seal::PacketKey`]) is `&self`, so issue 8 can move a
//! session's sender behind an atomic counter for several threads.

mod drops;
mod handshakes;
mod limits;
mod session;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_core::{CryptoRng, RngCore};

pub use self::drops::{DropCounters, IgnoredCounters, PacketDrop};
pub use self::limits::Rate;
use self::limits::{InitLimiter, RecentInits};
pub use self::session::SessionInfo;
use self::session::{Session, State};
use crate::handshake;
use crate::key::{ChainId, KeyId, KeyRole};
use crate::seal::SealError;
use crate::wire::{
    Header, PacketKind, SessionId, WireError, COUNTER_LIMIT, MAX_FRAME, MAX_PACKET, MIN_FRAME,
    MIN_PACKET,
};

/// Every cap and timer of an endpoint (DESIGN.md "Sessions and wire
/// format": bounded half-open handshakes, caps per key id, per source and in
/// total, 60 s idle expiry, ~1 s keepalives).
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Half-open responder sessions per source IP address.
    pub half_open_per_source: usize,
    /// Half-open responder sessions in total.
    pub half_open_total: usize,
    /// How long a half-open session waits for key confirmation.
    pub half_open_lifetime: Duration,
    /// How long `connect` waits for a reply before `Expired`.
    pub handshake_timeout: Duration,
    /// Sessions (any state) under one client key.
    pub sessions_per_client_key: usize,
    /// Sessions (any state) under one node key: one or two per peer node.
    pub sessions_per_node_key: usize,
    /// Responder sessions created from one source IP address.
    pub sessions_per_source: usize,
    /// Sessions of every kind in total.
    pub sessions_total: usize,
    /// A session silent this long is removed (the seed's 60 s).
    pub idle_timeout: Duration,
    /// A keepalive is due after this much send-idleness.
    pub keepalive_interval: Duration,
    /// Entries in the keys table.
    pub max_keys: usize,
    /// Answers to valid inits (and revoked notices) per source IP.
    pub init_rate_per_source: Rate,
    /// Answers to valid inits (and revoked notices) in total.
    pub init_rate_global: Rate,
    /// Source addresses the rate limiter tracks at once.
    pub rate_limited_sources: usize,
    /// Init ephemerals remembered to recognise replayed inits.
    pub recent_inits: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            half_open_per_source: 8,
            half_open_total: 1024,
            half_open_lifetime: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            sessions_per_client_key: 8,
            sessions_per_node_key: 1024,
            sessions_per_source: 64,
            sessions_total: 16_384,
            idle_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(1),
            max_keys: 65_536,
            init_rate_per_source: Rate {
                burst: 16,
                per_second: 8,
            },
            init_rate_global: Rate {
                burst: 256,
                per_second: 128,
            },
            rate_limited_sources: 4096,
            recent_inits: 8192,
        }
    }
}

/// What a received datagram turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// An Ethernet frame (14..=1518 bytes), decrypted in place.
    Frame {
        /// Session it came on.
        session: SessionId,
        /// The frame, a slice of the packet buffer.
        frame: &'a [u8],
    },
    /// A keepalive (nothing to do; the session is alive).
    Keepalive {
        /// Session.
        session: SessionId,
    },
    /// The peer closed the session; it is removed.
    Leave {
        /// Session (already removed).
        session: SessionId,
    },
    /// A control message, decrypted in place.
    Control {
        /// Session.
        session: SessionId,
        /// The payload.
        payload: &'a [u8],
    },
    /// Responder: a valid init; send `reply[..reply_len]` to the source.
    /// The session is half-open until [`EndpointEvent::Confirmed`].
    Accepted {
        /// The new (half-open) session.
        session: SessionId,
        /// Bytes of reply to send.
        reply_len: usize,
    },
    /// Initiator: the handshake completed; a keepalive is due at once
    /// (key confirmation for the responder).
    Established {
        /// The session `connect` returned.
        session: SessionId,
    },
    /// Initiator: the node says our key is revoked (authenticated); the
    /// pending handshake is removed.
    Revoked {
        /// Network.
        chain: ChainId,
        /// The revoked key.
        key_id: KeyId,
    },
    /// An answer that creates no session (a revoked notice): send
    /// `reply[..len]` to the source.
    Reply {
        /// Bytes of reply to send.
        len: usize,
    },
    /// Dropped and counted; nothing to send.
    Dropped(PacketDrop),
}

/// Things the timers (or a handshake) want the caller to do or know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Seal and send a keepalive on this session.
    KeepaliveDue(SessionId),
    /// A responder session got its first authentic packet: a usable
    /// session (attach its switch port now).
    Confirmed(SessionId),
    /// The session is gone (silent for the idle timeout, or a half-open or
    /// pending handshake timed out): forget its MACs.
    Expired(SessionId),
}

/// Why `connect` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The keys table is full.
    #[error("keys table full")]
    KeyTableFull,
    /// The key is known to be revoked.
    #[error("key {0} is revoked")]
    Revoked(KeyId),
    /// The key is in the table under the other role.
    #[error("key {0} is registered with another role")]
    RoleMismatch(KeyId),
    /// A session cap is reached.
    #[error("session cap reached")]
    CapReached,
    /// The handshake could not be written (payload over 64 bytes, buffer).
    #[error(transparent)]
    Handshake(#[from] handshake::HandshakeError),
}

/// A handshake init was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Initiated {
    /// The session, pending until `Received::Established`.
    pub session: SessionId,
    /// Bytes of init written to `out`.
    pub len: usize,
}

/// Why `seal` wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No such session.
    #[error("unknown session")]
    UnknownSession,
    /// Handshake pending or responder not yet confirmed.
    #[error("session not established")]
    NotEstablished,
    /// Only frame, keepalive, leave and control are sealed.
    #[error("{0:?} is not a sealed packet kind")]
    NotSealedKind(PacketKind),
    /// A frame must be 14..=1518 bytes.
    #[error("frame of {0} bytes, must be 14..=1518")]
    FrameSize(usize),
    /// Sealing failed (buffer, counter exhausted).
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Why a key could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("keys table full")]
pub struct KeyTableFull;

#[derive(Clone, Copy, Debug)]
struct KeyEntry {
    /// `None` for a key only known as revoked.
    secret: Option<[u8; 32]>,
    role: KeyRole,
    revoked: bool,
    /// Added with `add_key` (we answer inits), not only used to connect.
    responder: bool,
}

/// The session manager. See the module docs for the drain rule.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    keys: HashMap<(ChainId, KeyId), KeyEntry>,
    chains: HashMap<ChainId, usize>,
    sessions: HashMap<SessionId, Session>,
    per_key: HashMap<(ChainId, KeyId), usize>,
    per_source: HashMap<IpAddr, usize>,
    half_open_per_source: HashMap<IpAddr, usize>,
    half_open: usize,
    limiter: InitLimiter,
    recent: RecentInits,
    timers: BinaryHeap<Reverse<(Instant, SessionId)>>,
    events: VecDeque<EndpointEvent>,
    drops: DropCounters,
    ignored: IgnoredCounters,
}

fn bump(map: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    *map.entry(ip).or_default() += 1;
}

fn unbump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, k: &K) {
    if let Some(n) = map.get_mut(k) {
        *n -= 1;
        if *n == 0 {
            map.remove(k);
        }
    }
}

impl Endpoint {
    /// An endpoint with no keys and no sessions.
    pub fn new(cfg: EndpointConfig) -> Self {
        Endpoint {
            limiter: InitLimiter::new(
                cfg.init_rate_per_source,
                cfg.init_rate_global,
                cfg.rate_limited_sources,
            ),
            recent: RecentInits::new(cfg.recent_inits),
            cfg,
            keys: HashMap::new(),
            chains: HashMap::new(),
            sessions: HashMap::new(),
            per_key: HashMap::new(),
            per_source: HashMap::new(),
            half_open_per_source: HashMap::new(),
            half_open: 0,
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            drops: DropCounters::default(),
            ignored: IgnoredCounters::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    fn insert_key(
        &mut self,
        chain: ChainId,
        key_id: KeyId,
        entry: KeyEntry,
    ) -> Result<(), KeyTableFull> {
        if let Some(old) = self.keys.get_mut(&(chain, key_id)) {
            // Revocation is final: key ids are never reused.
            let revoked = old.revoked || entry.revoked;
            *old = KeyEntry { revoked, ..entry };
            return Ok(());
        }
        if self.keys.len() >= self.cfg.max_keys {
            return Err(KeyTableFull);
        }
        self.keys.insert((chain, key_id), entry);
        *self.chains.entry(chain).or_default() += 1;
        Ok(())
    }

    /// Adds a key we answer handshakes for (from the chain: the node key
    /// with `KeyRole::Node`, issued keys with `KeyRole::Client`).
    pub fn add_key(
        &mut self,
        chain: ChainId,
        key_id: KeyId,
        secret: [u8; 32],
        role: KeyRole,
    ) -> Result<(), KeyTableFull> {
        self.insert_key(
            chain,
            key_id,
            KeyEntry {
                secret: Some(secret),
                role,
                revoked: false,
                responder: true,
            },
        )
    }

    /// Revokes a key: its sessions are removed at once (returned, so the
    /// caller forgets their ports), later inits under it get at most a
    /// rate-limited authenticated "revoked" notice.
    pub fn revoke_key(&mut self, chain: ChainId, key_id: KeyId) -> Vec<SessionId> {
        if let Some(e) = self.keys.get_mut(&(chain, key_id)) {
            e.revoked = true;
        } else {
            // Known only as revoked: no secret, so no notice, just drops.
            let _ = self.insert_key(
                chain,
                key_id,
                KeyEntry {
                    secret: None,
                    role: KeyRole::Client,
                    revoked: true,
                    responder: true,
                },
            );
        }
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.chain == chain && s.key_id == key_id)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.remove(*id);
        }
        ids
    }

    /// Removes a session without telling the peer (seal a `Leave` first to
    /// tell it). Returns whether it existed.
    pub fn remove_session(&mut self, id: SessionId) -> bool {
        self.remove(id).is_some()
    }

    fn remove(&mut self, id: SessionId) -> Option<Session> {
        let s = self.sessions.remove(&id)?;
        unbump(&mut self.per_key, &(s.chain, s.key_id));
        if let Some(ip) = s.source {
            unbump(&mut self.per_source, &ip);
            if s.is_half_open() {
                unbump(&mut self.half_open_per_source, &ip);
                self.half_open -= 1;
            }
        }
        Some(s)
    }

    /// Drop counts by reason.
    pub fn counters(&self) -> &DropCounters {
        &self.drops
    }

    /// Counts of things ignored in accepted packets (a newer peer's
    /// extensions).
    pub fn ignored(&self) -> &IgnoredCounters {
        &self.ignored
    }

    /// Number of sessions in every state.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of half-open responder sessions.
    pub fn half_open_count(&self) -> usize {
        self.half_open
    }

    /// What is known about a session.
    pub fn session_info(&self, id: SessionId) -> Option<SessionInfo> {
        let s = self.sessions.get(&id)?;
        Some(SessionInfo {
            chain: s.chain,
            key_id: s.key_id,
            role: s.role,
            remote: s.remote,
            peer_payload: s.peer_payload[..s.peer_payload_len].to_vec(),
            last_heard: s.last_heard,
            initiator: s.source.is_none(),
            established: s.live().is_some_and(|l| l.confirmed),
        })
    }

    fn fresh_id(&self, rng: &mut (impl RngCore + CryptoRng)) -> Option<SessionId> {
        // 64 random bits: a collision is a 2^-64 event; retry a few times.
        (0..8)
            .map(|_| SessionId(rng.next_u64()))
            .find(|id| id.0 != 0 && !self.sessions.contains_key(id))
    }

    fn schedule(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            let at = s.deadline(&self.cfg);
            s.timer_at = at;
            self.timers.push(Reverse((at, id)));
        }
    }

    fn key_cap(&self, role: KeyRole) -> usize {
        match role {
            KeyRole::Node => self.cfg.sessions_per_node_key,
            KeyRole::Client => self.cfg.sessions_per_client_key,
        }
    }

    /// Handles one received datagram. `packet` is decrypted in place;
    /// `reply` (at least [`handshake::REPLY_LEN`] bytes) receives any
    /// answer. Every drop is counted in [`Endpoint::counters`].
    pub fn handle<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: &'a mut [u8],
        rng: &mut (impl RngCore + CryptoRng),
        reply: &mut [u8],
    ) -> Received<'a> {
        match self.dispatch(now, from, packet, rng, reply) {
            Ok(r) => r,
            Err(reason) => {
                self.drops.count(reason);
                Received::Dropped(reason)
            }
        }
    }

    fn dispatch<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: &'a mut [u8],
        rng: &mut (impl RngCore + CryptoRng),
        reply: &mut [u8],
    ) -> Result<Received<'a>, PacketDrop> {
        if packet.len() < MIN_PACKET {
            return Err(PacketDrop::Runt);
        }
        if packet.len() > MAX_PACKET {
            return Err(PacketDrop::Oversize);
        }
        let header = Header::parse(packet).map_err(|e| match e {
            WireError::Runt(_) => PacketDrop::Runt,
            WireError::BadVersion(_) => PacketDrop::BadVersion,
            WireError::BadKind(_) => PacketDrop::BadKind,
        })?;
        if !self.chains.contains_key(&header.chain_id) {
            return Err(PacketDrop::UnknownNetwork);
        }
        let key = *self
            .keys
            .get(&(header.chain_id, header.key_id))
            .ok_or(PacketDrop::UnknownKey)?;
        match header.kind {
            PacketKind::HandshakeInit => self.on_init(
                now,
                from,
                (header.chain_id, header.key_id),
                packet,
                rng,
                reply,
            ),
            PacketKind::HandshakeReply | PacketKind::Revoked => {
                self.on_reply(now, from, &header, packet)
            }
            PacketKind::Frame | PacketKind::Keepalive | PacketKind::Leave | PacketKind::Control => {
                if key.revoked {
                    return Err(PacketDrop::Revoked);
                }
                self.on_sealed(now, from, &header, packet)
            }
        }
    }

    /// A sealed packet. Order: session, tag (constant time), counter range,
    /// replay window; then decrypt and update the window.
    fn on_sealed<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        packet: &'a mut [u8],
    ) -> Result<Received<'a>, PacketDrop> {
        let id = header.session;
        let s = self
            .sessions
            .get_mut(&id)
            .ok_or(PacketDrop::UnknownSession)?;
        if s.chain != header.chain_id || s.key_id != header.key_id {
            return Err(PacketDrop::UnknownSession);
        }
        let State::Live(live) = &mut s.state else {
            return Err(PacketDrop::UnknownSession);
        };
        live.recv.verify(packet).map_err(|_| PacketDrop::BadTag)?;
        if header.counter >= COUNTER_LIMIT {
            return Err(PacketDrop::BadCounter);
        }
        if !live.window.check(header.counter) {
            return Err(PacketDrop::Replay);
        }
        let range = live.recv.decrypt(header, packet);
        live.window.update(header.counter);
        s.last_heard = now;
        s.remote = from;
        if !live.confirmed {
            live.confirmed = true;
            self.half_open -= 1;
            if let Some(ip) = s.source {
                unbump(&mut self.half_open_per_source, &ip);
            }
            self.events.push_back(EndpointEvent::Confirmed(id));
            // The keepalive deadline may be earlier than the half-open one.
            self.schedule(id);
        }
        let payload = &packet[range];
        match header.kind {
            PacketKind::Frame if payload.len() < MIN_FRAME => Err(PacketDrop::Runt),
            PacketKind::Frame if payload.len() > MAX_FRAME => Err(PacketDrop::Oversize),
            PacketKind::Frame => Ok(Received::Frame {
                session: id,
                frame: payload,
            }),
            PacketKind::Keepalive => Ok(Received::Keepalive { session: id }),
            PacketKind::Leave => {
                self.remove(id);
                Ok(Received::Leave { session: id })
            }
            // Authentic and counted as heard above: a newer peer's message.
            _ if !crate::control::is_known(payload) => Err(PacketDrop::UnknownControl),
            _ => Ok(Received::Control {
                session: id,
                payload,
            }),
        }
    }

    /// Seals a frame, keepalive, leave or control message on an
    /// established session into `out`; returns its length. Sending resets
    /// the keepalive timer.
    pub fn seal(
        &mut self,
        now: Instant,
        session: SessionId,
        kind: PacketKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if !kind.is_sealed() {
            return Err(SendError::NotSealedKind(kind));
        }
        if kind == PacketKind::Frame && !(MIN_FRAME..=MAX_FRAME).contains(&payload.len()) {
            return Err(SendError::FrameSize(payload.len()));
        }
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(SendError::UnknownSession)?;
        let State::Live(live) = &mut s.state else {
            return Err(SendError::NotEstablished);
        };
        if !live.confirmed {
            // Sending to an unconfirmed source would let a replayed init
            // aim our traffic at someone else.
            return Err(SendError::NotEstablished);
        }
        let header = Header {
            chain_id: s.chain,
            key_id: s.key_id,
            session: live.remote_id,
            counter: live.send_counter,
            kind,
        };
        let n = live.send.seal(&header, payload, out)?;
        live.send_counter += 1;
        s.keepalive_at = now + self.cfg.keepalive_interval;
        Ok(n)
    }

    /// The earliest instant at which [`Endpoint::handle_timeout`] has work
    /// (may be early: then it does nothing and a later time is returned).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Runs every timer due at `now`: keepalives due, idle sessions,
    /// half-open sessions and pending handshakes that timed out.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(s) = self.sessions.get_mut(&id) else {
                continue; // removed since
            };
            if s.timer_at != at {
                continue; // superseded by a newer entry
            }
            let expired = match &s.state {
                State::Initiating(_) => now >= s.created + self.cfg.handshake_timeout,
                State::Live(l) if !l.confirmed => now >= s.created + self.cfg.half_open_lifetime,
                State::Live(_) => now >= s.last_heard + self.cfg.idle_timeout,
            };
            if expired {
                self.remove(id);
                self.events.push_back(EndpointEvent::Expired(id));
                continue;
            }
            if s.live().is_some_and(|l| l.confirmed) && now >= s.keepalive_at {
                s.keepalive_at = now + self.cfg.keepalive_interval;
                self.events.push_back(EndpointEvent::KeepaliveDue(id));
            }
            self.schedule(id);
        }
    }

    /// The next event, if any (see the drain rule in the module docs).
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }
}
