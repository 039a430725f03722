//! Which records of a log still matter: the basis of compaction.
//!
//! Presence (and later renewals) is *updated* by appending: a node's second
//! `NodeJoined` supersedes its first, `NodeLeft` supersedes both, a setting's
//! new value supersedes the old. A [`Tracker`] folds a log record by record
//! and remembers, for each piece of state (a [`Slot`]), the one record that
//! set it. Records holding no slot are superseded (or were ignored).
//!
//! The snapshot written by compaction is the live records, copied byte for
//! byte in their original order. Being an order-preserving subsequence of the
//! log it folds to the same [`State`] (checked before the snapshot replaces
//! the log), and copying bytes rather than re-encoding keeps fields a newer
//! version added. Records this version cannot decode are always kept: it
//! cannot know what they supersede.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::Event;
use crate::format::HEADER_LEN;
use crate::state::{Applied, State};

/// A piece of state that exactly one record sets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Network(String),
    Key(String, u32),
    Revocation(String, u32),
    Setting(String, String),
    Node(String),
}

/// A log folded record by record, with the offset of each live record.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    /// Generation of the log this tracker folded.
    pub epoch: u64,
    /// File offset just past the last folded record.
    pub end: u64,
    state: State,
    live: BTreeMap<Slot, u64>,
    undecoded: Vec<u64>,
    records: u64,
}

impl Tracker {
    pub fn new(epoch: u64) -> Tracker {
        Tracker {
            epoch,
            end: HEADER_LEN,
            state: State::default(),
            live: BTreeMap::new(),
            undecoded: Vec::new(),
            records: 0,
        }
    }

    /// Folds the record at `offset` (`framed_len` bytes with its framing).
    pub fn fold_record(&mut self, offset: u64, framed_len: usize, body: &[u8]) {
        self.records += 1;
        self.end = offset + framed_len as u64;
        match serde_json::from_slice::<Event>(body) {
            Ok(ev) => self.fold_event(offset, &ev),
            Err(_) => self.undecoded.push(offset),
        }
    }

    fn fold_event(&mut self, offset: u64, ev: &Event) {
        if self.state.apply(ev) != Applied::Changed {
            return; // ignored: never part of a snapshot
        }
        let slot = match ev {
            Event::NetworkCreated { network, .. } => Slot::Network(network.clone()),
            Event::KeyIssued {
                network, key_id, ..
            } => Slot::Key(network.clone(), *key_id),
            Event::KeyRevoked { network, key_id } => Slot::Revocation(network.clone(), *key_id),
            Event::SettingChanged { network, name, .. } => {
                Slot::Setting(network.clone(), name.clone())
            }
            Event::NodeJoined { node_id, .. } => Slot::Node(node_id.clone()),
            Event::NodeLeft { node_id } => {
                // The node is absent, as if it had never joined.
                self.live.remove(&Slot::Node(node_id.clone()));
                return;
            }
        };
        self.live.insert(slot, offset);
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Records a snapshot would drop.
    pub fn superseded(&self) -> u64 {
        self.records - (self.live.len() + self.undecoded.len()) as u64
    }

    /// Offsets of the records a snapshot keeps.
    pub fn live_offsets(&self) -> BTreeSet<u64> {
        self.live.values().chain(&self.undecoded).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_event() -> impl Strategy<Value = Event> {
        // A small domain so that events collide: names taken, keys reused,
        // nodes joining and leaving, settings overwritten.
        let net = (0u8..3).prop_map(|i| format!("{i:02x}").repeat(16));
        let node = (0u8..3).prop_map(|i| format!("{i:016x}"));
        prop_oneof![
            (net.clone(), 0u8..2, 0u32..3).prop_map(|(network, name, node_key_id)| {
                Event::NetworkCreated {
                    network,
                    name: format!("n{name}"),
                    subnet: "10.0.0.0/24".into(),
                    node_key_id,
                    node_secret: "aa".repeat(32),
                }
            }),
            (net.clone(), 0u32..5).prop_map(|(network, key_id)| Event::KeyIssued {
                network,
                key_id,
                secret: "bb".repeat(32),
                label: None,
            }),
            (net.clone(), 0u32..5)
                .prop_map(|(network, key_id)| Event::KeyRevoked { network, key_id }),
            (net, 0u8..2, 0u8..3).prop_map(|(network, name, value)| Event::SettingChanged {
                network,
                name: format!("s{name}"),
                value: value.to_string(),
            }),
            (node.clone(), 0u64..100).prop_map(|(node_id, at_ms)| Event::NodeJoined {
                node_id,
                advertise: vec!["198.18.0.1:4789".into()],
                at_ms,
            }),
            node.prop_map(|node_id| Event::NodeLeft { node_id }),
        ]
    }

    fn track(events: &[Event]) -> (Tracker, Vec<u64>) {
        let mut t = Tracker::new(1);
        let mut offsets = Vec::new();
        for ev in events {
            let body = serde_json::to_vec(ev).unwrap();
            offsets.push(t.end);
            t.fold_record(t.end, body.len() + 8, &body);
        }
        (t, offsets)
    }

    proptest! {
        #[test]
        fn live_records_fold_to_the_same_state(events in proptest::collection::vec(arb_event(), 0..60)) {
            let (t, offsets) = track(&events);
            let live = t.live_offsets();
            let kept: Vec<&Event> = events
                .iter()
                .zip(&offsets)
                .filter(|(_, o)| live.contains(o))
                .map(|(e, _)| e)
                .collect();
            prop_assert_eq!(State::fold(kept.iter().copied()), State::fold(&events));
            prop_assert_eq!(t.state(), &State::fold(&events));
            prop_assert_eq!(t.superseded(), (events.len() - kept.len()) as u64);
            // Compacting the snapshot again keeps all of it.
            let kept: Vec<Event> = kept.into_iter().cloned().collect();
            prop_assert_eq!(track(&kept).0.superseded(), 0);
        }
    }

    #[test]
    fn renewals_and_departures_are_superseded() {
        let join = |at_ms| Event::NodeJoined {
            node_id: "00000000000000aa".into(),
            advertise: vec![],
            at_ms,
        };
        let (t, _) = track(&[join(1), join(2), join(3)]);
        assert_eq!(t.superseded(), 2);
        let left = Event::NodeLeft {
            node_id: "00000000000000aa".into(),
        };
        let (t, _) = track(&[join(1), join(2), left]);
        assert_eq!(t.superseded(), 3);
        assert!(t.live_offsets().is_empty());
    }

    #[test]
    fn undecodable_records_are_kept() {
        let mut t = Tracker::new(1);
        let body = br#"{"type":"route_added","from":"x"}"#;
        t.fold_record(HEADER_LEN, body.len() + 8, body);
        assert_eq!(t.superseded(), 0);
        assert_eq!(
            t.live_offsets().into_iter().collect::<Vec<_>>(),
            vec![HEADER_LEN]
        );
    }
}
