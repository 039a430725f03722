use super::*;
use crate::leases::ClaimLost;

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
