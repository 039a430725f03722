//! Seal and open throughput at 64, 512 and 1400 bytes, and handshakes per
//! second (issue 3, "Benchmarks"). Run: `cargo bench -p vswitch --bench crypto`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vswitch::handshake::{read_init, Initiator, INIT_LEN, REPLY_LEN};
use vswitch::key::{AccessKey, ChainId, KeyId};
use vswitch::seal::{DirectionKeys, PacketKey};
use vswitch::wire::{Header, PacketKind, SessionId, MAX_PACKET};

fn header(counter: u64) -> Header {
    Header {
        chain_id: ChainId([1; 16]),
        key_id: KeyId(2),
        session: SessionId(3),
        counter,
        kind: PacketKind::Frame,
    }
}

fn seal_open(c: &mut Criterion) {
    let key = PacketKey::new(&DirectionKeys::derive(&[7; 32]));
    for size in [64usize, 512, 1400] {
        let mut group = c.benchmark_group(format!("packet/{size}"));
        group.throughput(Throughput::Bytes(size as u64));
        let payload = vec![0xabu8; size];
        let mut out = vec![0u8; MAX_PACKET];
        let mut counter = 0u64;
        group.bench_function("seal", |b| {
            b.iter(|| {
                counter += 1;
                black_box(
                    key.seal(&header(counter), black_box(&payload), &mut out)
                        .unwrap(),
                )
            });
        });
        let n = key.seal(&header(1), &payload, &mut out).unwrap();
        let sealed = out[..n].to_vec();
        let mut buf = sealed.clone();
        group.bench_function("open", |b| {
            b.iter(|| {
                // Opening decrypts in place: restore the ciphertext first
                // (a memcpy, small next to the crypto).
                buf.copy_from_slice(&sealed);
                black_box(key.open(black_box(&mut buf)).unwrap().1)
            });
        });
        group.finish();
    }
}

fn handshakes(c: &mut Criterion) {
    let key = AccessKey::generate(ChainId([1; 16]), &mut ChaCha20Rng::seed_from_u64(1));
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Elements(1));
    group.bench_function("full round trip", |b| {
        b.iter(|| {
            let mut init = [0u8; INIT_LEN];
            let (mut ini, _) =
                Initiator::start(&key, SessionId(1), b"", &mut rng, &mut init).unwrap();
            let req = read_init(&key.secret, &init, &mut rng).unwrap();
            let mut reply = [0u8; REPLY_LEN];
            req.accept(SessionId(2), &mut reply).unwrap();
            black_box(ini.finish(&reply).unwrap())
        });
    });
    group.bench_function("responder", |b| {
        b.iter_batched(
            || {
                let mut init = [0u8; INIT_LEN];
                Initiator::start(&key, SessionId(1), b"", &mut rng, &mut init).unwrap();
                init
            },
            |init| {
                let mut r = ChaCha20Rng::seed_from_u64(3);
                let req = read_init(&key.secret, &init, &mut r).unwrap();
                let mut reply = [0u8; REPLY_LEN];
                black_box(req.accept(SessionId(2), &mut reply).unwrap())
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, seal_open, handshakes);
criterion_main!(benches);
