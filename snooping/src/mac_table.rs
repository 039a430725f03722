//! MAC learning with ageing and caps: which port a source MAC was last seen
//! on (DESIGN.md, "How a frame travels": "the destination port if its MAC is
//! known (learned)").
//!
//! The table is the part of a switch that hostile traffic can grow: every
//! frame names a source MAC of the sender's choosing. So it is bounded twice:
//! a global cap (the memory of one switch) and a per-port cap (so one port
//! flooding random source MACs cannot take the whole table from the others).
//! When a cap is reached the new MAC is simply not learned: frames to it are
//! flooded, as for any unknown destination, and [`Learned::CapReached`] lets
//! the caller count it (issue 3, item 7).
//!
//! Ageing is lazy: an entry older than [`MacTableConfig::max_age`] is a miss
//! for [`MacTable::lookup`] and is replaced by [`MacTable::learn`]; its memory
//! is reclaimed by [`MacTable::expire`], which `learn` also runs by itself
//! (at most once per [`MacTableConfig::sweep_interval`]) when a cap is in
//! the way, so expired entries never keep a live MAC out.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A 48-bit Ethernet (IEEE 802) address.
pub type Mac = [u8; 6];

/// Limits and timers of a [`MacTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacTableConfig {
    /// An entry not refreshed for this long is forgotten. 300 s by default,
    /// the Linux bridge's `ageing_time` (and IEEE 802.1D's recommended
    /// value).
    pub max_age: Duration,
    /// The most entries the table holds, all ports together. 65 536 by
    /// default (about 3 MiB of entries at most).
    pub max_entries: usize,
    /// The most entries one port holds, unless [`MacTable::set_port_cap`]
    /// says otherwise. 4096 by default: far more hosts than one tap client
    /// or browser puts behind itself, small enough that 16 hostile ports
    /// are needed to fill the global cap.
    pub max_per_port: usize,
    /// The least time between two sweeps that `learn` runs by itself when a
    /// cap is in the way, so a flood against a full table costs one full
    /// sweep per interval, not one per frame. 1 s by default.
    pub sweep_interval: Duration,
}

impl Default for MacTableConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            max_entries: 65_536,
            max_per_port: 4096,
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// What [`MacTable::learn`] did with a source MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Learned<P> {
    /// The MAC was unknown (or its entry had expired) and is now learned.
    New,
    /// The MAC was already known on this port; its age is reset.
    Refreshed,
    /// The MAC was known on another port and now belongs to this one.
    Moved {
        /// The port it was learned on before.
        from: P,
    },
    /// A cap is reached: the MAC is not learned (and, if it was known on
    /// another port, that stale entry is forgotten so frames to it flood).
    CapReached,
}

#[derive(Clone, Copy, Debug)]
struct Entry<P> {
    port: P,
    last_seen: Instant,
}

#[derive(Clone, Copy, Debug, Default)]
struct PortUse {
    /// Entries (live or expired but not yet swept) held by this port.
    entries: usize,
    /// A cap set by [`MacTable::set_port_cap`], else the config's.
    cap: Option<usize>,
}

/// The MAC learning table of one switch, generic over the port type.
///
/// Memory is bounded by the caps: at most `max_entries` entries, and one
/// per-port record for each port that holds entries or has its own cap.
#[derive(Debug)]
pub struct MacTable<P> {
    config: MacTableConfig,
    entries: HashMap<Mac, Entry<P>>,
    ports: HashMap<P, PortUse>,
    last_sweep: Option<Instant>,
    cap_reached: u64,
}

impl<P: Copy + Eq + Hash> Default for MacTable<P> {
    fn default() -> Self {
        Self::new(MacTableConfig::default())
    }
}

impl<P: Copy + Eq + Hash> MacTable<P> {
    /// An empty table. Nothing is allocated until the first MAC is learned.
    pub fn new(config: MacTableConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
            ports: HashMap::new(),
            last_sweep: None,
            cap_reached: 0,
        }
    }

    /// The limits this table was made with.
    pub fn config(&self) -> &MacTableConfig {
        &self.config
    }

    /// Gives `port` its own cap instead of [`MacTableConfig::max_per_port`]
    /// (a switch gives a peer-node port, behind which a whole node's clients
    /// live, the global cap). It lasts until [`MacTable::forget_port`].
    pub fn set_port_cap(&mut self, port: P, cap: usize) {
        self.ports.entry(port).or_default().cap = Some(cap);
    }

    /// Records that `mac` was seen as a source on `port` at `now`.
    ///
    /// A move re-learns the MAC on the new port without counting it twice
    /// against the global cap; it needs room under the new port's cap.
    pub fn learn(&mut self, now: Instant, mac: Mac, port: P) -> Learned<P> {
        let max_age = self.config.max_age;
        let previous = self
            .entries
            .get(&mac)
            .map(|e| (e.port, is_expired(e, now, max_age)));
        match previous {
            Some((old, false)) if old == port => {
                if let Some(entry) = self.entries.get_mut(&mac) {
                    entry.last_seen = now;
                }
                Learned::Refreshed
            }
            Some((old, expired)) => {
                // The entry leaves `old` whatever happens next: it is stale
                // (a move) or dead (expired).
                self.entries.remove(&mac);
                self.release(old);
                if self.make_room(now, port) {
                    self.insert(now, mac, port);
                    if expired || old == port {
                        Learned::New
                    } else {
                        Learned::Moved { from: old }
                    }
                } else {
                    self.cap_reached += 1;
                    Learned::CapReached
                }
            }
            None => {
                if self.make_room(now, port) {
                    self.insert(now, mac, port);
                    Learned::New
                } else {
                    self.cap_reached += 1;
                    Learned::CapReached
                }
            }
        }
    }

    /// The port `mac` was learned on, unless unknown or expired at `now`.
    pub fn lookup(&self, now: Instant, mac: Mac) -> Option<P> {
        self.entries
            .get(&mac)
            .filter(|e| !is_expired(e, now, self.config.max_age))
            .map(|e| e.port)
    }

    /// Forgets one MAC (a switch pins an ethereal MAC that was learned
    /// before). Returns the port it was on.
    pub fn remove(&mut self, mac: Mac) -> Option<P> {
        let entry = self.entries.remove(&mac)?;
        self.release(entry.port);
        Some(entry.port)
    }

    /// Forgets every MAC learned on `port` and its own cap, if any (the port
    /// is gone: DESIGN.md, "a session silent for 60 s is removed with its
    /// learned MACs"). Returns how many entries were removed. O(table).
    pub fn forget_port(&mut self, port: P) -> usize {
        let Some(usage) = self.ports.remove(&port) else {
            return 0;
        };
        if usage.entries > 0 {
            self.entries.retain(|_, e| e.port != port);
        }
        usage.entries
    }

    /// Removes every entry expired at `now` and returns how many. O(table):
    /// call it from a timer (every few seconds is plenty); `learn` also calls
    /// it, rate-limited, when a cap is in the way.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.last_sweep = Some(now);
        let max_age = self.config.max_age;
        let before = self.entries.len();
        let ports = &mut self.ports;
        self.entries.retain(|_, e| {
            if is_expired(e, now, max_age) {
                if let Some(usage) = ports.get_mut(&e.port) {
                    usage.entries -= 1;
                }
                false
            } else {
                true
            }
        });
        self.ports.retain(|_, u| u.entries > 0 || u.cap.is_some());
        before - self.entries.len()
    }

    /// Entries held, including expired ones not yet swept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries held by `port`, including expired ones not yet swept.
    pub fn port_len(&self, port: P) -> usize {
        self.ports.get(&port).map_or(0, |u| u.entries)
    }

    /// How many times `learn` answered [`Learned::CapReached`].
    pub fn cap_reached(&self) -> u64 {
        self.cap_reached
    }

    /// Whether one more entry fits on `port`; if not, and no sweep ran
    /// within `sweep_interval`, sweeps expired entries and checks again.
    fn make_room(&mut self, now: Instant, port: P) -> bool {
        if self.fits(port) {
            return true;
        }
        let due = self
            .last_sweep
            .is_none_or(|last| now.saturating_duration_since(last) >= self.config.sweep_interval);
        if due {
            self.expire(now);
            return self.fits(port);
        }
        false
    }

    fn fits(&self, port: P) -> bool {
        let (held, cap) = self
            .ports
            .get(&port)
            .map_or((0, None), |u| (u.entries, u.cap));
        self.entries.len() < self.config.max_entries
            && held < cap.unwrap_or(self.config.max_per_port)
    }

    fn insert(&mut self, now: Instant, mac: Mac, port: P) {
        self.entries.insert(
            mac,
            Entry {
                port,
                last_seen: now,
            },
        );
        self.ports.entry(port).or_default().entries += 1;
    }

    /// One entry of `port` is gone; drop its record once it holds nothing
    /// and has no cap of its own, so port records stay bounded by entries.
    fn release(&mut self, port: P) {
        if let Some(usage) = self.ports.get_mut(&port) {
            usage.entries -= 1;
            if usage.entries == 0 && usage.cap.is_none() {
                self.ports.remove(&port);
            }
        }
    }
}

fn is_expired<P>(entry: &Entry<P>, now: Instant, max_age: Duration) -> bool {
    now.saturating_duration_since(entry.last_seen) >= max_age
}

#[cfg(test)]
mod tests;
