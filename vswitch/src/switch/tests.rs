//! Unit tests of the forwarding decision, one rule of "How a frame travels"
//! each, on a fake clock.

use super::*;
use crate::storm::StormConfig;
use proptest::prelude::*;
use snooping::MacTableConfig;
use std::time::Duration;

const BROADCAST: Mac = [0xff; 6];
const GATEWAY: Mac = [0x02, 0xa7, 0, 0, 0, 1];
const GATEWAY_IP: [u8; 4] = [10, 0, 0, 1];

fn host(n: u8) -> Mac {
    [0x02, 0, 0, 0, 0, n]
}

/// An IPv4-typed frame of minimum size.
fn frame(dst: Mac, src: Mac) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(60, 0);
    f
}

/// A gratuitous ARP reply from `sha` claiming `spa`, behind `tags` VLAN tags.
fn arp(src: Mac, sha: Mac, spa: [u8; 4], tags: usize) -> Vec<u8> {
    let mut f = BROADCAST.to_vec();
    f.extend_from_slice(&src);
    for _ in 0..tags {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    }
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&spa);
    f
}

/// A switch with two tap clients, a gateway (GATEWAY pinned, GATEWAY_IP
/// protected) and two peers.
struct Bench {
    sw: Switch,
    t0: Instant,
    a: PortId,
    b: PortId,
    gw: PortId,
    p1: PortId,
    p2: PortId,
    out: Vec<PortId>,
}

impl Bench {
    fn new(config: SwitchConfig) -> Self {
        let mut sw = Switch::new(config);
        let a = sw.add_port(PortKind::TapClient).unwrap();
        let b = sw.add_port(PortKind::WsClient).unwrap();
        let gw = sw.add_port(PortKind::Gateway).unwrap();
        let p1 = sw.add_port(PortKind::PeerNode).unwrap();
        let p2 = sw.add_port(PortKind::PeerNode).unwrap();
        sw.pin_mac(GATEWAY, gw).unwrap();
        sw.protect_ip(GATEWAY_IP.into()).unwrap();
        Self {
            sw,
            t0: Instant::now(),
            a,
            b,
            gw,
            p1,
            p2,
            out: Vec::new(),
        }
    }

    fn send(&mut self, ingress: PortId, f: &[u8]) -> Result<Vec<PortId>, FrameDrop> {
        self.send_at(Duration::ZERO, ingress, f)
    }

    fn send_at(
        &mut self,
        at: Duration,
        ingress: PortId,
        f: &[u8],
    ) -> Result<Vec<PortId>, FrameDrop> {
        let r = self.sw.forward(self.t0 + at, ingress, f, &mut self.out);
        if r.is_err() {
            assert!(self.out.is_empty(), "a drop sends nowhere");
        }
        r.map(|_| self.out.clone())
    }
}

fn bench() -> Bench {
    Bench::new(SwitchConfig::default())
}

#[test]
fn frame_length_bounds_are_14_and_1518() {
    let mut t = bench();
    let mut f = frame(BROADCAST, host(1));
    f.truncate(13);
    assert_eq!(t.send(t.a, &f), Err(FrameDrop::Runt));
    f.push(0);
    assert!(t.send(t.a, &f).is_ok());
    f.resize(1518, 0);
    assert!(t.send(t.a, &f).is_ok());
    f.push(0);
    assert_eq!(t.send(t.a, &f), Err(FrameDrop::Oversize));
    assert_eq!(t.send(t.a, &[]), Err(FrameDrop::Runt));
}

#[test]
fn unknown_and_removed_ports_are_dropped() {
    let mut t = bench();
    assert_eq!(
        t.send(PortId(999), &frame(BROADCAST, host(1))),
        Err(FrameDrop::UnknownPort)
    );
    assert_eq!(t.sw.remove_port(t.b), Some(PortKind::WsClient));
    assert_eq!(t.sw.remove_port(t.b), None);
    assert_eq!(
        t.send(t.b, &frame(BROADCAST, host(2))),
        Err(FrameDrop::UnknownPort)
    );
}

#[test]
fn group_and_zero_sources_are_invalid() {
    let mut t = bench();
    for src in [BROADCAST, [0x01, 0, 0x5e, 0, 0, 1], [0; 6]] {
        assert_eq!(
            t.send(t.a, &frame(host(9), src)),
            Err(FrameDrop::InvalidSource)
        );
        assert_eq!(
            t.send(t.p1, &frame(host(9), src)),
            Err(FrameDrop::InvalidSource)
        );
    }
    assert_eq!(t.sw.counters().drops(FrameDrop::InvalidSource), 6);
    assert!(t.sw.mac_table().is_empty());
}

#[test]
fn a_local_flood_reaches_every_other_local_port_and_every_peer() {
    let mut t = bench();
    let got = t.send(t.a, &frame(BROADCAST, host(1))).unwrap();
    assert_eq!(got, vec![t.b, t.gw, t.p1, t.p2]);
    let got = t.send(t.a, &frame(host(42), host(1))).unwrap();
    assert_eq!(got, vec![t.b, t.gw, t.p1, t.p2], "unknown unicast floods");
    let got = t
        .send(t.gw, &frame([0x33, 0x33, 0, 0, 0, 1], host(3)))
        .unwrap();
    assert_eq!(got, vec![t.a, t.b, t.p1, t.p2], "multicast floods");
    assert_eq!(t.sw.counters().flooded, 3);
}

#[test]
fn a_flood_from_a_peer_reaches_local_ports_only() {
    let mut t = bench();
    let got = t.send(t.p1, &frame(BROADCAST, host(50))).unwrap();
    assert_eq!(got, vec![t.a, t.b, t.gw]);
    let got = t.send(t.p2, &frame(host(42), host(51))).unwrap();
    assert_eq!(got, vec![t.a, t.b, t.gw]);
}

#[test]
fn a_learned_destination_gets_the_frame_alone() {
    let mut t = bench();
    t.send(t.b, &frame(BROADCAST, host(2))).unwrap();
    t.send(t.p1, &frame(BROADCAST, host(50))).unwrap();
    assert_eq!(t.send(t.a, &frame(host(2), host(1))).unwrap(), vec![t.b]);
    assert_eq!(t.send(t.a, &frame(host(50), host(1))).unwrap(), vec![t.p1]);
    assert_eq!(t.send(t.p2, &frame(host(1), host(60))).unwrap(), vec![t.a]);
    assert_eq!(t.sw.counters().unicast, 3);
    assert_eq!(t.sw.lookup(t.t0, host(1)), Some(t.a));
}

#[test]
fn learned_entries_age_out_into_floods() {
    let mut t = bench();
    t.send(t.b, &frame(BROADCAST, host(2))).unwrap();
    let age = t.sw.config().mac_table.max_age;
    assert_eq!(
        t.send_at(
            age.checked_sub(Duration::from_secs(1)).unwrap(),
            t.a,
            &frame(host(2), host(1))
        )
        .unwrap(),
        vec![t.b]
    );
    assert_eq!(
        t.send_at(age, t.a, &frame(host(2), host(1))).unwrap().len(),
        4
    );
}

#[test]
fn a_destination_behind_the_ingress_port_is_a_hairpin_drop() {
    let mut t = bench();
    t.send(t.a, &frame(BROADCAST, host(1))).unwrap();
    t.send(t.a, &frame(BROADCAST, host(3))).unwrap();
    assert_eq!(
        t.send(t.a, &frame(host(3), host(1))),
        Err(FrameDrop::Hairpin)
    );
    t.send(t.p1, &frame(BROADCAST, host(50))).unwrap();
    assert_eq!(
        t.send(t.p1, &frame(host(50), host(51))),
        Err(FrameDrop::Hairpin)
    );
    assert_eq!(
        t.send(t.gw, &frame(GATEWAY, host(7))),
        Err(FrameDrop::Hairpin)
    );
}

#[test]
fn peer_to_peer_unicast_is_split_horizon_dropped() {
    let mut t = bench();
    t.send(t.p1, &frame(BROADCAST, host(50))).unwrap();
    assert_eq!(
        t.send(t.p2, &frame(host(50), host(60))),
        Err(FrameDrop::SplitHorizon)
    );
    assert_eq!(t.sw.counters().drops(FrameDrop::SplitHorizon), 1);
}

#[test]
fn frames_to_a_pinned_mac_stop_at_its_ethereal_port() {
    let mut t = bench();
    assert_eq!(t.send(t.a, &frame(GATEWAY, host(1))).unwrap(), vec![t.gw]);
    assert_eq!(t.send(t.p1, &frame(GATEWAY, host(50))).unwrap(), vec![t.gw]);
    // What the gateway sends with its pinned MAC is never learned...
    t.send(t.gw, &frame(host(1), GATEWAY)).unwrap();
    // ...nor what arrives from a peer with it (another node's gateway
    // routing a frame), which is forwarded, not dropped.
    assert_eq!(t.send(t.p1, &frame(host(1), GATEWAY)).unwrap(), vec![t.a]);
    assert_eq!(t.sw.mac_table().lookup(t.t0, GATEWAY), None);
    assert_eq!(t.sw.lookup(t.t0, GATEWAY), Some(t.gw));
}

#[test]
fn pinning_a_learned_mac_takes_it_over() {
    let mut t = bench();
    t.send(t.a, &frame(BROADCAST, host(5))).unwrap();
    let dhcp = t.sw.add_port(PortKind::Dhcp).unwrap();
    t.sw.pin_mac(host(5), dhcp).unwrap();
    assert_eq!(t.sw.mac_table().lookup(t.t0, host(5)), None);
    assert_eq!(t.send(t.b, &frame(host(5), host(2))).unwrap(), vec![dhcp]);
    assert_eq!(t.sw.unpin_mac(host(5)), Some(dhcp));
    assert_eq!(
        t.send(t.b, &frame(host(5), host(2))).unwrap().len(),
        5,
        "flood"
    );
}

#[test]
fn a_client_using_a_pinned_source_mac_is_dropped() {
    let mut t = bench();
    assert_eq!(
        t.send(t.a, &frame(BROADCAST, GATEWAY)),
        Err(FrameDrop::SpoofedSource)
    );
    assert_eq!(
        t.send(t.b, &frame(host(9), GATEWAY)),
        Err(FrameDrop::SpoofedSource)
    );
    assert_eq!(t.sw.counters().drops(FrameDrop::SpoofedSource), 2);
    assert_eq!(t.sw.counters().total_drops(), 2);
}

#[test]
fn a_client_claiming_the_gateway_in_arp_is_dropped() {
    let mut t = bench();
    for tags in 0..3 {
        let claim_ip = arp(host(1), host(1), GATEWAY_IP, tags);
        assert_eq!(
            t.send(t.a, &claim_ip),
            Err(FrameDrop::SpoofedArp),
            "{tags} tags"
        );
    }
    let claim_mac = arp(host(1), GATEWAY, [10, 0, 0, 5], 0);
    assert_eq!(t.send(t.a, &claim_mac), Err(FrameDrop::SpoofedArp));
    // Its own address is fine; so is the gateway's own ARP and a peer's
    // (another node's gateway probing with the node's MAC).
    assert!(t
        .send(t.a, &arp(host(1), host(1), [10, 0, 0, 5], 0))
        .is_ok());
    assert!(t.send(t.gw, &arp(GATEWAY, GATEWAY, GATEWAY_IP, 0)).is_ok());
    assert!(t
        .send(t.p1, &arp(host(70), host(70), GATEWAY_IP, 0))
        .is_ok());
    t.sw.unprotect_ip(GATEWAY_IP.into());
    assert!(t.send(t.a, &arp(host(1), host(1), GATEWAY_IP, 0)).is_ok());
    assert_eq!(t.sw.counters().drops(FrameDrop::SpoofedArp), 4);
}

#[test]
fn reserved_groups_are_not_forwarded() {
    let mut t = bench();
    let stp = [0x01, 0x80, 0xc2, 0, 0, 0];
    let lldp = [0x01, 0x80, 0xc2, 0, 0, 0x0e];
    assert_eq!(
        t.send(t.a, &frame(stp, host(1))),
        Err(FrameDrop::ReservedGroup)
    );
    assert_eq!(
        t.send(t.p1, &frame(lldp, host(50))),
        Err(FrameDrop::ReservedGroup)
    );
    assert!(t
        .send(t.a, &frame([0x01, 0x80, 0xc2, 0, 0, 0x10], host(1)))
        .is_ok());
}

#[test]
fn storm_control_cuts_one_local_port_and_spares_the_rest() {
    let mut t = Bench::new(SwitchConfig {
        storm: Some(StormConfig {
            frames_per_second: 10,
            burst: 5,
        }),
        ..SwitchConfig::default()
    });
    let (a, b, p1) = (t.a, t.b, t.p1);
    let ok = (0..20)
        .filter(|_| t.send(a, &frame(BROADCAST, host(1))).is_ok())
        .count();
    assert_eq!(ok, 5);
    assert_eq!(t.sw.counters().drops(FrameDrop::StormLimited), 15);
    assert!(
        t.send(b, &frame(BROADCAST, host(2))).is_ok(),
        "another port"
    );
    assert_eq!(
        t.send(a, &frame(host(2), host(1))).unwrap(),
        vec![b],
        "unicast is not limited"
    );
    assert!(
        (0..20).all(|_| t.send(p1, &frame(BROADCAST, host(50))).is_ok()),
        "peers are not limited"
    );
    assert!(
        t.send_at(Duration::from_millis(100), a, &frame(BROADCAST, host(1)))
            .is_ok(),
        "refilled"
    );
}

#[test]
fn storm_control_can_be_off() {
    let mut t = Bench::new(SwitchConfig {
        storm: None,
        ..SwitchConfig::default()
    });
    let a = t.a;
    assert!((0..5000).all(|_| t.send(a, &frame(BROADCAST, host(1))).is_ok()));
}

#[test]
fn a_full_mac_table_still_forwards_and_counts_the_unlearned() {
    let mut t = Bench::new(SwitchConfig {
        mac_table: MacTableConfig {
            max_per_port: 2,
            ..MacTableConfig::default()
        },
        ..SwitchConfig::default()
    });
    for n in 1..=5 {
        assert_eq!(t.send(t.a, &frame(BROADCAST, host(n))).unwrap().len(), 4);
    }
    assert_eq!(t.sw.counters().unlearned, 3);
    assert_eq!(
        t.send(t.b, &frame(host(5), host(20))).unwrap().len(),
        4,
        "flooded"
    );
    // A peer port's cap is the global one.
    for n in 100..110 {
        t.send(t.p1, &frame(BROADCAST, host(n))).unwrap();
    }
    assert_eq!(t.sw.mac_table().port_len(t.p1), 10);
}

#[test]
fn a_client_mac_arriving_from_a_peer_raises_mac_moved() {
    let mut t = bench();
    t.send(t.a, &frame(BROADCAST, host(1))).unwrap();
    assert_eq!(t.sw.poll_event(), None);
    t.send(t.p1, &frame(BROADCAST, host(1))).unwrap();
    assert_eq!(
        t.sw.poll_event(),
        Some(SwitchEvent::MacMoved {
            mac: host(1),
            from: t.a,
            to: t.p1
        })
    );
    assert_eq!(t.sw.poll_event(), None);
    // Peer to peer, peer to client, client to client: no event.
    t.send(t.p2, &frame(BROADCAST, host(1))).unwrap();
    t.send(t.b, &frame(BROADCAST, host(1))).unwrap();
    t.send(t.a, &frame(BROADCAST, host(1))).unwrap();
    assert_eq!(t.sw.poll_event(), None);
    assert_eq!(t.sw.counters().moved, 4);
}

#[test]
fn events_are_capped_and_purged_with_their_port() {
    let mut t = Bench::new(SwitchConfig {
        max_events: 2,
        ..SwitchConfig::default()
    });
    for n in 1..=3 {
        t.send(t.a, &frame(BROADCAST, host(n))).unwrap();
        t.send(t.p1, &frame(BROADCAST, host(n))).unwrap();
    }
    assert_eq!(t.sw.counters().events_lost, 1);
    t.sw.remove_port(t.a);
    assert_eq!(t.sw.poll_event(), None);
}

#[test]
fn removing_a_port_forgets_its_macs() {
    let mut t = bench();
    t.send(t.b, &frame(BROADCAST, host(2))).unwrap();
    t.sw.remove_port(t.b);
    let got = t.send(t.a, &frame(host(2), host(1))).unwrap();
    assert_eq!(got, vec![t.gw, t.p1, t.p2]);
    assert!(t.sw.ports().all(|(p, _)| p != t.b));
    t.sw.remove_port(t.gw);
    assert_eq!(
        t.send(t.a, &frame(GATEWAY, host(1))).unwrap().len(),
        2,
        "pin gone"
    );
}

#[test]
fn setup_errors_name_the_problem() {
    let mut t = bench();
    assert_eq!(
        t.sw.pin_mac(host(1), t.a),
        Err(SwitchError::NotEthereal(t.a))
    );
    assert_eq!(
        t.sw.pin_mac(host(1), PortId(77)),
        Err(SwitchError::UnknownPort(PortId(77)))
    );
    assert_eq!(
        t.sw.pin_mac(BROADCAST, t.gw),
        Err(SwitchError::NotUnicast(BROADCAST))
    );
    assert_eq!(
        SwitchError::NotUnicast(BROADCAST).to_string(),
        "ff:ff:ff:ff:ff:ff is not a unicast MAC"
    );
    let mut sw = Switch::new(SwitchConfig {
        max_ports: 2,
        max_pinned: 1,
        max_protected: 1,
        ..SwitchConfig::default()
    });
    let gw = sw.add_port(PortKind::Gateway).unwrap();
    let dhcp = sw.add_port(PortKind::Dhcp).unwrap();
    let full = sw.add_port(PortKind::TapClient).unwrap_err();
    assert_eq!(
        full.to_string(),
        "the port table is full (2 entries, SwitchConfig::max_ports)"
    );
    sw.pin_mac(GATEWAY, gw).unwrap();
    sw.pin_mac(GATEWAY, dhcp).unwrap(); // a re-pin needs no room
    assert!(matches!(
        sw.pin_mac(host(1), gw),
        Err(SwitchError::TableFull { cap: 1, .. })
    ));
    sw.protect_ip(GATEWAY_IP.into()).unwrap();
    sw.protect_ip(GATEWAY_IP.into()).unwrap();
    assert!(sw.protect_ip([10, 0, 0, 2].into()).is_err());
    sw.remove_port(gw);
    assert!(sw.add_port(PortKind::TapClient).is_ok(), "room again");
}

#[test]
fn steady_state_forwarding_does_not_grow_the_out_vec() {
    let mut t = bench();
    t.send(t.a, &frame(BROADCAST, host(1))).unwrap();
    let cap = t.out.capacity();
    for _ in 0..100 {
        t.sw.forward(t.t0, t.a, &frame(BROADCAST, host(1)), &mut t.out)
            .ok();
        t.sw.forward(t.t0, t.p1, &frame(host(1), host(50)), &mut t.out)
            .ok();
    }
    assert_eq!(t.out.capacity(), cap);
}

/// Frames counted once each: drops by reason, unicast, flooded.
fn forwarded_or_dropped(c: &SwitchCounters) -> u64 {
    c.total_drops() + c.unicast + c.flooded
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Hostile bytes on any port: no panic, exactly one counter moves, and
    /// what is forwarded obeys split horizon, never returns to the ingress
    /// and names each port at most once.
    #[test]
    fn any_bytes_on_any_port_are_safe(
        frames in proptest::collection::vec(
            (0u32..7, proptest::collection::vec(any::<u8>(), 0..=2000)), 1..16),
    ) {
        let mut t = bench();
        for (port, mut bytes) in frames {
            // Reuse a few addresses often enough to learn and hit them.
            if bytes.len() >= 12 && bytes[0] % 3 == 0 {
                let (dst, src) = (host(bytes[1] % 4), host(bytes[2] % 4));
                bytes[..6].copy_from_slice(&dst);
                bytes[6..12].copy_from_slice(&src);
            }
            let ingress = PortId(port);
            let before = forwarded_or_dropped(t.sw.counters());
            let r = t.sw.forward(t.t0, ingress, &bytes, &mut t.out);
            prop_assert_eq!(forwarded_or_dropped(t.sw.counters()), before + 1);
            if r.is_err() {
                prop_assert!(t.out.is_empty());
            } else {
                prop_assert!(!t.out.contains(&ingress));
                let mut seen = t.out.clone();
                seen.sort_unstable();
                seen.dedup();
                prop_assert_eq!(seen.len(), t.out.len());
                if t.sw.port_kind(ingress) == Some(PortKind::PeerNode) {
                    prop_assert!(t.out.iter().all(|p| *p != t.p1 && *p != t.p2));
                }
            }
        }
    }
}
