//! The endpoint's handshakes: starting one as initiator ([`Endpoint::connect`]),
//! answering an init as responder (caps before any crypto, then the rate
//! limiter, then the DH), and completing ours when the reply comes back.
//! The rest of the endpoint (keys, sealed packets, timers) is in `mod.rs`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::session::{Live, Session, State};
use super::{
    bump, ConnectError, Endpoint, EndpointEvent, Initiated, KeyEntry, PacketDrop, Received,
};
use crate::handshake::{self, Initiator, ReplyOutcome, MAX_INIT_PAYLOAD, REPLY_LEN};
use crate::key::{AccessKey, ChainId, KeyId, KeyRole};
use crate::replay::ReplayWindow;
use crate::seal::PacketKey;
use crate::wire::Header;

impl Endpoint {
    /// Starts a handshake to `remote` under `key`: writes an init into
    /// `out` (at least [`handshake::INIT_LEN`] bytes). `payload` (<= 64
    /// bytes, a node's node id) is shown to the responder. The key is
    /// remembered for this session's packets but inits under it are not
    /// answered unless it was also given to [`Endpoint::add_key`].
    #[allow(clippy::too_many_arguments)] // the contract of docs/internals.md
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        key: &AccessKey,
        role: KeyRole,
        payload: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
        out: &mut [u8],
    ) -> Result<Initiated, ConnectError> {
        let k = (key.chain_id, key.key_id);
        match self.keys.get(&k) {
            Some(e) if e.revoked => return Err(ConnectError::Revoked(key.key_id)),
            Some(e) if e.role != role => return Err(ConnectError::RoleMismatch(key.key_id)),
            Some(_) => {}
            None => self
                .insert_key(
                    key.chain_id,
                    key.key_id,
                    KeyEntry {
                        secret: Some(key.secret),
                        role,
                        revoked: false,
                        responder: false,
                    },
                )
                .map_err(|_| ConnectError::KeyTableFull)?,
        }
        if self.sessions.len() >= self.cfg.sessions_total
            || self.per_key.get(&k).copied().unwrap_or(0) >= self.key_cap(role)
        {
            return Err(ConnectError::CapReached);
        }
        let id = self.fresh_id(rng).ok_or(ConnectError::CapReached)?;
        let (ini, len) = Initiator::start(key, id, payload, rng, out)?;
        self.sessions.insert(
            id,
            Session {
                chain: key.chain_id,
                key_id: key.key_id,
                role,
                remote,
                source: None,
                peer_payload: [0; MAX_INIT_PAYLOAD],
                peer_payload_len: 0,
                created: now,
                last_heard: now,
                keepalive_at: now,
                timer_at: now,
                state: State::Initiating(Box::new(ini)),
            },
        );
        *self.per_key.entry(k).or_default() += 1;
        self.schedule(id);
        Ok(Initiated { session: id, len })
    }

    /// Whether a new responder session under `k` from `ip` fits every cap.
    pub(super) fn has_room(&self, ip: IpAddr, role: KeyRole, k: (ChainId, KeyId)) -> bool {
        let count = |m: &HashMap<IpAddr, usize>| m.get(&ip).copied().unwrap_or(0);
        count(&self.half_open_per_source) < self.cfg.half_open_per_source
            && self.half_open < self.cfg.half_open_total
            && count(&self.per_source) < self.cfg.sessions_per_source
            && self.sessions.len() < self.cfg.sessions_total
            && self.per_key.get(&k).copied().unwrap_or(0) < self.key_cap(role)
    }

    /// Responder. Order: caps (table lookups, so a full table costs no
    /// crypto), authenticate (AEAD under the PSK, no DH), a recently seen
    /// ephemeral, rate; only then the DH of the reply.
    pub(super) fn on_init<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        k: (ChainId, KeyId),
        packet: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
        reply: &mut [u8],
    ) -> Result<Received<'a>, PacketDrop> {
        let key = *self.keys.get(&k).ok_or(PacketDrop::UnknownKey)?;
        if !key.responder {
            return Err(PacketDrop::UnknownKey);
        }
        let Some(secret) = key.secret else {
            return Err(PacketDrop::Revoked);
        };
        if reply.len() < REPLY_LEN {
            debug_assert!(false, "reply buffer under REPLY_LEN");
            return Err(PacketDrop::BadHandshake);
        }
        let ip = from.ip();
        if !key.revoked && !self.has_room(ip, key.role, k) {
            return Err(PacketDrop::CapReached);
        }
        let req =
            handshake::read_init(&secret, packet, rng).map_err(|_| PacketDrop::BadHandshake)?;
        if self.recent.contains(req.ephemeral()) {
            return Err(PacketDrop::Replay);
        }
        if !self.limiter.allow(now, ip) {
            return Err(if key.revoked {
                PacketDrop::Revoked
            } else {
                PacketDrop::RateLimited
            });
        }
        self.recent.insert(*req.ephemeral());
        if req.extension().iter().any(|&b| b != 0) {
            self.ignored.handshake_extension += 1;
        }
        if key.revoked {
            let len = req
                .refuse_revoked(reply)
                .map_err(|_| PacketDrop::BadHandshake)?;
            return Ok(Received::Reply { len });
        }
        let id = self.fresh_id(rng).ok_or(PacketDrop::CapReached)?;
        let mut peer_payload = [0u8; MAX_INIT_PAYLOAD];
        let peer_payload_len = req.payload().len();
        peer_payload[..peer_payload_len].copy_from_slice(req.payload());
        let remote_id = req.header().session;
        let (reply_len, keys) = req
            .accept(id, reply)
            .map_err(|_| PacketDrop::BadHandshake)?;
        self.sessions.insert(
            id,
            Session {
                chain: k.0,
                key_id: k.1,
                role: key.role,
                remote: from,
                source: Some(ip),
                peer_payload,
                peer_payload_len,
                created: now,
                last_heard: now,
                keepalive_at: now + self.cfg.keepalive_interval,
                timer_at: now,
                state: State::Live(Box::new(Live {
                    remote_id,
                    send: PacketKey::new(&keys.send),
                    recv: PacketKey::new(&keys.recv),
                    send_counter: 0,
                    window: ReplayWindow::new(),
                    confirmed: false,
                })),
            },
        );
        *self.per_key.entry(k).or_default() += 1;
        bump(&mut self.per_source, ip);
        bump(&mut self.half_open_per_source, ip);
        self.half_open += 1;
        self.schedule(id);
        Ok(Received::Accepted {
            session: id,
            reply_len,
        })
    }

    /// Initiator: a reply (or revoked notice) for a pending handshake.
    pub(super) fn on_reply<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: &Header,
        packet: &[u8],
    ) -> Result<Received<'a>, PacketDrop> {
        let s = self
            .sessions
            .get_mut(&header.session)
            .ok_or(PacketDrop::UnknownSession)?;
        let State::Initiating(ini) = &mut s.state else {
            return Err(PacketDrop::UnknownSession);
        };
        if s.chain != header.chain_id || s.key_id != header.key_id {
            return Err(PacketDrop::UnknownSession);
        }
        match ini.finish(packet).map_err(|_| PacketDrop::BadHandshake)? {
            ReplyOutcome::Revoked => {
                let (chain, key_id) = (s.chain, s.key_id);
                self.remove(header.session);
                if let Some(e) = self.keys.get_mut(&(chain, key_id)) {
                    e.revoked = true;
                }
                Ok(Received::Revoked { chain, key_id })
            }
            ReplyOutcome::Accepted { responder, keys } => {
                s.state = State::Live(Box::new(Live {
                    remote_id: responder,
                    send: PacketKey::new(&keys.send),
                    recv: PacketKey::new(&keys.recv),
                    send_counter: 0,
                    window: ReplayWindow::new(),
                    confirmed: true,
                }));
                s.remote = from;
                s.last_heard = now;
                s.keepalive_at = now + self.cfg.keepalive_interval;
                // Key confirmation: the responder keeps the session
                // half-open until it hears from us, so say something now.
                self.events
                    .push_back(EndpointEvent::KeepaliveDue(header.session));
                self.schedule(header.session);
                Ok(Received::Established {
                    session: header.session,
                })
            }
        }
    }
}
