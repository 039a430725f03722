//! The per-frame core path of a node (issue 8, item 3), on one core, with
//! no sockets: run with `cargo bench -p vswitch --bench path`.
//!
//! - `node_path/{64,512,1400}`: what the node does for one frame from
//!   client A to client B (learned unicast): open A's packet
//!   (`Endpoint::handle`: tag, replay window, decrypt in place), look up
//!   the ingress port, the switch decision, look up B's session, seal for B.
//!   A's seal of a fresh packet (a new counter, so the replay window
//!   accepts every one) is the batched set-up and is not timed.
//! - `whole_path/1400`: client A seals, the node opens, switches and seals,
//!   client B opens: the four crypto passes of a frame's trip, on one core.
//!
//! Criterion prints throughput in GiB/s of frame bytes (`Throughput::Bytes`);
//! Gbit/s = GiB/s x 8.59 (2^30 x 8 / 10^9), or 8 x bytes / ns-per-frame.
//! Nothing in the timed loops allocates (`tests/zero_alloc.rs` checks the
//! same path, built from the same fixture).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vswitch::wire::MAX_PACKET;

#[path = "../tests/common/mod.rs"]
mod common;

use common::{carry, frame, node_and_clients, MAC_A, MAC_B};

/// A packet sealed by client A, waiting to be opened by the node.
struct Sealed {
    packet: [u8; MAX_PACKET],
    len: usize,
}

/// Sealed packets per timed batch: 64 x ~1.5 KiB stays in L2, as a
/// socket loop's receive buffers do, and two clock reads per 64 frames
/// add under 1 ns a frame.
const BATCH: u64 = 64;

fn node_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("node_path");
    for len in [64usize, 512, 1400] {
        let now = Instant::now();
        let (mut node, mut a, _b) = node_and_clients(now);
        let a_to_b = frame(MAC_B, MAC_A, len);
        let from = a.addr;
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(len.to_string(), |bench| {
            bench.iter_batched_ref(
                || {
                    let mut s = Sealed {
                        packet: [0; MAX_PACKET],
                        len: 0,
                    };
                    s.len = a.seal(now, &a_to_b, &mut s.packet);
                    s
                },
                |s| {
                    let copies = node.relay(now, from, &mut s.packet[..s.len], |out| {
                        black_box(out);
                    });
                    debug_assert_eq!(copies, 1);
                },
                BatchSize::NumIterations(BATCH),
            );
        });
    }
    group.finish();
}

fn whole_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("whole_path");
    let len = 1400;
    let now = Instant::now();
    let (mut node, mut a, mut b) = node_and_clients(now);
    let a_to_b = frame(MAC_B, MAC_A, len);
    let mut wire = [0u8; MAX_PACKET];
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function(len.to_string(), |bench| {
        bench.iter(|| {
            let got = carry(
                &mut node,
                &mut a,
                &mut b,
                black_box(&a_to_b),
                now,
                &mut wire,
            );
            debug_assert_eq!(got, len);
            got
        });
    });
    group.finish();
}

criterion_group!(benches, node_path, whole_path);
criterion_main!(benches);
