//! IPv4 -> MAC tracking for one network on one node (DESIGN.md, "How a
//! frame travels": "Each node resolves client IP->MAC from what it snoops
//! (ARP, including the 15 s gratuitous ARP that `tok` sends, and DHCP
//! leases in the chain), so a gateway on node A can route to a client on
//! node B without flooding").
//!
//! The node shows the table every frame its switch forwards (frames from
//! peer nodes too), and the table learns the *sender* pair of ARP packets
//! (RFC 826: "the sender's hardware address and protocol address are what a
//! receiver merges into its table"): requests, replies and gratuitous ARP.
//! DHCP leases from the chain are inserted with their own expiry.
//!
//! The table is fed by untrusted frames, so: it is capped (a full table
//! learns nothing more and counts it), it never learns a binding for a
//! protected address (the gateway's) or from a protected MAC (pinned
//! ethereal MACs, the node's probe MAC), and every frame it does not learn
//! from is counted by reason.
//!
//! IPv6: the table also learns IPv6 -> MAC bindings from Neighbor Discovery
//! (RFC 4861) in the same frames: the source address and source link-layer
//! option of a Neighbor Solicitation, the target address and target
//! link-layer option of a Neighbor Advertisement (`nd.rs`), with the same
//! ageing, cap (per address family) and protection rules. There are no
//! IPv6 leases (no DHCPv6).

use crate::mac_table::Mac;
use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

mod counters;
mod nd;

pub use counters::{ArpCounters, Unlearned};

/// Limits and timers of an [`ArpTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpTableConfig {
    /// A snooped binding not refreshed for this long is forgotten: 300 s by
    /// default, like the MAC table (and far above `tok`'s 15 s gratuitous
    /// ARP). A lease lives until the expiry written in the chain instead.
    pub max_age: Duration,
    /// The most bindings held (snooped and leases together), for each
    /// address family (IPv4, IPv6): 65 536 by default, like the MAC table.
    pub max_entries: usize,
    /// The most protected addresses (of each family) and MACs (each): 64
    /// by default.
    pub max_protected: usize,
    /// The least time between two sweeps that learning runs by itself when
    /// the table is full (1 s by default), so a flood against a full table
    /// costs one sweep per second, not one per frame.
    pub sweep_interval: Duration,
}

impl Default for ArpTableConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            max_entries: 65_536,
            max_protected: 64,
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// How a binding was learned; a lease outranks what is snooped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Seen in an ARP packet.
    Snooped,
    /// A DHCP lease from the chain.
    Lease,
}

/// What the table did with a binding it accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    /// The address was unknown (or its entry had expired).
    New,
    /// The same MAC again: its age is reset.
    Refreshed,
    /// The address moved to another MAC (a host re-took the address).
    Changed {
        /// The MAC it had before.
        old: Mac,
    },
}

/// The outcome of [`ArpTable::observe_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Observed {
    /// Not an (untagged) ARP frame nor an IPv6 Neighbor Solicitation or
    /// Advertisement: nothing to learn, not counted.
    NotArp,
    /// The sender binding was learned.
    Learned {
        /// The sender protocol address.
        ip: Ipv4Addr,
        /// The sender hardware address.
        mac: Mac,
        /// New, refreshed or changed.
        binding: Binding,
    },
    /// An IPv6 binding was learned from a Neighbor Solicitation or
    /// Advertisement.
    LearnedV6 {
        /// The solicitation's source or the advertisement's target.
        ip: Ipv6Addr,
        /// Its link-layer address option.
        mac: Mac,
        /// New, refreshed or changed.
        binding: Binding,
    },
    /// An ARP or ND frame the table learned nothing from (counted).
    Unlearned(Unlearned),
}

/// Protecting one more address or MAC would exceed
/// [`ArpTableConfig::max_protected`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the ARP table protects at most {cap} entries of this kind (max_protected)")]
pub struct ProtectedFull {
    /// The cap that was reached.
    pub cap: usize,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: Mac,
    expires: Instant,
    origin: Origin,
}

/// IPv4 -> MAC bindings of one network, as one node knows them.
#[derive(Debug)]
pub struct ArpTable {
    config: ArpTableConfig,
    entries: HashMap<Ipv4Addr, Entry>,
    /// Snooped IPv6 bindings (ND), capped apart from IPv4.
    entries_v6: HashMap<Ipv6Addr, Entry>,
    protected_ips: Vec<Ipv4Addr>,
    protected_v6: Vec<Ipv6Addr>,
    protected_macs: Vec<Mac>,
    last_sweep: Option<Instant>,
    counters: ArpCounters,
}

impl Default for ArpTable {
    fn default() -> Self {
        Self::new(ArpTableConfig::default())
    }
}

impl ArpTable {
    /// An empty table.
    pub fn new(config: ArpTableConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
            entries_v6: HashMap::new(),
            protected_ips: Vec::new(),
            protected_v6: Vec::new(),
            protected_macs: Vec::new(),
            last_sweep: None,
            counters: ArpCounters::default(),
        }
    }

    /// The limits this table was made with.
    pub fn config(&self) -> &ArpTableConfig {
        &self.config
    }

    /// Never learn a binding for `ip` (the gateway's address: DESIGN.md,
    /// "ARP claiming the gateway address [is] dropped"); forgets any it has.
    pub fn protect_ip(&mut self, ip: Ipv4Addr) -> Result<(), ProtectedFull> {
        protect(&mut self.protected_ips, ip, self.config.max_protected)?;
        self.entries.remove(&ip);
        Ok(())
    }

    /// Never learn a binding for the IPv6 address `ip` (the gateway's
    /// addresses); forgets any it has.
    pub fn protect_ipv6(&mut self, ip: Ipv6Addr) -> Result<(), ProtectedFull> {
        protect(&mut self.protected_v6, ip, self.config.max_protected)?;
        self.entries_v6.remove(&ip);
        Ok(())
    }

    /// Stops protecting the IPv6 address `ip` (the network's IPv6 prefix
    /// changed). Returns whether it was protected.
    pub fn unprotect_ipv6(&mut self, ip: Ipv6Addr) -> bool {
        let before = self.protected_v6.len();
        self.protected_v6.retain(|p| *p != ip);
        before != self.protected_v6.len()
    }

    /// Never learn from a frame or ARP sender using `mac` (pinned ethereal
    /// MACs, node probe MACs: "never learned from traffic"); forgets any
    /// binding to it.
    pub fn protect_mac(&mut self, mac: Mac) -> Result<(), ProtectedFull> {
        protect(&mut self.protected_macs, mac, self.config.max_protected)?;
        self.entries.retain(|_, e| e.mac != mac);
        self.entries_v6.retain(|_, e| e.mac != mac);
        Ok(())
    }

    /// Learns the sender binding of an ARP frame, or the binding an IPv6
    /// Neighbor Solicitation or Advertisement carries, seen at `now`.
    /// Never panics, whatever the bytes.
    pub fn observe_frame(&mut self, now: Instant, frame: &[u8]) -> Observed {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return Observed::NotArp;
        };
        if eth.ethertype() == EthernetProtocol::Ipv6 {
            return self.observe_nd(now, eth.src_addr().0, eth.payload());
        }
        if eth.ethertype() != EthernetProtocol::Arp {
            return Observed::NotArp;
        }
        let result = ArpPacket::new_checked(eth.payload())
            .and_then(|p| ArpRepr::parse(&p))
            .map_err(|_| Unlearned::Malformed)
            .and_then(|repr| self.sender(eth.src_addr().0, repr))
            .and_then(|(ip, mac)| self.learn(now, ip, mac, Origin::Snooped, None));
        match result {
            Ok((ip, mac, binding)) => Observed::Learned { ip, mac, binding },
            Err(reason) => {
                self.counters.count(reason);
                Observed::Unlearned(reason)
            }
        }
    }

    /// Records a DHCP lease from the chain: `ip` belongs to `mac` until
    /// `expires` (the time written in the chain, converted by the caller).
    /// A lease outranks snooped bindings until it expires or is removed.
    pub fn insert_lease(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        mac: Mac,
        expires: Instant,
    ) -> Result<Binding, Unlearned> {
        let checked = check_ip(ip).and_then(|()| self.check_protected(ip, mac));
        let result = checked.and_then(|()| {
            self.learn(now, ip, mac, Origin::Lease, Some(expires))
                .map(|(_, _, b)| b)
        });
        if let Err(reason) = result {
            self.counters.count(reason);
        }
        result
    }

    /// Forgets the lease of `ip` if it is held by `mac` (released or
    /// revoked in the chain). Returns whether it was there.
    pub fn remove_lease(&mut self, ip: Ipv4Addr, mac: Mac) -> bool {
        let held = self
            .entries
            .get(&ip)
            .is_some_and(|e| e.origin == Origin::Lease && e.mac == mac);
        if held {
            self.entries.remove(&ip);
        }
        held
    }

    /// The MAC `ip` is bound to at `now`, unless unknown or expired.
    pub fn lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<Mac> {
        self.entry(now, ip).map(|e| e.mac)
    }

    /// The MAC the IPv6 address `ip` is bound to at `now`, unless unknown
    /// or expired.
    pub fn lookup_v6(&self, now: Instant, ip: Ipv6Addr) -> Option<Mac> {
        self.entries_v6
            .get(&ip)
            .filter(|e| e.expires > now)
            .map(|e| e.mac)
    }

    /// The binding of `ip` at `now` with how it was learned.
    pub fn lookup_origin(&self, now: Instant, ip: Ipv4Addr) -> Option<(Mac, Origin)> {
        self.entry(now, ip).map(|e| (e.mac, e.origin))
    }

    /// Removes every binding expired at `now` and returns how many. O(table):
    /// call it from a timer; expired bindings are already misses without it.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.last_sweep = Some(now);
        let before = self.entries.len() + self.entries_v6.len();
        self.entries.retain(|_, e| e.expires > now);
        self.entries_v6.retain(|_, e| e.expires > now);
        before - self.entries.len() - self.entries_v6.len()
    }

    /// IPv4 bindings held, including expired ones not yet swept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// IPv6 bindings held, including expired ones not yet swept.
    pub fn len_v6(&self) -> usize {
        self.entries_v6.len()
    }

    /// Whether the table holds no binding of either family.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.entries_v6.is_empty()
    }

    /// What was learned and what was not, by reason.
    pub fn counters(&self) -> &ArpCounters {
        &self.counters
    }

    fn entry(&self, now: Instant, ip: Ipv4Addr) -> Option<&Entry> {
        self.entries.get(&ip).filter(|e| e.expires > now)
    }

    /// The sender pair of an Ethernet/IPv4 ARP packet, if it may be learned.
    fn sender(&self, eth_src: Mac, repr: ArpRepr) -> Result<(Ipv4Addr, Mac), Unlearned> {
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            ..
        } = repr
        else {
            return Err(Unlearned::Malformed);
        };
        if !matches!(operation, ArpOperation::Request | ArpOperation::Reply) {
            return Err(Unlearned::Malformed);
        }
        let (ip, mac) = (source_protocol_addr, source_hardware_addr.0);
        if ip.is_unspecified() {
            // An RFC 5227 probe (ours or a host's): it claims nothing.
            return Err(Unlearned::Unspecified);
        }
        if self.protected_macs.contains(&eth_src) {
            return Err(Unlearned::ProtectedMac);
        }
        check_ip(ip)?;
        if !is_station(mac) {
            return Err(Unlearned::InvalidAddress);
        }
        self.check_protected(ip, mac)?;
        Ok((ip, mac))
    }

    fn check_protected(&self, ip: Ipv4Addr, mac: Mac) -> Result<(), Unlearned> {
        if self.protected_macs.contains(&mac) {
            return Err(Unlearned::ProtectedMac);
        }
        if self.protected_ips.contains(&ip) {
            return Err(Unlearned::ProtectedAddress);
        }
        Ok(())
    }

    /// Inserts or refreshes a binding; `lease` carries a lease's expiry.
    fn learn(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        mac: Mac,
        origin: Origin,
        lease: Option<Instant>,
    ) -> Result<(Ipv4Addr, Mac, Binding), Unlearned> {
        let snooped_expiry = now.checked_add(self.config.max_age).unwrap_or(now);
        let expires = lease.unwrap_or(snooped_expiry);
        let live = self.entry(now, ip).copied();
        let binding = match live {
            Some(old) if old.mac == mac => {
                let (expires, origin) = match (old.origin, origin) {
                    // A host heard from keeps its lease at least as long.
                    (Origin::Lease, Origin::Snooped) => (old.expires.max(expires), Origin::Lease),
                    _ => (expires, origin),
                };
                self.entries.insert(
                    ip,
                    Entry {
                        mac,
                        expires,
                        origin,
                    },
                );
                Binding::Refreshed
            }
            Some(old) if old.origin == Origin::Lease && origin == Origin::Snooped => {
                // The chain says the address is someone else's.
                return Err(Unlearned::LeaseConflict);
            }
            Some(old) => {
                self.entries.insert(
                    ip,
                    Entry {
                        mac,
                        expires,
                        origin,
                    },
                );
                self.counters.changed += 1;
                Binding::Changed { old: old.mac }
            }
            None => {
                if !self.entries.contains_key(&ip) && !self.make_room(now) {
                    return Err(Unlearned::CapReached);
                }
                self.entries.insert(
                    ip,
                    Entry {
                        mac,
                        expires,
                        origin,
                    },
                );
                Binding::New
            }
        };
        match origin {
            Origin::Snooped => self.counters.learned += 1,
            Origin::Lease => self.counters.leases += 1,
        }
        Ok((ip, mac, binding))
    }

    fn make_room(&mut self, now: Instant) -> bool {
        self.room(now, |t| t.entries.len())
    }

    /// Whether the map `len` measures has room under the cap, sweeping
    /// expired bindings (at most once per `sweep_interval`) if not.
    fn room(&mut self, now: Instant, len: impl Fn(&Self) -> usize) -> bool {
        if len(self) < self.config.max_entries {
            return true;
        }
        let due = self
            .last_sweep
            .is_none_or(|last| now.saturating_duration_since(last) >= self.config.sweep_interval);
        if due {
            self.expire(now);
        }
        len(self) < self.config.max_entries
    }
}

fn protect<T: PartialEq>(list: &mut Vec<T>, item: T, cap: usize) -> Result<(), ProtectedFull> {
    if list.contains(&item) {
        return Ok(());
    }
    if list.len() >= cap {
        return Err(ProtectedFull { cap });
    }
    list.push(item);
    Ok(())
}

/// Only a unicast host address names one station (RFC 1122, 3.2.1.3).
fn check_ip(ip: Ipv4Addr) -> Result<(), Unlearned> {
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        Err(Unlearned::InvalidAddress)
    } else {
        Ok(())
    }
}

/// Not a group address (I/G bit) and not all zeros.
fn is_station(mac: Mac) -> bool {
    mac[0] & 1 == 0 && mac != [0; 6]
}

#[cfg(test)]
mod tests;
