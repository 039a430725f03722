//! Forward compatibility (docs/versioning.md): hand-made messages of a
//! "future" version are ignored and counted, never fatal, and the session
//! they arrive on (or next to) keeps working.
//!
//! - a packet with a future version nibble, or an unknown kind nibble;
//! - an authentic control message of an unknown type (and an empty one);
//! - a handshake init whose plaintext carries bytes after the payload (a
//!   newer initiator's feature flags), built by hand with `snow`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vswitch::control;
use vswitch::endpoint::{Endpoint, EndpointConfig, EndpointEvent, PacketDrop, Received};
use vswitch::handshake::{
    SeededResolver, INIT_LEN, INIT_PLAINTEXT_LEN, NOISE_PARAMS, PROLOGUE_LABEL, REPLY_LEN,
    STATUS_ACCEPTED,
};
use vswitch::key::{AccessKey, ChainId, KeyId, KeyRole};
use vswitch::seal::{DirectionKeys, PacketKey};
use vswitch::wire::{Header, PacketKind, SessionId, HEADER_LEN, MAX_PACKET, TAG_LEN};

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

fn frame(len: usize, fill: u8) -> Vec<u8> {
    let mut f = vec![fill; len];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xbb]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xaa]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// A node and a client (both `Endpoint`s) with a confirmed session.
struct Pair {
    node: Endpoint,
    client: Endpoint,
    node_sid: SessionId,
    client_sid: SessionId,
    rng: ChaCha20Rng,
    now: Instant,
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let key = access_key();
        let mut node = Endpoint::new(EndpointConfig::default());
        node.add_key(key.chain_id, key.key_id, key.secret, KeyRole::Client)
            .unwrap();
        let mut client = Endpoint::new(EndpointConfig::default());
        let mut init = [0u8; 256];
        let started = client
            .connect(
                now,
                addr(NODE),
                &key,
                KeyRole::Client,
                b"",
                &mut rng,
                &mut init,
            )
            .unwrap();
        let mut reply = [0u8; 256];
        let Received::Accepted {
            session: node_sid,
            reply_len,
        } = node.handle(
            now,
            addr(CLIENT),
            &mut init[..started.len],
            &mut rng,
            &mut reply,
        )
        else {
            panic!("init not accepted")
        };
        let mut scratch = [0u8; 256];
        assert_eq!(
            client.handle(
                now,
                addr(NODE),
                &mut reply[..reply_len],
                &mut rng,
                &mut scratch
            ),
            Received::Established {
                session: started.session
            }
        );
        while client.poll_event().is_some() {}
        let mut p = Pair {
            node,
            client,
            node_sid,
            client_sid: started.session,
            rng,
            now,
        };
        let mut ka = p.client_seal(PacketKind::Keepalive, &[]);
        assert_eq!(
            p.node_gets(&mut ka),
            Received::Keepalive { session: node_sid }
        );
        assert_eq!(
            p.node.poll_event(),
            Some(EndpointEvent::Confirmed(node_sid))
        );
        p
    }

    fn client_seal(&mut self, kind: PacketKind, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; MAX_PACKET];
        let n = self
            .client
            .seal(self.now, self.client_sid, kind, payload, &mut out)
            .unwrap();
        out.truncate(n);
        out
    }

    /// What the node makes of `packet`, as an owned summary.
    fn node_gets(&mut self, packet: &mut [u8]) -> Received<'static> {
        let mut reply = [0u8; 256];
        match self
            .node
            .handle(self.now, addr(CLIENT), packet, &mut self.rng, &mut reply)
        {
            Received::Frame { session, .. } => Received::Frame {
                session,
                frame: &[],
            },
            Received::Control { session, .. } => Received::Control {
                session,
                payload: &[],
            },
            Received::Keepalive { session } => Received::Keepalive { session },
            Received::Leave { session } => Received::Leave { session },
            Received::Dropped(r) => Received::Dropped(r),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The session still carries frames both ways.
    fn assert_frames_flow(&mut self) {
        let f = frame(100, 0x5a);
        let mut p = self.client_seal(PacketKind::Frame, &f);
        let mut reply = [0u8; 256];
        match self
            .node
            .handle(self.now, addr(CLIENT), &mut p, &mut self.rng, &mut reply)
        {
            Received::Frame { session, frame } => {
                assert_eq!(session, self.node_sid);
                assert_eq!(frame, &f[..]);
            }
            other => panic!("client->node frame not delivered: {other:?}"),
        }
        let mut out = vec![0u8; MAX_PACKET];
        let n = self
            .node
            .seal(self.now, self.node_sid, PacketKind::Frame, &f, &mut out)
            .unwrap();
        match self.client.handle(
            self.now,
            addr(NODE),
            &mut out[..n],
            &mut self.rng,
            &mut reply,
        ) {
            Received::Frame { frame, .. } => assert_eq!(frame, &f[..]),
            other => panic!("node->client frame not delivered: {other:?}"),
        }
        assert_eq!(self.node.session_count(), 1);
    }
}

#[test]
fn future_version_nibble_is_dropped_counted_and_harmless() {
    let mut p = Pair::new();
    // A "version 2" packet on the live session: a v1 sealed frame with the
    // version nibble changed, and a hand-made one of a v2 size and kind.
    let mut v2 = p.client_seal(PacketKind::Frame, &frame(64, 1));
    v2[36] = 0x23;
    assert_eq!(
        p.node_gets(&mut v2),
        Received::Dropped(PacketDrop::BadVersion)
    );
    let mut handmade = vec![0u8; HEADER_LEN + 200 + TAG_LEN];
    handmade[..16].copy_from_slice(&access_key().chain_id.0);
    handmade[16..20].copy_from_slice(&access_key().key_id.0.to_be_bytes());
    handmade[20..28].copy_from_slice(&p.node_sid.0.to_be_bytes());
    handmade[36] = 0x2a; // version 2, a kind v1 never had
    assert_eq!(
        p.node_gets(&mut handmade),
        Received::Dropped(PacketDrop::BadVersion)
    );
    for version in [0u8, 3, 15] {
        let mut ka = p.client_seal(PacketKind::Keepalive, &[]);
        ka[36] = (version << 4) | PacketKind::Keepalive as u8;
        assert_eq!(
            p.node_gets(&mut ka),
            Received::Dropped(PacketDrop::BadVersion)
        );
    }
    // A v1 header with a kind nibble v1 does not define (a future kind).
    let mut k = p.client_seal(PacketKind::Keepalive, &[]);
    k[36] = 0x18;
    assert_eq!(p.node_gets(&mut k), Received::Dropped(PacketDrop::BadKind));
    let c = p.node.counters();
    assert_eq!(c.get(PacketDrop::BadVersion), 5);
    assert_eq!(c.get(PacketDrop::BadKind), 1);
    assert_eq!(c.total(), 6);
    p.assert_frames_flow();
}

#[test]
fn unknown_control_type_is_dropped_counted_and_session_stays() {
    let mut p = Pair::new();
    let t_sent = p.now + Duration::from_secs(30);
    p.now = t_sent;
    let mut future = p.client_seal(PacketKind::Control, &[0x7f, 1, 2, 3, 4]);
    let replayed = future.clone();
    assert_eq!(
        p.node_gets(&mut future),
        Received::Dropped(PacketDrop::UnknownControl)
    );
    let mut empty = p.client_seal(PacketKind::Control, &[]);
    assert_eq!(
        p.node_gets(&mut empty),
        Received::Dropped(PacketDrop::UnknownControl)
    );
    assert_eq!(p.node.counters().get(PacketDrop::UnknownControl), 2);
    assert_eq!(p.node.counters().total(), 2);
    // It was authentic: the session heard from its peer (and the counter
    // is marked seen, so a replay of it is a replay, not another ignore).
    let info = p.node.session_info(p.node_sid).unwrap();
    assert_eq!(info.last_heard, t_sent);
    assert!(info.established);
    let mut again = replayed;
    assert_eq!(
        p.node_gets(&mut again),
        Received::Dropped(PacketDrop::Replay)
    );
    // A known control type is still delivered.
    let mut hello = [0u8; 9];
    hello[0] = control::HELLO;
    let mut known = p.client_seal(PacketKind::Control, &hello);
    assert_eq!(
        p.node_gets(&mut known),
        Received::Control {
            session: p.node_sid,
            payload: &[]
        }
    );
    // Nothing expired: idle time counts from the ignored message.
    p.node.handle_timeout(t_sent + Duration::from_secs(59));
    while let Some(ev) = p.node.poll_event() {
        assert!(
            !matches!(ev, EndpointEvent::Expired(_)),
            "session expired: {ev:?}"
        );
    }
    p.assert_frames_flow();
}

/// An init written by hand with `snow`, as a newer initiator would: any
/// 65-byte plaintext under the key's PSK.
fn init_with_plaintext(
    key: &AccessKey,
    local: SessionId,
    plain: &[u8; INIT_PLAINTEXT_LEN],
) -> (snow::HandshakeState, Vec<u8>) {
    let header = Header {
        chain_id: key.chain_id,
        key_id: key.key_id,
        session: local,
        counter: 0,
        kind: PacketKind::HandshakeInit,
    };
    let mut prologue = PROLOGUE_LABEL.to_vec();
    prologue.extend_from_slice(&header.to_bytes());
    let resolver = SeededResolver::new([local.0 as u8; 32]);
    let mut state = snow::Builder::with_resolver(NOISE_PARAMS.parse().unwrap(), Box::new(resolver))
        .psk(0, &key.secret)
        .unwrap()
        .prologue(&prologue)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut packet = vec![0u8; INIT_LEN];
    packet[..HEADER_LEN].copy_from_slice(&header.to_bytes());
    let n = state
        .write_message(plain, &mut packet[HEADER_LEN..])
        .unwrap();
    assert_eq!(HEADER_LEN + n, INIT_LEN);
    (state, packet)
}

/// `len ‖ payload ‖ extension`: non-zero extension bytes are a newer
/// initiator's feature flags.
fn future_init(
    key: &AccessKey,
    local: SessionId,
    payload: &[u8],
    extension: &[u8],
) -> (snow::HandshakeState, Vec<u8>) {
    assert!(1 + payload.len() + extension.len() <= INIT_PLAINTEXT_LEN);
    let mut plain = [0u8; INIT_PLAINTEXT_LEN];
    plain[0] = payload.len() as u8;
    plain[1..=payload.len()].copy_from_slice(payload);
    let ext_at = 1 + payload.len();
    plain[ext_at..ext_at + extension.len()].copy_from_slice(extension);
    init_with_plaintext(key, local, &plain)
}

#[test]
fn unknown_handshake_extension_is_ignored_counted_and_session_works() {
    let now = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let key = access_key();
    let mut node = Endpoint::new(EndpointConfig::default());
    node.add_key(key.chain_id, key.key_id, key.secret, KeyRole::Node)
        .unwrap();
    let local = SessionId(0x0102_0304_0506_0708);
    let node_id = 0x1111_2222_3333_4444u64.to_be_bytes();
    // A future node: its node id, then a flags word and a TLV it expects
    // v1 to skip.
    let (mut ini, mut init) = future_init(
        &key,
        local,
        &node_id,
        &[0x80, 0, 0, 0x01, 0x09, 0x02, 0xab, 0xcd],
    );
    let mut reply = [0u8; 256];
    let Received::Accepted {
        session: node_sid,
        reply_len,
    } = node.handle(now, addr(CLIENT), &mut init, &mut rng, &mut reply)
    else {
        panic!("an init with an extension was refused")
    };
    assert_eq!(reply_len, REPLY_LEN);
    assert_eq!(node.ignored().handshake_extension, 1);
    assert_eq!(
        node.ignored().iter().collect::<Vec<_>>(),
        vec![("ignored_handshake_extension", 1)]
    );
    assert_eq!(node.counters().total(), 0);
    // The payload is exactly what was sent: the extension is not in it.
    let info = node.session_info(node_sid).unwrap();
    assert_eq!(info.peer_payload, node_id);

    // Finish the handshake by hand and use the session.
    let mut plain = [0u8; 64];
    let n = ini
        .read_message(&reply[HEADER_LEN..reply_len], &mut plain)
        .unwrap();
    assert_eq!(n, 9);
    assert_eq!(plain[0], STATUS_ACCEPTED);
    let responder = SessionId(u64::from_be_bytes(plain[1..9].try_into().unwrap()));
    assert_eq!(responder, node_sid);
    let (i2r, r2i) = ini.dangerously_get_raw_split();
    let send = PacketKey::new(&DirectionKeys::derive(&i2r));
    let recv = PacketKey::new(&DirectionKeys::derive(&r2i));
    let header = |counter, kind| Header {
        chain_id: key.chain_id,
        key_id: key.key_id,
        session: responder,
        counter,
        kind,
    };
    let mut out = vec![0u8; MAX_PACKET];
    let n = send
        .seal(&header(0, PacketKind::Keepalive), &[], &mut out)
        .unwrap();
    assert_eq!(
        node.handle(now, addr(CLIENT), &mut out[..n], &mut rng, &mut reply),
        Received::Keepalive { session: node_sid }
    );
    assert_eq!(node.poll_event(), Some(EndpointEvent::Confirmed(node_sid)));
    let f = frame(200, 7);
    let n = send
        .seal(&header(1, PacketKind::Frame), &f, &mut out)
        .unwrap();
    match node.handle(now, addr(CLIENT), &mut out[..n], &mut rng, &mut reply) {
        Received::Frame { frame, .. } => assert_eq!(frame, &f[..]),
        other => panic!("frame not delivered: {other:?}"),
    }
    let n = node
        .seal(now, node_sid, PacketKind::Frame, &f, &mut out)
        .unwrap();
    let (h, range) = recv.open(&mut out[..n]).unwrap();
    assert_eq!(h.session, local);
    assert_eq!(&out[range], &f[..]);
    assert_eq!(node.counters().total(), 0);

    // A v1 init (zeros after the payload) is not counted.
    let (_, mut plain_init) = future_init(&key, SessionId(9), &node_id, &[]);
    assert!(matches!(
        node.handle(now, addr(CLIENT), &mut plain_init, &mut rng, &mut reply),
        Received::Accepted { .. }
    ));
    assert_eq!(node.ignored().handshake_extension, 1);
}

#[test]
fn malformed_init_length_byte_is_still_refused() {
    // The extension area is free, the length byte is not: len > 64 would
    // read past the plaintext.
    let now = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let key = access_key();
    let mut node = Endpoint::new(EndpointConfig::default());
    node.add_key(key.chain_id, key.key_id, key.secret, KeyRole::Client)
        .unwrap();
    let mut plain = [0u8; INIT_PLAINTEXT_LEN];
    plain[0] = 65;
    let (_, mut init) = init_with_plaintext(&key, SessionId(3), &plain);
    let mut reply = [0u8; 256];
    assert_eq!(
        node.handle(now, addr(CLIENT), &mut init, &mut rng, &mut reply),
        Received::Dropped(PacketDrop::BadHandshake)
    );
    assert_eq!(node.ignored().handshake_extension, 0);
    assert_eq!(node.session_count(), 0);
}
