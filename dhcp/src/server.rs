//! The DHCPv4 server of one network on one node: a Sans-IO state machine.
//!
//! Inputs: client frames ([`Server::handle_frame`]), ARP replies to its
//! probes ([`Server::observe_arp_reply`]), the chain having moved
//! ([`Server::chain_updated`]) and timers ([`Server::poll_timeout`],
//! [`Server::handle_timeout`]). Each takes `now` (monotonic, for timers) and
//! `now_ms` (wall clock, for the lease times the chain holds), reads the
//! lease table from a [`LeaseStore`], and pushes [`Action`]s for the caller
//! to carry out, in order. Drain rule: perform every action pushed, then call
//! `poll_timeout` again.
//!
//! Address life (RFC 2131 3.1, 4.3):
//! - DISCOVER: the client's reservation, else its current lease, else its
//!   requested address if free, else a pool pick ([`crate::pool`]). An
//!   address not already this client's is ARP-probed first
//!   ([`Action::Probe`]) and offered only after `probe_wait` of silence.
//! - REQUEST (SELECTING, INIT-REBOOT, RENEWING, REBINDING): if the address
//!   is free for the client, [`Action::Claim`] appends a claim to the chain
//!   and the transaction is parked; once the chain shows the claim won the
//!   server ACKs, if it lost it NAKs (the client restarts at DISCOVER). This
//!   server is authoritative for its virtual network: an INIT-REBOOT for a
//!   free address it has no record of is claimed rather than ignored.
//! - RELEASE, DECLINE: appended to the chain; DECLINE also keeps the address
//!   from offers for `decline_hold`.
//! - INFORM: an ACK with the network's options and no lease (4.3.5).
//! - Leases long past `expires_ms` are retired with [`Action::Expire`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use chain::{ClaimId, ClaimOutcome, NetworkLeases};

use crate::codec::{self, ClientKind, ClientMessage, Reply, ReplyKind};
use crate::config::ServerConfig;
use crate::counters::{Counters, DropReason, Stat};
use crate::lease_store::{LeaseClaim, LeaseDecline, LeaseExpiry, LeaseRelease, LeaseStore};
use crate::options;
use crate::probe::Conflicts;

mod messages;

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this Ethernet frame to the port the client's message came from.
    Transmit(Vec<u8>),
    /// ARP-probe `ip` from the node's own unique MAC (RFC 5227: sender IP
    /// 0.0.0.0) and report a reply with [`Server::observe_arp_reply`].
    Probe {
        ip: Ipv4Addr,
    },
    /// Append to the chain; then call [`Server::chain_updated`] whenever the
    /// store has folded new events.
    Claim(LeaseClaim),
    Release(LeaseRelease),
    Decline(LeaseDecline),
    Expire(LeaseExpiry),
}

impl Action {
    /// Hands a chain write to `store`; `false` for frames and probes.
    pub fn write_to(&self, store: &mut impl LeaseStore) -> bool {
        match self {
            Action::Claim(c) => store.claim(c),
            Action::Release(r) => store.release(r),
            Action::Decline(d) => store.decline(d),
            Action::Expire(e) => store.expire(e),
            Action::Transmit(_) | Action::Probe { .. } => return false,
        }
        true
    }
}

/// Who is asking: client id when present, else chaddr (RFC 2131 4.2).
#[derive(Debug, Clone)]
struct Client {
    /// 0 ‖ chaddr, or 1 ‖ client id: the key of offers and pending claims.
    key: Vec<u8>,
    mac: [u8; 6],
    mac_text: String,
    id_hex: Option<String>,
}

impl Client {
    fn of(msg: &ClientMessage) -> Client {
        let id_hex = msg.client_id.as_deref().and_then(options::client_id_hex);
        let key = match &msg.client_id {
            Some(id) if id_hex.is_some() => [&[1u8][..], id].concat(),
            _ => [&[0u8][..], &msg.chaddr[..]].concat(),
        };
        Client {
            key,
            mac: msg.chaddr,
            mac_text: chain::validate::format_mac(msg.chaddr),
            id_hex,
        }
    }
}

/// What a reply to the client's latest message needs from it.
#[derive(Debug, Clone)]
struct Txn {
    xid: u32,
    broadcast: bool,
    chaddr: [u8; 6],
    ciaddr: Ipv4Addr,
    client_id: Option<Vec<u8>>,
    hostname: Option<String>,
}

impl Txn {
    fn of(msg: &ClientMessage) -> Txn {
        Txn {
            xid: msg.transaction_id,
            broadcast: msg.broadcast,
            chaddr: msg.chaddr,
            ciaddr: msg.ciaddr,
            client_id: msg.client_id.clone(),
            hostname: msg.hostname.as_deref().and_then(options::hostname),
        }
    }
}

#[derive(Debug, Clone)]
struct Offer {
    ip: Ipv4Addr,
    txn: Txn,
    client: Client,
    /// While probing: when silence means the address is free.
    probe_deadline: Option<Instant>,
    attempts: u8,
    /// Once offered: when the offer is withdrawn.
    expires: Instant,
}

#[derive(Debug, Clone)]
struct Pending {
    claim: ClaimId,
    ip: Ipv4Addr,
    txn: Txn,
    deadline: Instant,
    lease_secs: u32,
}

/// One network's DHCP server on one node.
#[derive(Debug)]
pub struct Server {
    cfg: ServerConfig,
    offers: BTreeMap<Vec<u8>, Offer>,
    offered_ips: BTreeMap<Ipv4Addr, Vec<u8>>,
    pending: BTreeMap<Vec<u8>, Pending>,
    pending_ips: BTreeMap<Ipv4Addr, Vec<u8>>,
    conflicts: Conflicts,
    next_sweep: Instant,
    counters: Counters,
}

fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Server {
    pub fn new(cfg: ServerConfig, now: Instant) -> Server {
        Server {
            conflicts: Conflicts::new(cfg.max_conflicts),
            next_sweep: now + cfg.sweep_interval,
            cfg,
            offers: BTreeMap::new(),
            offered_ips: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_ips: BTreeMap::new(),
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Outstanding offers (probing or offered).
    pub fn offers(&self) -> usize {
        self.offers.len()
    }

    /// REQUESTs waiting for the chain.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// A frame a local client sent to the DHCP port. Anything that gets no
    /// answer is counted under its [`DropReason`], which is also returned.
    pub fn handle_frame(
        &mut self,
        now: Instant,
        now_ms: u64,
        frame: &[u8],
        store: &impl LeaseStore,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        let result = self.dispatch(now, now_ms, frame, store, out);
        if let Err(reason) = result {
            self.counters.drop(reason);
        }
        result
    }

    fn dispatch(
        &mut self,
        now: Instant,
        now_ms: u64,
        frame: &[u8],
        store: &impl LeaseStore,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        let msg = codec::parse_frame(frame)?;
        if msg.src_mac != msg.chaddr {
            return Err(DropReason::ChaddrMismatch);
        }
        if !msg.giaddr.is_unspecified() {
            return Err(DropReason::Relayed);
        }
        let empty = NetworkLeases::default();
        let table = store.table(&self.cfg.network).unwrap_or(&empty);
        let client = Client::of(&msg);
        match msg.kind {
            ClientKind::Discover => self.on_discover(now, now_ms, &msg, client, table, out),
            ClientKind::Request => self.on_request(now, now_ms, &msg, &client, table, out),
            ClientKind::Release => self.on_release(now_ms, &msg, &client, table, out),
            ClientKind::Decline => self.on_decline(now, now_ms, &msg, &client, table, out),
            ClientKind::Inform => self.on_inform(&msg, out),
        }
    }

    /// The store has folded new events: answer the REQUESTs whose claims
    /// now show an outcome (ACK if won, NAK if lost).
    pub fn chain_updated(
        &mut self,
        now: Instant,
        now_ms: u64,
        store: &impl LeaseStore,
        out: &mut Vec<Action>,
    ) {
        let _ = (now, now_ms);
        let decided: Vec<(Vec<u8>, ClaimOutcome)> = self
            .pending
            .iter()
            .filter_map(|(k, p)| store.claim_outcome(&p.claim).map(|o| (k.clone(), o)))
            .collect();
        for (key, outcome) in decided {
            let Some(p) = self.remove_pending(&key) else {
                continue;
            };
            match outcome {
                ClaimOutcome::Won => {
                    self.counters.count(Stat::ClaimWon);
                    self.send(ReplyKind::Ack, &p.txn, p.ip, Some(p.lease_secs), None, out);
                }
                ClaimOutcome::Lost(_) => {
                    self.counters.count(Stat::ClaimLost);
                    let msg = Some("address taken by another client");
                    self.send(
                        ReplyKind::Nak,
                        &p.txn,
                        Ipv4Addr::UNSPECIFIED,
                        None,
                        msg,
                        out,
                    );
                }
            }
        }
    }

    /// An ARP reply from `ip` (sent by `sender_mac`) reached the node. If
    /// `ip` is being probed for an offer, it is in use: probe another.
    pub fn observe_arp_reply(
        &mut self,
        now: Instant,
        now_ms: u64,
        ip: Ipv4Addr,
        sender_mac: [u8; 6],
        store: &impl LeaseStore,
        out: &mut Vec<Action>,
    ) {
        let Some(key) = self.offered_ips.get(&ip).cloned() else {
            return;
        };
        let Some(offer) = self.offers.get(&key) else {
            return;
        };
        if offer.client.mac == sender_mac {
            return; // the client itself still answers for its old address
        }
        self.conflicts.mark(ip, now + self.cfg.conflict_hold);
        self.counters.count(Stat::ProbeConflict);
        if offer.probe_deadline.is_some() {
            let empty = NetworkLeases::default();
            let table = store.table(&self.cfg.network).unwrap_or(&empty);
            if let Err(reason) = self.reprobe(&key, now, now_ms, table, out) {
                self.counters.drop(reason);
            }
        }
        // Already offered: the client's own ARP check will DECLINE it.
    }

    /// When [`Server::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let offers = self
            .offers
            .values()
            .map(|o| o.probe_deadline.unwrap_or(o.expires));
        let pending = self.pending.values().map(|p| p.deadline);
        offers
            .chain(pending)
            .chain(std::iter::once(self.next_sweep))
            .min()
    }

    /// Timers: probes that stayed silent become offers, offers and claims
    /// time out, long-expired leases are retired.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        now_ms: u64,
        store: &impl LeaseStore,
        out: &mut Vec<Action>,
    ) {
        let empty = NetworkLeases::default();
        let table = store.table(&self.cfg.network).unwrap_or(&empty);
        let probed: Vec<Vec<u8>> = self
            .offers
            .iter()
            .filter(|(_, o)| o.probe_deadline.is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in probed {
            let Some(offer) = self.offers.get(&key) else {
                continue;
            };
            // The chain may have moved while we probed.
            if !self.free_for(table, offer.ip, &offer.client, now_ms) {
                if let Err(reason) = self.reprobe(&key, now, now_ms, table, out) {
                    self.counters.drop(reason);
                }
                continue;
            }
            let hold = self.cfg.offer_hold;
            let lease = options::lease_secs(self.cfg.lease_time);
            if let Some(offer) = self.offers.get_mut(&key) {
                offer.probe_deadline = None;
                offer.expires = now + hold;
                let (txn, ip) = (offer.txn.clone(), offer.ip);
                self.send(ReplyKind::Offer, &txn, ip, Some(lease), None, out);
            }
        }
        let stale: Vec<Vec<u8>> = self
            .offers
            .iter()
            .filter(|(_, o)| o.probe_deadline.is_none() && o.expires <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.remove_offer(&key);
            self.counters.count(Stat::OfferExpired);
        }
        let late: Vec<Vec<u8>> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in late {
            self.remove_pending(&key);
            // Silent: the client retransmits its REQUEST.
            self.counters.drop(DropReason::ClaimTimeout);
        }
        self.conflicts.expire(now);
        if now >= self.next_sweep {
            self.next_sweep = now + self.cfg.sweep_interval;
            self.retire(now_ms, table, out);
        }
    }

    /// Free in the chain's view for this client at `now_ms`: assignable, not
    /// reserved for another MAC, not leased (unexpired) to another holder,
    /// not declined.
    fn free_for(&self, table: &NetworkLeases, ip: Ipv4Addr, client: &Client, now_ms: u64) -> bool {
        self.cfg.subnet.is_assignable(ip)
            && table.reserved_for(ip).is_none_or(|m| m == client.mac_text)
            && table.by_ip(ip).is_none_or(|l| {
                l.same_holder(&client.mac_text, client.id_hex.as_deref()) || l.is_expired(now_ms)
            })
            && table.declined(ip).is_none_or(|d| d.until_ms <= now_ms)
    }

    /// Not offered to, nor being claimed for, another client of this node.
    fn locally_free(&self, ip: Ipv4Addr, client: &Client) -> bool {
        self.offered_ips.get(&ip).is_none_or(|k| *k == client.key)
            && self.pending_ips.get(&ip).is_none_or(|k| *k == client.key)
    }

    fn make_room(&mut self, now: Instant, key: &[u8]) -> Result<(), DropReason> {
        if self.offers.contains_key(key) || self.offers.len() < self.cfg.max_offers {
            return Ok(());
        }
        let stale: Vec<Vec<u8>> = self
            .offers
            .iter()
            .filter(|(_, o)| o.probe_deadline.is_none() && o.expires <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.remove_offer(&k);
        }
        if self.offers.len() < self.cfg.max_offers {
            Ok(())
        } else {
            Err(DropReason::OffersFull)
        }
    }

    fn offer_now(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        txn: Txn,
        client: Client,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        self.make_room(now, &client.key)?;
        let lease = options::lease_secs(self.cfg.lease_time);
        self.send(ReplyKind::Offer, &txn, ip, Some(lease), None, out);
        self.insert_offer(Offer {
            ip,
            txn,
            client,
            probe_deadline: None,
            attempts: 0,
            expires: now + self.cfg.offer_hold,
        });
        Ok(())
    }

    fn start_probe(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        txn: Txn,
        client: Client,
        attempts: u8,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        self.make_room(now, &client.key)?;
        self.counters.count(Stat::ProbeSent);
        out.push(Action::Probe { ip });
        self.insert_offer(Offer {
            ip,
            txn,
            client,
            probe_deadline: Some(now + self.cfg.probe_wait),
            attempts,
            expires: now + self.cfg.probe_wait + self.cfg.offer_hold,
        });
        Ok(())
    }

    /// The probed address is taken: probe the next candidate, a bounded
    /// number of times per DISCOVER.
    fn reprobe(
        &mut self,
        key: &[u8],
        now: Instant,
        now_ms: u64,
        table: &NetworkLeases,
        out: &mut Vec<Action>,
    ) -> Result<(), DropReason> {
        let Some(offer) = self.remove_offer(key) else {
            return Ok(());
        };
        if offer.attempts >= self.cfg.max_probe_attempts {
            return Err(DropReason::ProbesExhausted);
        }
        let ip = self.candidate(now, now_ms, None, &offer.client, table)?;
        self.start_probe(now, ip, offer.txn, offer.client, offer.attempts + 1, out)
    }

    fn insert_offer(&mut self, offer: Offer) {
        let key = offer.client.key.clone();
        self.remove_offer(&key);
        self.offered_ips.insert(offer.ip, key.clone());
        self.offers.insert(key, offer);
    }

    fn remove_offer(&mut self, key: &[u8]) -> Option<Offer> {
        let offer = self.offers.remove(key)?;
        if self.offered_ips.get(&offer.ip).is_some_and(|k| k == key) {
            self.offered_ips.remove(&offer.ip);
        }
        Some(offer)
    }

    fn remove_pending(&mut self, key: &[u8]) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        if self.pending_ips.get(&p.ip).is_some_and(|k| k == key) {
            self.pending_ips.remove(&p.ip);
        }
        Some(p)
    }

    /// Leases this node claimed, `retire_after` past their end (others'
    /// after `retire_orphans_after`), are retired so the log can shrink.
    fn retire(&mut self, now_ms: u64, table: &NetworkLeases, out: &mut Vec<Action>) {
        let mine = duration_ms(self.cfg.retire_after);
        let orphans = duration_ms(self.cfg.retire_orphans_after);
        let mut n = 0;
        for lease in table.leases() {
            if n >= self.cfg.max_retire_per_sweep {
                break;
            }
            let grace = if lease.node_id == self.cfg.node_id {
                mine
            } else {
                orphans
            };
            if lease.expires_ms.saturating_add(grace) <= now_ms {
                n += 1;
                self.counters.count(Stat::LeaseRetired);
                out.push(Action::Expire(LeaseExpiry {
                    network: self.cfg.network.clone(),
                    mac: lease.mac.clone(),
                    ip: lease.ip,
                    expires_ms: lease.expires_ms,
                }));
            }
        }
    }

    fn send(
        &mut self,
        kind: ReplyKind,
        txn: &Txn,
        yiaddr: Ipv4Addr,
        lease_secs: Option<u32>,
        message: Option<&'static str>,
        out: &mut Vec<Action>,
    ) {
        self.counters.count(match kind {
            ReplyKind::Offer => Stat::OfferSent,
            ReplyKind::Ack => Stat::AckSent,
            ReplyKind::Nak => Stat::NakSent,
        });
        let reply = Reply {
            kind,
            transaction_id: txn.xid,
            broadcast: txn.broadcast,
            chaddr: txn.chaddr,
            ciaddr: txn.ciaddr,
            yiaddr,
            server_id: self.cfg.gateway_ip,
            subnet_mask: self.cfg.subnet.mask(),
            mtu: self.cfg.mtu,
            lease_secs,
            client_id: txn.client_id.clone(),
            hostname: txn.hostname.clone(),
            message,
        };
        out.push(Action::Transmit(codec::emit_reply(
            &reply,
            self.cfg.gateway_mac,
        )));
    }
}

#[cfg(test)]
mod tests;
