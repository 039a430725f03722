//! The forwarding decision of one virtual switch (one network on one node).
//! DESIGN.md, "How a frame travels", is the specification; each rule below
//! names the sentence it implements.
//!
//! Sans-IO: [`Switch::forward`] takes `now`, the ingress port and the frame's
//! bytes, and fills the caller's `Vec` with egress ports; the node moves the
//! bytes. Drain rule: after every `forward` (and `remove_port`), call
//! [`Switch::poll_event`] until `None`.
//!
//! Multicast is flooded like broadcast for now; IGMP/MLD snooping (deliver
//! only to ports that joined the group, flood link-local groups) comes with
//! a later issue.

mod config;
mod counters;
mod guard;

pub use config::{SwitchConfig, SwitchError};
pub use counters::{FrameDrop, SwitchCounters};

use crate::port::{PortId, PortKind};
use crate::storm::TokenBucket;
use snooping::{Learned, Mac, MacTable};
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Instant;

/// The shortest frame: an Ethernet header (destination, source, ethertype).
pub const MIN_FRAME: usize = 14;
/// The longest frame: 1500 bytes of payload, the header and one VLAN tag
/// (DESIGN.md: inner frames are 14..=1518 bytes).
pub const MAX_FRAME: usize = 1518;

/// How a forwarded frame was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forwarded {
    /// To the one port its destination is learned or pinned on.
    Unicast,
    /// To every local port but the ingress, and to every peer if the
    /// ingress is local (broadcast, multicast, unknown destination).
    Flooded,
}

/// Something the node must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwitchEvent {
    /// A MAC learned on a local client port now arrives from a peer node:
    /// the client moved there, and "a client that moves to another node is
    /// dropped by the old one" (DESIGN.md): the node ends `from`'s session.
    MacMoved {
        /// The MAC that moved.
        mac: Mac,
        /// The local client port it was learned on.
        from: PortId,
        /// The peer-node port it arrives from now.
        to: PortId,
    },
}

#[derive(Clone, Copy, Debug)]
struct Port {
    kind: PortKind,
    /// Storm control, on local ports only (peer traffic is the sum of the
    /// other nodes' local ports, each limited there).
    storm: Option<TokenBucket>,
}

/// One virtual switch: its ports, learned and pinned MACs, protected
/// addresses, events and counters. Every table is capped by
/// [`SwitchConfig`].
#[derive(Debug)]
pub struct Switch {
    config: SwitchConfig,
    ports: HashMap<PortId, Port>,
    /// Local ports (clients and ethereal) in the order they were added.
    locals: Vec<PortId>,
    /// Peer-node ports in the order they were added.
    peers: Vec<PortId>,
    next_id: u32,
    macs: MacTable<PortId>,
    /// Ethereal MACs: never learned, always this port.
    pinned: HashMap<Mac, PortId>,
    /// IPv4 addresses no client may claim in ARP (the gateway's).
    protected: Vec<Ipv4Addr>,
    events: VecDeque<SwitchEvent>,
    counters: SwitchCounters,
}

impl Default for Switch {
    fn default() -> Self {
        Self::new(SwitchConfig::default())
    }
}

impl Switch {
    /// A switch with no ports.
    pub fn new(config: SwitchConfig) -> Self {
        Self {
            config,
            ports: HashMap::new(),
            locals: Vec::new(),
            peers: Vec::new(),
            next_id: 0,
            macs: MacTable::new(config.mac_table),
            pinned: HashMap::new(),
            protected: Vec::new(),
            events: VecDeque::new(),
            counters: SwitchCounters::default(),
        }
    }

    /// The limits this switch was made with.
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    /// Adds a port; ids are never reused.
    pub fn add_port(&mut self, kind: PortKind) -> Result<PortId, SwitchError> {
        if self.ports.len() >= self.config.max_ports {
            return Err(SwitchError::TableFull {
                table: "port",
                setting: "max_ports",
                cap: self.config.max_ports,
            });
        }
        let id = PortId(self.next_id);
        self.next_id = self
            .next_id
            .checked_add(1)
            .ok_or(SwitchError::PortIdsExhausted)?;
        let storm = if kind.is_local() {
            self.config.storm.map(TokenBucket::new)
        } else {
            None
        };
        self.ports.insert(id, Port { kind, storm });
        if kind.is_peer() {
            self.peers.push(id);
            self.macs
                .set_port_cap(id, self.config.mac_table.max_entries);
        } else {
            self.locals.push(id);
        }
        Ok(id)
    }

    /// Removes a port with its learned MACs, its pins, and any event about
    /// it still queued. Returns its kind, or `None` if it was unknown.
    pub fn remove_port(&mut self, port: PortId) -> Option<PortKind> {
        let removed = self.ports.remove(&port)?;
        self.locals.retain(|p| *p != port);
        self.peers.retain(|p| *p != port);
        self.macs.forget_port(port);
        self.pinned.retain(|_, p| *p != port);
        self.events
            .retain(|SwitchEvent::MacMoved { from, to, .. }| *from != port && *to != port);
        Some(removed.kind)
    }

    /// The kind of a port, if it is one of this switch's.
    pub fn port_kind(&self, port: PortId) -> Option<PortKind> {
        self.ports.get(&port).map(|p| p.kind)
    }

    /// Every port, local ports first, each family in the order added.
    pub fn ports(&self) -> impl Iterator<Item = (PortId, PortKind)> + '_ {
        self.locals
            .iter()
            .chain(&self.peers)
            .map(|id| (*id, self.ports[id].kind))
    }

    /// Pins an ethereal MAC to its port: frames to it go there, it is never
    /// learned from traffic, and a client using it as a source is dropped
    /// (DESIGN.md: "Their MACs are pinned to the local ethereal port on
    /// every node (never learned from traffic)"). Pinning a pinned MAC
    /// again moves it.
    pub fn pin_mac(&mut self, mac: Mac, port: PortId) -> Result<(), SwitchError> {
        let kind = self.port_kind(port).ok_or(SwitchError::UnknownPort(port))?;
        if !kind.is_ethereal() {
            return Err(SwitchError::NotEthereal(port));
        }
        if !is_station(mac) {
            return Err(SwitchError::NotUnicast(mac));
        }
        if !self.pinned.contains_key(&mac) && self.pinned.len() >= self.config.max_pinned {
            return Err(SwitchError::TableFull {
                table: "pinned MAC",
                setting: "max_pinned",
                cap: self.config.max_pinned,
            });
        }
        self.macs.remove(mac);
        self.pinned.insert(mac, port);
        Ok(())
    }

    /// Unpins a MAC; returns the port it was pinned to.
    pub fn unpin_mac(&mut self, mac: Mac) -> Option<PortId> {
        self.pinned.remove(&mac)
    }

    /// Forbids clients to claim `ip` in ARP (the gateway's address: DESIGN.md,
    /// "ARP claiming the gateway address [is] dropped and counted").
    pub fn protect_ip(&mut self, ip: Ipv4Addr) -> Result<(), SwitchError> {
        if self.protected.contains(&ip) {
            return Ok(());
        }
        if self.protected.len() >= self.config.max_protected {
            return Err(SwitchError::TableFull {
                table: "protected address",
                setting: "max_protected",
                cap: self.config.max_protected,
            });
        }
        self.protected.push(ip);
        Ok(())
    }

    /// Lets clients claim `ip` again.
    pub fn unprotect_ip(&mut self, ip: Ipv4Addr) {
        self.protected.retain(|p| *p != ip);
    }

    /// Where a frame to `mac` would go at `now`, if it is pinned or learned.
    pub fn lookup(&self, now: Instant, mac: Mac) -> Option<PortId> {
        self.pinned
            .get(&mac)
            .copied()
            .or_else(|| self.macs.lookup(now, mac))
    }

    /// The MAC learning table, read-only (for status and tests).
    pub fn mac_table(&self) -> &MacTable<PortId> {
        &self.macs
    }

    /// Reclaims expired MAC entries (call it from a timer every few
    /// seconds; expired entries are already misses without it).
    pub fn expire(&mut self, now: Instant) -> usize {
        self.macs.expire(now)
    }

    /// Decides where `frame`, arriving on `ingress` at `now`, goes: clears
    /// `out` and fills it with the egress ports (the caller keeps `out`
    /// between calls, so steady state allocates nothing). On `Err`, `out`
    /// is empty and the drop is counted. Never panics, whatever the bytes.
    pub fn forward(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        out: &mut Vec<PortId>,
    ) -> Result<Forwarded, FrameDrop> {
        out.clear();
        let decision = self.decide(now, ingress, frame, out);
        match decision {
            Ok(Forwarded::Unicast) => self.counters.unicast += 1,
            Ok(Forwarded::Flooded) => self.counters.flooded += 1,
            Err(reason) => {
                out.clear();
                self.counters.count_drop(reason);
            }
        }
        decision
    }

    /// The next event for the node, oldest first.
    pub fn poll_event(&mut self) -> Option<SwitchEvent> {
        self.events.pop_front()
    }

    /// Counters since the switch was made.
    pub fn counters(&self) -> &SwitchCounters {
        &self.counters
    }

    /// The checks of "How a frame travels", in order; the first that fails
    /// names the drop.
    fn decide(
        &mut self,
        now: Instant,
        ingress: PortId,
        frame: &[u8],
        out: &mut Vec<PortId>,
    ) -> Result<Forwarded, FrameDrop> {
        if frame.len() < MIN_FRAME {
            return Err(FrameDrop::Runt);
        }
        if frame.len() > MAX_FRAME {
            return Err(FrameDrop::Oversize);
        }
        let kind = self.ports.get(&ingress).ok_or(FrameDrop::UnknownPort)?.kind;
        let (dst, src) = addresses(frame);
        if !is_station(src) {
            return Err(FrameDrop::InvalidSource);
        }
        if kind.is_client() {
            self.check_client(frame, src)?;
        }
        if is_reserved_group(dst) {
            return Err(FrameDrop::ReservedGroup);
        }
        let group = is_group(dst);
        if group && !self.storm_allows(now, ingress) {
            return Err(FrameDrop::StormLimited);
        }
        self.learn(now, src, ingress, kind);

        if group {
            self.flood(ingress, kind, out);
            return Ok(Forwarded::Flooded);
        }
        // "a client's frames to the gateway MAC stop at the client's own
        // node": a pinned MAC is always its local ethereal port.
        let egress = match self.pinned.get(&dst) {
            Some(port) => Some(*port),
            None => self.macs.lookup(now, dst),
        };
        let Some(egress) = egress else {
            self.flood(ingress, kind, out);
            return Ok(Forwarded::Flooded);
        };
        if egress == ingress {
            return Err(FrameDrop::Hairpin);
        }
        if kind.is_peer() && self.port_kind(egress).is_some_and(PortKind::is_peer) {
            // "A frame from a peer node goes to local ports only".
            return Err(FrameDrop::SplitHorizon);
        }
        out.push(egress);
        Ok(Forwarded::Unicast)
    }

    /// Anti-spoofing, for frames from clients only: peers hold the node key
    /// and forward what other nodes' ethereal services originate (routed
    /// frames carry the shared gateway MAC, ARP probes the gateway address).
    fn check_client(&self, frame: &[u8], src: Mac) -> Result<(), FrameDrop> {
        if self.pinned.contains_key(&src) {
            return Err(FrameDrop::SpoofedSource);
        }
        if self.protected.is_empty() && self.pinned.is_empty() {
            return Ok(());
        }
        match guard::arp_sender(frame) {
            Some((sha, spa)) if self.protected.contains(&spa) || self.pinned.contains_key(&sha) => {
                Err(FrameDrop::SpoofedArp)
            }
            _ => Ok(()),
        }
    }

    fn storm_allows(&mut self, now: Instant, ingress: PortId) -> bool {
        match self.ports.get_mut(&ingress).and_then(|p| p.storm.as_mut()) {
            Some(bucket) => bucket.allow(now),
            None => true,
        }
    }

    /// "source MAC learned on ingress unless pinned"; a cap reached is
    /// counted, and a client MAC arriving from a peer raises `MacMoved`.
    fn learn(&mut self, now: Instant, src: Mac, ingress: PortId, kind: PortKind) {
        if self.pinned.contains_key(&src) {
            return;
        }
        match self.macs.learn(now, src, ingress) {
            Learned::New | Learned::Refreshed => {}
            Learned::CapReached => self.counters.unlearned += 1,
            Learned::Moved { from } => {
                self.counters.moved += 1;
                let from_client = self.port_kind(from).is_some_and(PortKind::is_client);
                if kind.is_peer() && from_client {
                    self.queue(SwitchEvent::MacMoved {
                        mac: src,
                        from,
                        to: ingress,
                    });
                }
            }
        }
    }

    fn queue(&mut self, event: SwitchEvent) {
        if self.events.len() < self.config.max_events {
            self.events.push_back(event);
        } else {
            self.counters.events_lost += 1;
        }
    }

    /// "otherwise to every other local port and every peer node"; from a
    /// peer, "to local ports only (split horizon: never back out to
    /// peers)".
    fn flood(&self, ingress: PortId, kind: PortKind, out: &mut Vec<PortId>) {
        out.extend(self.locals.iter().filter(|p| **p != ingress));
        if kind.is_local() {
            out.extend_from_slice(&self.peers);
        }
    }
}

fn addresses(frame: &[u8]) -> (Mac, Mac) {
    let mut dst = [0; 6];
    let mut src = [0; 6];
    dst.copy_from_slice(&frame[..6]);
    src.copy_from_slice(&frame[6..12]);
    (dst, src)
}

/// Group (multicast or broadcast) address: the I/G bit, the first bit on
/// the wire (IEEE 802, 8.2).
fn is_group(mac: Mac) -> bool {
    mac[0] & 1 == 1
}

/// An address a station may have: not a group address, not all zeros.
fn is_station(mac: Mac) -> bool {
    !is_group(mac) && mac != [0; 6]
}

/// 01:80:C2:00:00:00 to 0F, which IEEE 802.1D bridges never forward.
fn is_reserved_group(mac: Mac) -> bool {
    mac[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && mac[5] <= 0x0f
}

#[cfg(test)]
mod tests;
