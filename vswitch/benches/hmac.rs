//! HMAC-SHA256 over a 1400-byte packet: `hmac` + `sha2` (what
//! `vswitch::seal` uses) against `ring::hmac`, and the bare SHA-256 of
//! each, so we know whether `sha2`'s SHA-NI path is competitive (HMAC is
//! most of a seal's time, docs/benchmarks.md). Both start from a keyed
//! state made once, as a session does. Run:
//! `cargo bench -p vswitch --bench hmac`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const LEN: usize = 1400;

/// The CPU features the two libraries choose their code by, detected at
/// run time as both do.
fn cpu_features() -> String {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let features = [
            ("sha", std::arch::is_x86_feature_detected!("sha")),
            ("aes", std::arch::is_x86_feature_detected!("aes")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("ssse3", std::arch::is_x86_feature_detected!("ssse3")),
        ];
        features
            .iter()
            .map(|(name, on)| format!("{name}={}", if *on { "yes" } else { "no" }))
            .collect::<Vec<_>>()
            .join(" ")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        String::from("(not x86)")
    }
}

fn hmac_sha256(c: &mut Criterion) {
    println!("cpu features: {}", cpu_features());
    let key = [0x42u8; 32];
    let data = vec![0xabu8; LEN];

    let mut group = c.benchmark_group(format!("hmac_sha256/{LEN}"));
    group.throughput(Throughput::Bytes(LEN as u64));
    let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    group.bench_function("hmac+sha2", |b| {
        b.iter(|| {
            black_box(
                keyed
                    .clone()
                    .chain_update(black_box(&data))
                    .finalize()
                    .into_bytes(),
            )
        });
    });
    let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    // Same answer from both, so the comparison is of like with like.
    assert_eq!(
        keyed
            .clone()
            .chain_update(&data)
            .finalize()
            .into_bytes()
            .as_slice(),
        ring::hmac::sign(&ring_key, &data).as_ref(),
        "the two HMAC-SHA256s disagree"
    );
    group.bench_function("ring", |b| {
        b.iter(|| black_box(ring::hmac::sign(&ring_key, black_box(&data))));
    });
    group.finish();

    let mut group = c.benchmark_group(format!("sha256/{LEN}"));
    group.throughput(Throughput::Bytes(LEN as u64));
    group.bench_function("sha2", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&data))));
    });
    group.bench_function("ring", |b| {
        b.iter(|| {
            black_box(ring::digest::digest(
                &ring::digest::SHA256,
                black_box(&data),
            ))
        });
    });
    group.finish();
}

criterion_group!(benches, hmac_sha256);
criterion_main!(benches);
