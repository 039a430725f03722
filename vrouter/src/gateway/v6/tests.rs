use super::*;
use crate::ipv6::{multicast_mac, solicited_node};
use crate::testutil::*;
use crate::{Ipv4Subnet, Router, RouterConfig};
use proptest::prelude::*;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, NdiscNeighborFlags, NdiscPrefixInfoFlags,
    RawHardwareAddress,
};
use snooping::{Observed, Unlearned};
use std::time::Instant;

const CLIENT_IP: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 0x10);
const GW_IP: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 1);

fn subnet() -> Ipv4Subnet {
    "10.0.1.0/24".parse().unwrap()
}

fn gateway() -> Gateway {
    let mut g = Gateway::new(NET_A, subnet(), 1).unwrap();
    g.set_ipv6_prefix(Some("fd00:77::/64".parse().unwrap()));
    g
}

/// The reply in the outbox, parsed and checksum-verified with smoltcp:
/// (Ethernet dst, src, IPv6 src, dst, hop limit, ICMPv6 bytes).
fn reply(out: &Outbox) -> (Mac, Mac, Ipv6Addr, Ipv6Addr, u8, Vec<u8>) {
    let (target, frame) = only(out);
    assert_eq!(target, None, "answers go to the asking port");
    let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
    assert_eq!(eth.ethertype(), EthernetProtocol::Ipv6);
    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
    assert_eq!(ip.total_len(), eth.payload().len());
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
    (
        eth.dst_addr().0,
        eth.src_addr().0,
        ip.src_addr(),
        ip.dst_addr(),
        ip.hop_limit(),
        ip.payload().to_vec(),
    )
}

fn parse(src: Ipv6Addr, dst: Ipv6Addr, bytes: &[u8]) -> Icmpv6Repr<'_> {
    let p = Icmpv6Packet::new_checked(bytes).unwrap();
    Icmpv6Repr::parse(&src, &dst, &p, &ChecksumCapabilities::default()).unwrap()
}

fn ll(mac: Mac) -> RawHardwareAddress {
    RawHardwareAddress::from(EthernetAddress(mac))
}

#[test]
fn addresses_follow_the_prefix() {
    let mut g = gateway();
    assert_eq!(g.ipv6(), Some(GW_IP));
    assert_eq!(g.ipv6_link_local(), Some(link_local(g.mac())));
    assert!(g.ipv6_link_local().unwrap().is_unicast_link_local());
    // The same on every node.
    let other = {
        let mut o = Gateway::new(NET_A, subnet(), 2).unwrap();
        o.set_ipv6_prefix(g.ipv6_prefix());
        o
    };
    assert_eq!(other.ipv6_link_local(), g.ipv6_link_local());
    g.set_ipv6_prefix(None);
    assert_eq!((g.ipv6(), g.ipv6_link_local()), (None, None));
}

#[test]
fn answers_neighbor_solicitation_for_its_address() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let ns = neighbor_solicit(CLIENT_A, CLIENT_IP, GW_IP);
    assert_eq!(
        g.handle_frame(Instant::now(), &ns, &mut out),
        Handled::Answered
    );
    let (eth_dst, eth_src, src, dst, hop, icmp) = reply(&out);
    assert_eq!((eth_dst, eth_src), (CLIENT_A, g.mac()));
    assert_eq!((src, dst, hop), (GW_IP, CLIENT_IP, 255));
    assert_eq!(
        parse(src, dst, &icmp),
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE,
            target_addr: GW_IP,
            lladdr: Some(ll(g.mac())),
        })
    );
    assert_eq!(g.counters().neighbor_adverts, 1);
}

#[test]
fn answers_neighbor_solicitation_for_its_link_local_address() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let target = g.ipv6_link_local().unwrap();
    let client_ll = link_local(CLIENT_A);
    // Unicast to the address itself (reachability confirmation) too.
    let multicast = neighbor_solicit(CLIENT_A, client_ll, target);
    let unicast = icmpv6_frame(
        CLIENT_A,
        g.mac(),
        client_ll,
        target,
        255,
        &Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: None,
        }),
    );
    for ns in [multicast, unicast] {
        out.clear();
        assert_eq!(
            g.handle_frame(Instant::now(), &ns, &mut out),
            Handled::Answered
        );
        let (eth_dst, _, src, dst, _, icmp) = reply(&out);
        assert_eq!((eth_dst, src, dst), (CLIENT_A, target, client_ll));
        let Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags, target_addr, ..
        }) = parse(src, dst, &icmp)
        else {
            panic!("not an NA");
        };
        assert_eq!(target_addr, target);
        assert!(flags.contains(NdiscNeighborFlags::SOLICITED));
    }
}

#[test]
fn defends_its_address_against_duplicate_address_detection() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let dad = neighbor_solicit(CLIENT_A, Ipv6Addr::UNSPECIFIED, GW_IP);
    assert_eq!(
        g.handle_frame(Instant::now(), &dad, &mut out),
        Handled::Answered
    );
    let (eth_dst, _, src, dst, _, icmp) = reply(&out);
    assert_eq!(
        (eth_dst, src, dst),
        (multicast_mac(ALL_NODES), GW_IP, ALL_NODES)
    );
    let Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { flags, .. }) = parse(src, dst, &icmp) else {
        panic!("not an NA");
    };
    assert_eq!(flags, NdiscNeighborFlags::OVERRIDE);
}

#[test]
fn ignores_solicitations_for_other_addresses() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let other: Ipv6Addr = "fd00:77::20".parse().unwrap();
    for ns in [
        neighbor_solicit(CLIENT_A, CLIENT_IP, other),
        neighbor_solicit(CLIENT_A, Ipv6Addr::UNSPECIFIED, other),
    ] {
        assert_eq!(
            g.handle_frame(Instant::now(), &ns, &mut out),
            Handled::Dropped(DropReason::NotForUs)
        );
    }
    assert!(out.is_empty());
}

#[test]
fn answers_echo_to_its_addresses() {
    let mut g = gateway();
    let mut out = Outbox::default();
    for target in [GW_IP, g.ipv6_link_local().unwrap()] {
        out.clear();
        let req = Icmpv6Repr::EchoRequest {
            ident: 0x4242,
            seq_no: 3,
            data: b"atenet ping6 payload",
        };
        let f = icmpv6_frame(CLIENT_A, g.mac(), CLIENT_IP, target, 64, &req);
        assert_eq!(
            g.handle_frame(Instant::now(), &f, &mut out),
            Handled::Answered
        );
        let (eth_dst, eth_src, src, dst, hop, icmp) = reply(&out);
        assert_eq!((eth_dst, eth_src), (CLIENT_A, g.mac()));
        assert_eq!((src, dst, hop), (target, CLIENT_IP, 64));
        assert_eq!(
            parse(src, dst, &icmp),
            Icmpv6Repr::EchoReply {
                ident: 0x4242,
                seq_no: 3,
                data: b"atenet ping6 payload",
            }
        );
    }
    assert_eq!(g.counters().echo_replies, 2);
}

#[test]
fn answers_router_solicitation_with_the_prefix() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let client_ll = link_local(CLIENT_A);
    let rs = Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit {
        lladdr: Some(ll(CLIENT_A)),
    });
    let f = icmpv6_frame(
        CLIENT_A,
        multicast_mac(ALL_ROUTERS),
        client_ll,
        ALL_ROUTERS,
        255,
        &rs,
    );
    assert_eq!(
        g.handle_frame(Instant::now(), &f, &mut out),
        Handled::Answered
    );
    let (eth_dst, _, src, dst, hop, icmp) = reply(&out);
    assert_eq!((eth_dst, dst, hop), (CLIENT_A, client_ll, 255));
    assert_eq!(src, g.ipv6_link_local().unwrap());
    let Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
        router_lifetime,
        lladdr,
        prefix_info: Some(info),
        ..
    }) = parse(src, dst, &icmp)
    else {
        panic!("not an RA with a prefix");
    };
    assert_eq!(router_lifetime, smoltcp::time::Duration::ZERO);
    assert_eq!(lladdr, Some(ll(g.mac())));
    assert_eq!(info.prefix, "fd00:77::".parse::<Ipv6Addr>().unwrap());
    assert_eq!(info.prefix_len, 64);
    assert_eq!(
        info.flags,
        NdiscPrefixInfoFlags::ON_LINK | NdiscPrefixInfoFlags::ADDRCONF
    );
    assert_eq!(g.counters().router_adverts, 1);
}

#[test]
fn without_a_prefix_answers_no_ipv6() {
    let mut g = Gateway::new(NET_A, subnet(), 1).unwrap();
    let mut out = Outbox::default();
    let ll_target = link_local(g.mac());
    let echo = Icmpv6Repr::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: b"",
    };
    for f in [
        neighbor_solicit(CLIENT_A, CLIENT_IP, GW_IP),
        neighbor_solicit(CLIENT_A, link_local(CLIENT_A), ll_target),
        icmpv6_frame(CLIENT_A, g.mac(), CLIENT_IP, GW_IP, 64, &echo),
    ] {
        assert_eq!(
            g.handle_frame(Instant::now(), &f, &mut out),
            Handled::Dropped(DropReason::Unsupported)
        );
    }
    assert!(out.is_empty());
}

#[test]
fn drops_spoofed_claims_to_its_addresses() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let na = |target, lladdr| {
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::OVERRIDE,
            target_addr: target,
            lladdr,
        })
    };
    let spoofs = [
        // An unsolicited NA for the gateway address, to all-nodes.
        icmpv6_frame(
            CLIENT_A,
            multicast_mac(ALL_NODES),
            CLIENT_IP,
            ALL_NODES,
            255,
            &na(GW_IP, Some(ll(CLIENT_A))),
        ),
        // An NA binding another address to the gateway MAC.
        icmpv6_frame(
            CLIENT_A,
            multicast_mac(ALL_NODES),
            CLIENT_IP,
            ALL_NODES,
            255,
            &na(CLIENT_IP, Some(ll(g.mac()))),
        ),
        // A solicitation sent from the gateway's own address.
        neighbor_solicit(CLIENT_A, GW_IP, "fd00:77::1".parse().unwrap()),
    ];
    for f in spoofs {
        assert_eq!(
            g.handle_frame(Instant::now(), &f, &mut out),
            Handled::Dropped(DropReason::SpoofedClaim)
        );
    }
    assert!(out.is_empty());
    assert_eq!(g.counters().drops(DropReason::SpoofedClaim), 3);
}

#[test]
fn drops_invalid_neighbor_discovery() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let ns = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr: GW_IP,
        lladdr: Some(ll(CLIENT_A)),
    });
    let group = solicited_node(GW_IP);
    // Hop limit not 255 (RFC 4861, 7.1.1: not from the link).
    let routed = icmpv6_frame(CLIENT_A, multicast_mac(group), CLIENT_IP, group, 64, &ns);
    // A bad checksum.
    let mut corrupt = neighbor_solicit(CLIENT_A, CLIENT_IP, GW_IP);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    // DAD with a source link-layer option.
    let dad = icmpv6_frame(
        CLIENT_A,
        multicast_mac(group),
        Ipv6Addr::UNSPECIFIED,
        group,
        255,
        &ns,
    );
    for f in [routed, corrupt, dad] {
        assert_eq!(
            g.handle_frame(Instant::now(), &f, &mut out),
            Handled::Dropped(DropReason::Malformed)
        );
    }
    assert!(out.is_empty());
}

#[test]
fn router_protects_the_gateway_addresses_from_snooping() {
    let now = Instant::now();
    let mut r = Router::new(RouterConfig::default());
    r.add_network(NET_A, subnet()).unwrap();
    let prefix = "fd00:77::/64".parse().unwrap();
    r.set_ipv6_prefix(NET_A, Some(prefix)).unwrap();
    let mut out = Outbox::default();
    let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags: NdiscNeighborFlags::OVERRIDE,
        target_addr: GW_IP,
        lladdr: Some(ll(CLIENT_A)),
    });
    let spoof = icmpv6_frame(
        CLIENT_A,
        multicast_mac(ALL_NODES),
        CLIENT_IP,
        ALL_NODES,
        255,
        &na,
    );
    assert_eq!(
        r.observe_frame(now, NET_A, &spoof, &mut out),
        Observed::Unlearned(Unlearned::ProtectedAddress)
    );
    assert_eq!(
        r.handle_frame(now, NET_A, &spoof, &mut out),
        Handled::Dropped(DropReason::SpoofedClaim)
    );
    let arp = r.arp_table(NET_A).unwrap();
    assert_eq!(arp.lookup_v6(now, GW_IP), None);
    // A client's own solicitation teaches its binding.
    let ns = neighbor_solicit(CLIENT_A, CLIENT_IP, GW_IP);
    assert!(matches!(
        r.observe_frame(now, NET_A, &ns, &mut out),
        Observed::LearnedV6 {
            ip: CLIENT_IP,
            mac: CLIENT_A,
            ..
        }
    ));
    assert_eq!(r.handle_frame(now, NET_A, &ns, &mut out), Handled::Answered);
    // Setting the same prefix again keeps everything; another moves the
    // protection (and the answers) to the new addresses.
    r.set_ipv6_prefix(NET_A, Some(prefix)).unwrap();
    r.set_ipv6_prefix(NET_A, Some("fd00:78::/64".parse().unwrap()))
        .unwrap();
    out.clear();
    assert_eq!(
        r.handle_frame(now, NET_A, &ns, &mut out),
        Handled::Dropped(DropReason::NotForUs)
    );
    assert_eq!(
        r.observe_frame(now, NET_A, &spoof, &mut out),
        Observed::LearnedV6 {
            ip: GW_IP,
            mac: CLIENT_A,
            binding: snooping::Binding::New
        }
    );
    // A new subnet keeps the prefix.
    r.add_network(NET_A, "10.0.2.0/24".parse().unwrap())
        .unwrap();
    assert_eq!(
        r.gateway(NET_A).unwrap().ipv6(),
        Some("fd00:78::1".parse().unwrap())
    );
    assert_eq!(
        r.set_ipv6_prefix(NET_B, Some(prefix)),
        Err(crate::RouterError::UnknownNetwork)
    );
}

proptest! {
    #[test]
    fn arbitrary_ipv6_never_panics(
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        to_gateway in any::<bool>(),
    ) {
        let mut g = gateway();
        let mut out = Outbox::new(4);
        let mut f = Vec::with_capacity(14 + payload.len());
        f.extend_from_slice(&if to_gateway { g.mac() } else { multicast_mac(ALL_NODES) });
        f.extend_from_slice(&CLIENT_A);
        f.extend_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(&payload);
        let _ = g.handle_frame(Instant::now(), &f, &mut out);
    }

    #[test]
    fn arbitrary_icmpv6_with_a_valid_checksum_never_panics(
        dst in prop::sample::select(vec![
            GW_IP,
            solicited_node(GW_IP),
            ALL_NODES,
            ALL_ROUTERS,
        ]),
        msg_type in prop::sample::select(vec![128u8, 129, 133, 134, 135, 136, 137, 1, 3]),
        body in proptest::collection::vec(any::<u8>(), 0..120),
        unspecified in any::<bool>(),
    ) {
        let mut g = gateway();
        let mut out = Outbox::new(4);
        let src = if unspecified { Ipv6Addr::UNSPECIFIED } else { CLIENT_IP };
        let mut icmp = vec![msg_type, 0, 0, 0];
        icmp.extend_from_slice(&body);
        let mut f = vec![0u8; 14 + 40];
        f[..6].copy_from_slice(&multicast_mac(dst));
        f[6..12].copy_from_slice(&CLIENT_A);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        let mut ip = Ipv6Packet::new_unchecked(&mut f[14..]);
        ip.set_version(6);
        ip.set_payload_len(icmp.len() as u16);
        ip.set_next_header(IpProtocol::Icmpv6);
        ip.set_hop_limit(255);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        let mut packet = Icmpv6Packet::new_unchecked(&mut icmp[..]);
        packet.fill_checksum(&src, &dst);
        f.extend_from_slice(&icmp);
        let _ = g.handle_frame(Instant::now(), &f, &mut out);
        let mut t = snooping::ArpTable::default();
        let _ = t.observe_frame(Instant::now(), &f);
    }

    #[test]
    fn mutated_neighbor_discovery_never_panics(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut g = gateway();
        let mut r = Router::new(RouterConfig::default());
        r.add_network(NET_A, subnet()).unwrap();
        r.set_ipv6_prefix(NET_A, g.ipv6_prefix()).unwrap();
        let mut out = Outbox::new(4);
        let rs = icmpv6_frame(
            CLIENT_A,
            multicast_mac(ALL_ROUTERS),
            CLIENT_IP,
            ALL_ROUTERS,
            255,
            &Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit { lladdr: Some(ll(CLIENT_A)) }),
        );
        for mut f in [neighbor_solicit(CLIENT_A, CLIENT_IP, GW_IP), rs] {
            for (at, x) in &flips {
                // Keep the Ethernet header mostly intact so the IPv6
                // paths are what gets exercised.
                let i = 12 + at % (f.len() - 12);
                f[i] ^= x;
            }
            f.truncate(cut % (f.len() + 1));
            let now = Instant::now();
            let _ = g.handle_frame(now, &f, &mut out);
            let _ = r.observe_frame(now, NET_A, &f, &mut out);
            let _ = r.handle_frame(now, NET_A, &f, &mut out);
            out.clear();
        }
    }
}
