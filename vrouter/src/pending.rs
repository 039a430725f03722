//! Packets waiting for their next hop's MAC (RFC 1812, 5.2.7: a router
//! "SHOULD queue" while resolving, bounded). Bounded per destination and in
//! total; when a bound is hit the oldest packet goes (and is counted), like
//! Linux's `unres_qlen`. A destination unanswered for `timeout` gets ICMP
//! host unreachable for every packet it held.

use crate::NetworkId;
use snooping::Mac;
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Bounds and the timeout of the ARP-resolution queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingConfig {
    /// Packets held per destination: 16 by default.
    pub per_destination: usize,
    /// Packets held in total (all networks): 256 by default.
    pub total: usize,
    /// How long a destination may stay unresolved: 1 s by default (RFC
    /// 1122, 2.3.2.1 asks for at most one ARP request per second per
    /// destination; one is sent, then the packets fail).
    pub timeout: Duration,
}

impl Default for PendingConfig {
    fn default() -> Self {
        Self {
            per_destination: 16,
            total: 256,
            timeout: Duration::from_secs(1),
        }
    }
}

/// A packet waiting: its frame, ready but for the destination MAC, and
/// where an ICMP error about it would go.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// The network it entered from.
    pub ingress: NetworkId,
    /// The MAC of whoever sent it there (for host unreachable).
    pub sender: Mac,
    /// Ethernet header (destination to fill) and the IPv4 packet.
    pub frame: Vec<u8>,
}

#[derive(Debug)]
struct Destination {
    deadline: Instant,
    queue: VecDeque<(u64, Waiting)>,
}

/// What [`Pending::enqueue`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Enqueued {
    /// The destination was not waiting yet: send an ARP probe.
    pub new_destination: bool,
    /// Packets pushed out to make room.
    pub evicted: usize,
}

/// The queue of every destination a router is resolving.
#[derive(Debug)]
pub(crate) struct Pending {
    config: PendingConfig,
    dests: HashMap<(NetworkId, Ipv4Addr), Destination>,
    total: usize,
    /// Arrival order, so "the oldest" is well defined across destinations.
    next_seq: u64,
    /// Spare buffers, at most `total`.
    free: Vec<Vec<u8>>,
}

impl Pending {
    pub(crate) fn new(config: PendingConfig) -> Self {
        Self {
            config,
            dests: HashMap::new(),
            total: 0,
            next_seq: 0,
            free: Vec::new(),
        }
    }

    /// A buffer for a new waiting frame (reused when one is free).
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_default()
    }

    /// Gives a frame's buffer back for reuse.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.free.len() < self.config.total {
            buf.clear();
            self.free.push(buf);
        }
    }

    /// Queues `item` for `(network, ip)`, evicting the oldest packets if a
    /// bound is reached.
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        network: NetworkId,
        ip: Ipv4Addr,
        item: Waiting,
    ) -> Enqueued {
        let mut evicted = 0;
        if self.config.per_destination == 0 || self.config.total == 0 {
            self.recycle(item.frame);
            return Enqueued {
                new_destination: false,
                evicted: 1,
            };
        }
        let key = (network, ip);
        if let Some(d) = self.dests.get_mut(&key) {
            if d.queue.len() >= self.config.per_destination {
                if let Some((_, old)) = d.queue.pop_front() {
                    self.total -= 1;
                    evicted += 1;
                    self.recycle(old.frame);
                }
            }
        }
        while self.total >= self.config.total {
            if !self.evict_oldest() {
                break;
            }
            evicted += 1;
        }
        let deadline = now.checked_add(self.config.timeout).unwrap_or(now);
        let new_destination = !self.dests.contains_key(&key);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.dests
            .entry(key)
            .or_insert_with(|| Destination {
                deadline,
                queue: VecDeque::new(),
            })
            .queue
            .push_back((seq, item));
        self.total += 1;
        Enqueued {
            new_destination,
            evicted,
        }
    }

    /// Takes everything waiting for `(network, ip)`, oldest first.
    pub(crate) fn take(&mut self, network: NetworkId, ip: Ipv4Addr) -> Vec<Waiting> {
        match self.dests.remove(&(network, ip)) {
            Some(d) => {
                self.total -= d.queue.len();
                d.queue.into_iter().map(|(_, w)| w).collect()
            }
            None => Vec::new(),
        }
    }

    /// Takes everything whose destination timed out at `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Waiting> {
        let expired: Vec<_> = self
            .dests
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        let mut items = Vec::new();
        for (network, ip) in expired {
            items.extend(self.take(network, ip));
        }
        items
    }

    /// Drops everything into or from `network` (it is gone). Returns how
    /// many packets went.
    pub(crate) fn forget_network(&mut self, network: NetworkId) -> usize {
        let before = self.total;
        let mut freed = Vec::new();
        self.dests.retain(|(net, _), d| {
            if *net != network {
                d.queue.retain(|(_, w)| w.ingress != network);
            }
            if *net == network || d.queue.is_empty() {
                freed.extend(d.queue.drain(..).map(|(_, w)| w.frame));
                false
            } else {
                true
            }
        });
        self.total = self.dests.values().map(|d| d.queue.len()).sum();
        for buf in freed {
            self.recycle(buf);
        }
        before - self.total
    }

    /// The earliest deadline, if anything waits.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.dests.values().map(|d| d.deadline).min()
    }

    /// Packets waiting.
    pub(crate) fn len(&self) -> usize {
        self.total
    }

    /// Evicts the oldest packet anywhere; O(destinations), only when full.
    fn evict_oldest(&mut self) -> bool {
        let oldest = self
            .dests
            .iter()
            .filter_map(|(k, d)| d.queue.front().map(|(seq, _)| (*seq, *k)))
            .min();
        let Some((_, key)) = oldest else {
            return false;
        };
        let Some(d) = self.dests.get_mut(&key) else {
            return false;
        };
        if let Some((_, old)) = d.queue.pop_front() {
            self.total -= 1;
            if d.queue.is_empty() {
                self.dests.remove(&key);
            }
            self.recycle(old.frame);
            return true;
        }
        false
    }
}
