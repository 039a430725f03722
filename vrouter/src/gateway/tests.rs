use super::*;
use crate::testutil::*;
use proptest::prelude::*;
use smoltcp::wire::EthernetAddress;

fn gateway() -> Gateway {
    Gateway::new(NET_A, "10.0.1.0/24".parse().unwrap(), 1).unwrap()
}

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);
const GW_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);

#[test]
fn answers_arp_for_its_address_to_the_asker() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let req = arp_frame(
        ArpOperation::Request,
        ether::BROADCAST,
        CLIENT_A,
        CLIENT_IP,
        GW_IP,
    );
    assert_eq!(
        g.handle_frame(Instant::now(), &req, &mut out),
        Handled::Answered
    );
    let (target, reply) = only(&out);
    assert_eq!(target, None);
    let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(eth.dst_addr(), EthernetAddress(CLIENT_A));
    assert_eq!(eth.src_addr(), EthernetAddress(g.mac()));
    let repr = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
    assert_eq!(
        repr,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: EthernetAddress(g.mac()),
            source_protocol_addr: GW_IP,
            target_hardware_addr: EthernetAddress(CLIENT_A),
            target_protocol_addr: CLIENT_IP,
        }
    );
    assert_eq!(g.counters().arp_replies, 1);
}

#[test]
fn ignores_arp_for_other_addresses_and_replies() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let now = Instant::now();
    let other = Ipv4Addr::new(10, 0, 1, 30);
    for f in [
        arp_frame(
            ArpOperation::Request,
            ether::BROADCAST,
            CLIENT_A,
            CLIENT_IP,
            other,
        ),
        arp_frame(
            ArpOperation::Reply,
            g.node_mac(),
            CLIENT_A,
            CLIENT_IP,
            other,
        ),
    ] {
        assert_eq!(
            g.handle_frame(now, &f, &mut out),
            Handled::Dropped(DropReason::NotForUs)
        );
    }
    assert!(out.is_empty());
    assert_eq!(g.counters().drops(DropReason::NotForUs), 2);
}

#[test]
fn spoofed_claims_to_the_gateway_are_dropped() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let now = Instant::now();
    let gw_mac = g.mac();
    for f in [
        // Gratuitous ARP for the gateway address from a client.
        arp_frame(
            ArpOperation::Request,
            ether::BROADCAST,
            CLIENT_A,
            GW_IP,
            GW_IP,
        ),
        arp_frame(
            ArpOperation::Reply,
            ether::BROADCAST,
            CLIENT_A,
            GW_IP,
            CLIENT_IP,
        ),
        // A client using the gateway MAC as ARP sender.
        arp_frame(
            ArpOperation::Request,
            ether::BROADCAST,
            gw_mac,
            CLIENT_IP,
            GW_IP,
        ),
    ] {
        assert_eq!(
            g.handle_frame(now, &f, &mut out),
            Handled::Dropped(DropReason::SpoofedClaim)
        );
    }
    assert!(out.is_empty());
}

#[test]
fn answers_echo_with_a_valid_reply() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let req = ping(CLIENT_A, g.mac(), CLIENT_IP, GW_IP, 64);
    assert_eq!(
        g.handle_frame(Instant::now(), &req, &mut out),
        Handled::Answered
    );
    let (target, reply) = only(&out);
    assert_eq!(target, None);
    let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(eth.dst_addr(), EthernetAddress(CLIENT_A));
    assert_eq!(eth.src_addr(), EthernetAddress(g.mac()));
    let caps = ChecksumCapabilities::default();
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let ip_repr = smoltcp::wire::Ipv4Repr::parse(&ip, &caps).unwrap();
    assert_eq!((ip_repr.src_addr, ip_repr.dst_addr), (GW_IP, CLIENT_IP));
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!(
        Icmpv4Repr::parse(&icmp, &caps).unwrap(),
        Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data: b"atenet ping payload"
        }
    );
}

#[test]
fn ip_for_other_addresses_is_transit_and_other_macs_are_not_for_us() {
    let mut g = gateway();
    let mut out = Outbox::default();
    let now = Instant::now();
    let far = Ipv4Addr::new(10, 0, 2, 5);
    assert_eq!(
        g.handle_frame(now, &ping(CLIENT_A, g.mac(), CLIENT_IP, far, 64), &mut out),
        Handled::Transit
    );
    assert_eq!(
        g.handle_frame(
            now,
            &ping(CLIENT_A, CLIENT_B, CLIENT_IP, GW_IP, 64),
            &mut out
        ),
        Handled::Dropped(DropReason::NotForUs)
    );
    let mut bad_sum = ping(CLIENT_A, g.mac(), CLIENT_IP, GW_IP, 64);
    bad_sum[24] ^= 0xff;
    assert_eq!(
        g.handle_frame(now, &bad_sum, &mut out),
        Handled::Dropped(DropReason::Malformed)
    );
    let martian = ping(CLIENT_A, g.mac(), Ipv4Addr::BROADCAST, GW_IP, 64);
    assert_eq!(
        g.handle_frame(now, &martian, &mut out),
        Handled::Dropped(DropReason::Martian)
    );
    assert!(out.is_empty());
}

#[test]
fn a_full_outbox_is_counted() {
    let mut g = gateway();
    let mut out = Outbox::new(0);
    let req = arp_frame(
        ArpOperation::Request,
        ether::BROADCAST,
        CLIENT_A,
        CLIENT_IP,
        GW_IP,
    );
    assert_eq!(
        g.handle_frame(Instant::now(), &req, &mut out),
        Handled::Dropped(DropReason::OutboxFull)
    );
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(
        frame in proptest::collection::vec(any::<u8>(), 0..1600),
        kind in 0u8..3,
    ) {
        let mut g = gateway();
        let mut out = Outbox::new(4);
        let mut f = frame;
        if f.len() >= 14 {
            f[..6].copy_from_slice(&g.mac());
            f[12..14].copy_from_slice(match kind { 0 => &[0x08, 0x06], 1 => &[0x08, 0x00], _ => &[0x86, 0xdd] });
        }
        let _ = g.handle_frame(Instant::now(), &f, &mut out);
        prop_assert!(out.len() <= 1);
    }
}
