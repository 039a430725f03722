//! Which records of a log still matter: the basis of compaction.
//!
//! Presence and leases are *updated* by appending: a node's second
//! `NodeJoined` supersedes its first, `NodeLeft` supersedes both, a setting's
//! new value supersedes the old. A lease renewal supersedes the claim it
//! renews; a release, an expiry (`LeaseExpired`, which a node appends for a
//! lease long past its `expires_ms`), a won claim of the address by another
//! client, or a decline supersede the lease and themselves; a removed route
//! or reservation leaves no record behind, nor does an unpublished port
//! (its publication and the unpublish both go); a won claim of a declined
//! address supersedes the decline. Lost claims were ignored and are dropped. A [`Tracker`] folds a log record by record
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
use std::net::Ipv4Addr;

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
    /// (smaller network id, larger network id)
    Route(String, String),
    /// (network, MAC)
    Reservation(String, String),
    /// (network, MAC): the claim that set the MAC's lease.
    Lease(String, String),
    /// (network, address)
    Declined(String, Ipv4Addr),
    /// (protocol, host port): the publication holding it.
    Published(String, u16),
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
        // Leases a lease event may displace, looked up before it applies.
        let displaced = self.lease_holders(ev);
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
            Event::RouteAdded {
                network_a,
                network_b,
            } => route_slot(network_a, network_b),
            Event::RouteRemoved {
                network_a,
                network_b,
            } => {
                self.live.remove(&route_slot(network_a, network_b));
                return;
            }
            Event::ReservationAdded { network, mac, .. } => {
                Slot::Reservation(network.clone(), mac.clone())
            }
            Event::ReservationRemoved { network, mac } => {
                self.live
                    .remove(&Slot::Reservation(network.clone(), mac.clone()));
                return;
            }
            Event::LeaseClaimed {
                network, mac, ip, ..
            } => {
                self.drop_displaced(network, &displaced);
                if let Ok(ip) = ip.parse::<Ipv4Addr>() {
                    let declined = self
                        .state
                        .lease_table_of(network)
                        .and_then(|t| t.declined(ip));
                    if declined.is_none() {
                        self.live.remove(&Slot::Declined(network.clone(), ip));
                    }
                }
                Slot::Lease(network.clone(), mac.clone())
            }
            Event::LeaseReleased { network, mac, .. }
            | Event::LeaseExpired { network, mac, .. } => {
                self.live.remove(&Slot::Lease(network.clone(), mac.clone()));
                return;
            }
            Event::LeaseDeclined { network, ip, .. } => {
                self.drop_displaced(network, &displaced);
                match ip.parse::<Ipv4Addr>() {
                    Ok(ip) => Slot::Declined(network.clone(), ip),
                    Err(_) => return, // unreachable: validated
                }
            }
            Event::PortPublished {
                proto, host_port, ..
            } => Slot::Published(proto.clone(), *host_port),
            Event::PortUnpublished {
                proto, host_port, ..
            } => {
                // Unpublished: neither record stays.
                self.live
                    .remove(&Slot::Published(proto.clone(), *host_port));
                return;
            }
        };
        self.live.insert(slot, offset);
    }

    /// MACs whose lease `ev` may end: the holder of the address it names and
    /// the holder of its client id.
    fn lease_holders(&self, ev: &Event) -> Vec<String> {
        let (network, ip, client_id) = match ev {
            Event::LeaseClaimed {
                network,
                ip,
                client_id,
                ..
            } => (network, ip, client_id.as_deref()),
            Event::LeaseDeclined { network, ip, .. } => (network, ip, None),
            _ => return Vec::new(),
        };
        let Some(table) = self.state.lease_table_of(network) else {
            return Vec::new();
        };
        let by_ip = ip.parse().ok().and_then(|ip| table.by_ip(ip));
        let by_client = client_id.and_then(|id| table.by_client_id(id));
        by_ip
            .into_iter()
            .chain(by_client)
            .map(|l| l.mac.clone())
            .collect()
    }

    /// Drops the lease records of the MACs that no longer hold a lease.
    fn drop_displaced(&mut self, network: &str, macs: &[String]) {
        for mac in macs {
            if self.state.lease_by_mac(network, mac).is_none() {
                self.live
                    .remove(&Slot::Lease(network.to_owned(), mac.clone()));
            }
        }
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

fn route_slot(a: &str, b: &str) -> Slot {
    if a <= b {
        Slot::Route(a.to_owned(), b.to_owned())
    } else {
        Slot::Route(b.to_owned(), a.to_owned())
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
                    // A /29: five assignable addresses, so claims collide.
                    subnet: "10.0.0.0/29".into(),
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
            arb_lease_event(),
            arb_lease_event(),
            arb_lease_event(),
            arb_publish_event(),
        ]
    }

    /// Publications over a tiny domain so that ports collide across
    /// networks and protocols, and unpublishes hit and miss.
    fn arb_publish_event() -> impl Strategy<Value = Event> {
        let net = (0u8..3).prop_map(|i| format!("{i:02x}").repeat(16));
        let proto = prop_oneof![Just("tcp".to_owned()), Just("udp".to_owned())];
        let port = 1u16..4;
        prop_oneof![
            (net.clone(), proto.clone(), port.clone(), 0u8..8).prop_map(
                |(network, proto, host_port, ip)| Event::PortPublished {
                    network,
                    proto,
                    host_port,
                    client_ip: format!("10.0.0.{ip}"),
                    client_port: 80,
                }
            ),
            (net, proto, port).prop_map(|(network, proto, host_port)| Event::PortUnpublished {
                network,
                proto,
                host_port
            }),
        ]
    }

    /// Routes, reservations and lease events over a tiny domain: 2 networks,
    /// 4 MACs, the 8 addresses of 10.0.0.0/29 (3 of them unassignable), times
    /// on a 10 ms grid so that expiries match and leases lapse.
    fn arb_lease_event() -> impl Strategy<Value = Event> {
        let net = (0u8..2).prop_map(|i| format!("{i:02x}").repeat(16));
        let mac = (1u8..5).prop_map(|i| format!("02:00:00:00:00:{i:02x}"));
        let ip = (0u8..8).prop_map(|i| format!("10.0.0.{i}"));
        let time = (0u64..12).prop_map(|t| t * 10);
        let span = prop_oneof![Just(0u64), Just(20), Just(50)];
        let client_id = prop_oneof![
            Just(None),
            Just(Some("01aa".to_owned())),
            Just(Some("01bb".to_owned()))
        ];
        let node = (0u8..2).prop_map(|i| format!("{i:016x}"));
        prop_oneof![
            1 => (net.clone(), net.clone()).prop_map(|(network_a, network_b)| Event::RouteAdded {
                network_a,
                network_b
            }),
            1 => (net.clone(), net.clone()).prop_map(|(network_a, network_b)| Event::RouteRemoved {
                network_a,
                network_b
            }),
            1 => (net.clone(), mac.clone(), ip.clone())
                .prop_map(|(network, mac, ip)| Event::ReservationAdded { network, mac, ip }),
            1 => (net.clone(), mac.clone())
                .prop_map(|(network, mac)| Event::ReservationRemoved { network, mac }),
            4 => (net.clone(), mac.clone(), ip.clone(), client_id, node, time.clone(), span.clone()).prop_map(
                |(network, mac, ip, client_id, node_id, at_ms, span)| Event::LeaseClaimed {
                    network,
                    mac,
                    ip,
                    client_id,
                    hostname: None,
                    node_id,
                    at_ms,
                    expires_ms: at_ms + span,
                }
            ),
            1 => (net.clone(), mac.clone(), ip.clone(), time.clone()).prop_map(|(network, mac, ip, at_ms)| {
                Event::LeaseReleased {
                    network,
                    mac,
                    ip,
                    at_ms,
                }
            }),
            1 => (net.clone(), mac.clone(), ip.clone(), time.clone(), span).prop_map(
                |(network, mac, ip, at_ms, span)| Event::LeaseDeclined {
                    network,
                    ip,
                    mac,
                    at_ms,
                    until_ms: at_ms + span,
                }
            ),
            1 => (net, mac, ip, (0u64..18).prop_map(|t| t * 10)).prop_map(
                |(network, mac, ip, expires_ms)| Event::LeaseExpired {
                    network,
                    mac,
                    ip,
                    expires_ms,
                }
            ),
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

    fn claim(mac: u8, ip: u8, at_ms: u64, expires_ms: u64) -> Event {
        Event::LeaseClaimed {
            network: "00".repeat(16),
            mac: format!("02:00:00:00:00:{mac:02x}"),
            ip: format!("10.0.0.{ip}"),
            client_id: None,
            hostname: None,
            node_id: "00000000000000aa".into(),
            at_ms,
            expires_ms,
        }
    }

    fn network() -> Event {
        Event::NetworkCreated {
            network: "00".repeat(16),
            name: "lab".into(),
            subnet: "10.0.0.0/24".into(),
            node_key_id: 1,
            node_secret: "aa".repeat(32),
        }
    }

    #[test]
    fn lease_renewals_releases_and_expiries_are_superseded() {
        // Three renewals: only the last stays.
        let (t, _) = track(&[
            network(),
            claim(1, 5, 0, 10),
            claim(1, 5, 5, 15),
            claim(1, 5, 10, 20),
        ]);
        assert_eq!(t.superseded(), 2);
        // A release drops the lease and itself.
        let release = Event::LeaseReleased {
            network: "00".repeat(16),
            mac: "02:00:00:00:00:01".into(),
            ip: "10.0.0.5".into(),
            at_ms: 12,
        };
        let (t, _) = track(&[network(), claim(1, 5, 0, 10), claim(1, 5, 5, 15), release]);
        assert_eq!(t.superseded(), 3);
        // An expiry retires a lapsed lease; one naming an old expiry does not.
        let expired = |expires_ms| Event::LeaseExpired {
            network: "00".repeat(16),
            mac: "02:00:00:00:00:01".into(),
            ip: "10.0.0.5".into(),
            expires_ms,
        };
        let (t, _) = track(&[network(), claim(1, 5, 0, 10), expired(10)]);
        assert_eq!(t.superseded(), 2);
        let (t, _) = track(&[
            network(),
            claim(1, 5, 0, 10),
            claim(1, 5, 5, 15),
            expired(10),
        ]);
        assert_eq!(t.superseded(), 2);
        // Another client taking over a lapsed address supersedes the old lease;
        // a lost claim was ignored.
        let (t, _) = track(&[
            network(),
            claim(1, 5, 0, 10),
            claim(2, 5, 5, 20),
            claim(2, 5, 10, 30),
        ]);
        assert_eq!(t.superseded(), 2);
        assert_eq!(
            t.state()
                .lease_by_ip(&"00".repeat(16), "10.0.0.5".parse().unwrap())
                .unwrap()
                .mac,
            "02:00:00:00:00:02"
        );
    }

    #[test]
    fn an_unpublished_port_leaves_nothing() {
        let publish = Event::PortPublished {
            network: "00".repeat(16),
            proto: "tcp".into(),
            host_port: 8080,
            client_ip: "10.0.0.5".into(),
            client_port: 80,
        };
        let unpublish = Event::PortUnpublished {
            network: "00".repeat(16),
            proto: "tcp".into(),
            host_port: 8080,
        };
        let (t, _) = track(&[network(), publish.clone(), unpublish.clone()]);
        assert_eq!(t.superseded(), 2);
        // A second publication of the port was ignored; a second unpublish too.
        let (t, _) = track(&[
            network(),
            publish.clone(),
            publish,
            unpublish.clone(),
            unpublish,
        ]);
        assert_eq!(t.superseded(), 4);
    }

    #[test]
    fn undecodable_records_are_kept() {
        let mut t = Tracker::new(1);
        let body = br#"{"type":"kind_from_the_future","from":"x"}"#;
        t.fold_record(HEADER_LEN, body.len() + 8, body);
        assert_eq!(t.superseded(), 0);
        assert_eq!(
            t.live_offsets().into_iter().collect::<Vec<_>>(),
            vec![HEADER_LEN]
        );
    }
}
