//! Sessions between in-memory endpoints with a fake clock (a base `Instant`
//! plus `Duration`s): the handshake and data acceptance lines of issue 3.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand_chacha::rand_core::{CryptoRng, Error as RngError, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vswitch::endpoint::{
    Endpoint, EndpointConfig, EndpointEvent, PacketDrop, Rate, Received, SendError,
};
use vswitch::handshake::{Initiator, INIT_LEN};
use vswitch::key::{AccessKey, ChainId, KeyId, KeyRole};
use vswitch::wire::{PacketKind, SessionId, HEADER_LEN, MAX_PACKET, TAG_LEN};

const NODE: &str = "198.18.0.1:4789";
const CLIENT: &str = "198.18.0.2:50000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn access_key() -> AccessKey {
    AccessKey {
        chain_id: ChainId([0xc4; 16]),
        key_id: KeyId(0x1234_5678),
        secret: [0x42; 32],
    }
}

fn node_with(cfg: EndpointConfig, key: &AccessKey, role: KeyRole) -> Endpoint {
    let mut node = Endpoint::new(cfg);
    node.add_key(key.chain_id, key.key_id, key.secret, role)
        .unwrap();
    node
}

fn drain(ep: &mut Endpoint) -> Vec<EndpointEvent> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

/// A node and a client with an established, confirmed session.
struct Pair {
    node: Endpoint,
    client: Endpoint,
    node_sid: SessionId,
    client_sid: SessionId,
    rng: ChaCha20Rng,
    t0: Instant,
    /// The init the client sent, as captured on the wire.
    init: Vec<u8>,
}

fn handshake(
    node: &mut Endpoint,
    client: &mut Endpoint,
    now: Instant,
    rng: &mut (impl RngCore + CryptoRng),
) -> (SessionId, SessionId, Vec<u8>) {
    let mut init = [0u8; 256];
    let started = client
        .connect(
            now,
            addr(NODE),
            &access_key(),
            KeyRole::Client,
            b"tok",
            rng,
            &mut init,
        )
        .unwrap();
    let captured = init[..started.len].to_vec();
    let mut reply = [0u8; 256];
    let Received::Accepted {
        session: node_sid,
        reply_len,
    } = node.handle(now, addr(CLIENT), &mut init[..started.len], rng, &mut reply)
    else {
        panic!("init not accepted")
    };
    assert!(reply_len <= started.len, "reply larger than init");
    let mut scratch = [0u8; 256];
    assert_eq!(
        client.handle(now, addr(NODE), &mut reply[..reply_len], rng, &mut scratch),
        Received::Established {
            session: started.session
        }
    );
    // Key confirmation: the initiator is told to send a keepalive at once.
    assert_eq!(
        drain(client),
        vec![EndpointEvent::KeepaliveDue(started.session)]
    );
    assert!(
        !node.session_info(node_sid).unwrap().established,
        "half-open"
    );
    let mut ka = [0u8; 128];
    let n = client
        .seal(now, started.session, PacketKind::Keepalive, &[], &mut ka)
        .unwrap();
    assert_eq!(
        node.handle(now, addr(CLIENT), &mut ka[..n], rng, &mut scratch),
        Received::Keepalive { session: node_sid }
    );
    assert_eq!(drain(node), vec![EndpointEvent::Confirmed(node_sid)]);
    (started.session, node_sid, captured)
}

fn pair_with(cfg: EndpointConfig) -> Pair {
    let t0 = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut node = node_with(cfg.clone(), &access_key(), KeyRole::Client);
    let mut client = Endpoint::new(cfg);
    let (client_sid, node_sid, init) = handshake(&mut node, &mut client, t0, &mut rng);
    Pair {
        node,
        client,
        node_sid,
        client_sid,
        rng,
        t0,
        init,
    }
}

fn pair() -> Pair {
    pair_with(EndpointConfig::default())
}

fn frame(len: usize, fill: u8) -> Vec<u8> {
    let mut f = vec![fill; len];
    f[..6].copy_from_slice(&[0xff; 6]);
    f
}

impl Pair {
    fn client_to_node(&mut self, now: Instant, f: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; MAX_PACKET];
        let n = self
            .client
            .seal(now, self.client_sid, PacketKind::Frame, f, &mut out)
            .unwrap();
        out.truncate(n);
        out
    }

    fn deliver_to_node(&mut self, now: Instant, packet: &[u8]) -> Result<Vec<u8>, PacketDrop> {
        let mut p = packet.to_vec();
        let mut reply = [0u8; 256];
        match self
            .node
            .handle(now, addr(CLIENT), &mut p, &mut self.rng, &mut reply)
        {
            Received::Frame { frame, .. } => Ok(frame.to_vec()),
            Received::Dropped(d) => Err(d),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn handshake_then_frames_both_ways() {
    let mut p = pair();
    let f = frame(60, 1);
    let packet = p.client_to_node(p.t0, &f);
    assert_eq!(packet.len(), HEADER_LEN + 60 + TAG_LEN);
    assert_eq!(p.deliver_to_node(p.t0, &packet), Ok(f.clone()));

    let mut out = vec![0u8; MAX_PACKET];
    let n = p
        .node
        .seal(
            p.t0,
            p.node_sid,
            PacketKind::Frame,
            &frame(1518, 2),
            &mut out,
        )
        .unwrap();
    let mut reply = [0u8; 256];
    match p
        .client
        .handle(p.t0, addr(NODE), &mut out[..n], &mut p.rng, &mut reply)
    {
        Received::Frame {
            session,
            frame: got,
        } => {
            assert_eq!(session, p.client_sid);
            assert_eq!(got, &frame(1518, 2)[..]);
        }
        other => panic!("{other:?}"),
    }
    let info = p.node.session_info(p.node_sid).unwrap();
    assert_eq!(info.role, KeyRole::Client);
    assert_eq!(info.peer_payload, b"tok");
    assert_eq!(info.remote, addr(CLIENT));
    assert!(info.established && !info.initiator);
    assert!(p.client.session_info(p.client_sid).unwrap().initiator);
}

#[test]
fn node_key_sessions_are_peers() {
    let t0 = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let key = access_key();
    let mut a = node_with(EndpointConfig::default(), &key, KeyRole::Node);
    let mut b = node_with(EndpointConfig::default(), &key, KeyRole::Node);
    let mut init = [0u8; 256];
    let s = b
        .connect(
            t0,
            addr(NODE),
            &key,
            KeyRole::Node,
            b"node-b",
            &mut rng,
            &mut init,
        )
        .unwrap();
    let mut reply = [0u8; 256];
    let Received::Accepted { session, .. } =
        a.handle(t0, addr(CLIENT), &mut init[..s.len], &mut rng, &mut reply)
    else {
        panic!()
    };
    let info = a.session_info(session).unwrap();
    assert_eq!(info.role, KeyRole::Node);
    assert_eq!(info.peer_payload, b"node-b");
    // A client of the same endpoint may not claim the node key's role.
    assert!(b
        .connect(
            t0,
            addr(NODE),
            &key,
            KeyRole::Client,
            b"",
            &mut rng,
            &mut init
        )
        .is_err());
}

#[test]
fn replayed_init_never_yields_a_usable_session() {
    let mut p = pair();
    let t = p.t0 + Duration::from_millis(10);
    let mut reply = [0u8; 256];
    // Same node: the ephemeral is recognised; nothing is answered.
    let mut init = p.init.clone();
    assert_eq!(
        p.node
            .handle(t, addr(CLIENT), &mut init, &mut p.rng, &mut reply),
        Received::Dropped(PacketDrop::Replay)
    );
    // A restarted node: a half-open session at most, never confirmed.
    let mut fresh = node_with(EndpointConfig::default(), &access_key(), KeyRole::Client);
    let mut init = p.init.clone();
    let Received::Accepted { session, reply_len } =
        fresh.handle(t, addr("198.18.0.66:1"), &mut init, &mut p.rng, &mut reply)
    else {
        panic!("replay to a fresh node")
    };
    assert_eq!(fresh.half_open_count(), 1);
    let mut out = [0u8; 256];
    assert_eq!(
        fresh.seal(t, session, PacketKind::Frame, &frame(60, 0), &mut out),
        Err(SendError::NotEstablished)
    );
    // Its reply reaches the real client, whose handshake is long done.
    let mut scratch = [0u8; 256];
    assert_eq!(
        p.client.handle(
            t,
            addr(NODE),
            &mut reply[..reply_len],
            &mut p.rng,
            &mut scratch
        ),
        Received::Dropped(PacketDrop::UnknownSession)
    );
    // The real client's packets do not confirm it: different keys and ids.
    let packet = p.client_to_node(t, &frame(60, 3));
    let mut copy = packet.clone();
    assert!(matches!(
        fresh.handle(t, addr(CLIENT), &mut copy, &mut p.rng, &mut scratch),
        Received::Dropped(PacketDrop::UnknownSession)
    ));
    fresh.handle_timeout(t + Duration::from_secs(5));
    assert_eq!(drain(&mut fresh), vec![EndpointEvent::Expired(session)]);
    assert_eq!((fresh.half_open_count(), fresh.session_count()), (0, 0));
}

#[test]
fn captured_data_packet_is_dropped_elsewhere_and_on_replay() {
    let mut p = pair();
    let packet = p.client_to_node(p.t0, &frame(100, 9));
    assert!(p.deliver_to_node(p.t0, &packet).is_ok());
    assert_eq!(p.deliver_to_node(p.t0, &packet), Err(PacketDrop::Replay));
    // A restarted node knows the key but has no session.
    let mut restarted = node_with(EndpointConfig::default(), &access_key(), KeyRole::Client);
    let mut copy = packet.clone();
    let mut reply = [0u8; 256];
    assert_eq!(
        restarted.handle(p.t0, addr(CLIENT), &mut copy, &mut p.rng, &mut reply),
        Received::Dropped(PacketDrop::UnknownSession)
    );
    // Another node with its own session under the same key.
    let mut other = node_with(EndpointConfig::default(), &access_key(), KeyRole::Client);
    let mut client2 = Endpoint::new(EndpointConfig::default());
    let (_, other_sid, _) = handshake(&mut other, &mut client2, p.t0, &mut p.rng);
    let mut copy = packet.clone();
    assert_eq!(
        other.handle(p.t0, addr(CLIENT), &mut copy, &mut p.rng, &mut reply),
        Received::Dropped(PacketDrop::UnknownSession)
    );
    // Even addressed to its session id, the tag fails: other keys.
    let mut copy = packet.clone();
    copy[20..28].copy_from_slice(&other_sid.0.to_be_bytes());
    assert_eq!(
        other.handle(p.t0, addr(CLIENT), &mut copy, &mut p.rng, &mut reply),
        Received::Dropped(PacketDrop::BadTag)
    );
}

/// Returns the same byte forever, so both sides pick the same session id:
/// a reflected packet then has a header valid for the sender's own session.
struct ConstRng;

impl RngCore for ConstRng {
    fn next_u32(&mut self) -> u32 {
        0x4242_4242
    }
    fn next_u64(&mut self) -> u64 {
        0x4242_4242_4242_4242
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0x42);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        dest.fill(0x42);
        Ok(())
    }
}
impl CryptoRng for ConstRng {}

#[test]
fn reflected_packet_is_dropped_by_directional_keys() {
    let t0 = Instant::now();
    let mut node = node_with(EndpointConfig::default(), &access_key(), KeyRole::Client);
    let mut client = Endpoint::new(EndpointConfig::default());
    let (client_sid, node_sid, _) = handshake(&mut node, &mut client, t0, &mut ConstRng);
    assert_eq!(client_sid, node_sid, "same id on both sides for this test");
    let mut out = vec![0u8; MAX_PACKET];
    let n = node
        .seal(t0, node_sid, PacketKind::Frame, &frame(80, 5), &mut out)
        .unwrap();
    let mut reply = [0u8; 256];
    let mut reflected = out[..n].to_vec();
    assert_eq!(
        node.handle(t0, addr(CLIENT), &mut reflected, &mut ConstRng, &mut reply),
        Received::Dropped(PacketDrop::BadTag)
    );
    let mut straight = out[..n].to_vec();
    assert!(matches!(
        client.handle(t0, addr(NODE), &mut straight, &mut ConstRng, &mut reply),
        Received::Frame { .. }
    ));
}

/// Inits made directly with the handshake module (an attacker holding the
/// key, or a flood of honest clients behind one address).
fn inits(n: usize, rng: &mut ChaCha20Rng) -> Vec<[u8; INIT_LEN]> {
    (0..n)
        .map(|i| {
            let mut out = [0u8; INIT_LEN];
            Initiator::start(&access_key(), SessionId(i as u64 + 1), b"", rng, &mut out).unwrap();
            out
        })
        .collect()
}

#[test]
fn ten_thousand_inits_from_one_source_leave_half_open_at_cap() {
    let cfg = EndpointConfig {
        // Let the half-open cap, not the rate limit or per-key cap, bind.
        init_rate_per_source: Rate {
            burst: 100_000,
            per_second: 100_000,
        },
        init_rate_global: Rate {
            burst: 100_000,
            per_second: 100_000,
        },
        sessions_per_client_key: 100_000,
        ..EndpointConfig::default()
    };
    let cap = cfg.half_open_per_source;
    let mut node = node_with(cfg, &access_key(), KeyRole::Client);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let t0 = Instant::now();
    let mut reply = [0u8; 256];
    let mut accepted = 0;
    for (i, mut init) in inits(10_000, &mut rng).into_iter().enumerate() {
        let now = t0 + Duration::from_micros(i as u64 * 100); // 1 s in all
        match node.handle(now, addr(CLIENT), &mut init, &mut rng, &mut reply) {
            Received::Accepted { .. } => accepted += 1,
            Received::Dropped(PacketDrop::CapReached) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted, cap);
    assert_eq!(node.half_open_count(), cap);
    assert_eq!(
        node.counters().get(PacketDrop::CapReached),
        10_000 - cap as u64
    );
}

#[test]
fn init_flood_with_default_limits_is_rate_limited_and_capped() {
    let cfg = EndpointConfig::default();
    let mut node = node_with(cfg.clone(), &access_key(), KeyRole::Client);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let t0 = Instant::now();
    let mut reply = [0u8; 256];
    let mut answered = 0;
    for (i, mut init) in inits(300, &mut rng).into_iter().enumerate() {
        let source = SocketAddr::from(([198, 18, 1, (i % 200) as u8], 1000));
        if let Received::Accepted { .. } = node.handle(t0, source, &mut init, &mut rng, &mut reply)
        {
            answered += 1;
        }
    }
    // The per-key cap (client keys) binds first; everything else is dropped.
    assert_eq!(answered, cfg.sessions_per_client_key);
    assert!(node.half_open_count() <= cfg.half_open_total);
    assert_eq!(node.counters().total(), 300 - answered as u64);
}

#[test]
fn half_open_total_cap_across_sources() {
    let cfg = EndpointConfig {
        half_open_total: 20,
        sessions_per_client_key: 1000,
        init_rate_global: Rate {
            burst: 10_000,
            per_second: 10_000,
        },
        ..EndpointConfig::default()
    };
    let mut node = node_with(cfg, &access_key(), KeyRole::Client);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let t0 = Instant::now();
    let mut reply = [0u8; 256];
    for (i, mut init) in inits(50, &mut rng).into_iter().enumerate() {
        let source = SocketAddr::from(([198, 18, 2, i as u8], 1000));
        node.handle(t0, source, &mut init, &mut rng, &mut reply);
    }
    assert_eq!(node.half_open_count(), 20);
    assert_eq!(node.counters().get(PacketDrop::CapReached), 30);
    // Half-open sessions vanish after their lifetime, freeing the table.
    node.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(drain(&mut node).len(), 20);
    assert_eq!(node.half_open_count(), 0);
}

#[test]
fn forged_init_gets_no_answer() {
    let mut node = node_with(EndpointConfig::default(), &access_key(), KeyRole::Client);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let mut wrong = access_key();
    wrong.secret = [0x43; 32];
    let mut init = [0u8; INIT_LEN];
    Initiator::start(&wrong, SessionId(1), b"", &mut rng, &mut init).unwrap();
    let mut reply = [0u8; 256];
    assert_eq!(
        node.handle(
            Instant::now(),
            addr(CLIENT),
            &mut init,
            &mut rng,
            &mut reply
        ),
        Received::Dropped(PacketDrop::BadHandshake)
    );
    assert_eq!(node.session_count(), 0);
}

#[test]
fn any_single_bit_flip_is_dropped_never_delivered() {
    let mut p = pair();
    let f = frame(64, 0x77);
    let packet = p.client_to_node(p.t0, &f);
    for bit in 0..packet.len() * 8 {
        let mut flipped = packet.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let reason = p
            .deliver_to_node(p.t0, &flipped)
            .expect_err("flipped packet delivered");
        let byte = bit / 8;
        let allowed: &[PacketDrop] = match byte {
            0..=15 => &[PacketDrop::UnknownNetwork],
            16..=19 => &[PacketDrop::UnknownKey],
            20..=27 => &[PacketDrop::UnknownSession],
            36 if bit % 8 >= 4 => &[PacketDrop::BadVersion],
            // The kind nibble: another sealed kind fails the tag; a
            // handshake kind fails as a handshake; an unknown one as such.
            36 => &[
                PacketDrop::BadTag,
                PacketDrop::BadHandshake,
                PacketDrop::UnknownSession,
                PacketDrop::BadKind,
            ],
            _ => &[PacketDrop::BadTag],
        };
        assert!(allowed.contains(&reason), "bit {bit}: {reason:?}");
    }
    // None of that moved the replay window: the original still arrives.
    assert_eq!(p.deliver_to_node(p.t0, &packet), Ok(f));
}

#[test]
fn out_of_order_accepted_once_duplicates_dropped() {
    let mut p = pair();
    let packets: Vec<Vec<u8>> = (0..5)
        .map(|i| p.client_to_node(p.t0, &frame(60, i)))
        .collect();
    for i in [4, 0, 2, 1, 3] {
        assert!(p.deliver_to_node(p.t0, &packets[i]).is_ok());
    }
    for pkt in &packets {
        assert_eq!(p.deliver_to_node(p.t0, pkt), Err(PacketDrop::Replay));
    }
    assert_eq!(p.node.counters().get(PacketDrop::Replay), 5);
}

#[test]
fn consecutive_full_frames_share_no_keystream_block() {
    let mut p = pair();
    let plain = frame(1518, 0xa5);
    let mut blocks = HashSet::new();
    for _ in 0..2 {
        let packet = p.client_to_node(p.t0, &plain);
        let ct = &packet[HEADER_LEN..packet.len() - TAG_LEN];
        for (c, m) in ct.chunks_exact(16).zip(plain.chunks_exact(16)) {
            let ks: Vec<u8> = c.iter().zip(m).map(|(a, b)| a ^ b).collect();
            assert!(blocks.insert(ks), "a keystream block repeats");
        }
    }
}

#[test]
fn open_of_seal_is_identity_for_every_frame_size() {
    let p = RefCell::new(pair());
    let mut runner = TestRunner::new(Config::with_cases(256));
    runner
        .run(&proptest::collection::vec(any::<u8>(), 14..=1518), |f| {
            let mut p = p.borrow_mut();
            let t0 = p.t0;
            let packet = p.client_to_node(t0, &f);
            prop_assert_eq!(p.deliver_to_node(t0, &packet), Ok(f));
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_bytes_never_panic_handle() {
    let p = RefCell::new(pair());
    let mut runner = TestRunner::new(Config::with_cases(512));
    let prefix = {
        let mut h = Vec::from(access_key().chain_id.0);
        h.extend_from_slice(&access_key().key_id.0.to_be_bytes());
        h
    };
    runner
        .run(
            &(
                proptest::collection::vec(any::<u8>(), 0..=2000),
                any::<bool>(),
            ),
            |(mut bytes, known_key)| {
                let mut p = p.borrow_mut();
                if known_key && bytes.len() >= prefix.len() {
                    // Reach past the table lookups into the deeper checks.
                    bytes[..prefix.len()].copy_from_slice(&prefix);
                }
                let (t0, sid) = (p.t0, p.node_sid);
                if known_key && bytes.len() >= 28 {
                    bytes[20..28].copy_from_slice(&sid.0.to_be_bytes());
                }
                let mut reply = [0u8; 256];
                let Pair { node, rng, .. } = &mut *p;
                let r = node.handle(t0, addr(CLIENT), &mut bytes, rng, &mut reply);
                prop_assert!(matches!(r, Received::Dropped(_)), "{:?}", r);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn keepalive_timing_and_idle_expiry() {
    let mut p = pair();
    let t0 = p.t0;
    let s = Duration::from_secs(1);
    // The client sealed a keepalive at t0: nothing due before t0 + 1 s.
    p.client.handle_timeout(t0 + Duration::from_millis(999));
    assert_eq!(drain(&mut p.client), vec![]);
    assert_eq!(p.client.poll_timeout(), Some(t0 + s));
    p.client.handle_timeout(t0 + s);
    assert_eq!(
        drain(&mut p.client),
        vec![EndpointEvent::KeepaliveDue(p.client_sid)]
    );
    // Sending a frame at 1.5 s pushes the next keepalive to 2.5 s.
    let _ = p.client_to_node(t0 + Duration::from_millis(1500), &frame(60, 0));
    p.client.handle_timeout(t0 + Duration::from_millis(2499));
    assert_eq!(drain(&mut p.client), vec![]);
    p.client.handle_timeout(t0 + Duration::from_millis(2500));
    assert_eq!(
        drain(&mut p.client),
        vec![EndpointEvent::KeepaliveDue(p.client_sid)]
    );

    // The node last heard the client at t0: it sends keepalives each
    // second (nobody answers) and removes the session at t0 + 60 s.
    let mut keepalives = 0;
    let mut t = t0;
    while t < t0 + Duration::from_secs(59) {
        t += Duration::from_millis(250);
        p.node.handle_timeout(t);
        for e in drain(&mut p.node) {
            assert_eq!(e, EndpointEvent::KeepaliveDue(p.node_sid));
            keepalives += 1;
        }
    }
    assert!((58..=59).contains(&keepalives), "{keepalives} keepalives");
    assert!(p.node.session_info(p.node_sid).is_some());
    p.node.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(drain(&mut p.node), vec![EndpointEvent::Expired(p.node_sid)]);
    assert!(p.node.session_info(p.node_sid).is_none());
    assert_eq!(p.node.session_count(), 0);
}

#[test]
fn traffic_keeps_a_session_alive() {
    let mut p = pair();
    for i in 1..=120u64 {
        let now = p.t0 + Duration::from_secs(i);
        let packet = p.client_to_node(now, &frame(60, 0));
        assert!(p.deliver_to_node(now, &packet).is_ok());
        p.node.handle_timeout(now);
        assert!(!drain(&mut p.node).contains(&EndpointEvent::Expired(p.node_sid)));
    }
}

#[test]
fn pending_handshake_times_out() {
    let t0 = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default());
    let mut out = [0u8; 256];
    let s = client
        .connect(
            t0,
            addr(NODE),
            &access_key(),
            KeyRole::Client,
            b"",
            &mut ChaCha20Rng::seed_from_u64(1),
            &mut out,
        )
        .unwrap();
    assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    client.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(drain(&mut client), vec![EndpointEvent::Expired(s.session)]);
}

#[test]
fn revoked_key_tears_down_and_gets_a_rate_limited_notice() {
    let mut p = pair();
    let key = access_key();
    let t = p.t0 + Duration::from_secs(1);
    let packet = p.client_to_node(t, &frame(60, 0));
    assert_eq!(
        p.node.revoke_key(key.chain_id, key.key_id),
        vec![p.node_sid]
    );
    assert_eq!(p.deliver_to_node(t, &packet), Err(PacketDrop::Revoked));

    // A new client with the revoked key is told so, authenticated.
    let mut client = Endpoint::new(EndpointConfig::default());
    let mut init = [0u8; 256];
    let s = client
        .connect(
            t,
            addr(NODE),
            &key,
            KeyRole::Client,
            b"",
            &mut p.rng,
            &mut init,
        )
        .unwrap();
    let mut reply = [0u8; 256];
    let Received::Reply { len } =
        p.node
            .handle(t, addr(CLIENT), &mut init[..s.len], &mut p.rng, &mut reply)
    else {
        panic!("no revoked notice")
    };
    assert!(len <= s.len);
    let mut scratch = [0u8; 256];
    assert_eq!(
        client.handle(t, addr(NODE), &mut reply[..len], &mut p.rng, &mut scratch),
        Received::Revoked {
            chain: key.chain_id,
            key_id: key.key_id
        }
    );
    assert_eq!(client.session_count(), 0);
    assert_eq!(p.node.session_count(), 0);

    // Notices are rate limited per source: a flood gets a burst of them.
    let burst = p.node.config().init_rate_per_source.burst as usize;
    let mut notices = 0;
    for mut i in inits(3 * burst, &mut p.rng) {
        match p
            .node
            .handle(t, addr(CLIENT), &mut i, &mut p.rng, &mut reply)
        {
            Received::Reply { .. } => notices += 1,
            Received::Dropped(PacketDrop::Revoked) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(notices < burst, "{notices} notices");
}

#[test]
fn leave_removes_the_session() {
    let mut p = pair();
    let mut out = [0u8; 128];
    let n = p
        .client
        .seal(p.t0, p.client_sid, PacketKind::Leave, &[], &mut out)
        .unwrap();
    let mut reply = [0u8; 256];
    assert_eq!(
        p.node
            .handle(p.t0, addr(CLIENT), &mut out[..n], &mut p.rng, &mut reply),
        Received::Leave {
            session: p.node_sid
        }
    );
    assert_eq!(p.node.session_count(), 0);
}

#[test]
fn seal_refuses_bad_input() {
    let mut p = pair();
    let mut out = vec![0u8; MAX_PACKET];
    assert_eq!(
        p.client
            .seal(p.t0, p.client_sid, PacketKind::Frame, &[0; 13], &mut out),
        Err(SendError::FrameSize(13))
    );
    assert_eq!(
        p.client
            .seal(p.t0, p.client_sid, PacketKind::HandshakeInit, &[], &mut out),
        Err(SendError::NotSealedKind(PacketKind::HandshakeInit))
    );
    assert_eq!(
        p.client
            .seal(p.t0, SessionId(1), PacketKind::Keepalive, &[], &mut out),
        Err(SendError::UnknownSession)
    );
}
