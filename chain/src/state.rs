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
use std::collections::BTreeMap;

use crate::event::Event;
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
        match self.apply_valid(ev) {
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
        }
        Ok(())
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
}
