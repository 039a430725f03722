use super::*;
use proptest::prelude::*;

const CLIENT: Mac = [2, 0, 0, 0, 0, 7];
const OTHER: Mac = [2, 0, 0, 0, 0, 8];
const GATEWAY: Mac = [2, 0xaa, 0, 0, 0, 1];

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

/// An Ethernet frame carrying ARP `op` (1 request, 2 reply) from `sha`/`spa`.
fn arp(op: u8, eth_src: Mac, sha: Mac, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, op]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f
}

fn gratuitous(mac: Mac, addr: Ipv4Addr) -> Vec<u8> {
    arp(1, mac, mac, addr, addr)
}

fn small(max_entries: usize) -> ArpTable {
    ArpTable::new(ArpTableConfig {
        max_entries,
        ..ArpTableConfig::default()
    })
}

#[test]
fn learns_senders_of_requests_replies_and_gratuitous_arp() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    for (op, addr) in [(1, ip(5)), (2, ip(6))] {
        let f = arp(op, CLIENT, CLIENT, addr, ip(1));
        assert_eq!(
            t.observe_frame(now, &f),
            Observed::Learned {
                ip: addr,
                mac: CLIENT,
                binding: Binding::New
            }
        );
    }
    assert!(matches!(
        t.observe_frame(now, &gratuitous(OTHER, ip(7))),
        Observed::Learned {
            binding: Binding::New,
            ..
        }
    ));
    assert_eq!(t.lookup(now, ip(5)), Some(CLIENT));
    assert_eq!(t.lookup(now, ip(6)), Some(CLIENT));
    assert_eq!(t.lookup(now, ip(7)), Some(OTHER));
    assert_eq!(t.lookup(now, ip(8)), None);
    assert_eq!(t.counters().learned, 3);
}

#[test]
fn ignores_what_is_not_arp_and_counts_bad_arp() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    let good = gratuitous(CLIENT, ip(5));
    let mut ipv4 = good.clone();
    ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(t.observe_frame(now, &ipv4), Observed::NotArp);
    assert_eq!(t.observe_frame(now, &good[..10]), Observed::NotArp);
    assert_eq!(
        t.observe_frame(now, &good[..20]),
        Observed::Unlearned(Unlearned::Malformed)
    );
    let mut rarp = good.clone();
    rarp[21] = 3;
    assert_eq!(
        t.observe_frame(now, &rarp),
        Observed::Unlearned(Unlearned::Malformed)
    );
    assert_eq!(t.counters().unlearned(Unlearned::Malformed), 2);
    assert!(t.is_empty());
}

#[test]
fn rfc5227_probes_and_invalid_senders_are_not_learned() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    let probe = arp(1, CLIENT, CLIENT, Ipv4Addr::UNSPECIFIED, ip(5));
    assert_eq!(
        t.observe_frame(now, &probe),
        Observed::Unlearned(Unlearned::Unspecified)
    );
    for bad in [
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::LOCALHOST,
    ] {
        assert_eq!(
            t.observe_frame(now, &gratuitous(CLIENT, bad)),
            Observed::Unlearned(Unlearned::InvalidAddress)
        );
    }
    let group = [3, 0, 0, 0, 0, 1];
    assert_eq!(
        t.observe_frame(now, &arp(2, CLIENT, group, ip(5), ip(1))),
        Observed::Unlearned(Unlearned::InvalidAddress)
    );
    assert!(t.is_empty());
}

#[test]
fn a_spoofed_claim_to_the_gateway_is_never_learned() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    t.protect_ip(ip(1)).unwrap();
    t.protect_mac(GATEWAY).unwrap();
    assert_eq!(
        t.observe_frame(now, &gratuitous(CLIENT, ip(1))),
        Observed::Unlearned(Unlearned::ProtectedAddress)
    );
    // A client claiming the gateway MAC for its own address.
    assert_eq!(
        t.observe_frame(now, &arp(2, CLIENT, GATEWAY, ip(5), ip(9))),
        Observed::Unlearned(Unlearned::ProtectedMac)
    );
    // A frame whose Ethernet source is pinned.
    assert_eq!(
        t.observe_frame(now, &arp(2, GATEWAY, CLIENT, ip(5), ip(9))),
        Observed::Unlearned(Unlearned::ProtectedMac)
    );
    assert_eq!(t.lookup(now, ip(1)), None);
    assert_eq!(t.lookup(now, ip(5)), None);
    assert_eq!(
        t.insert_lease(now, ip(1), CLIENT, now + Duration::from_secs(60)),
        Err(Unlearned::ProtectedAddress)
    );
    assert_eq!(t.counters().unlearned(Unlearned::ProtectedMac), 2);
}

#[test]
fn protecting_forgets_what_was_learned_and_is_capped() {
    let now = Instant::now();
    let mut t = ArpTable::new(ArpTableConfig {
        max_protected: 2,
        ..ArpTableConfig::default()
    });
    t.observe_frame(now, &gratuitous(CLIENT, ip(1)));
    t.observe_frame(now, &gratuitous(OTHER, ip(2)));
    t.protect_ip(ip(1)).unwrap();
    t.protect_mac(OTHER).unwrap();
    assert!(t.is_empty());
    t.protect_ip(ip(1)).unwrap();
    t.protect_ip(ip(3)).unwrap();
    assert_eq!(t.protect_ip(ip(4)), Err(ProtectedFull { cap: 2 }));
}

#[test]
fn snooped_bindings_age_out_after_300_s_and_refresh() {
    let t0 = Instant::now();
    let mut t = ArpTable::default();
    t.observe_frame(t0, &gratuitous(CLIENT, ip(5)));
    let t1 = t0 + Duration::from_secs(299);
    assert_eq!(t.lookup(t1, ip(5)), Some(CLIENT));
    // tok's 15 s gratuitous ARP keeps it alive.
    assert!(matches!(
        t.observe_frame(t1, &gratuitous(CLIENT, ip(5))),
        Observed::Learned {
            binding: Binding::Refreshed,
            ..
        }
    ));
    assert_eq!(t.lookup(t1 + Duration::from_secs(299), ip(5)), Some(CLIENT));
    let gone = t1 + Duration::from_secs(300);
    assert_eq!(t.lookup(gone, ip(5)), None);
    assert_eq!(t.len(), 1);
    assert_eq!(t.expire(gone), 1);
    assert!(t.is_empty());
    assert!(matches!(
        t.observe_frame(gone, &gratuitous(CLIENT, ip(5))),
        Observed::Learned {
            binding: Binding::New,
            ..
        }
    ));
}

#[test]
fn a_moved_address_is_rebound() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    t.observe_frame(now, &gratuitous(CLIENT, ip(5)));
    assert!(matches!(
        t.observe_frame(now, &gratuitous(OTHER, ip(5))),
        Observed::Learned {
            binding: Binding::Changed { old: CLIENT },
            ..
        }
    ));
    assert_eq!(t.lookup(now, ip(5)), Some(OTHER));
    assert_eq!(t.counters().changed, 1);
}

#[test]
fn a_lease_lives_until_its_expiry_and_outranks_snooping() {
    let t0 = Instant::now();
    let mut t = ArpTable::default();
    let expiry = t0 + Duration::from_secs(3600);
    assert_eq!(t.insert_lease(t0, ip(5), CLIENT, expiry), Ok(Binding::New));
    assert_eq!(t.lookup_origin(t0, ip(5)), Some((CLIENT, Origin::Lease)));
    // Longer than the snooping age, silent: still there.
    let late = t0 + Duration::from_secs(3599);
    assert_eq!(t.lookup(late, ip(5)), Some(CLIENT));
    // Someone else claiming the leased address is not believed.
    assert_eq!(
        t.observe_frame(late, &gratuitous(OTHER, ip(5))),
        Observed::Unlearned(Unlearned::LeaseConflict)
    );
    // The holder heard from just before expiry keeps it a while longer.
    t.observe_frame(late, &gratuitous(CLIENT, ip(5)));
    assert_eq!(
        t.lookup_origin(expiry, ip(5)),
        Some((CLIENT, Origin::Lease))
    );
    assert_eq!(t.lookup(late + Duration::from_secs(300), ip(5)), None);
    // A renewal moves the expiry.
    let renewed = late + Duration::from_secs(3600);
    assert_eq!(
        t.insert_lease(late, ip(5), CLIENT, renewed),
        Ok(Binding::Refreshed)
    );
    assert_eq!(
        t.lookup(late + Duration::from_secs(3599), ip(5)),
        Some(CLIENT)
    );
    assert!(!t.remove_lease(ip(5), OTHER));
    assert!(t.remove_lease(ip(5), CLIENT));
    assert_eq!(t.lookup(late, ip(5)), None);
}

#[test]
fn a_full_table_learns_nothing_more_until_entries_expire() {
    let t0 = Instant::now();
    let mut t = small(2);
    t.observe_frame(t0, &gratuitous(CLIENT, ip(1)));
    t.observe_frame(t0, &gratuitous(CLIENT, ip(2)));
    assert_eq!(
        t.observe_frame(t0, &gratuitous(CLIENT, ip(3))),
        Observed::Unlearned(Unlearned::CapReached)
    );
    assert_eq!(
        t.insert_lease(t0, ip(4), CLIENT, t0 + Duration::from_secs(1)),
        Err(Unlearned::CapReached)
    );
    assert_eq!(t.counters().unlearned(Unlearned::CapReached), 2);
    // Known addresses still refresh at the cap.
    assert!(matches!(
        t.observe_frame(t0, &gratuitous(OTHER, ip(2))),
        Observed::Learned { .. }
    ));
    // Once they expire, learning sweeps them itself.
    let later = t0 + Duration::from_secs(300);
    assert!(matches!(
        t.observe_frame(later, &gratuitous(CLIENT, ip(3))),
        Observed::Learned {
            binding: Binding::New,
            ..
        }
    ));
    assert_eq!(t.len(), 1);
}

#[test]
fn sweeps_at_the_cap_are_rate_limited() {
    let t0 = Instant::now();
    let mut t = small(1);
    t.observe_frame(t0, &gratuitous(CLIENT, ip(1)));
    // Full: a sweep runs, finds nothing expired.
    let swept = t0 + Duration::from_millis(299_500);
    assert_eq!(
        t.observe_frame(swept, &gratuitous(CLIENT, ip(2))),
        Observed::Unlearned(Unlearned::CapReached)
    );
    // ip(1) has expired, but the next sweep is not due for another 0.5 s.
    let expired = t0 + Duration::from_secs(300);
    assert_eq!(
        t.observe_frame(expired, &gratuitous(CLIENT, ip(3))),
        Observed::Unlearned(Unlearned::CapReached)
    );
    assert!(matches!(
        t.observe_frame(swept + Duration::from_secs(1), &gratuitous(CLIENT, ip(3))),
        Observed::Learned {
            binding: Binding::New,
            ..
        }
    ));
    assert_eq!(t.len(), 1);
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic_and_never_exceed_the_cap(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..64),
        arp_bias in any::<bool>(),
    ) {
        let now = Instant::now();
        let mut t = small(8);
        for mut f in frames {
            if arp_bias && f.len() >= 22 {
                f[12..22].copy_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
            }
            let _ = t.observe_frame(now, &f);
            prop_assert!(t.len() <= 8);
        }
    }

    #[test]
    fn lookups_agree_with_the_last_sender(
        ops in proptest::collection::vec((0u8..6, 0u8..4), 1..64),
    ) {
        let now = Instant::now();
        let mut t = ArpTable::default();
        let mut model = HashMap::new();
        for (host, mac) in ops {
            let m = [2, 0, 0, 0, 1, mac];
            t.observe_frame(now, &gratuitous(m, ip(10 + host)));
            model.insert(ip(10 + host), m);
        }
        for (addr, mac) in model {
            prop_assert_eq!(t.lookup(now, addr), Some(mac));
        }
    }
}
