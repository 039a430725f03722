//! Forwarding decisions per second (issue 3, "Benchmarks"): a switch with
//! 64 tap clients, a gateway and 4 peer nodes, every client's MAC learned.
//! Run with `cargo bench -p vswitch --bench forward`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};
use vswitch::port::{PortId, PortKind};
use vswitch::switch::{Switch, SwitchConfig};

const CLIENTS: u8 = 64;

fn mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, n]
}

fn frame(dst: [u8; 6], src: [u8; 6], len: usize) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(len, 0);
    f
}

/// The switch, its client ports, and a clock after learning.
fn learned_switch() -> (Switch, Vec<PortId>, Instant) {
    let mut sw = Switch::new(SwitchConfig {
        storm: None, // measure the decision, not the limiter
        ..SwitchConfig::default()
    });
    let gw = sw.add_port(PortKind::Gateway).unwrap();
    sw.pin_mac([0x02, 0xa7, 0, 0, 0, 1], gw).unwrap();
    sw.protect_ip([10, 0, 0, 1].into()).unwrap();
    for _ in 0..4 {
        sw.add_port(PortKind::PeerNode).unwrap();
    }
    let clients: Vec<PortId> = (0..CLIENTS)
        .map(|_| sw.add_port(PortKind::TapClient).unwrap())
        .collect();
    let t0 = Instant::now();
    let mut out = Vec::new();
    for (i, port) in clients.iter().enumerate() {
        sw.forward(t0, *port, &frame([0xff; 6], mac(i as u8), 60), &mut out)
            .unwrap();
    }
    (sw, clients, t0)
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    group.throughput(Throughput::Elements(1));
    for len in [64, 1514] {
        let (mut sw, clients, t0) = learned_switch();
        let now = t0 + Duration::from_secs(1);
        let unicast = frame(mac(1), mac(0), len);
        let mut out = Vec::with_capacity(128);
        group.bench_function(format!("learned_unicast_{len}B"), |b| {
            b.iter(|| {
                sw.forward(now, clients[0], black_box(&unicast), &mut out)
                    .unwrap();
                black_box(&out);
            });
        });
        let broadcast = frame([0xff; 6], mac(0), len);
        group.bench_function(format!("flood_{len}B"), |b| {
            b.iter(|| {
                sw.forward(now, clients[0], black_box(&broadcast), &mut out)
                    .unwrap();
                black_box(&out);
            });
        });
    }
    // Learning: 256 frames from fresh source MACs (a new entry each).
    group.throughput(Throughput::Elements(256));
    group.bench_function("learn_new_sources_x256", |b| {
        b.iter_batched_ref(
            || {
                (
                    learned_switch(),
                    frame(mac(1), mac(0), 60),
                    Vec::with_capacity(128),
                )
            },
            |((sw, clients, t0), f, out)| {
                for n in 0..256u32 {
                    // 02:10:nn:nn:nn:nn, apart from every client's MAC.
                    f[7] = 0x10;
                    f[8..12].copy_from_slice(&n.to_be_bytes());
                    sw.forward(*t0, clients[8 + (n % 8) as usize], f, out)
                        .unwrap();
                }
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
