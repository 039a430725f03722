//! Codec tests, and the client-side encoder and reply decoder that the
//! server tests and the bench use to play the client.

use proptest::prelude::*;

use super::*;

/// A reply as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenReply {
    pub src_mac: [u8; 6],
    pub dst: Destination,
    pub src_ip: Ipv4Addr,
    pub kind: DhcpMessageType,
    pub transaction_id: u32,
    pub yiaddr: Ipv4Addr,
    pub ciaddr: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub lease_secs: Option<u32>,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
    pub mtu: Option<u16>,
    pub client_id: Option<Vec<u8>>,
    pub hostname: Option<Vec<u8>>,
    pub dhcp_len: usize,
}

pub(crate) fn parse_reply(frame: &[u8]) -> SeenReply {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let ip_repr = Ipv4Repr::parse(&ip, &ChecksumCapabilities::default()).unwrap();
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    UdpRepr::parse(
        &udp,
        &IpAddress::Ipv4(ip_repr.src_addr),
        &IpAddress::Ipv4(ip_repr.dst_addr),
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    assert_eq!((udp.src_port(), udp.dst_port()), (67, 68));
    let packet = DhcpPacket::new_checked(udp.payload()).unwrap();
    assert_eq!(packet.opcode(), DhcpOpCode::Reply);
    let repr = DhcpRepr::parse(&packet).unwrap();
    let u32_of = |d: &[u8]| u32::from_be_bytes(d.try_into().unwrap());
    let mut seen = SeenReply {
        src_mac: eth.src_addr().0,
        dst: Destination {
            mac: eth.dst_addr().0,
            ip: ip_repr.dst_addr,
        },
        src_ip: ip_repr.src_addr,
        kind: repr.message_type,
        transaction_id: repr.transaction_id,
        yiaddr: repr.your_ip,
        ciaddr: repr.client_ip,
        server_id: repr.server_identifier,
        router: repr.router,
        subnet_mask: repr.subnet_mask,
        dns: repr.dns_servers.map(|d| d.to_vec()).unwrap_or_default(),
        lease_secs: repr.lease_duration,
        t1: None,
        t2: None,
        mtu: None,
        client_id: None,
        hostname: None,
        dhcp_len: udp.payload().len(),
    };
    for opt in packet.options() {
        match opt.kind {
            options::RENEWAL_TIME => seen.t1 = Some(u32_of(opt.data)),
            options::REBINDING_TIME => seen.t2 = Some(u32_of(opt.data)),
            options::INTERFACE_MTU => {
                seen.mtu = Some(u16::from_be_bytes(opt.data.try_into().unwrap()));
            }
            options::CLIENT_ID => seen.client_id = Some(opt.data.to_vec()),
            options::HOST_NAME => seen.hostname = Some(opt.data.to_vec()),
            _ => {}
        }
    }
    seen
}

fn arb_ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

prop_compose! {
    fn arb_message()(
        kind in prop_oneof![
            Just(ClientKind::Discover), Just(ClientKind::Request), Just(ClientKind::Decline),
            Just(ClientKind::Release), Just(ClientKind::Inform)
        ],
        chaddr in any::<[u8; 6]>(),
        dst_ip in prop_oneof![Just(Ipv4Addr::BROADCAST), arb_ip()],
        transaction_id in any::<u32>(),
        secs in any::<u16>(),
        broadcast in any::<bool>(),
        ciaddr in arb_ip(),
        giaddr in arb_ip(),
        requested_ip in proptest::option::of(arb_ip()),
        server_id in proptest::option::of(arb_ip()),
        // Not 7 bytes: DhcpRepr::parse refuses a 7-byte client id whose
        // type is not Ethernet (documented limitation).
        client_id in proptest::option::of(
            proptest::collection::vec(any::<u8>(), 1..255)
                .prop_filter("7-byte ids must be Ethernet", |v| v.len() != 7 || v[0] == 1)),
        hostname in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..64)),
    ) -> ClientMessage {
        ClientMessage {
            kind, src_mac: chaddr, dst_ip, transaction_id, secs, broadcast, chaddr, ciaddr,
            giaddr, requested_ip, server_id, client_id, hostname,
        }
    }
}

proptest! {
    #[test]
    fn client_messages_round_trip(msg in arb_message()) {
        prop_assert_eq!(parse_frame(&client_frame(&msg)), Ok(msg));
    }

    #[test]
    fn replies_round_trip(
        kind in prop_oneof![Just(ReplyKind::Offer), Just(ReplyKind::Ack), Just(ReplyKind::Nak)],
        transaction_id in any::<u32>(),
        broadcast in any::<bool>(),
        chaddr in any::<[u8; 6]>(),
        ciaddr in arb_ip(),
        yiaddr in arb_ip(),
        lease_secs in proptest::option::of(any::<u32>()),
        mtu in 68u16..,
        // (7-byte ids of another type than Ethernet: see arb_message.)
        client_id in proptest::option::of(
            proptest::collection::vec(any::<u8>(), 1..255)
                .prop_filter("7-byte ids must be Ethernet", |v| v.len() != 7 || v[0] == 1)),
    ) {
        let reply = Reply {
            kind, transaction_id, broadcast, chaddr, ciaddr, yiaddr,
            server_id: Ipv4Addr::new(10, 0, 0, 1),
            subnet_mask: Ipv4Addr::new(255, 255, 255, 0),
            mtu, lease_secs, client_id: client_id.clone(),
            hostname: Some("host".into()),
            message: (kind == ReplyKind::Nak).then_some("no"),
        };
        let seen = parse_reply(&emit_reply(&reply, [2, 0, 0, 0, 0, 1]));
        prop_assert_eq!(seen.transaction_id, transaction_id);
        prop_assert_eq!(seen.dst, reply.destination());
        prop_assert_eq!(seen.server_id, Some(reply.server_id));
        prop_assert_eq!(seen.client_id, client_id);
        prop_assert!(seen.dhcp_len >= MIN_DHCP_LEN);
        if kind == ReplyKind::Nak {
            prop_assert_eq!(seen.kind, DhcpMessageType::Nak);
            prop_assert_eq!(seen.yiaddr, Ipv4Addr::UNSPECIFIED);
            prop_assert!(seen.router.is_none() && seen.lease_secs.is_none() && seen.mtu.is_none());
        } else {
            prop_assert_eq!(seen.yiaddr, yiaddr);
            prop_assert_eq!(seen.ciaddr, ciaddr);
            prop_assert_eq!(seen.router, Some(reply.server_id));
            prop_assert_eq!(seen.dns, vec![reply.server_id]);
            prop_assert_eq!(seen.mtu, Some(mtu));
            prop_assert_eq!(seen.lease_secs, lease_secs);
            prop_assert_eq!(seen.t1, lease_secs.map(|l| options::renewal_times(l).0));
            prop_assert_eq!(seen.t2, lease_secs.map(|l| options::renewal_times(l).1));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = parse_frame(&bytes);
        let _ = parse_dhcp(&bytes);
    }

    #[test]
    fn damaged_valid_frames_never_panic(
        msg in arb_message(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut frame = client_frame(&msg);
        for (at, xor) in flips {
            let len = frame.len();
            frame[at % len] ^= xor;
        }
        let len = frame.len();
        frame.truncate(cut % (len + 1));
        let _ = parse_frame(&frame);
    }
}

fn discover() -> ClientMessage {
    ClientMessage {
        kind: ClientKind::Discover,
        src_mac: [2, 0, 0, 0, 0, 9],
        dst_ip: Ipv4Addr::BROADCAST,
        transaction_id: 7,
        secs: 0,
        broadcast: false,
        chaddr: [2, 0, 0, 0, 0, 9],
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        requested_ip: None,
        server_id: None,
        client_id: Some(vec![0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        hostname: Some(b"alice".to_vec()),
    }
}

#[test]
fn drop_reasons_name_the_layer() {
    let good = client_frame(&discover());
    // ARP ethertype.
    let mut arp = good.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(parse_frame(&arp), Err(DropReason::NotDhcp));
    // Bad IP checksum.
    let mut bad = good.clone();
    bad[14 + 10] ^= 0xff;
    assert_eq!(parse_frame(&bad), Err(DropReason::Malformed));
    // A BOOTREPLY.
    let mut reply = good.clone();
    reply[14 + 20 + 8] = 2;
    // Fix the UDP checksum by zeroing it (allowed over IPv4).
    reply[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    assert_eq!(parse_frame(&reply), Err(DropReason::NotClientMessage));
    // Truncated.
    assert_eq!(parse_frame(&good[..60]), Err(DropReason::Malformed));
    assert_eq!(parse_frame(&[]), Err(DropReason::Malformed));
}

#[test]
fn raw_options_are_read() {
    let msg = parse_frame(&client_frame(&discover())).unwrap();
    assert_eq!(
        msg.client_id.as_deref(),
        Some(&[0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9][..])
    );
    assert_eq!(msg.hostname.as_deref(), Some(&b"alice"[..]));
}
