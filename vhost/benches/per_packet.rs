//! Per-packet cost of a data segment to one established connection while
//! 10 or 10 000 connections are established (and, for contrast, 10 000 in
//! a single smoltcp interface: what sharding avoids).
//!
//! `cargo bench -p vhost`

use std::cell::Cell;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};
use vhost::{Config, Event, VirtualHost};

const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PORT: u16 = 80;
const PAYLOAD: [u8; 512] = [0x5a; 512];
const PAYLOAD_SEQ: i32 = 512;

#[derive(Clone, Copy)]
struct Peer {
    ip: Ipv4Addr,
    port: u16,
    /// Our next sequence number and the host's (what we acknowledge).
    seq: i32,
    ack: i32,
}

fn segment(p: &Peer, control: TcpControl, ack: Option<i32>, payload: &[u8]) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: p.port,
        dst_port: PORT,
        control,
        seq_number: TcpSeqNumber(p.seq),
        ack_number: ack.map(TcpSeqNumber),
        window_len: 65535,
        window_scale: None,
        max_seg_size: (control == TcpControl::Syn).then_some(1300),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let ip = Ipv4Repr {
        src_addr: p.ip,
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
        &IpAddress::Ipv4(p.ip),
        &IpAddress::Ipv4(GW),
        &caps,
    );
    out
}

fn drain(vh: &mut VirtualHost, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(p) = vh.poll_transmit(now) {
        out.push(p);
    }
    let mut buf = [0u8; 4096];
    while let Some(ev) = vh.poll_event() {
        if let Event::TcpReadable(c) = ev {
            while vh.tcp_recv(c, &mut buf) > 0 {}
        }
    }
    out
}

/// A host with `n` connections established by hand-made handshakes.
fn established(n: usize, shards: usize, now: Instant) -> (VirtualHost, Peer) {
    let mut vh = VirtualHost::new(Config {
        shards,
        seed: 1,
        ..Config::new(GW)
    });
    vh.listen_tcp(PORT);
    let mut last = None;
    for i in 0..n {
        let mut p = Peer {
            ip: Ipv4Addr::new(10, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8),
            port: 20_000 + (i / 250) as u16,
            seq: 1000,
            ack: 0,
        };
        vh.handle_packet(now, &segment(&p, TcpControl::Syn, None, &[]));
        let syn_ack = drain(&mut vh, now).pop().expect("SYN-ACK");
        let ipp = Ipv4Packet::new_checked(&syn_ack[..]).expect("ip");
        let seg = TcpPacket::new_checked(ipp.payload()).expect("tcp");
        assert!(seg.syn() && seg.ack());
        p.seq += 1;
        p.ack = seg.seq_number().0 + 1;
        vh.handle_packet(now, &segment(&p, TcpControl::None, Some(p.ack), &[]));
        drain(&mut vh, now);
        last = Some(p);
    }
    assert_eq!(vh.counters().tcp_accepted, n as u64);
    (vh, last.expect("n > 0"))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("data_segment");
    for (n, shards, name) in [
        (10, Config::default().shards, "10_conns"),
        (10_000, Config::default().shards, "10000_conns"),
        (10_000, 1, "10000_conns_1_shard"),
    ] {
        if shards == 1 {
            g.sample_size(20);
        }
        let start = Instant::now();
        let (mut vh, peer) = established(n, shards, start);
        let peer = Cell::new(peer);
        let clock = Cell::new(start);
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    // Next in-order segment, built outside the timing.
                    let mut p = peer.get();
                    let seg = segment(&p, TcpControl::Psh, Some(p.ack), &PAYLOAD);
                    p.seq = p.seq.wrapping_add(PAYLOAD_SEQ);
                    peer.set(p);
                    clock.set(clock.get() + Duration::from_micros(5));
                    seg
                },
                |seg| {
                    let now = clock.get();
                    vh.handle_packet(now, &seg);
                    drain(&mut vh, now)
                },
                BatchSize::SmallInput,
            );
        });
        assert_eq!(vh.counters().dropped_total(), 0, "{:?}", vh.counters());
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
