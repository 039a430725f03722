//! Hostile input: no bytes panic the host, and what it drops it counts.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};
use vhost::{Config, VirtualHost};

const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn host() -> VirtualHost {
    let mut vh = VirtualHost::new(Config {
        shards: 4,
        ..Config::new(GW)
    });
    vh.listen_tcp(80);
    vh.listen_udp(53);
    vh
}

fn drain(vh: &mut VirtualHost, now: Instant) {
    while vh.poll_transmit(now).is_some() {}
    while vh.poll_event().is_some() {}
}

#[allow(clippy::too_many_arguments)]
fn segment(
    src: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: i32,
    ack: i32,
    window: u16,
    payload: &[u8],
) -> Vec<u8> {
    let control = match flags % 5 {
        0 => TcpControl::None,
        1 => TcpControl::Syn,
        2 => TcpControl::Fin,
        3 => TcpControl::Rst,
        _ => TcpControl::Psh,
    };
    let tcp = TcpRepr {
        src_port: sport,
        dst_port: dport,
        control,
        seq_number: TcpSeqNumber(seq),
        ack_number: (flags & 0x80 != 0).then_some(TcpSeqNumber(ack)),
        window_len: window,
        window_scale: (flags & 0x40 != 0).then_some(flags & 0x0f),
        max_seg_size: (flags & 0x20 != 0).then_some(window),
        sack_permitted: flags & 0x10 != 0,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: GW,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let caps = ChecksumCapabilities::default();
    let mut out = vec![0u8; 20 + tcp.buffer_len()];
    let mut ipp = Ipv4Packet::new_unchecked(&mut out[..]);
    ip.emit(&mut ipp, &caps);
    tcp.emit(
        &mut TcpPacket::new_unchecked(ipp.payload_mut()),
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(GW),
        &caps,
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random bytes are dropped, each counted once.
    #[test]
    fn random_bytes_are_counted(packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1600), 1..20)) {
        let mut vh = host();
        let now = Instant::now();
        for p in &packets {
            vh.handle_packet(now, p);
            drain(&mut vh, now);
        }
        prop_assert_eq!(vh.counters().dropped_total(), packets.len() as u64);
        prop_assert_eq!(vh.counters().tcp_active, 0);
    }

    /// Valid but arbitrary segments (any flags, numbers, options) and their
    /// corruptions never panic, and the table ends empty after timeouts.
    #[test]
    fn arbitrary_segments_never_panic(
        segs in prop::collection::vec(
            (0u8..4, 0u16..4, prop::sample::select(vec![80u16, 81]), any::<u8>(), any::<i32>(), any::<i32>(), any::<u16>(),
             prop::collection::vec(any::<u8>(), 0..64), any::<Option<(u16, u8)>>(), 0u64..3000),
            1..40)
    ) {
        let mut vh = host();
        let start = Instant::now();
        let mut now = start;
        for (host_no, sport, dport, flags, seq, ack, window, payload, corrupt, dt) in segs {
            now += Duration::from_millis(dt);
            let src = Ipv4Addr::new(10, 0, 0, 10 + host_no);
            let mut p = segment(src, 1000 + sport, dport, flags, seq, ack, window, &payload);
            if let Some((at, bits)) = corrupt {
                let i = usize::from(at) % p.len();
                p[i] ^= bits | 1;
                p.truncate(p.len().max(1) - usize::from(bits % 3));
            }
            vh.handle_packet(now, &p);
            drain(&mut vh, now);
            if vh.poll_timeout().is_some_and(|t| t <= now) {
                vh.handle_timeout(now);
                drain(&mut vh, now);
            }
        }
        // Whatever was opened times out (no client answers).
        for _ in 0..10_000 {
            let Some(t) = vh.poll_timeout() else { break };
            now = now.max(t);
            vh.handle_timeout(now);
            drain(&mut vh, now);
        }
        prop_assert_eq!(vh.counters().tcp_active, 0);
        prop_assert_eq!(vh.poll_timeout(), None);
    }
}
