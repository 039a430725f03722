use super::*;
use crate::testutil::*;
use crate::Output;
use proptest::prelude::*;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetAddress, Icmpv4Packet, Icmpv4Repr};
use std::time::Duration;

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 30);
const A_GW: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const B_GW: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);

fn router(config: RouterConfig) -> Router {
    let mut r = Router::new(RouterConfig {
        node_id: 7,
        ..config
    });
    r.add_network(NET_A, "10.0.1.0/24".parse().unwrap())
        .unwrap();
    r.add_network(NET_B, "10.0.2.0/24".parse().unwrap())
        .unwrap();
    r.set_routes([(NET_A, NET_B)]).unwrap();
    r
}

fn gw_mac(net: NetworkId) -> Mac {
    crate::gateway_mac(net)
}

/// A frame from CLIENT_A to B_IP through A's gateway.
fn a_to_b(ttl: u8) -> Vec<u8> {
    ping(CLIENT_A, gw_mac(NET_A), A_IP, B_IP, ttl)
}

/// B's client answering the router's probe (RFC 5227 reply to node MAC).
fn b_answers(r: &Router) -> Vec<u8> {
    let node = r.gateway(NET_B).unwrap().node_mac();
    arp_frame(
        ArpOperation::Reply,
        node,
        CLIENT_B,
        B_IP,
        Ipv4Addr::UNSPECIFIED,
    )
}

fn assert_routed(frame: &[u8], original: &[u8]) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.dst_addr(), EthernetAddress(CLIENT_B));
    assert_eq!(eth.src_addr(), EthernetAddress(gw_mac(NET_B)));
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    let before = Ipv4Packet::new_checked(&original[14..]).unwrap();
    assert_eq!(ip.hop_limit(), before.hop_limit() - 1);
    // Everything but TTL and checksum is untouched.
    let (mut x, mut y) = (eth.payload().to_vec(), original[14..].to_vec());
    for v in [&mut x, &mut y] {
        v[8] = 0;
        v[10] = 0;
        v[11] = 0;
    }
    assert_eq!(x, y);
}

/// The ICMP error in `frame`: (type, code, quoted bytes, IP source, IP dst).
fn icmp_error(frame: &[u8]) -> (u8, u8, Vec<u8>, Ipv4Addr, Ipv4Addr) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.dst_addr(), EthernetAddress(CLIENT_A));
    assert_eq!(eth.src_addr(), EthernetAddress(gw_mac(NET_A)));
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    // smoltcp parses it too (it wants >= 8 bytes of quoted data).
    Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default()).unwrap();
    (
        u8::from(icmp.msg_type()),
        icmp.msg_code(),
        icmp.data().to_vec(),
        ip.src_addr(),
        ip.dst_addr(),
    )
}

#[test]
fn routes_a_to_b_with_mac_substitution_and_ttl_decrement() {
    let mut r = router(RouterConfig::default());
    let mut out = Outbox::default();
    let now = Instant::now();
    r.insert_lease(
        now,
        NET_B,
        B_IP,
        CLIENT_B,
        now + Duration::from_secs(60),
        &mut out,
    )
    .unwrap();
    let f = a_to_b(64);
    assert_eq!(r.handle_frame(now, NET_A, &f, &mut out), Handled::Routed);
    let (net, frame) = only(&out);
    assert_eq!(net, Some(NET_B));
    assert_routed(&frame, &f);
    assert_eq!(r.counters().routed, 1);
}

#[test]
fn ttl_1_gets_time_exceeded_quoting_the_header() {
    let mut r = router(RouterConfig::default());
    let mut out = Outbox::default();
    let f = a_to_b(1);
    assert_eq!(
        r.handle_frame(Instant::now(), NET_A, &f, &mut out),
        Handled::Dropped(DropReason::TtlExpired)
    );
    let (net, frame) = only(&out);
    assert_eq!(net, None, "back to the ingress port");
    let (ty, code, quote, src, dst) = icmp_error(&frame);
    assert_eq!((ty, code), (11, 0));
    assert_eq!((src, dst), (A_GW, A_IP));
    assert_eq!(quote, f[14..], "the whole (short) datagram, verbatim");
}

#[test]
fn no_route_gets_net_unreachable() {
    let mut r = router(RouterConfig::default());
    r.set_routes([]).unwrap();
    let mut out = Outbox::default();
    let f = a_to_b(64);
    assert_eq!(
        r.handle_frame(Instant::now(), NET_A, &f, &mut out),
        Handled::Dropped(DropReason::NoRoute)
    );
    let (_, frame) = only(&out);
    let (ty, code, quote, _, _) = icmp_error(&frame);
    assert_eq!((ty, code), (3, 0));
    assert_eq!(quote[..20], f[14..34]);
    // Outside every network: also no route, unless NAT takes it.
    out.clear();
    let internet = ping(
        CLIENT_A,
        gw_mac(NET_A),
        A_IP,
        Ipv4Addr::new(192, 0, 2, 1),
        64,
    );
    assert_eq!(
        r.handle_frame(Instant::now(), NET_A, &internet, &mut out),
        Handled::Dropped(DropReason::NoRoute)
    );
    let mut nat = router(RouterConfig {
        nat_handoff: true,
        ..RouterConfig::default()
    });
    out.clear();
    assert_eq!(
        nat.handle_frame(Instant::now(), NET_A, &internet, &mut out),
        Handled::ToNat
    );
    assert_eq!(only(&out), (Some(NET_A), internet[14..].to_vec()));
}

#[test]
fn no_icmp_error_about_an_icmp_error_or_a_broadcast() {
    let mut r = router(RouterConfig::default());
    let mut out = Outbox::default();
    let mut f = a_to_b(1);
    // Turn the echo request into a time-exceeded (type 11) message.
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.payload_mut()[0] = 11;
    assert_eq!(
        r.handle_frame(Instant::now(), NET_A, &f, &mut out),
        Handled::Dropped(DropReason::TtlExpired)
    );
    assert!(out.is_empty());
    let directed = ping(
        CLIENT_A,
        gw_mac(NET_A),
        A_IP,
        Ipv4Addr::new(10, 0, 2, 255),
        64,
    );
    assert_eq!(
        r.handle_frame(Instant::now(), NET_A, &directed, &mut out),
        Handled::Dropped(DropReason::NotForwardable)
    );
    assert!(out.is_empty());
}

#[test]
fn unresolved_probes_from_the_node_mac_then_releases_on_reply() {
    let mut r = router(RouterConfig::default());
    let mut out = Outbox::default();
    let now = Instant::now();
    let f = a_to_b(64);
    assert_eq!(r.handle_frame(now, NET_A, &f, &mut out), Handled::Queued);
    let (net, probe) = only(&out);
    assert_eq!(net, Some(NET_B));
    let node = r.gateway(NET_B).unwrap().node_mac();
    let eth = EthernetFrame::new_checked(&probe[..]).unwrap();
    assert_eq!(eth.dst_addr(), EthernetAddress::BROADCAST);
    assert_eq!(eth.src_addr(), EthernetAddress(node));
    assert_eq!(
        ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap(),
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress(node),
            source_protocol_addr: Ipv4Addr::UNSPECIFIED,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: B_IP,
        }
    );
    // A second packet waits without a second probe.
    out.clear();
    assert_eq!(r.handle_frame(now, NET_A, &f, &mut out), Handled::Queued);
    assert!(out.is_empty());
    assert_eq!(r.pending_len(), 2);
    // The probe itself, snooped, teaches nothing.
    r.observe_frame(now, NET_B, &probe, &mut out);
    assert!(out.is_empty());
    let later = now + Duration::from_millis(300);
    assert!(matches!(
        r.observe_frame(later, NET_B, &b_answers(&r), &mut out),
        Observed::Learned { .. }
    ));
    let sent: Vec<_> = out.iter().collect();
    assert_eq!(sent.len(), 2);
    for o in sent {
        let Output::Originate { network, frame } = o else {
            panic!("{o:?}")
        };
        assert_eq!(network, NET_B);
        assert_routed(frame, &f);
    }
    assert_eq!(r.pending_len(), 0);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn a_timeout_sends_host_unreachable_into_the_ingress_network() {
    let mut r = router(RouterConfig::default());
    let mut out = Outbox::default();
    let now = Instant::now();
    let f = a_to_b(64);
    r.handle_frame(now, NET_A, &f, &mut out);
    out.clear();
    let due = r.poll_timeout().unwrap();
    assert_eq!(due, now + Duration::from_secs(1));
    r.handle_timeout(now + Duration::from_millis(999), &mut out);
    assert!(out.is_empty());
    r.handle_timeout(due, &mut out);
    let (net, frame) = only(&out);
    assert_eq!(net, Some(NET_A));
    let (ty, code, quote, src, dst) = icmp_error(&frame);
    assert_eq!((ty, code), (3, 1));
    assert_eq!((src, dst), (A_GW, A_IP));
    let quoted = Ipv4Packet::new_checked(&quote[..]).unwrap();
    assert_eq!(quoted.dst_addr(), B_IP);
    assert_eq!(r.counters().drops(DropReason::HostUnreachable), 1);
    assert_eq!(r.poll_timeout(), None);
    // A late answer releases nothing.
    out.clear();
    r.observe_frame(due, NET_B, &b_answers(&r), &mut out);
    assert!(out.is_empty());
}

#[test]
fn the_queue_is_capped_per_destination_and_in_total() {
    let mut r = router(RouterConfig {
        pending: PendingConfig {
            per_destination: 2,
            total: 3,
            timeout: Duration::from_secs(1),
        },
        ..RouterConfig::default()
    });
    let mut out = Outbox::default();
    let now = Instant::now();
    for ttl in [64, 63, 62] {
        assert_eq!(
            r.handle_frame(now, NET_A, &a_to_b(ttl), &mut out),
            Handled::Queued
        );
    }
    assert_eq!(r.pending_len(), 2);
    assert_eq!(r.counters().drops(DropReason::QueueOverflow), 1);
    for host in [31, 32] {
        let other = ping(
            CLIENT_A,
            gw_mac(NET_A),
            A_IP,
            Ipv4Addr::new(10, 0, 2, host),
            64,
        );
        r.handle_frame(now, NET_A, &other, &mut out);
    }
    assert_eq!(r.pending_len(), 3);
    assert_eq!(r.counters().drops(DropReason::QueueOverflow), 2);
    out.clear();
    // The oldest (TTL 64) went first, then the next oldest (TTL 63): the
    // survivor for B_IP is the TTL 62 packet.
    r.observe_frame(now, NET_B, &b_answers(&r), &mut out);
    let (_, frame) = only(&out);
    assert_routed(&frame, &a_to_b(62));
}

#[test]
fn spoofed_arp_for_the_gateway_is_not_learned() {
    let mut r = router(RouterConfig::default());
    let mut out = Outbox::default();
    let now = Instant::now();
    let claim = arp_frame(ArpOperation::Reply, [0xff; 6], CLIENT_B, B_GW, B_GW);
    assert_eq!(
        r.observe_frame(now, NET_B, &claim, &mut out),
        Observed::Unlearned(Unlearned::ProtectedAddress)
    );
    assert_eq!(r.arp_table(NET_B).unwrap().lookup(now, B_GW), None);
}

#[test]
fn unknown_networks_and_route_caps() {
    let mut r = router(RouterConfig {
        max_routes: 1,
        max_networks: 2,
        ..RouterConfig::default()
    });
    let mut out = Outbox::default();
    let c = NetworkId([0xc; 16]);
    assert_eq!(
        r.handle_frame(Instant::now(), c, &a_to_b(64), &mut out),
        Handled::Dropped(DropReason::UnknownNetwork)
    );
    assert_eq!(
        r.add_network(c, "10.0.3.0/24".parse().unwrap())
            .unwrap_err(),
        RouterError::TooManyNetworks { cap: 2 }
    );
    assert_eq!(
        r.set_routes([(NET_A, NET_B), (NET_B, c)]),
        Err(RouterError::TooManyRoutes { cap: 1 })
    );
    assert!(r.has_route(NET_B, NET_A));
    assert!(r.remove_network(NET_B));
    assert!(!r.remove_network(NET_B));
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..16),
    ) {
        let mut r = router(RouterConfig::default());
        let mut out = Outbox::new(8);
        let now = Instant::now();
        for mut f in frames {
            if f.len() >= 34 {
                f[..6].copy_from_slice(&gw_mac(NET_A));
                f[12..14].copy_from_slice(&[0x08, 0x00]);
                f[14] = 0x45;
                let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
                ip.set_total_len(20);
                ip.fill_checksum();
            }
            let _ = r.handle_frame(now, NET_A, &f, &mut out);
            let _ = r.observe_frame(now, NET_B, &f, &mut out);
            r.handle_timeout(now + Duration::from_secs(2), &mut out);
            out.clear();
        }
    }
}
