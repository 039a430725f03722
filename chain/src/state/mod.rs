//! The configuration as of some point in the log: a fold over events.
//!
//! `State` holds only what events say (no clocks, no I/O), in ordered maps so
//! that two folds of the same events are equal and iterate alike on every
//! node. Events that cannot apply (a name already taken, an unknown network,
//! a reused key id, an invalid field) leave the state unchanged; `apply`
//! says why, so callers can count or log conflicts, but the reason is not
//! part of the state: a compacted log, which no longer holds the ignored
//! events, folds to an equal `State`.
//!
//! Files: `types.rs` (what the state holds: [`Network`], [`Key`], [`Node`],
//! [`Published`], [`Proto`]), `ignored.rs` ([`Applied`], [`Ignored`]),
//! `apply.rs` (how each event kind changes the state), this file (the
//! [`State`] itself, `apply`, lookups).
//!
//! Applying an event never copies the state: each kind checks its
//! preconditions against the current state and returns `Ignored` before
//! touching anything, and mutates in place only once it will succeed (see
//! `tests/apply_cost.rs`, which counts allocations per event).

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::event::Event;
use crate::leases::{ClaimId, ClaimLog, ClaimOutcome, Lease, NetworkLeases};

mod apply;
use apply::route_pair;
mod ignored;
#[cfg(test)]
mod tests;
mod types;

pub use ignored::{Applied, Ignored};
pub use types::{Key, Network, Node, Proto, Published};

/// Everything the chain says, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Network id -> network.
    networks: BTreeMap<String, Network>,
    /// Network name -> network id.
    names: BTreeMap<String, String>,
    /// Node id -> presence.
    nodes: BTreeMap<String, Node>,
    /// Routes between networks, each pair stored once, smaller id first.
    routes: BTreeSet<(String, String)>,
    /// Network id -> leases, reservations, declines (absent: none yet).
    leases: BTreeMap<String, NetworkLeases>,
    /// Published ports: (protocol, host port) -> publication. A host port
    /// is a port of every node host, so the key spans all networks.
    published: BTreeMap<(Proto, u16), Published>,
    /// Recent claim outcomes; never compared (see [`ClaimLog`]).
    claims: ClaimLog,
}

impl State {
    /// Folds events, in order, into a fresh state.
    pub fn fold<I>(events: I) -> State
    where
        I: IntoIterator,
        I::Item: Borrow<Event>,
    {
        let mut state = State::default();
        for ev in events {
            state.apply(ev.borrow());
        }
        state
    }

    /// Applies one event. Never fails: an event that cannot apply is ignored
    /// and the reason returned.
    pub fn apply(&mut self, ev: &Event) -> Applied {
        if let Err(e) = ev.validate() {
            return Applied::Ignored(Ignored::Invalid(e));
        }
        let result = self.apply_valid(ev);
        // A lease table left empty is dropped, so that a log and its
        // compacted snapshot (which lacks the events that emptied it) fold
        // to equal states.
        if let Some(network) = ev.network() {
            if self
                .leases
                .get(network)
                .is_some_and(NetworkLeases::is_vacant)
            {
                self.leases.remove(network);
            }
        }
        match result {
            Ok(()) => Applied::Changed,
            Err(why) => Applied::Ignored(why),
        }
    }

    /// Networks in id order.
    pub fn networks(&self) -> impl Iterator<Item = &Network> {
        self.networks.values()
    }

    /// The network with this id.
    pub fn network(&self, id: &str) -> Option<&Network> {
        self.networks.get(id)
    }

    /// The network with this name.
    pub fn network_by_name(&self, name: &str) -> Option<&Network> {
        self.names.get(name).and_then(|id| self.networks.get(id))
    }

    /// What a user typed as NETWORK: an id or a name. Names never look like
    /// ids (see [`validate::network_name`](crate::validate::network_name)), so
    /// this is unambiguous.
    pub fn network_by_name_or_id(&self, s: &str) -> Option<&Network> {
        self.network(s).or_else(|| self.network_by_name(s))
    }

    /// The unrevoked access keys of a network (empty if there is no such
    /// network), in key id order.
    pub fn live_keys<'a>(&'a self, network: &str) -> impl Iterator<Item = (u32, &'a Key)> + 'a {
        self.networks
            .get(network)
            .into_iter()
            .flat_map(Network::live_keys)
    }

    /// Nodes present (joined and not left), in node id order.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(id, n)| (id.as_str(), n))
    }

    /// A present node.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Routes as unordered pairs (smaller network id first), in order.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes.iter().map(|(a, b)| (a.as_str(), b.as_str()))
    }

    /// Whether gateways route between the two networks (either order).
    pub fn has_route(&self, a: &str, b: &str) -> bool {
        self.routes.contains(&route_pair(a, b))
    }

    /// The network's lease table: leases, reservations, declines. `None`
    /// when no lease event has applied to it yet.
    pub fn lease_table_of(&self, network: &str) -> Option<&NetworkLeases> {
        self.leases.get(network)
    }

    /// The network's leases in address order, expired ones included (compare
    /// [`Lease::expires_ms`] with your wall clock).
    pub fn leases<'a>(&'a self, network: &str) -> impl Iterator<Item = &'a Lease> + 'a {
        self.leases
            .get(network)
            .into_iter()
            .flat_map(NetworkLeases::leases)
    }

    pub fn lease_by_ip(&self, network: &str, ip: Ipv4Addr) -> Option<&Lease> {
        self.leases.get(network)?.by_ip(ip)
    }

    /// The lease of a MAC (canonical form, see [`crate::validate::mac`]).
    pub fn lease_by_mac(&self, network: &str, mac: &str) -> Option<&Lease> {
        self.leases.get(network)?.by_mac(mac)
    }

    /// Reservations of a network as (MAC, address), in MAC order.
    pub fn reservations<'a>(
        &'a self,
        network: &str,
    ) -> impl Iterator<Item = (&'a str, Ipv4Addr)> + 'a {
        self.leases
            .get(network)
            .into_iter()
            .flat_map(NetworkLeases::reservations)
    }

    /// The ports a network publishes, in (protocol, host port) order.
    pub fn published<'a>(&'a self, network: &'a str) -> impl Iterator<Item = &'a Published> + 'a {
        self.published
            .values()
            .filter(move |p| p.network == network)
    }

    /// Every published port of every network, in (protocol, host port) order.
    pub fn published_all(&self) -> impl Iterator<Item = &Published> {
        self.published.values()
    }

    /// The publication of a protocol's host port, if any.
    pub fn published_port(&self, proto: Proto, host_port: u16) -> Option<&Published> {
        self.published.get(&(proto, host_port))
    }

    /// Whether a node's claim won or lost: `None` while the claim has not
    /// been folded yet (or its outcome was forgotten: the state remembers
    /// the last [`MAX_CLAIM_OUTCOMES`](crate::leases::MAX_CLAIM_OUTCOMES)
    /// claims, and a compacted log no longer holds lost ones). A won claim
    /// whose lease still stands is always answered.
    pub fn claim_outcome(&self, id: &ClaimId) -> Option<ClaimOutcome> {
        if let Some(outcome) = self.claims.get(id) {
            return Some(outcome.clone());
        }
        let lease = self.lease_by_ip(&id.network, id.ip)?;
        (lease.mac == id.mac && lease.node_id == id.node_id && lease.at_ms == id.at_ms)
            .then_some(ClaimOutcome::Won)
    }
}
