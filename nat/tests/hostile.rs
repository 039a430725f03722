//! Property tests: no input bytes and no order of I/O calls panic the
//! translator, and its tables stay within their caps (issue 6 acceptance).

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::*;
use nat::{FlowId, Translator};
use proptest::prelude::*;
use smoltcp::wire::TcpControl;

fn small_config() -> nat::Config {
    let mut c = config();
    c.limits.max_flows = 16;
    c.limits.max_flows_per_client = 8;
    c.limits.max_tcp_flows = 4;
    c.limits.max_queued_frames = 32;
    c.limits.max_queued_commands = 32;
    c.limits.tcp_buffer = 1024;
    c.limits.tcp_in_flight = 1024;
    c
}

fn drain(t: &mut Translator) {
    drain_commands(t);
    drain_frames(t);
}

fn addr(ip: u8, port: u16) -> SocketAddrV4 {
    // A mix of allowed and denied destinations.
    let ip = match ip % 4 {
        0 => REMOTE_IP,
        1 => Ipv4Addr::LOCALHOST,
        2 => Ipv4Addr::new(198, 51, 100, ip),
        _ => Ipv4Addr::new(169, 254, 169, 254),
    };
    SocketAddrV4::new(ip, port)
}

#[derive(Debug, Clone)]
enum Op {
    Raw(Vec<u8>),
    Flipped(Vec<u8>, usize, u8),
    Udp(u16, u8, u16, Vec<u8>),
    Echo(u16, u8, u16),
    Tcp(u16, u8, u8, u32, Option<u32>, Vec<u8>),
    Connected(u64),
    Refused(u64),
    Received(u64, Vec<u8>),
    Written(u64, usize),
    Closed(u64),
    Reset(u64),
    UdpReply(u64, Vec<u8>),
    PingReply(u64, u16, Vec<u8>),
    Inbound(u16, u16),
    Unreachable(u64, u8),
    Advance(u16),
}

fn control(c: u8) -> TcpControl {
    match c % 5 {
        0 => TcpControl::Syn,
        1 => TcpControl::None,
        2 => TcpControl::Fin,
        3 => TcpControl::Rst,
        _ => TcpControl::Psh,
    }
}

fn op() -> impl Strategy<Value = Op> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1600).prop_map(Op::Raw),
        (bytes(), any::<usize>(), any::<u8>()).prop_map(|(b, i, x)| Op::Flipped(b, i, x)),
        (0..4u16, any::<u8>(), 1..4u16, bytes()).prop_map(|(a, b, c, d)| Op::Udp(a, b, c, d)),
        (0..4u16, any::<u8>(), 0..3u16).prop_map(|(a, b, c)| Op::Echo(a, b, c)),
        (
            0..4u16,
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<Option<u32>>(),
            bytes()
        )
            .prop_map(|(a, b, c, d, e, f)| Op::Tcp(a, b, c, d, e, f)),
        (0..24u64).prop_map(Op::Connected),
        (0..24u64).prop_map(Op::Refused),
        (0..24u64, proptest::collection::vec(any::<u8>(), 0..3000))
            .prop_map(|(a, b)| Op::Received(a, b)),
        (0..24u64, 0..4096usize).prop_map(|(a, b)| Op::Written(a, b)),
        (0..24u64).prop_map(Op::Closed),
        (0..24u64).prop_map(Op::Reset),
        (0..24u64, proptest::collection::vec(any::<u8>(), 0..1500))
            .prop_map(|(a, b)| Op::UdpReply(a, b)),
        (0..24u64, any::<u16>(), bytes()).prop_map(|(a, b, c)| Op::PingReply(a, b, c)),
        (0..3u16, any::<u16>()).prop_map(|(a, b)| Op::Inbound(a, b)),
        (0..20_000u16).prop_map(Op::Advance),
        (0..24u64, any::<u8>()).prop_map(|(a, b)| Op::Unreachable(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let t0 = std::time::Instant::now();
        let mut t = translator(t0);
        t.handle_frame(t0, &frame);
        drain(&mut t);
        // An Ethernet/IPv4 prefix so the bytes reach the deeper parsers.
        let mut framed = udp_frame(SocketAddrV4::new(CLIENT_IP, 1), SocketAddrV4::new(REMOTE_IP, 2), b"")[..34].to_vec();
        framed.extend_from_slice(&frame);
        t.handle_frame(t0, &framed);
        drain(&mut t);
        t.handle_packet(t0, CLIENT_MAC, &frame);
        drain(&mut t);
    }

    #[test]
    fn arbitrary_sequences_never_panic_and_stay_capped(ops in proptest::collection::vec(op(), 1..80)) {
        let t0 = std::time::Instant::now();
        let config = small_config();
        let mut t = Translator::new(config.clone(), nat::Policy::default(), 3, t0);
        t.publish(nat::Protocol::Tcp, 1000, SocketAddrV4::new(CLIENT_IP, 80)).unwrap();
        t.publish(nat::Protocol::Udp, 1001, SocketAddrV4::new(CLIENT_IP, 53)).unwrap();
        let mut now = t0;
        let client = |p: u16| SocketAddrV4::new(CLIENT_IP, 5000 + p);
        for op in ops {
            match op {
                Op::Raw(b) => t.handle_frame(now, &b),
                Op::Flipped(payload, i, x) => {
                    let mut f = udp_frame(client(0), addr(0, 53), &payload);
                    let i = i % f.len();
                    f[i] ^= x;
                    t.handle_frame(now, &f);
                }
                Op::Udp(c, ip, port, payload) => t.handle_frame(now, &udp_frame(client(c), addr(ip, port), &payload)),
                Op::Echo(c, ip, seq) => t.handle_frame(now, &echo_frame(CLIENT_IP, *addr(ip, 0).ip(), c, seq, b"x")),
                Op::Tcp(c, ip, ctl, seq, ack, payload) => {
                    t.handle_frame(now, &tcp_frame(client(c), addr(ip, 80), control(ctl), seq, ack, &payload));
                }
                Op::Connected(f) => t.tcp_connected(now, FlowId(f)),
                Op::Refused(f) => t.tcp_refused(now, FlowId(f)),
                Op::Received(f, b) => { let n = t.tcp_received(now, FlowId(f), &b); prop_assert!(n <= b.len()); }
                Op::Written(f, n) => t.tcp_written(now, FlowId(f), n),
                Op::Closed(f) => t.tcp_closed(now, FlowId(f)),
                Op::Reset(f) => t.tcp_reset(now, FlowId(f)),
                Op::UdpReply(f, b) => t.udp_received(now, FlowId(f), &b),
                Op::PingReply(f, seq, b) => t.ping_reply(now, FlowId(f), seq, &b),
                Op::Inbound(kind, port) => {
                    let remote = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 9), port);
                    if kind == 0 {
                        let _ = t.inbound_tcp(now, 1000, remote, CLIENT_MAC);
                    } else {
                        let _ = t.inbound_udp(now, 1001, remote, CLIENT_MAC, b"x");
                    }
                }
                Op::Unreachable(f, why) => {
                    let why = match why % 3 {
                        0 => nat::udp::Unreachable::Port,
                        1 => nat::udp::Unreachable::Host,
                        _ => nat::udp::Unreachable::Net,
                    };
                    t.datagram_unreachable(now, FlowId(f), why);
                }
                Op::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    t.handle_timeout(now);
                }
            }
            let flows = t.flows();
            prop_assert!(flows.total() <= config.limits.max_flows);
            prop_assert!(flows.kind(nat::FlowKind::Tcp) + flows.kind(nat::FlowKind::PublishedTcp) <= config.limits.max_tcp_flows);
            if let Some(due) = t.poll_timeout() {
                // Timers never point into the far past.
                prop_assert!(due + Duration::from_secs(3600) > t0);
            }
            drain(&mut t);
        }
        // Everything drains with time.
        now += Duration::from_secs(3 * 3600);
        t.handle_timeout(now);
        drain(&mut t);
        now += Duration::from_secs(60);
        t.handle_timeout(now);
        prop_assert_eq!(t.flows().total(), 0);
    }
}
