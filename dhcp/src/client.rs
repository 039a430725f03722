//! The DHCPv4 client (of `tok connect --dhcp`), Sans-IO: whole Ethernet
//! frames and a `now` in, frames to send and lease [`Event`]s out. No
//! sockets, no clock, no randomness but the seed it is given, so a test or a
//! simulation replays it exactly.
//!
//! **Drain rule** (quinn-proto style): after [`Client::new`] and every
//! `handle_*`, `kick` or `release`, call [`Client::poll_transmit`] and
//! [`Client::poll_event`] until `None`, then sleep until
//! [`Client::poll_timeout`].
//!
//! States (RFC 2131 4.4, figure 5): INIT -> SELECTING (DISCOVER sent) ->
//! REQUESTING (REQUEST for the first OFFER) -> BOUND (ACK) -> RENEWING at T1
//! (REQUEST unicast to the server) -> REBINDING at T2 (REQUEST broadcast)
//! -> INIT when the lease expires or a NAK comes. An ACK in RENEWING or
//! REBINDING goes back to BOUND.
//!
//! Retransmission (RFC 2131 4.1): DISCOVER and REQUEST are resent after
//! 4, 8, 16, 32, 64, 64, ... s, each randomised by -1..+1 s; REQUESTING
//! gives up after [`MAX_REQUESTS`] and starts over at INIT. In RENEWING and
//! REBINDING the wait is half the time left until T2 / the expiry, at least
//! 60 s (RFC 2131 4.4.5), never past T2 / the expiry.
//!
//! T1 and T2 default to 0.5 and 0.875 of the lease time (RFC 2131 4.4.5),
//! measured from when the REQUEST that got the ACK was sent.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub mod wire;

use self::wire::{ClientKind, ClientMessage, ServerKind, ServerMessage, BROADCAST_MAC};

/// First retransmission wait (RFC 2131 4.1).
pub const FIRST_RETRANSMIT: Duration = Duration::from_secs(4);
/// Longest retransmission wait (RFC 2131 4.1).
pub const MAX_RETRANSMIT: Duration = Duration::from_secs(64);
/// The waits above are randomised by up to this much either way.
pub const JITTER: Duration = Duration::from_secs(1);
/// REQUESTs sent in REQUESTING before starting over at INIT.
pub const MAX_REQUESTS: u32 = 4;
/// Shortest wait between renewal REQUESTs (RFC 2131 4.4.5).
pub const MIN_RENEW_RETRANSMIT: Duration = Duration::from_secs(60);
/// Pause after a NAK before the next DISCOVER, so that a server that keeps
/// refusing does not make us spin.
pub const NAK_PAUSE: Duration = Duration::from_secs(1);
/// Lease time meaning "forever" (RFC 2132 9.2).
pub const INFINITE: u32 = u32::MAX;

/// What the client got: what `ip` and resolv.conf are set from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// The server identifier (option 54).
    pub server: Ipv4Addr,
    /// Option 3 (the first router).
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns: Vec<Ipv4Addr>,
    /// Option 26.
    pub mtu: Option<u16>,
    /// Option 51: the lease time in seconds; [`INFINITE`] for no end.
    pub secs: u32,
}

/// Why a lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Not renewed before its end.
    Expired,
    /// The server refused a renewal (NAK).
    Nak,
    /// The server gave another address on renewal.
    Replaced,
}

/// What the caller acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An ACK with a new lease, or a renewal that changed more than the
    /// lease's end: configure everything in `lease`.
    Bound { lease: Lease },
    /// An ACK that changed nothing but the lease's end: refresh the
    /// address lifetimes only (so that the kernel drops the address when
    /// the lease ends if we die).
    Renewed { lease: Lease },
    /// Stop using the address.
    Lost { lease: Lease, why: Lost },
}

impl Event {
    /// The lease the event is about.
    pub fn lease(&self) -> &Lease {
        match self {
            Event::Bound { lease } | Event::Renewed { lease } | Event::Lost { lease, .. } => lease,
        }
    }
}

/// The client's state (RFC 2131 figure 5), for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Init,
    Selecting,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
    /// Released or never started: nothing more is sent.
    Stopped,
}

/// A message waiting to be built into a frame by [`Client::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tx {
    kind: ClientKind,
    xid: u32,
    secs: u16,
    ciaddr: Ipv4Addr,
    requested_ip: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
    dst_mac: [u8; 6],
    dst_ip: Ipv4Addr,
}

#[derive(Debug, Clone)]
struct Binding {
    lease: Lease,
    server_mac: [u8; 6],
    /// `None` for an infinite lease.
    t2: Option<Instant>,
    expiry: Option<Instant>,
}

/// The offer being requested.
#[derive(Debug, Clone, Copy)]
struct Offer {
    addr: Ipv4Addr,
    server: Ipv4Addr,
}

/// One DHCP client for one MAC.
#[derive(Debug)]
pub struct Client {
    mac: [u8; 6],
    hostname: Option<String>,
    phase: Phase,
    xid: u32,
    /// When the current exchange began (the `secs` field).
    started: Instant,
    /// When the last REQUEST was sent (T1/T2/expiry count from it).
    requested_at: Instant,
    /// Transmissions in the current phase.
    attempts: u32,
    next: Option<Instant>,
    offer: Option<Offer>,
    binding: Option<Binding>,
    /// Asked for again in the next DISCOVER (option 50).
    last_addr: Option<Ipv4Addr>,
    rng: u64,
    tx: VecDeque<Tx>,
    events: VecDeque<Event>,
}

impl Client {
    /// A client in INIT whose first DISCOVER is due at `now`. `seed` feeds
    /// transaction ids and jitter (any value; 0 is replaced): the caller
    /// draws it from its RNG, the client never reaches for one.
    pub fn new(mac: [u8; 6], seed: u64, now: Instant) -> Client {
        Client {
            mac,
            hostname: None,
            phase: Phase::Init,
            xid: 0,
            started: now,
            requested_at: now,
            attempts: 0,
            next: Some(now),
            offer: None,
            binding: None,
            last_addr: None,
            rng: seed | 1,
            tx: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Sends `hostname` as option 12 (cut to [`wire::MAX_HOSTNAME`] bytes;
    /// empty means none).
    #[must_use]
    pub fn with_hostname(mut self, hostname: Option<String>) -> Client {
        self.hostname = hostname.filter(|h| !h.is_empty());
        self
    }

    /// The MAC the client speaks for.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The lease in use (BOUND, RENEWING, REBINDING).
    pub fn lease(&self) -> Option<&Lease> {
        self.binding.as_ref().map(|b| &b.lease)
    }

    /// When [`Self::handle_timeout`] wants to be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// The next event, until `None`. Drain after every call that takes `now`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Writes the next frame to send into `out` (at least
    /// [`wire::MAX_CLIENT_FRAME`] bytes); `None` when nothing is queued.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Option<usize> {
        let tx = self.tx.pop_front()?;
        Some(wire::build(
            &ClientMessage {
                kind: tx.kind,
                xid: tx.xid,
                secs: tx.secs,
                mac: self.mac,
                ciaddr: tx.ciaddr,
                requested_ip: tx.requested_ip,
                server_id: tx.server_id,
                hostname: self.hostname.as_deref(),
                dst_mac: tx.dst_mac,
                dst_ip: tx.dst_ip,
            },
            out,
        ))
    }

    /// The session (re)connected to a node: an exchange in progress starts
    /// over now (offers are local to the node that made them) instead of
    /// waiting out its backoff. A lease in use is kept.
    pub fn kick(&mut self, now: Instant) {
        if matches!(
            self.phase,
            Phase::Init | Phase::Selecting | Phase::Requesting
        ) {
            self.phase = Phase::Init;
            self.offer = None;
            self.next = Some(now);
        }
    }

    /// Timers: retransmissions, T1, T2, expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next.is_none_or(|t| t > now) {
            return;
        }
        if let Some(expiry) = self.binding.as_ref().and_then(|b| b.expiry) {
            if now >= expiry {
                self.lose(Lost::Expired, now);
                // Straight to a new DISCOVER.
                self.handle_timeout(now);
                return;
            }
        }
        match self.phase {
            Phase::Init => {
                self.xid = self.random() as u32;
                self.started = now;
                self.attempts = 0;
                self.phase = Phase::Selecting;
                self.send_discover(now);
            }
            Phase::Selecting => self.send_discover(now),
            Phase::Requesting => {
                if self.attempts >= MAX_REQUESTS {
                    tracing::debug!("no answer to DHCPREQUEST; starting over");
                    self.phase = Phase::Init;
                    self.offer = None;
                    self.next = Some(now);
                    self.handle_timeout(now);
                } else {
                    self.send_request(now);
                }
            }
            Phase::Bound => {
                self.phase = Phase::Renewing;
                self.xid = self.random() as u32;
                self.started = now;
                self.attempts = 0;
                self.send_renewal(now);
            }
            Phase::Renewing => {
                let t2 = self.binding.as_ref().and_then(|b| b.t2);
                if t2.is_some_and(|t2| now >= t2) {
                    self.phase = Phase::Rebinding;
                }
                self.send_renewal(now);
            }
            Phase::Rebinding => self.send_renewal(now),
            Phase::Stopped => self.next = None,
        }
    }

    /// Any Ethernet frame (any bytes: never panics). Frames that are not a
    /// DHCP reply to us are ignored cheaply (header bytes only, see
    /// [`wire::is_reply_for`]), so the caller may pass every frame it
    /// receives. Returns whether it answered our current exchange.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> bool {
        if !wire::is_reply_for(frame, self.mac) {
            return false;
        }
        match wire::parse_reply(frame) {
            Ok(msg) => self.handle_reply(now, &msg),
            Err(e) => {
                tracing::trace!(error = ?e, "frame to port 68 is not a DHCP reply");
                false
            }
        }
    }

    /// A parsed server reply.
    pub fn handle_reply(&mut self, now: Instant, msg: &ServerMessage) -> bool {
        if msg.chaddr != self.mac || msg.xid != self.xid {
            return false;
        }
        match (self.phase, msg.kind) {
            (Phase::Selecting, ServerKind::Offer) => {
                if !usable(msg.yiaddr) {
                    return false;
                }
                self.offer = Some(Offer {
                    addr: msg.yiaddr,
                    server: msg.server_id,
                });
                self.phase = Phase::Requesting;
                self.attempts = 0;
                self.send_request(now);
                true
            }
            (Phase::Requesting, ServerKind::Ack) => {
                let Some(offer) = self.offer else {
                    return false;
                };
                if msg.server_id != offer.server {
                    return false;
                }
                self.bind(now, msg)
            }
            (Phase::Renewing | Phase::Rebinding, ServerKind::Ack) => self.bind(now, msg),
            (Phase::Requesting, ServerKind::Nak) => {
                if self.offer.is_some_and(|o| o.server != msg.server_id) {
                    return false;
                }
                tracing::debug!(server = %msg.server_id, "DHCPNAK to our request; starting over");
                self.restart_after_nak(now);
                true
            }
            (Phase::Renewing | Phase::Rebinding, ServerKind::Nak) => {
                self.lose(Lost::Nak, now + NAK_PAUSE);
                true
            }
            _ => false,
        }
    }

    /// Gives the lease back (DHCPRELEASE, unicast to the server) and stops.
    /// Returns the lease released, if there was one.
    pub fn release(&mut self) -> Option<Lease> {
        self.phase = Phase::Stopped;
        self.next = None;
        self.offer = None;
        let b = self.binding.take()?;
        let xid = self.random() as u32;
        self.tx.push_back(Tx {
            kind: ClientKind::Release,
            xid,
            secs: 0,
            ciaddr: b.lease.addr,
            requested_ip: None,
            server_id: Some(b.lease.server),
            dst_mac: b.server_mac,
            dst_ip: b.lease.server,
        });
        Some(b.lease)
    }

    fn restart_after_nak(&mut self, now: Instant) {
        self.phase = Phase::Init;
        self.offer = None;
        self.next = Some(now + NAK_PAUSE);
    }

    fn lose(&mut self, why: Lost, next: Instant) {
        if let Some(b) = self.binding.take() {
            self.events.push_back(Event::Lost {
                lease: b.lease,
                why,
            });
        }
        self.phase = Phase::Init;
        self.offer = None;
        self.next = Some(next);
    }

    fn bind(&mut self, now: Instant, msg: &ServerMessage) -> bool {
        if !usable(msg.yiaddr) {
            return false;
        }
        let Some(lease_secs) = msg.lease_secs.filter(|l| *l > 0) else {
            tracing::debug!("DHCPACK without a lease time ignored");
            return false;
        };
        let prefix = match msg.subnet_mask {
            Some(mask) => match prefix_of(mask) {
                Some(p) if p <= 30 => p,
                _ => {
                    tracing::debug!(%mask, "DHCPACK with an unusable subnet mask ignored");
                    return false;
                }
            },
            None => 24,
        };
        let lease = Lease {
            addr: msg.yiaddr,
            prefix,
            server: msg.server_id,
            router: msg.router,
            dns: msg.dns.clone(),
            mtu: msg.mtu,
            secs: lease_secs,
        };
        let (t1, t2, expiry) = if lease_secs == INFINITE {
            (None, None, None)
        } else {
            let (t1, t2) = renewal_times(lease_secs, msg.t1_secs, msg.t2_secs);
            let at = self.requested_at;
            (
                Some(at + t1),
                Some(at + t2),
                Some(at + Duration::from_secs(u64::from(lease_secs))),
            )
        };
        let new = match self.binding.take() {
            Some(old) if old.lease.addr != lease.addr || old.lease.prefix != lease.prefix => {
                self.events.push_back(Event::Lost {
                    lease: old.lease,
                    why: Lost::Replaced,
                });
                true
            }
            Some(old) => {
                let mut same = old.lease.clone();
                same.secs = lease.secs;
                same != lease
            }
            None => true,
        };
        self.events.push_back(if new {
            Event::Bound {
                lease: lease.clone(),
            }
        } else {
            Event::Renewed {
                lease: lease.clone(),
            }
        });
        self.last_addr = Some(lease.addr);
        self.binding = Some(Binding {
            lease,
            server_mac: msg.server_mac,
            t2,
            expiry,
        });
        self.phase = Phase::Bound;
        self.offer = None;
        self.next = t1.map(|t| t.max(now));
        true
    }

    fn secs(&self, now: Instant) -> u16 {
        now.saturating_duration_since(self.started)
            .as_secs()
            .min(u64::from(u16::MAX)) as u16
    }

    fn send_discover(&mut self, now: Instant) {
        self.attempts += 1;
        self.tx.push_back(Tx {
            kind: ClientKind::Discover,
            xid: self.xid,
            secs: self.secs(now),
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested_ip: self.last_addr,
            server_id: None,
            dst_mac: BROADCAST_MAC,
            dst_ip: Ipv4Addr::BROADCAST,
        });
        self.next = Some(now + self.backoff());
    }

    fn send_request(&mut self, now: Instant) {
        let Some(offer) = self.offer else {
            return;
        };
        self.attempts += 1;
        self.requested_at = now;
        self.tx.push_back(Tx {
            kind: ClientKind::Request,
            xid: self.xid,
            secs: self.secs(now),
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested_ip: Some(offer.addr),
            server_id: Some(offer.server),
            dst_mac: BROADCAST_MAC,
            dst_ip: Ipv4Addr::BROADCAST,
        });
        self.next = Some(now + self.backoff());
    }

    /// A REQUEST in RENEWING (unicast to the server) or REBINDING
    /// (broadcast), with `ciaddr` and no server id (RFC 2131 4.3.2).
    fn send_renewal(&mut self, now: Instant) {
        let Some(b) = &self.binding else {
            self.phase = Phase::Init;
            self.next = Some(now);
            return;
        };
        let rebinding = self.phase == Phase::Rebinding;
        let (dst_mac, dst_ip, until) = if rebinding {
            (BROADCAST_MAC, Ipv4Addr::BROADCAST, b.expiry)
        } else {
            (b.server_mac, b.lease.server, b.t2)
        };
        let tx = Tx {
            kind: ClientKind::Request,
            xid: self.xid,
            secs: self.secs(now),
            ciaddr: b.lease.addr,
            requested_ip: None,
            server_id: None,
            dst_mac,
            dst_ip,
        };
        self.attempts += 1;
        self.requested_at = now;
        self.tx.push_back(tx);
        self.next = until.map(|until| {
            let half = until.saturating_duration_since(now) / 2;
            (now + half.max(MIN_RENEW_RETRANSMIT)).min(until)
        });
    }

    /// RFC 2131 4.1: 4 s doubling to 64 s, randomised by -1..+1 s.
    fn backoff(&mut self) -> Duration {
        let exp = self.attempts.saturating_sub(1).min(4);
        let base = (FIRST_RETRANSMIT * (1 << exp)).min(MAX_RETRANSMIT);
        let jitter = JITTER.as_millis() as u64;
        let spread = self.random() % (2 * jitter + 1);
        // base >= 4 s > jitter: never negative.
        Duration::from_millis(base.as_millis() as u64 - jitter + spread)
    }

    /// xorshift64*: enough for transaction ids and jitter.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11
    }
}

/// A unicast host address a server may give.
fn usable(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
}

/// The prefix length of a contiguous mask (`255.255.255.0` -> 24).
pub fn prefix_of(mask: Ipv4Addr) -> Option<u8> {
    let v = u32::from(mask);
    let ones = v.leading_ones();
    (ones == 32 || v << ones == 0).then_some(ones as u8)
}

/// T1 and T2 from the server's options 58/59 where sane (T1 < T2 < lease),
/// else 0.5 and 0.875 of the lease time.
pub fn renewal_times(lease_secs: u32, t1: Option<u32>, t2: Option<u32>) -> (Duration, Duration) {
    let lease_ms = u64::from(lease_secs) * 1000;
    let t2_ms = t2
        .map(|t| u64::from(t) * 1000)
        .filter(|t| *t < lease_ms)
        .unwrap_or(lease_ms * 7 / 8);
    let t1_ms = t1
        .map(|t| u64::from(t) * 1000)
        .filter(|t| *t < t2_ms)
        .unwrap_or((lease_ms / 2).min(t2_ms));
    (Duration::from_millis(t1_ms), Duration::from_millis(t2_ms))
}

#[cfg(test)]
mod tests;
