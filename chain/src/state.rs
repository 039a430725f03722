//! The configuration as of some point in the log: a fold over events.
//!
//! `State` holds only what events say (no clocks, no I/O), in ordered maps so
//! that two folds of the same events are equal and iterate alike on every
//! node. Events that cannot apply (a name already taken, an unknown network,
//! a reused key id, an invalid field) leave the state unchanged; `apply`
//! says why, so callers can count or log conflicts, but the reason is not
//! part of the state: a compacted log, which no longer holds the ignored
//! events, folds to an equal `State`.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::event::Event;
use crate::ipv4::Ipv4Subnet;
use crate::leases::{
    ClaimId, ClaimLog, ClaimLost, ClaimOutcome, Declined, Lease, NetworkLeases, TableRefusal,
};
use crate::validate::InvalidEvent;

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

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// `"tcp"` / `"udp"`, as events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// The lowercase spelling events use; `None` for anything else.
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A published port (inbound NAT): `proto` traffic to `host_port` of the
/// node the client holding `client_ip` is attached to reaches
/// `client_ip:client_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The network id.
    pub network: String,
    pub proto: Proto,
    pub host_port: u16,
    /// An assignable address of the network's subnet.
    pub client_ip: Ipv4Addr,
    pub client_port: u16,
}

/// One network as the chain describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The chain id, 32 lowercase hex digits.
    pub id: String,
    pub name: String,
    /// CIDR, e.g. `10.1.2.0/24`.
    pub subnet: String,
    pub node_key_id: u32,
    /// 64 lowercase hex digits.
    pub node_secret: String,
    /// Setting name -> latest value.
    pub settings: BTreeMap<String, String>,
    /// Access keys ever issued, revoked ones included (key ids are never reused).
    pub keys: BTreeMap<u32, Key>,
}

/// An access key of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// 64 lowercase hex digits.
    pub secret: String,
    pub label: Option<String>,
    pub revoked: bool,
}

/// A node that has joined and not left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `IP:PORT` addresses, as last announced.
    pub advertise: Vec<String>,
    /// `at_ms` of the node's latest `NodeJoined` (it renews its presence by
    /// joining again).
    pub at_ms: u64,
}

/// What [`State::apply`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The state now reflects the event.
    Changed,
    /// The event had no effect, for this reason.
    Ignored(Ignored),
}

/// Why an event left the state unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// A network with this name exists already (first in chain order wins).
    #[error("network name {0:?} is taken")]
    NameTaken(String),
    /// A network with this id exists already.
    #[error("network {0} exists already")]
    NetworkExists(String),
    #[error("no network {0}")]
    UnknownNetwork(String),
    /// The key id is in use (or was: key ids are never reused), or is the
    /// network's node key id.
    #[error("key id {key_id:08x} is taken in network {network}")]
    KeyIdTaken { network: String, key_id: u32 },
    #[error("no key {key_id:08x} in network {network}")]
    UnknownKey { network: String, key_id: u32 },
    #[error("key {key_id:08x} of network {network} is already revoked")]
    AlreadyRevoked { network: String, key_id: u32 },
    #[error("node {0} is not present")]
    NodeAbsent(String),
    #[error("invalid event: {0}")]
    Invalid(InvalidEvent),
    /// Leases and reservations need an IPv4 subnet.
    #[error("network {0} has no IPv4 subnet")]
    NotIpv4(String),
    #[error("a route between {0} and {1} exists already")]
    RouteExists(String, String),
    #[error("no route between {0} and {1}")]
    NoRoute(String, String),
    /// A `LeaseClaimed` lost by the claim rule ([`crate::leases`]).
    #[error("claim of {ip} by {mac} in network {network} lost: {why}")]
    ClaimLost {
        network: String,
        mac: String,
        ip: Ipv4Addr,
        why: ClaimLost,
    },
    /// The address is the network's, broadcast or gateway address, or outside the subnet.
    #[error("{ip} is not assignable in network {network}")]
    NotAssignable { network: String, ip: Ipv4Addr },
    #[error("{ip} is reserved for {mac} in network {network}")]
    ReservedForOther {
        network: String,
        ip: Ipv4Addr,
        mac: String,
    },
    #[error("{mac} already has this reservation in network {network}")]
    ReservationExists { network: String, mac: String },
    #[error("{mac} has no reservation in network {network}")]
    NoReservation { network: String, mac: String },
    /// A release, expiry or decline names a lease that is not (or no longer) there.
    #[error("{mac} holds no such lease on {ip} in network {network}")]
    NoLease {
        network: String,
        mac: String,
        ip: Ipv4Addr,
    },
    /// A decline of an address another client holds.
    #[error("{ip} is leased to {mac} in network {network}")]
    LeaseHeld {
        network: String,
        ip: Ipv4Addr,
        mac: String,
    },
    /// The protocol and host port are published already (first wins).
    #[error("{proto} host port {host_port} is published already (network {network})")]
    PortTaken {
        proto: Proto,
        host_port: u16,
        /// The network holding the publication.
        network: String,
    },
    /// An unpublish names a port this network has not published.
    #[error("{proto} host port {host_port} is not published in network {network}")]
    NotPublished {
        network: String,
        proto: Proto,
        host_port: u16,
    },
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

    fn apply_valid(&mut self, ev: &Event) -> Result<(), Ignored> {
        match ev {
            Event::NetworkCreated {
                network,
                name,
                subnet,
                node_key_id,
                node_secret,
            } => {
                if self.networks.contains_key(network) {
                    return Err(Ignored::NetworkExists(network.clone()));
                }
                if self.names.contains_key(name) {
                    return Err(Ignored::NameTaken(name.clone()));
                }
                self.names.insert(name.clone(), network.clone());
                self.networks.insert(
                    network.clone(),
                    Network {
                        id: network.clone(),
                        name: name.clone(),
                        subnet: subnet.clone(),
                        node_key_id: *node_key_id,
                        node_secret: node_secret.clone(),
                        settings: BTreeMap::new(),
                        keys: BTreeMap::new(),
                    },
                );
            }
            Event::KeyIssued {
                network,
                key_id,
                secret,
                label,
            } => {
                let net = self.network_mut(network)?;
                if *key_id == net.node_key_id || net.keys.contains_key(key_id) {
                    return Err(Ignored::KeyIdTaken {
                        network: network.clone(),
                        key_id: *key_id,
                    });
                }
                net.keys.insert(
                    *key_id,
                    Key {
                        secret: secret.clone(),
                        label: label.clone(),
                        revoked: false,
                    },
                );
            }
            Event::KeyRevoked { network, key_id } => {
                let net = self.network_mut(network)?;
                let key = net
                    .keys
                    .get_mut(key_id)
                    .ok_or_else(|| Ignored::UnknownKey {
                        network: network.clone(),
                        key_id: *key_id,
                    })?;
                if key.revoked {
                    return Err(Ignored::AlreadyRevoked {
                        network: network.clone(),
                        key_id: *key_id,
                    });
                }
                key.revoked = true;
            }
            Event::SettingChanged {
                network,
                name,
                value,
            } => {
                let net = self.network_mut(network)?;
                net.settings.insert(name.clone(), value.clone());
            }
            Event::NodeJoined {
                node_id,
                advertise,
                at_ms,
            } => {
                self.nodes.insert(
                    node_id.clone(),
                    Node {
                        advertise: advertise.clone(),
                        at_ms: *at_ms,
                    },
                );
            }
            Event::NodeLeft { node_id } => {
                if self.nodes.remove(node_id).is_none() {
                    return Err(Ignored::NodeAbsent(node_id.clone()));
                }
            }
            Event::RouteAdded {
                network_a,
                network_b,
            } => {
                self.network_mut(network_a)?;
                self.network_mut(network_b)?;
                let pair = route_pair(network_a, network_b);
                if self.routes.contains(&pair) {
                    return Err(Ignored::RouteExists(pair.0, pair.1));
                }
                self.routes.insert(pair);
            }
            Event::RouteRemoved {
                network_a,
                network_b,
            } => {
                let pair = route_pair(network_a, network_b);
                if !self.routes.remove(&pair) {
                    return Err(Ignored::NoRoute(pair.0, pair.1));
                }
            }
            Event::ReservationAdded { network, mac, ip } => {
                let ip = parse_ip(ip)?;
                let (subnet, table) = self.lease_table(network)?;
                table
                    .reserve(subnet, mac, ip)
                    .map_err(|r| refusal(r, network, mac, ip))?;
            }
            Event::ReservationRemoved { network, mac } => {
                let (_, table) = self.lease_table(network)?;
                table
                    .unreserve(mac)
                    .map_err(|r| refusal(r, network, mac, Ipv4Addr::UNSPECIFIED))?;
            }
            Event::LeaseClaimed {
                network,
                mac,
                ip,
                client_id,
                hostname,
                node_id,
                at_ms,
                expires_ms,
            } => {
                let ip = parse_ip(ip)?;
                let (subnet, table) = self.lease_table(network)?;
                let lease = Lease {
                    mac: mac.clone(),
                    ip,
                    client_id: client_id.clone(),
                    hostname: hostname.clone(),
                    node_id: node_id.clone(),
                    at_ms: *at_ms,
                    expires_ms: *expires_ms,
                };
                let result = table.claim(subnet, lease);
                let id = ClaimId {
                    network: network.clone(),
                    node_id: node_id.clone(),
                    mac: mac.clone(),
                    ip,
                    at_ms: *at_ms,
                };
                let outcome = match &result {
                    Ok(()) => ClaimOutcome::Won,
                    Err(why) => ClaimOutcome::Lost(why.clone()),
                };
                self.claims.record(id, outcome);
                result.map_err(|why| Ignored::ClaimLost {
                    network: network.clone(),
                    mac: mac.clone(),
                    ip,
                    why,
                })?;
            }
            Event::LeaseReleased {
                network, mac, ip, ..
            } => {
                let ip = parse_ip(ip)?;
                let (_, table) = self.lease_table(network)?;
                table
                    .release(mac, ip)
                    .map_err(|r| refusal(r, network, mac, ip))?;
            }
            Event::LeaseExpired {
                network,
                mac,
                ip,
                expires_ms,
            } => {
                let ip = parse_ip(ip)?;
                let (_, table) = self.lease_table(network)?;
                table
                    .expire(mac, ip, *expires_ms)
                    .map_err(|r| refusal(r, network, mac, ip))?;
            }
            Event::LeaseDeclined {
                network,
                ip,
                mac,
                at_ms,
                until_ms,
            } => {
                let ip = parse_ip(ip)?;
                let (subnet, table) = self.lease_table(network)?;
                let d = Declined {
                    mac: mac.clone(),
                    at_ms: *at_ms,
                    until_ms: *until_ms,
                };
                table
                    .decline(subnet, ip, d)
                    .map_err(|r| refusal(r, network, mac, ip))?;
            }
            Event::PortPublished {
                network,
                proto,
                host_port,
                client_ip,
                client_port,
            } => {
                let proto = parse_proto(proto)?;
                let ip = parse_ip(client_ip)?;
                let net = self
                    .networks
                    .get(network)
                    .ok_or_else(|| Ignored::UnknownNetwork(network.clone()))?;
                let subnet = net
                    .ipv4_subnet()
                    .ok_or_else(|| Ignored::NotIpv4(network.clone()))?;
                if !subnet.is_assignable(ip) {
                    return Err(Ignored::NotAssignable {
                        network: network.clone(),
                        ip,
                    });
                }
                if let Some(p) = self.published.get(&(proto, *host_port)) {
                    return Err(Ignored::PortTaken {
                        proto,
                        host_port: *host_port,
                        network: p.network.clone(),
                    });
                }
                self.published.insert(
                    (proto, *host_port),
                    Published {
                        network: network.clone(),
                        proto,
                        host_port: *host_port,
                        client_ip: ip,
                        client_port: *client_port,
                    },
                );
            }
            Event::PortUnpublished {
                network,
                proto,
                host_port,
            } => {
                let proto = parse_proto(proto)?;
                let key = (proto, *host_port);
                if self.published.get(&key).map(|p| &p.network) != Some(network) {
                    return Err(Ignored::NotPublished {
                        network: network.clone(),
                        proto,
                        host_port: *host_port,
                    });
                }
                self.published.remove(&key);
            }
        }
        Ok(())
    }

    /// The network's IPv4 subnet and lease table (created empty on first use).
    fn lease_table(&mut self, id: &str) -> Result<(Ipv4Subnet, &mut NetworkLeases), Ignored> {
        let net = self
            .networks
            .get(id)
            .ok_or_else(|| Ignored::UnknownNetwork(id.to_owned()))?;
        let subnet = net
            .ipv4_subnet()
            .ok_or_else(|| Ignored::NotIpv4(id.to_owned()))?;
        Ok((subnet, self.leases.entry(id.to_owned()).or_default()))
    }

    fn network_mut(&mut self, id: &str) -> Result<&mut Network, Ignored> {
        self.networks
            .get_mut(id)
            .ok_or_else(|| Ignored::UnknownNetwork(id.to_owned()))
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

/// A route's key: the two ids, smaller first.
fn route_pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// Validated events hold canonical addresses; this only maps the type.
fn parse_ip(ip: &str) -> Result<Ipv4Addr, Ignored> {
    crate::validate::ipv4(ip).map_err(Ignored::Invalid)
}

fn parse_proto(proto: &str) -> Result<Proto, Ignored> {
    Proto::parse(proto).ok_or_else(|| Ignored::Invalid(InvalidEvent::Proto(proto.to_owned())))
}

fn refusal(r: TableRefusal, network: &str, mac: &str, ip: Ipv4Addr) -> Ignored {
    let network = network.to_owned();
    match r {
        TableRefusal::NotAssignable => Ignored::NotAssignable { network, ip },
        TableRefusal::ReservedForOther(mac) => Ignored::ReservedForOther { network, ip, mac },
        TableRefusal::ReservationExists => Ignored::ReservationExists {
            network,
            mac: mac.to_owned(),
        },
        TableRefusal::NoReservation => Ignored::NoReservation {
            network,
            mac: mac.to_owned(),
        },
        TableRefusal::NoLease => Ignored::NoLease {
            network,
            mac: mac.to_owned(),
            ip,
        },
        TableRefusal::LeaseHeld(mac) => Ignored::LeaseHeld { network, ip, mac },
    }
}

impl Network {
    /// Unrevoked keys in key id order.
    pub fn live_keys(&self) -> impl Iterator<Item = (u32, &Key)> {
        self.keys
            .iter()
            .filter(|(_, k)| !k.revoked)
            .map(|(id, k)| (*id, k))
    }

    /// A key by id, revoked or not.
    pub fn key(&self, key_id: u32) -> Option<&Key> {
        self.keys.get(&key_id)
    }

    /// A setting's latest value.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    /// The subnet as IPv4, if it is one.
    pub fn ipv4_subnet(&self) -> Option<Ipv4Subnet> {
        Ipv4Subnet::parse(&self.subnet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(id: u8, name: &str) -> Event {
        Event::NetworkCreated {
            network: format!("{id:02x}").repeat(16),
            name: name.into(),
            subnet: "10.0.0.0/24".into(),
            node_key_id: 1,
            node_secret: "aa".repeat(32),
        }
    }

    fn key(id: u8, key_id: u32) -> Event {
        Event::KeyIssued {
            network: format!("{id:02x}").repeat(16),
            key_id,
            secret: "bb".repeat(32),
            label: None,
        }
    }

    #[test]
    fn first_name_wins() {
        let mut s = State::default();
        assert_eq!(s.apply(&net(1, "lab")), Applied::Changed);
        assert_eq!(
            s.apply(&net(2, "lab")),
            Applied::Ignored(Ignored::NameTaken("lab".into()))
        );
        assert_eq!(s.network_by_name("lab").unwrap().id, "01".repeat(16));
        assert!(s.network(&"02".repeat(16)).is_none());
        assert_eq!(
            s.network_by_name_or_id(&"01".repeat(16)).unwrap().name,
            "lab"
        );
    }

    #[test]
    fn keys_issue_revoke_and_never_reuse() {
        let n = "01".repeat(16);
        let mut s = State::fold([net(1, "lab"), key(1, 5), key(1, 6)]);
        assert!(matches!(
            s.apply(&key(1, 5)),
            Applied::Ignored(Ignored::KeyIdTaken { .. })
        ));
        // The node key id is not available to access keys.
        assert!(matches!(
            s.apply(&key(1, 1)),
            Applied::Ignored(Ignored::KeyIdTaken { .. })
        ));
        let revoke = Event::KeyRevoked {
            network: n.clone(),
            key_id: 5,
        };
        assert_eq!(s.apply(&revoke), Applied::Changed);
        assert!(matches!(
            s.apply(&revoke),
            Applied::Ignored(Ignored::AlreadyRevoked { .. })
        ));
        assert!(matches!(
            s.apply(&key(1, 5)),
            Applied::Ignored(Ignored::KeyIdTaken { .. })
        ));
        let live: Vec<u32> = s.live_keys(&n).map(|(id, _)| id).collect();
        assert_eq!(live, vec![6]);
        assert!(s.network(&n).unwrap().key(5).unwrap().revoked);
        assert!(matches!(
            s.apply(&key(2, 9)),
            Applied::Ignored(Ignored::UnknownNetwork(_))
        ));
        assert_eq!(s.live_keys(&"02".repeat(16)).count(), 0);
    }

    #[test]
    fn nodes_join_renew_leave() {
        let node = "00000000000000aa".to_owned();
        let join = |at_ms| Event::NodeJoined {
            node_id: node.clone(),
            advertise: vec!["198.18.0.1:4789".into()],
            at_ms,
        };
        let mut s = State::fold([join(1), join(2)]);
        assert_eq!(s.node(&node).unwrap().at_ms, 2);
        assert_eq!(s.nodes().count(), 1);
        let left = Event::NodeLeft {
            node_id: node.clone(),
        };
        assert_eq!(s.apply(&left), Applied::Changed);
        assert!(matches!(
            s.apply(&left),
            Applied::Ignored(Ignored::NodeAbsent(_))
        ));
        assert_eq!(s.nodes().count(), 0);
    }

    #[test]
    fn invalid_events_are_ignored() {
        let mut s = State::default();
        let bad = Event::NodeLeft {
            node_id: "nope".into(),
        };
        assert!(matches!(
            s.apply(&bad),
            Applied::Ignored(Ignored::Invalid(_))
        ));
        assert_eq!(s, State::default());
    }

    #[test]
    fn settings_keep_the_latest_value() {
        let n = "01".repeat(16);
        let set = |v: &str| Event::SettingChanged {
            network: n.clone(),
            name: "mtu".into(),
            value: v.into(),
        };
        let s = State::fold([net(1, "lab"), set("1380"), set("1400")]);
        assert_eq!(s.network(&n).unwrap().setting("mtu"), Some("1400"));
    }

    fn lease_net() -> (String, Event) {
        let n = "01".repeat(16);
        (n, net(1, "lab"))
    }

    fn claim(mac: u8, ip: u8, node: u8, at_ms: u64, expires_ms: u64) -> Event {
        Event::LeaseClaimed {
            network: "01".repeat(16),
            mac: format!("02:00:00:00:00:{mac:02x}"),
            ip: format!("10.0.0.{ip}"),
            client_id: None,
            hostname: Some("host".into()),
            node_id: format!("{node:016x}"),
            at_ms,
            expires_ms,
        }
    }

    fn claim_id(mac: u8, ip: u8, node: u8, at_ms: u64) -> ClaimId {
        ClaimId {
            network: "01".repeat(16),
            node_id: format!("{node:016x}"),
            mac: format!("02:00:00:00:00:{mac:02x}"),
            ip: Ipv4Addr::new(10, 0, 0, ip),
            at_ms,
        }
    }

    #[test]
    fn routes_are_unordered_pairs_and_idempotent() {
        let a = "01".repeat(16);
        let b = "02".repeat(16);
        let add = |x: &str, y: &str| Event::RouteAdded {
            network_a: x.into(),
            network_b: y.into(),
        };
        let mut s = State::fold([net(1, "a")]);
        assert!(matches!(
            s.apply(&add(&a, &b)),
            Applied::Ignored(Ignored::UnknownNetwork(_))
        ));
        s.apply(&net(2, "b"));
        assert_eq!(s.apply(&add(&b, &a)), Applied::Changed);
        assert!(matches!(
            s.apply(&add(&a, &b)),
            Applied::Ignored(Ignored::RouteExists(..))
        ));
        assert!(s.has_route(&a, &b) && s.has_route(&b, &a));
        assert_eq!(
            s.routes().collect::<Vec<_>>(),
            vec![(a.as_str(), b.as_str())]
        );
        let del = Event::RouteRemoved {
            network_a: a.clone(),
            network_b: b.clone(),
        };
        assert_eq!(s.apply(&del), Applied::Changed);
        assert!(matches!(
            s.apply(&del),
            Applied::Ignored(Ignored::NoRoute(..))
        ));
        assert_eq!(s.routes().count(), 0);
    }

    #[test]
    fn the_first_claim_in_chain_order_wins() {
        let (n, created) = lease_net();
        let mut s = State::fold([created]);
        assert_eq!(s.apply(&claim(1, 5, 1, 1000, 2000)), Applied::Changed);
        // Another node claims the same address for another MAC: lost.
        assert!(matches!(
            s.apply(&claim(2, 5, 2, 1001, 2001)),
            Applied::Ignored(Ignored::ClaimLost {
                why: ClaimLost::Held { .. },
                ..
            })
        ));
        assert_eq!(
            s.claim_outcome(&claim_id(1, 5, 1, 1000)),
            Some(ClaimOutcome::Won)
        );
        assert!(matches!(
            s.claim_outcome(&claim_id(2, 5, 2, 1001)),
            Some(ClaimOutcome::Lost(ClaimLost::Held { .. }))
        ));
        assert_eq!(s.claim_outcome(&claim_id(3, 5, 2, 1001)), None);
        let lease = s.lease_by_ip(&n, Ipv4Addr::new(10, 0, 0, 5)).unwrap();
        assert_eq!(lease.mac, "02:00:00:00:00:01");
        assert_eq!(lease.hostname.as_deref(), Some("host"));
        assert_eq!(
            s.lease_by_mac(&n, "02:00:00:00:00:01").unwrap().expires_ms,
            2000
        );
    }

    #[test]
    fn renewals_extend_and_expiry_is_judged_by_claim_time() {
        let (n, created) = lease_net();
        let mut s = State::fold([created, claim(1, 5, 1, 1000, 2000)]);
        // Renewal (same MAC and address), even from another node.
        assert_eq!(s.apply(&claim(1, 5, 2, 1500, 2500)), Applied::Changed);
        assert_eq!(s.leases(&n).count(), 1);
        assert_eq!(
            s.lease_by_mac(&n, "02:00:00:00:00:01").unwrap().expires_ms,
            2500
        );
        // A claim made before the lease ends loses, at or after it wins.
        assert!(matches!(
            s.apply(&claim(2, 5, 1, 2499, 3000)),
            Applied::Ignored(_)
        ));
        assert_eq!(s.apply(&claim(2, 5, 1, 2500, 3000)), Applied::Changed);
        assert!(s.lease_by_mac(&n, "02:00:00:00:00:01").is_none());
        // Network, broadcast and gateway addresses are never leased.
        for ip in [0, 1, 255] {
            assert!(matches!(
                s.apply(&claim(3, ip, 1, 0, 1)),
                Applied::Ignored(Ignored::ClaimLost {
                    why: ClaimLost::NotAssignable,
                    ..
                })
            ));
        }
    }

    #[test]
    fn release_decline_and_expiry() {
        let (n, created) = lease_net();
        let mut s = State::fold([created, claim(1, 5, 1, 1000, 2000)]);
        let release = |mac: u8| Event::LeaseReleased {
            network: n.clone(),
            mac: format!("02:00:00:00:00:{mac:02x}"),
            ip: "10.0.0.5".into(),
            at_ms: 1100,
        };
        assert!(matches!(
            s.apply(&release(2)),
            Applied::Ignored(Ignored::NoLease { .. })
        ));
        assert_eq!(s.apply(&release(1)), Applied::Changed);
        assert_eq!(s.leases(&n).count(), 0);
        assert!(s.lease_table_of(&n).is_none());
        // Decline: nobody claims the address until until_ms.
        let decline = Event::LeaseDeclined {
            network: n.clone(),
            ip: "10.0.0.6".into(),
            mac: "02:00:00:00:00:01".into(),
            at_ms: 1000,
            until_ms: 5000,
        };
        assert_eq!(s.apply(&decline), Applied::Changed);
        assert!(matches!(
            s.apply(&claim(2, 6, 1, 4999, 6000)),
            Applied::Ignored(Ignored::ClaimLost {
                why: ClaimLost::Declined { until_ms: 5000 },
                ..
            })
        ));
        assert_eq!(s.apply(&claim(2, 6, 1, 5000, 6000)), Applied::Changed);
        // Expiry retires exactly the lease that lapsed.
        let expired = |expires_ms| Event::LeaseExpired {
            network: n.clone(),
            mac: "02:00:00:00:00:02".into(),
            ip: "10.0.0.6".into(),
            expires_ms,
        };
        assert!(matches!(
            s.apply(&expired(5999)),
            Applied::Ignored(Ignored::NoLease { .. })
        ));
        assert_eq!(s.apply(&expired(6000)), Applied::Changed);
        assert_eq!(s.leases(&n).count(), 0);
    }

    #[test]
    fn reservations_bind_mac_to_address() {
        let (n, created) = lease_net();
        let reserve = |mac: u8, ip: u8| Event::ReservationAdded {
            network: n.clone(),
            mac: format!("02:00:00:00:00:{mac:02x}"),
            ip: format!("10.0.0.{ip}"),
        };
        let mut s = State::fold([created]);
        assert_eq!(s.apply(&reserve(1, 9)), Applied::Changed);
        assert!(matches!(
            s.apply(&reserve(1, 9)),
            Applied::Ignored(Ignored::ReservationExists { .. })
        ));
        assert!(matches!(
            s.apply(&reserve(2, 9)),
            Applied::Ignored(Ignored::ReservedForOther { .. })
        ));
        assert!(matches!(
            s.apply(&reserve(2, 1)),
            Applied::Ignored(Ignored::NotAssignable { .. })
        ));
        // A new reservation for the same MAC moves it.
        assert_eq!(s.apply(&reserve(1, 10)), Applied::Changed);
        assert_eq!(
            s.reservations(&n).collect::<Vec<_>>(),
            vec![("02:00:00:00:00:01", Ipv4Addr::new(10, 0, 0, 10))]
        );
        assert!(matches!(
            s.apply(&claim(2, 10, 1, 0, 10)),
            Applied::Ignored(Ignored::ClaimLost {
                why: ClaimLost::Reserved { .. },
                ..
            })
        ));
        assert_eq!(s.apply(&claim(2, 9, 1, 0, 10)), Applied::Changed);
        let unreserve = Event::ReservationRemoved {
            network: n.clone(),
            mac: "02:00:00:00:00:01".into(),
        };
        assert_eq!(s.apply(&unreserve), Applied::Changed);
        assert!(matches!(
            s.apply(&unreserve),
            Applied::Ignored(Ignored::NoReservation { .. })
        ));
    }

    #[test]
    fn ports_are_published_once_per_chain() {
        let a = "01".repeat(16);
        let b = "02".repeat(16);
        let publish = |network: &str, proto: &str, host_port, ip: &str| Event::PortPublished {
            network: network.into(),
            proto: proto.into(),
            host_port,
            client_ip: ip.into(),
            client_port: 80,
        };
        let unpublish = |network: &str, proto: &str, host_port| Event::PortUnpublished {
            network: network.into(),
            proto: proto.into(),
            host_port,
        };
        let mut s = State::fold([net(1, "a")]);
        assert!(matches!(
            s.apply(&publish(&b, "tcp", 8080, "10.0.0.5")),
            Applied::Ignored(Ignored::UnknownNetwork(_))
        ));
        let mut b_net = net(2, "b");
        if let Event::NetworkCreated { subnet, .. } = &mut b_net {
            *subnet = "10.9.0.0/24".into();
        }
        s.apply(&b_net);
        assert_eq!(
            s.apply(&publish(&a, "tcp", 8080, "10.0.0.5")),
            Applied::Changed
        );
        // First wins, across networks; the other protocol is another port.
        assert!(matches!(
            s.apply(&publish(&b, "tcp", 8080, "10.9.0.5")),
            Applied::Ignored(Ignored::PortTaken {
                host_port: 8080,
                ..
            })
        ));
        assert!(matches!(
            s.apply(&publish(&a, "tcp", 8080, "10.0.0.6")),
            Applied::Ignored(Ignored::PortTaken { .. })
        ));
        assert_eq!(
            s.apply(&publish(&b, "udp", 8080, "10.9.0.5")),
            Applied::Changed
        );
        // The client address must be assignable in the network's subnet.
        for ip in ["10.0.0.1", "10.0.0.0", "10.0.0.255", "10.9.0.5"] {
            assert!(matches!(
                s.apply(&publish(&a, "tcp", 9000, ip)),
                Applied::Ignored(Ignored::NotAssignable { .. })
            ));
        }
        let p: Vec<_> = s.published(&a).collect();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].proto, Proto::Tcp);
        assert_eq!(p[0].client_ip, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(p[0].client_port, 80);
        assert_eq!(s.published_all().count(), 2);
        assert_eq!(
            s.published_port(Proto::Udp, 8080).unwrap().network,
            b.clone()
        );
        // Unpublish: only by the holding network; a missing one is ignored.
        assert!(matches!(
            s.apply(&unpublish(&b, "tcp", 8080)),
            Applied::Ignored(Ignored::NotPublished { .. })
        ));
        assert_eq!(s.apply(&unpublish(&a, "tcp", 8080)), Applied::Changed);
        assert!(matches!(
            s.apply(&unpublish(&a, "tcp", 8080)),
            Applied::Ignored(Ignored::NotPublished { .. })
        ));
        assert_eq!(s.published(&a).count(), 0);
        // Free again.
        assert_eq!(
            s.apply(&publish(&b, "tcp", 8080, "10.9.0.7")),
            Applied::Changed
        );
    }

    #[test]
    fn lease_events_need_an_ipv4_network() {
        let v6 = Event::NetworkCreated {
            network: "03".repeat(16),
            name: "six".into(),
            subnet: "fd00::/64".into(),
            node_key_id: 1,
            node_secret: "aa".repeat(32),
        };
        let mut s = State::fold([v6]);
        let mut c = claim(1, 5, 1, 0, 1);
        if let Event::LeaseClaimed { network, .. } = &mut c {
            *network = "03".repeat(16);
        }
        assert!(matches!(s.apply(&c), Applied::Ignored(Ignored::NotIpv4(_))));
        assert!(matches!(
            s.apply(&claim(1, 5, 1, 0, 1)),
            Applied::Ignored(Ignored::UnknownNetwork(_))
        ));
        assert_eq!(
            s,
            State::fold([Event::NetworkCreated {
                network: "03".repeat(16),
                name: "six".into(),
                subnet: "fd00::/64".into(),
                node_key_id: 1,
                node_secret: "aa".repeat(32),
            }])
        );
    }
}
