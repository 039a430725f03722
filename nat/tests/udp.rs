//! UDP and ICMP echo translation with a fake clock.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use common::*;
use nat::{Command, DenyReason, DropReason, FlowKind, Ipv4Cidr, Policy};

fn client(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(CLIENT_IP, port)
}

fn remote(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(REMOTE_IP, port)
}

#[test]
fn udp_flow_open_translate_reply_and_idle_timeout() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    t.handle_frame(t0, &udp_frame(client(5000), remote(53), b"query"));
    let cmds = drain_commands(&mut t);
    let flow = match &cmds[..] {
        [Command::OpenUdp { flow, dst }, Command::SendUdp { flow: f2, payload }] => {
            assert_eq!(*dst, remote(53));
            assert_eq!(flow, f2);
            assert_eq!(payload, b"query");
            *flow
        }
        other => panic!("unexpected {other:?}"),
    };
    // A second datagram of the same flow opens nothing new.
    t.handle_frame(t0, &udp_frame(client(5000), remote(53), b"again"));
    assert_eq!(
        drain_commands(&mut t),
        vec![Command::SendUdp {
            flow,
            payload: b"again".to_vec()
        }]
    );
    // Another client port is another flow (its own host socket and port).
    t.handle_frame(t0, &udp_frame(client(5001), remote(53), b"x"));
    assert!(matches!(drain_commands(&mut t)[0], Command::OpenUdp { flow: f, .. } if f != flow));

    // The reply comes back from the remote to the client's port.
    t.udp_received(t0, flow, b"answer");
    let frames = drain_frames(&mut t);
    assert_eq!(frames.len(), 1);
    let (from, to, payload) = parse_udp(&frames[0]);
    assert_eq!(
        (from, to, payload.as_slice()),
        (remote(53), client(5000), &b"answer"[..])
    );
    assert_eq!(t.flows().kind(FlowKind::Udp), 2);

    // Idle: the timer says when, and fires then, not before.
    let due = t.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(5));
    t.handle_timeout(due.checked_sub(Duration::from_millis(1)).unwrap());
    assert!(drain_commands(&mut t).is_empty());
    t.handle_timeout(due);
    let mut closed = drain_commands(&mut t);
    closed.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(closed.len(), 2);
    assert!(closed.contains(&Command::Close { flow }));
    assert_eq!(t.flows().total(), 0);
    assert_eq!(t.counters().expired, 2);
    assert_eq!(t.poll_timeout(), None);

    // A late reply for the closed flow is ignored and counted.
    t.udp_received(due, flow, b"late");
    assert!(drain_frames(&mut t).is_empty());
    assert_eq!(t.counters().drops(DropReason::UnknownFlow), 1);
}

#[test]
fn activity_postpones_the_idle_timeout() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    t.handle_frame(t0, &udp_frame(client(5000), remote(53), b"q"));
    let Command::OpenUdp { flow, .. } = drain_commands(&mut t)[0].clone() else {
        panic!()
    };
    let t1 = t0 + Duration::from_secs(4);
    t.udp_received(t1, flow, b"a");
    t.handle_timeout(t0 + Duration::from_secs(5));
    assert!(
        drain_commands(&mut t).is_empty(),
        "reply kept the flow alive"
    );
    t.handle_timeout(t1 + Duration::from_secs(5));
    assert_eq!(drain_commands(&mut t), vec![Command::Close { flow }]);
}

#[test]
fn oversize_reply_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    t.handle_frame(t0, &udp_frame(client(5000), remote(53), b"q"));
    let Command::OpenUdp { flow, .. } = drain_commands(&mut t)[0].clone() else {
        panic!()
    };
    t.udp_received(t0, flow, &[0u8; 1380 - 28 + 1]);
    assert!(drain_frames(&mut t).is_empty());
    assert_eq!(t.counters().drops(DropReason::Oversize), 1);
    t.udp_received(t0, flow, &[0u8; 1380 - 28]);
    assert_eq!(drain_frames(&mut t)[0].len(), 14 + 1380);
}

#[test]
fn echo_restores_the_client_identifier() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    t.handle_frame(t0, &echo_frame(CLIENT_IP, REMOTE_IP, 0x1234, 1, b"ping"));
    let cmds = drain_commands(&mut t);
    let flow = match &cmds[..] {
        [Command::OpenPing { flow, dst }, Command::SendPing {
            flow: f2,
            seq: 1,
            payload,
        }] => {
            assert_eq!(
                (*dst, f2, payload.as_slice()),
                (REMOTE_IP, flow, &b"ping"[..])
            );
            *flow
        }
        other => panic!("unexpected {other:?}"),
    };
    t.ping_reply(t0, flow, 1, b"ping");
    let (ip, ty, code, payload) = parse_icmp(&drain_frames(&mut t)[0]);
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ty, code),
        (REMOTE_IP, CLIENT_IP, 0, 0)
    );
    assert_eq!(&payload[4..6], &0x1234u16.to_be_bytes());
    assert_eq!(&payload[6..8], &1u16.to_be_bytes());
    assert_eq!(&payload[8..], b"ping");
    // Another identifier is another flow; the ping flow idles out after 3 s.
    t.handle_frame(t0, &echo_frame(CLIENT_IP, REMOTE_IP, 0x9999, 1, b""));
    assert!(matches!(
        drain_commands(&mut t)[0],
        Command::OpenPing { .. }
    ));
    t.handle_timeout(t0 + Duration::from_secs(3));
    assert_eq!(drain_commands(&mut t).len(), 2);
    assert_eq!(t.flows().total(), 0);
}

fn assert_prohibited(t: &mut nat::Translator, original_dst: Ipv4Addr) {
    let frames = drain_frames(t);
    assert_eq!(frames.len(), 1, "one ICMP error");
    let (ip, ty, code, payload) = parse_icmp(&frames[0]);
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ty, code),
        (GW_IP, CLIENT_IP, 3, 13)
    );
    // The quote carries the original header: destination at offset 16.
    assert_eq!(&payload[8 + 16..8 + 20], &original_dst.octets());
    assert!(drain_commands(t).is_empty(), "no socket for a denied flow");
}

#[test]
fn denied_destinations_get_admin_prohibited() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    let host = Ipv4Addr::new(192, 0, 2, 10);
    let store = Ipv4Addr::new(192, 0, 2, 20);
    t.set_policy(Policy {
        host_addrs: vec![host],
        store_addrs: vec![store],
        ..Policy::default()
    });
    for (dst, reason) in [
        (Ipv4Addr::LOCALHOST, DenyReason::Loopback),
        (Ipv4Addr::new(169, 254, 169, 254), DenyReason::LinkLocal),
        (host, DenyReason::HostAddress),
        (store, DenyReason::StoreEndpoint),
    ] {
        t.handle_frame(
            t0,
            &udp_frame(client(5000), SocketAddrV4::new(dst, 80), b"x"),
        );
        assert_prohibited(&mut t, dst);
        t.handle_frame(t0, &echo_frame(CLIENT_IP, dst, 1, 1, b""));
        assert_prohibited(&mut t, dst);
        assert_eq!(t.counters().denied(reason), 2);
    }
    // nat-allow opens the host address (and only what it covers).
    let mut p = t.policy().clone();
    p.allow = vec![Ipv4Cidr::new(host, 32)];
    t.set_policy(p);
    t.handle_frame(
        t0,
        &udp_frame(client(5000), SocketAddrV4::new(host, 80), b"x"),
    );
    assert!(matches!(drain_commands(&mut t)[0], Command::OpenUdp { .. }));
    t.handle_frame(
        t0,
        &udp_frame(client(5000), SocketAddrV4::new(store, 80), b"x"),
    );
    assert_prohibited(&mut t, store);
    // NAT off denies everything new.
    let mut p = t.policy().clone();
    p.enabled = false;
    t.set_policy(p);
    t.handle_frame(t0, &udp_frame(client(5000), remote(53), b"x"));
    assert_prohibited(&mut t, REMOTE_IP);
    assert_eq!(t.counters().denied(DenyReason::NatDisabled), 1);
}

#[test]
fn flow_caps_per_client_and_in_total() {
    let t0 = Instant::now();
    let mut config = config();
    config.limits.max_flows_per_client = 3;
    config.limits.max_flows = 5;
    let mut t = nat::Translator::new(config, Policy::default(), 1, t0);
    for port in 0..5 {
        t.handle_frame(t0, &udp_frame(client(6000 + port), remote(53), b"x"));
    }
    assert_eq!(t.flows().total(), 3);
    assert_eq!(t.counters().drops(DropReason::ClientCap), 2);
    let other = Ipv4Addr::new(10, 0, 0, 3);
    for port in 0..3 {
        let from = SocketAddrV4::new(other, 6000 + port);
        t.handle_frame(t0, &udp_frame(from, remote(53), b"x"));
    }
    assert_eq!(t.flows().total(), 5);
    assert_eq!(t.counters().drops(DropReason::FlowCap), 1);
    assert_eq!(t.flows().per_client, vec![(CLIENT_IP, 3), (other, 2)]);
}

#[test]
fn published_udp_port_reaches_the_client_and_replies_leave_by_the_listener() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    let outside = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40000);
    assert_eq!(
        t.inbound_udp(t0, 5353, outside, CLIENT_MAC, b"hi"),
        Err(nat::InboundError::NotPublished)
    );
    t.publish(nat::Protocol::Udp, 5353, client(53)).unwrap();
    t.inbound_udp(t0, 5353, outside, CLIENT_MAC, b"hi").unwrap();
    let (from, to, payload) = parse_udp(&drain_frames(&mut t)[0]);
    assert_eq!(
        (from, to, payload.as_slice()),
        (outside, client(53), &b"hi"[..])
    );
    t.handle_frame(t0, &udp_frame(client(53), outside, b"ho"));
    assert_eq!(
        drain_commands(&mut t),
        vec![Command::SendUdpTo {
            host_port: 5353,
            remote: outside,
            payload: b"ho".to_vec()
        }]
    );
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
    assert_eq!(
        t.inbound_udp(t0, 5353, loopback, CLIENT_MAC, b"x"),
        Err(nat::InboundError::BadRemote)
    );
    t.handle_timeout(t0 + Duration::from_secs(5));
    assert!(
        drain_commands(&mut t).is_empty(),
        "the listener is not the flow's"
    );
    assert_eq!(t.flows().total(), 0);
}

#[test]
fn malformed_frames_are_counted_by_reason() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    t.handle_frame(t0, &[0u8; 5]);
    assert_eq!(t.counters().drops(DropReason::Runt), 1);
    let mut f = udp_frame(client(5000), remote(53), b"x");
    f[12] = 0x86;
    f[13] = 0xdd;
    t.handle_frame(t0, &f);
    assert_eq!(t.counters().drops(DropReason::NotIpv4), 1);
    let mut f = udp_frame(client(5000), remote(53), b"x");
    f[14 + 6] = 0x20; // more fragments
    t.handle_frame(t0, &f);
    assert_eq!(t.counters().drops(DropReason::Fragment), 1);
    let mut f = udp_frame(client(5000), remote(53), b"x");
    let last = f.len() - 1;
    f[last] ^= 0xff; // UDP checksum now wrong
    t.handle_frame(t0, &f);
    assert_eq!(t.counters().drops(DropReason::BadUdp), 1);
    assert!(drain_commands(&mut t).is_empty());
}

#[test]
fn host_side_port_unreachable_reaches_the_client_as_icmp() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    t.handle_frame(t0, &udp_frame(client(5000), remote(53), b"q"));
    let Command::OpenUdp { flow, .. } = drain_commands(&mut t)[0].clone() else {
        panic!()
    };
    t.datagram_unreachable(t0, flow, nat::udp::Unreachable::Port);
    let (ip, ty, code, payload) = parse_icmp(&drain_frames(&mut t)[0]);
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ty, code),
        (REMOTE_IP, CLIENT_IP, 3, 3)
    );
    // Quoted: client -> remote, UDP 5000 -> 53.
    let quoted = &payload[8..];
    assert_eq!(&quoted[12..16], &CLIENT_IP.octets());
    assert_eq!(&quoted[16..20], &REMOTE_IP.octets());
    assert_eq!(&quoted[20..24], &[0x13, 0x88, 0, 53]);
    assert_eq!(t.flows().kind(FlowKind::Udp), 1, "the flow stays");
}

#[test]
fn bare_packets_from_the_router_work_like_frames() {
    let t0 = Instant::now();
    let mut t = translator(t0);
    let frame = udp_frame(client(5000), remote(53), b"q");
    t.handle_packet(t0, CLIENT_MAC, &frame[14..]);
    let Command::OpenUdp { flow, .. } = drain_commands(&mut t)[0].clone() else {
        panic!()
    };
    t.udp_received(t0, flow, b"a");
    let (from, to, _) = parse_udp(&drain_frames(&mut t)[0]);
    assert_eq!((from, to), (remote(53), client(5000)));
}
