//! The flow table: lookups by id and by key, caps in total / per client /
//! for TCP, and the timer wheel (a cached earliest deadline, so
//! `poll_timeout` is O(1) and a sweep is O(flows)).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use smoltcp::wire::EthernetAddress;

use crate::config::Limits;
use crate::counters::DropReason;
use crate::flow::{Flow, FlowId, FlowKey, FlowKind, FlowState, FlowStats};

/// `BTreeMap` rather than `HashMap`: iteration order (and so the order of
/// commands after a sweep) is deterministic, and keys chosen by a client
/// cannot degrade it.
#[derive(Debug, Clone, Copy)]
struct Client {
    flows: usize,
    mac: EthernetAddress,
}

#[derive(Debug, Default)]
pub(crate) struct FlowTable {
    flows: BTreeMap<FlowId, Flow>,
    by_key: BTreeMap<FlowKey, FlowId>,
    per_client: BTreeMap<Ipv4Addr, Client>,
    tcp: usize,
    next_id: u64,
    /// No flow's deadline is earlier than this (it may be stale-early:
    /// deadlines only move later between sweeps).
    next_deadline: Option<Instant>,
}

impl FlowTable {
    pub fn lookup(&self, key: &FlowKey) -> Option<FlowId> {
        self.by_key.get(key).copied()
    }

    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        self.flows.get(&id)
    }

    pub fn get_mut(&mut self, id: FlowId) -> Option<&mut Flow> {
        self.flows.get_mut(&id)
    }

    pub fn tcp_ids(&self) -> Vec<FlowId> {
        self.flows
            .iter()
            .filter(|(_, f)| matches!(f.state, FlowState::Tcp(_)))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The MAC of a client with at least one flow (the latest one seen).
    pub fn client_mac(&self, ip: Ipv4Addr) -> Option<EthernetAddress> {
        self.per_client.get(&ip).map(|c| c.mac)
    }

    /// Checks the caps for one more flow of `kind` from `client`.
    pub fn admit(
        &self,
        limits: &Limits,
        client: Ipv4Addr,
        kind: FlowKind,
    ) -> Result<(), DropReason> {
        if self.flows.len() >= limits.max_flows {
            return Err(DropReason::FlowCap);
        }
        if self.per_client.get(&client).map_or(0, |c| c.flows) >= limits.max_flows_per_client {
            return Err(DropReason::ClientCap);
        }
        if matches!(kind, FlowKind::Tcp | FlowKind::PublishedTcp)
            && self.tcp >= limits.max_tcp_flows
        {
            return Err(DropReason::TcpCap);
        }
        Ok(())
    }

    /// Inserts a flow; the caller checked `admit` first.
    pub fn insert(
        &mut self,
        key: FlowKey,
        kind: FlowKind,
        client_mac: EthernetAddress,
        deadline: Instant,
        state: FlowState,
    ) -> FlowId {
        let id = FlowId(self.next_id);
        self.next_id += 1;
        let client = self.per_client.entry(*key.client.ip()).or_insert(Client {
            flows: 0,
            mac: client_mac,
        });
        client.flows += 1;
        client.mac = client_mac;
        if matches!(state, FlowState::Tcp(_)) {
            self.tcp += 1;
        }
        self.by_key.insert(key, id);
        self.flows.insert(
            id,
            Flow {
                key,
                kind,
                client_mac,
                deadline,
                state,
            },
        );
        self.note_deadline(deadline);
        id
    }

    pub fn remove(&mut self, id: FlowId) -> Option<Flow> {
        let flow = self.flows.remove(&id)?;
        self.by_key.remove(&flow.key);
        let client = *flow.key.client.ip();
        if let Some(c) = self.per_client.get_mut(&client) {
            c.flows -= 1;
            if c.flows == 0 {
                self.per_client.remove(&client);
            }
        }
        if matches!(flow.state, FlowState::Tcp(_)) {
            self.tcp -= 1;
        }
        Some(flow)
    }

    /// Moves a flow's timer; earlier deadlines are noted for `next_deadline`.
    pub fn set_deadline(&mut self, id: FlowId, deadline: Instant) {
        if let Some(flow) = self.flows.get_mut(&id) {
            flow.deadline = deadline;
            self.note_deadline(deadline);
        }
    }

    fn note_deadline(&mut self, deadline: Instant) {
        self.next_deadline = Some(self.next_deadline.map_or(deadline, |d| d.min(deadline)));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// Flows whose deadline has passed; recomputes the earliest deadline of
    /// the rest.
    pub fn expired(&mut self, now: Instant) -> Vec<FlowId> {
        if self.next_deadline.is_none_or(|d| d > now) {
            return Vec::new();
        }
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for (id, flow) in &self.flows {
            if flow.deadline <= now {
                due.push(*id);
            } else {
                next = Some(next.map_or(flow.deadline, |d| d.min(flow.deadline)));
            }
        }
        self.next_deadline = next;
        due
    }

    pub fn stats(&self) -> FlowStats {
        let mut stats = FlowStats::default();
        for flow in self.flows.values() {
            stats.by_kind[flow.kind.index()] += 1;
            if let FlowState::Tcp(tcp) = &flow.state {
                if tcp.released {
                    stats.tcp_time_wait += 1;
                }
            }
        }
        stats.per_client = self
            .per_client
            .iter()
            .map(|(ip, c)| (*ip, c.flows))
            .collect();
        stats
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;
    use std::time::Duration;

    use super::*;
    use crate::flow::Transport;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            transport: Transport::Udp,
            client: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port),
            remote: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 53),
        }
    }

    #[test]
    fn earliest_deadline_is_tracked_across_sweeps() {
        let t0 = Instant::now();
        let mac = EthernetAddress([2, 0, 0, 0, 0, 2]);
        let mut table = FlowTable::default();
        let sec = Duration::from_secs(1);
        let first = table.insert(
            key(1),
            FlowKind::Udp,
            mac,
            t0 + 5 * sec,
            FlowState::Datagram,
        );
        let second = table.insert(
            key(2),
            FlowKind::Udp,
            mac,
            t0 + 3 * sec,
            FlowState::Datagram,
        );
        assert_eq!(table.next_deadline(), Some(t0 + 3 * sec));
        // Activity moves second later; the cached deadline may be early, never late.
        table.set_deadline(second, t0 + 9 * sec);
        assert!(table.expired(t0 + 3 * sec).is_empty());
        assert_eq!(table.next_deadline(), Some(t0 + 5 * sec));
        assert_eq!(table.expired(t0 + 5 * sec), vec![first]);
        assert_eq!(table.next_deadline(), Some(t0 + 9 * sec));
        table.remove(first);
        assert_eq!(table.lookup(&key(1)), None);
        assert_eq!(table.lookup(&key(2)), Some(second));
        assert_eq!(
            table.stats().per_client,
            vec![(Ipv4Addr::new(10, 0, 0, 2), 1)]
        );
        // Ids are never reused.
        table.remove(second);
        let third = table.insert(key(1), FlowKind::Udp, mac, t0, FlowState::Datagram);
        assert!(third > second);
    }

    #[test]
    fn caps_are_checked_per_client_total_and_tcp() {
        let limits = Limits {
            max_flows: 2,
            max_flows_per_client: 1,
            max_tcp_flows: 0,
            ..Limits::default()
        };
        let mut t = FlowTable::default();
        let ip = Ipv4Addr::new(10, 0, 0, 2);
        assert_eq!(t.admit(&limits, ip, FlowKind::Tcp), Err(DropReason::TcpCap));
        assert_eq!(t.admit(&limits, ip, FlowKind::Udp), Ok(()));
        let mac = EthernetAddress([2, 0, 0, 0, 0, 2]);
        t.insert(
            key(1),
            FlowKind::Udp,
            mac,
            Instant::now(),
            FlowState::Datagram,
        );
        assert_eq!(
            t.admit(&limits, ip, FlowKind::Udp),
            Err(DropReason::ClientCap)
        );
        let other = Ipv4Addr::new(10, 0, 0, 3);
        assert_eq!(t.admit(&limits, other, FlowKind::Udp), Ok(()));
    }
}
