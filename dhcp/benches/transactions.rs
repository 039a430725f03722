//! DHCP transactions per second in the core: DISCOVER, probe wait, OFFER,
//! REQUEST, claim appended to an in-memory chain, chain folded, ACK.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chain::{Event, MemoryStore, Store};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dhcp::codec::{client_frame, ClientKind, ClientMessage};
use dhcp::{Action, LeaseStore, MemoryLeaseStore, Server, ServerConfig};

const NET: &str = "0123456789abcdef0123456789abcdef";
const PER_BATCH: u32 = 256;

fn setup() -> (Server, MemoryLeaseStore, Instant) {
    let log = Arc::new(MemoryStore::new());
    log.append(&Event::NetworkCreated {
        network: NET.into(),
        name: "bench".into(),
        subnet: "10.8.0.0/16".into(),
        node_key_id: 1,
        node_secret: "aa".repeat(32),
    })
    .unwrap();
    let mut store = MemoryLeaseStore::new(log);
    store.sync();
    let net = store.state().network(NET).unwrap().clone();
    let cfg = ServerConfig::from_network(&net, [2, 0xaa, 0, 0, 0, 1], "00000000000000aa").unwrap();
    let now = Instant::now();
    (Server::new(cfg, now), store, now)
}

fn message(kind: ClientKind, i: u32) -> ClientMessage {
    let b = i.to_be_bytes();
    let mac = [0x02, 0x10, b[0], b[1], b[2], b[3]];
    ClientMessage {
        kind,
        src_mac: mac,
        dst_ip: Ipv4Addr::BROADCAST,
        transaction_id: i,
        secs: 0,
        broadcast: false,
        chaddr: mac,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        requested_ip: None,
        server_id: None,
        client_id: None,
        hostname: None,
    }
}

/// One full transaction for client `i`; returns frames sent (OFFER + ACK).
fn transaction(
    server: &mut Server,
    store: &mut MemoryLeaseStore,
    now: &mut Instant,
    i: u32,
) -> usize {
    let mut out = Vec::new();
    let ms = 1_700_000_000_000;
    let discover = client_frame(&message(ClientKind::Discover, i));
    server
        .handle_frame(*now, ms, &discover, store, &mut out)
        .unwrap();
    let ip = match out.as_slice() {
        [Action::Probe { ip }] => *ip,
        other => panic!("{other:?}"),
    };
    *now += Duration::from_millis(300);
    out.clear();
    server.handle_timeout(*now, ms, store, &mut out);
    let mut sent = out
        .iter()
        .filter(|a| matches!(a, Action::Transmit(_)))
        .count();
    let mut request = message(ClientKind::Request, i);
    request.server_id = Some(Ipv4Addr::new(10, 8, 0, 1));
    request.requested_ip = Some(ip);
    out.clear();
    server
        .handle_frame(*now, ms, &client_frame(&request), store, &mut out)
        .unwrap();
    for a in &out {
        a.write_to(store);
    }
    store.sync();
    out.clear();
    server.chain_updated(*now, ms, store, &mut out);
    sent += out
        .iter()
        .filter(|a| matches!(a, Action::Transmit(_)))
        .count();
    debug_assert!(store
        .claim_outcome(&chain::ClaimId {
            network: NET.into(),
            node_id: "00000000000000aa".into(),
            mac: chain::validate::format_mac(message(ClientKind::Request, i).chaddr),
            ip,
            at_ms: ms,
        })
        .is_some());
    sent
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("dhcp");
    group.throughput(Throughput::Elements(u64::from(PER_BATCH)));
    group.bench_function("discover_to_ack", |b| {
        b.iter_batched(
            setup,
            |(mut server, mut store, mut now)| {
                let mut frames = 0;
                for i in 0..PER_BATCH {
                    frames += transaction(&mut server, &mut store, &mut now, i);
                }
                assert_eq!(frames, 2 * PER_BATCH as usize);
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
