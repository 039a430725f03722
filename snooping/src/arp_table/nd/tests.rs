use super::*;
use crate::arp_table::{ArpTableConfig, ProtectedFull};
use proptest::prelude::*;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, Ipv6Repr, NdiscNeighborFlags,
};
use std::time::Duration;

const CLIENT: Mac = [2, 0, 0, 0, 0, 7];
const OTHER: Mac = [2, 0, 0, 0, 0, 8];
const GATEWAY: Mac = [2, 0xaa, 0, 0, 0, 1];

fn ip(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, last)
}

fn ll(mac: Mac) -> RawHardwareAddress {
    RawHardwareAddress::from(EthernetAddress(mac))
}

/// An Ethernet frame from `eth_src` with an ND message (checksum filled).
fn nd(eth_src: Mac, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, repr: NdiscRepr) -> Vec<u8> {
    let icmp = Icmpv6Repr::Ndisc(repr);
    let ipr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit,
    };
    let mut f = vec![0; 14 + ipr.buffer_len() + icmp.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(EthernetAddress([0x33, 0x33, 0, 0, 0, 1]));
    eth.set_src_addr(EthernetAddress(eth_src));
    eth.set_ethertype(EthernetProtocol::Ipv6);
    let mut p = Ipv6Packet::new_unchecked(eth.payload_mut());
    ipr.emit(&mut p);
    icmp.emit(
        &src,
        &dst,
        &mut Icmpv6Packet::new_unchecked(p.payload_mut()),
        &ChecksumCapabilities::default(),
    );
    f
}

fn ns(mac: Mac, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let lladdr = (!src.is_unspecified()).then(|| ll(mac));
    nd(
        mac,
        src,
        "ff02::1:ff00:1".parse().unwrap(),
        255,
        NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr,
        },
    )
}

fn na(eth_src: Mac, target: Ipv6Addr, lladdr: Option<RawHardwareAddress>) -> Vec<u8> {
    nd(
        eth_src,
        target,
        "ff02::1".parse().unwrap(),
        255,
        NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::OVERRIDE,
            target_addr: target,
            lladdr,
        },
    )
}

#[test]
fn learns_from_solicitations_and_advertisements() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    assert_eq!(
        t.observe_frame(now, &ns(CLIENT, ip(5), ip(1))),
        Observed::LearnedV6 {
            ip: ip(5),
            mac: CLIENT,
            binding: Binding::New
        }
    );
    assert_eq!(
        t.observe_frame(now, &na(OTHER, ip(6), Some(ll(OTHER)))),
        Observed::LearnedV6 {
            ip: ip(6),
            mac: OTHER,
            binding: Binding::New
        }
    );
    assert_eq!(t.lookup_v6(now, ip(5)), Some(CLIENT));
    assert_eq!(t.lookup_v6(now, ip(6)), Some(OTHER));
    // Link-local addresses too.
    let link_local: Ipv6Addr = "fe80::7".parse().unwrap();
    assert!(matches!(
        t.observe_frame(now, &ns(CLIENT, link_local, ip(1))),
        Observed::LearnedV6 { .. }
    ));
    assert_eq!((t.len(), t.len_v6()), (0, 3));
    assert_eq!(t.counters().learned_v6, 3);
    // The address moves.
    assert_eq!(
        t.observe_frame(now, &na(OTHER, ip(5), Some(ll(OTHER)))),
        Observed::LearnedV6 {
            ip: ip(5),
            mac: OTHER,
            binding: Binding::Changed { old: CLIENT }
        }
    );
    // IPv4 lookups are unaffected.
    assert_eq!(t.lookup(now, std::net::Ipv4Addr::new(10, 0, 0, 5)), None);
}

#[test]
fn other_ipv6_is_not_nd() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    let echo = {
        let mut f = ns(CLIENT, ip(5), ip(1));
        f[14 + 40] = 128; // echo request (checksum now wrong: not even read)
        f
    };
    let rs = nd(
        CLIENT,
        ip(5),
        "ff02::2".parse().unwrap(),
        255,
        NdiscRepr::RouterSolicit {
            lladdr: Some(ll(CLIENT)),
        },
    );
    for f in [echo, rs] {
        assert_eq!(t.observe_frame(now, &f), Observed::NotArp);
    }
    assert!(t.is_empty());
}

#[test]
fn does_not_learn_invalid_nd() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    // Duplicate address detection claims nothing yet.
    assert_eq!(
        t.observe_frame(now, &ns(CLIENT, Ipv6Addr::UNSPECIFIED, ip(5))),
        Observed::Unlearned(Unlearned::Unspecified)
    );
    // Hop limit other than 255: not from the link.
    let routed = nd(
        CLIENT,
        ip(5),
        ip(1),
        64,
        NdiscRepr::NeighborSolicit {
            target_addr: ip(1),
            lladdr: Some(ll(CLIENT)),
        },
    );
    assert_eq!(
        t.observe_frame(now, &routed),
        Observed::Unlearned(Unlearned::Malformed)
    );
    // Bad checksum.
    let mut corrupt = ns(CLIENT, ip(5), ip(1));
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(
        t.observe_frame(now, &corrupt),
        Observed::Unlearned(Unlearned::Malformed)
    );
    // No link-layer option.
    assert_eq!(
        t.observe_frame(now, &na(CLIENT, ip(5), None)),
        Observed::Unlearned(Unlearned::NoLinkAddress)
    );
    // Group MAC, multicast target.
    assert_eq!(
        t.observe_frame(now, &na(CLIENT, ip(5), Some(ll([0x33, 0x33, 0, 0, 0, 1])))),
        Observed::Unlearned(Unlearned::InvalidAddress)
    );
    assert_eq!(
        t.observe_frame(
            now,
            &na(CLIENT, "ff02::1".parse().unwrap(), Some(ll(CLIENT)))
        ),
        Observed::Unlearned(Unlearned::InvalidAddress)
    );
    assert!(t.is_empty());
    assert_eq!(t.counters().unlearned(Unlearned::Malformed), 2);
}

#[test]
fn protected_addresses_and_macs_are_not_learned() {
    let now = Instant::now();
    let mut t = ArpTable::default();
    t.observe_frame(now, &na(CLIENT, ip(1), Some(ll(CLIENT))));
    assert_eq!(t.lookup_v6(now, ip(1)), Some(CLIENT));
    t.protect_ipv6(ip(1)).unwrap();
    assert_eq!(t.lookup_v6(now, ip(1)), None, "forgotten when protected");
    assert_eq!(
        t.observe_frame(now, &na(CLIENT, ip(1), Some(ll(CLIENT)))),
        Observed::Unlearned(Unlearned::ProtectedAddress)
    );
    t.protect_mac(GATEWAY).unwrap();
    assert_eq!(
        t.observe_frame(now, &na(CLIENT, ip(7), Some(ll(GATEWAY)))),
        Observed::Unlearned(Unlearned::ProtectedMac)
    );
    assert_eq!(
        t.observe_frame(now, &na(GATEWAY, ip(7), Some(ll(CLIENT)))),
        Observed::Unlearned(Unlearned::ProtectedMac)
    );
    assert!(t.unprotect_ipv6(ip(1)));
    assert!(!t.unprotect_ipv6(ip(1)));
    assert!(matches!(
        t.observe_frame(now, &na(CLIENT, ip(1), Some(ll(CLIENT)))),
        Observed::LearnedV6 { .. }
    ));
    let mut small = ArpTable::new(ArpTableConfig {
        max_protected: 1,
        ..ArpTableConfig::default()
    });
    small.protect_ipv6(ip(1)).unwrap();
    small.protect_ipv6(ip(1)).unwrap();
    assert_eq!(small.protect_ipv6(ip(2)), Err(ProtectedFull { cap: 1 }));
}

#[test]
fn bindings_age_out_and_refresh() {
    let start = Instant::now();
    let mut t = ArpTable::default();
    let age = t.config().max_age;
    t.observe_frame(start, &ns(CLIENT, ip(5), ip(1)));
    let later = (start + age).checked_sub(Duration::from_secs(1)).unwrap();
    assert_eq!(
        t.observe_frame(later, &ns(CLIENT, ip(5), ip(1))),
        Observed::LearnedV6 {
            ip: ip(5),
            mac: CLIENT,
            binding: Binding::Refreshed
        }
    );
    assert_eq!(t.lookup_v6(start + age, ip(5)), Some(CLIENT));
    let gone = later + age;
    assert_eq!(t.lookup_v6(gone, ip(5)), None);
    assert_eq!(t.expire(gone), 1);
    assert_eq!(t.len_v6(), 0);
}

#[test]
fn the_cap_holds_per_family_with_a_rate_limited_sweep() {
    let start = Instant::now();
    let mut t = ArpTable::new(ArpTableConfig {
        max_entries: 2,
        ..ArpTableConfig::default()
    });
    for n in 1..=2 {
        assert!(matches!(
            t.observe_frame(start, &ns(CLIENT, ip(n), ip(100))),
            Observed::LearnedV6 { .. }
        ));
    }
    assert_eq!(
        t.observe_frame(start, &ns(CLIENT, ip(3), ip(100))),
        Observed::Unlearned(Unlearned::CapReached)
    );
    // A known address still refreshes at the cap.
    assert!(matches!(
        t.observe_frame(start, &ns(CLIENT, ip(1), ip(100))),
        Observed::LearnedV6 {
            binding: Binding::Refreshed,
            ..
        }
    ));
    // Once the old bindings expired, learning sweeps them itself.
    let later = start + t.config().max_age + Duration::from_secs(1);
    assert!(matches!(
        t.observe_frame(later, &ns(CLIENT, ip(3), ip(100))),
        Observed::LearnedV6 {
            binding: Binding::New,
            ..
        }
    ));
    assert!(t.len_v6() <= 2);
}

proptest! {
    #[test]
    fn arbitrary_ipv6_frames_never_panic_nor_exceed_the_cap(
        frames in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..120), any::<u16>(), any::<bool>()),
            1..40,
        ),
    ) {
        let now = Instant::now();
        let mut t = ArpTable::new(ArpTableConfig {
            max_entries: 8,
            ..ArpTableConfig::default()
        });
        for (bytes, last, valid) in frames {
            let f = if valid {
                // A valid NS from a random address, then random bytes
                // appended (extra options, garbage).
                let mut f = ns(CLIENT, ip(last), ip(1));
                f.extend_from_slice(&bytes);
                f
            } else {
                let mut f = vec![0x33, 0x33, 0, 0, 0, 1];
                f.extend_from_slice(&CLIENT);
                f.extend_from_slice(&[0x86, 0xdd]);
                f.extend_from_slice(&bytes);
                f
            };
            let _ = t.observe_frame(now, &f);
            prop_assert!(t.len_v6() <= 8);
        }
    }
}
