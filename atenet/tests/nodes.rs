//! Two nodes sharing one data dir, and in-process clients over loopback
//! UDP: frames cross nodes exactly once, hostile bytes are counted, a
//! revoked key's sessions end, a client that moves is dropped by its old
//! node, and shutdown leaves the chain and the data dir clean.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use atenet::status::Snapshot;
use chain::{Event, FileStore, Follower, Store};
use common::{peer_up, start_node, start_node_at, wait_for, TestClient};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use vswitch::wire::PacketKind;

fn frame(dst: [u8; 6], src: [u8; 6], fill: u8) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    frame.extend(std::iter::repeat_n(fill, 60));
    frame
}

const BROADCAST: [u8; 6] = [0xff; 6];
const MAC1: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const MAC2: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

fn drops(snapshot: &Snapshot) -> u64 {
    snapshot.packet_drops.values().sum()
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_carry_frames_count_drops_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_node(dir.path(), true).await;
    let key = a.first_key.clone().expect("first run issues a key");
    let line = a.connect_line().unwrap();
    assert!(
        line.starts_with(&format!("tok connect {} --key ate1", a.advertise)),
        "{line}"
    );
    let b = start_node(dir.path(), false).await;
    assert!(
        b.first_key.is_none(),
        "second run must not create a network"
    );

    wait_for(&a, "A peered with B", peer_up).await;
    wait_for(&b, "B peered with A", peer_up).await;

    let mut c1 = TestClient::connect(a.local_addr, &key).await;
    let mut c2 = TestClient::connect(b.local_addr, &key).await;
    // A client port appears once the node has heard the client's first
    // sealed packet (key confirmation: the keepalive sent on Established).
    wait_for(&a, "client on A", |s| s.clients.len() == 1).await;
    wait_for(&b, "client on B", |s| s.clients.len() == 1).await;

    // A broadcast crosses nodes exactly once.
    let hello = frame(BROADCAST, MAC1, 1);
    c1.send(PacketKind::Frame, &hello).await;
    assert_eq!(c2.next_frame(Duration::from_secs(2)).await, Some(hello));
    assert_eq!(
        c2.next_frame(Duration::from_millis(300)).await,
        None,
        "duplicate"
    );
    // The answer is unicast to the learned MAC behind the peer.
    let answer = frame(MAC1, MAC2, 2);
    c2.send(PacketKind::Frame, &answer).await;
    assert_eq!(c1.next_frame(Duration::from_secs(2)).await, Some(answer));

    // Hostile bytes: each dropped and counted, never a panic.
    let before = a.handle.snapshot().await.unwrap();
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let mut runts = 0;
    for _ in 0..200 {
        let len = rng.gen_range(0..1600);
        let junk: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if len < 53 {
            runts += 1;
        }
        attacker.send_to(&junk, a.local_addr).await.unwrap();
    }
    let after = wait_for(&a, "200 junk packets counted", |s| {
        drops(s) >= drops(&before) + 200
    })
    .await;
    assert_eq!(
        after.packet_drops["runt"] - before.packet_drops["runt"],
        runts,
        "{:?}",
        after.packet_drops
    );
    // Clients still work.
    let again = frame(BROADCAST, MAC1, 3);
    c1.send(PacketKind::Frame, &again).await;
    assert_eq!(c2.next_frame(Duration::from_secs(2)).await, Some(again));

    // Metrics and the status socket show the same counters.
    let text = http_get(a.metrics_addr.unwrap(), "/metrics");
    assert!(text.starts_with("HTTP/1.0 200 OK"), "{text}");
    assert!(
        text.contains("atenet_packets_dropped_total{reason=\"runt\"}"),
        "{text}"
    );
    let socket = dir.path().join("nodes").join(format!("{}.sock", a.node_id));
    let mut doc = String::new();
    std::os::unix::net::UnixStream::connect(&socket)
        .unwrap()
        .read_to_string(&mut doc)
        .unwrap();
    let status: Snapshot = serde_json::from_str(&doc).unwrap();
    assert_eq!(status.node_id, a.node_id.to_string());
    assert_eq!(status.networks[0].name, "default");

    // Revoking the key ends both sessions within a second or so.
    let store = FileStore::open(dir.path()).unwrap();
    let revoked_at = Instant::now();
    store
        .append(&Event::KeyRevoked {
            network: hex::encode(key.chain_id.0),
            key_id: key.key_id.0,
        })
        .unwrap();
    assert!(
        c1.wait_leave(Duration::from_secs(2)).await,
        "c1 not told to leave"
    );
    wait_for(&a, "A dropped the revoked client", |s| s.clients.is_empty()).await;
    wait_for(&b, "B dropped the revoked client", |s| s.clients.is_empty()).await;
    assert!(
        revoked_at.elapsed() < Duration::from_millis(1500),
        "{:?}",
        revoked_at.elapsed()
    );

    // Clean shutdown: NodeLeft written, status socket removed.
    let (a_id, b_id) = (a.node_id, b.node_id);
    a.shutdown().await.unwrap();
    assert!(!socket.exists());
    wait_for(&b, "B saw A leave", |s| s.peers.is_empty()).await;
    b.shutdown().await.unwrap();
    let mut follower = Follower::new();
    follower.poll(&store).unwrap();
    assert!(follower.state().node(&a_id.to_string()).is_none());
    assert!(follower.state().node(&b_id.to_string()).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_moves_is_dropped_by_its_old_node() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_node(dir.path(), false).await;
    let key = a.first_key.clone().unwrap();
    let b = start_node(dir.path(), false).await;
    wait_for(&a, "A peered with B", peer_up).await;
    wait_for(&b, "B peered with A", peer_up).await;

    let mut old = TestClient::connect(a.local_addr, &key).await;
    wait_for(&a, "client on A", |s| s.clients.len() == 1).await;
    old.send(PacketKind::Frame, &frame(BROADCAST, MAC1, 1))
        .await;
    wait_for(&a, "A learned the client's MAC", |s| {
        s.clients.first().is_some_and(|c| !c.macs.is_empty())
    })
    .await;

    // The same MAC shows up behind node B.
    let mut new = TestClient::connect(b.local_addr, &key).await;
    wait_for(&b, "client on B", |s| s.clients.len() == 1).await;
    let moved_at = Instant::now();
    new.send(PacketKind::Frame, &frame(BROADCAST, MAC1, 2))
        .await;
    assert!(
        old.wait_leave(Duration::from_secs(1)).await,
        "old node kept the client"
    );
    let snapshot = wait_for(&a, "A dropped the moved client", |s| s.clients.is_empty()).await;
    assert!(moved_at.elapsed() < Duration::from_secs(1));
    assert_eq!(snapshot.counters.clients_moved, 1);

    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_at_the_same_address_replaces_its_dead_self() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_node(dir.path(), false).await;
    let b = start_node(dir.path(), false).await;
    wait_for(&a, "A peered with B", peer_up).await;
    let (old_id, addr) = (b.node_id, b.local_addr);
    // SIGKILL: no leave, no NodeLeft; the old id stays in the chain.
    b.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = start_node_at(dir.path(), addr, false).await;
    let new_id = c.node_id.to_string();
    let snapshot = wait_for(&a, "A peered with the new process only", |s| {
        s.peers.len() == 1 && s.peers[0].node_id == new_id && s.peers[0].connected
    })
    .await;
    assert_ne!(snapshot.peers[0].node_id, old_id.to_string());
    // The new process does not dial its own dead predecessor.
    wait_for(&c, "C peered with A only", |s| {
        s.peers.len() == 1 && peer_up(s)
    })
    .await;
    a.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
}
