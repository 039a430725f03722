//! Wire-format test vectors (`tests/vectors/*.hex`, described in WIRE.md).
//!
//! The files were written once by `cargo test -p vswitch --test vectors --
//! --ignored write_vectors` and are checked, not regenerated, on every run:
//! twice, once through this crate and once straight from the primitives
//! (`snow` with fixed ephemerals, `aes`/`ctr`/`hmac`/`hkdf`) following
//! WIRE.md, so another implementation could be written from the files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use rand_chacha::rand_core::{CryptoRng, Error as RngError, RngCore};
use sha2::Sha256;
use vswitch::handshake::{
    read_init, seeded_ephemeral, Initiator, ReplyOutcome, SeededResolver, NOISE_PARAMS,
    PROLOGUE_LABEL,
};
use vswitch::key::{AccessKey, ChainId, KeyId};
use vswitch::seal::{iv, DirectionKeys, PacketKey, AES_LABEL, HMAC_LABEL};
use vswitch::wire::{Header, PacketKind, SessionId, HEADER_LEN, TAG_LEN};

type Record = BTreeMap<String, Vec<u8>>;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// `name: hex` lines; `#` comments; records separated by blank lines.
fn read(name: &str) -> Vec<Record> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    let mut records = vec![Record::new()];
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            if !records.last().unwrap().is_empty() {
                records.push(Record::new());
            }
        } else if !line.starts_with('#') {
            let (k, v) = line.split_once(':').unwrap();
            records
                .last_mut()
                .unwrap()
                .insert(k.trim().into(), hex::decode(v.trim()).unwrap());
        }
    }
    records.retain(|r| !r.is_empty());
    records
}

fn write(name: &str, header: &str, records: &[Vec<(&str, Vec<u8>)>]) {
    let mut text = String::from(header);
    for r in records {
        text.push('\n');
        for (k, v) in r {
            writeln!(text, "{k}: {}", hex::encode(v)).unwrap();
        }
    }
    std::fs::create_dir_all(dir()).unwrap();
    std::fs::write(dir().join(name), text).unwrap();
}

/// An RNG that hands out recorded bytes: what each side drew.
struct Recorded(Vec<u8>);

impl RngCore for Recorded {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Recorded {}

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().unwrap()
}

fn handshake_record(
    i_seed: [u8; 32],
    r_seed: [u8; 32],
    payload: &[u8],
) -> Vec<(&'static str, Vec<u8>)> {
    let key = AccessKey {
        chain_id: ChainId(*b"atenet-vectors-1"),
        key_id: KeyId(0x0a0b_0c0d),
        secret: *b"the 32-byte pre-shared secret!!!",
    };
    let (i_id, r_id) = (
        SessionId(0x1111_2222_3333_4444),
        SessionId(0x5555_6666_7777_8888),
    );
    let mut init = [0u8; 256];
    let (mut ini, n) = Initiator::start(
        &key,
        i_id,
        payload,
        &mut Recorded(i_seed.to_vec()),
        &mut init,
    )
    .unwrap();
    let req = read_init(&key.secret, &init[..n], &mut Recorded(r_seed.to_vec())).unwrap();
    let mut reply = [0u8; 256];
    let (m, rkeys) = req.accept(r_id, &mut reply).unwrap();
    let ReplyOutcome::Accepted { keys, .. } = ini.finish(&reply[..m]).unwrap() else {
        panic!()
    };
    assert_eq!(keys.send, rkeys.recv);
    let mut prologue = PROLOGUE_LABEL.to_vec();
    prologue.extend_from_slice(&init[..HEADER_LEN]);
    vec![
        ("psk", key.secret.to_vec()),
        ("chain_id", key.chain_id.0.to_vec()),
        ("key_id", key.key_id.0.to_be_bytes().to_vec()),
        ("initiator_session_id", i_id.0.to_be_bytes().to_vec()),
        ("responder_session_id", r_id.0.to_be_bytes().to_vec()),
        ("init_payload", payload.to_vec()),
        ("initiator_rng_seed", i_seed.to_vec()),
        (
            "initiator_ephemeral_private",
            seeded_ephemeral(i_seed).to_vec(),
        ),
        ("responder_rng_seed", r_seed.to_vec()),
        (
            "responder_ephemeral_private",
            seeded_ephemeral(r_seed).to_vec(),
        ),
        ("prologue", prologue),
        ("init_packet", init[..n].to_vec()),
        ("reply_packet", reply[..m].to_vec()),
        ("i2r_aes", keys.send.aes.to_vec()),
        ("i2r_hmac", keys.send.hmac.to_vec()),
        ("r2i_aes", keys.recv.aes.to_vec()),
        ("r2i_hmac", keys.recv.hmac.to_vec()),
    ]
}

fn sealed_record(
    aes: [u8; 32],
    hmac: [u8; 32],
    header: Header,
    plain: &[u8],
) -> Vec<(&'static str, Vec<u8>)> {
    let keys = DirectionKeys { aes, hmac };
    let mut out = vec![0u8; HEADER_LEN + plain.len() + TAG_LEN];
    PacketKey::new(&keys)
        .seal(&header, plain, &mut out)
        .unwrap();
    vec![
        ("aes_key", aes.to_vec()),
        ("hmac_key", hmac.to_vec()),
        ("chain_id", header.chain_id.0.to_vec()),
        ("key_id", header.key_id.0.to_be_bytes().to_vec()),
        ("session_id", header.session.0.to_be_bytes().to_vec()),
        ("counter", header.counter.to_be_bytes().to_vec()),
        ("type", vec![header.to_bytes()[36]]),
        ("iv", iv(header.session, header.counter).to_vec()),
        ("plaintext", plain.to_vec()),
        ("ciphertext", out[HEADER_LEN..out.len() - TAG_LEN].to_vec()),
        ("tag", out[out.len() - TAG_LEN..].to_vec()),
        ("packet", out),
    ]
}

#[test]
#[ignore = "writes tests/vectors; run once by hand"]
fn write_vectors() {
    write(
        "handshake.hex",
        "# atenet wire v1 handshake transcripts (WIRE.md, \"Handshake\").\n\
         # Noise_NNpsk0_25519_ChaChaPoly_SHA256; integers big-endian.\n\
         # *_rng_seed: the 32 bytes each side drew from its RNG; the\n\
         # ephemeral private key is the first 32 bytes of AES-256-CTR\n\
         # (key = seed, IV = 0) keystream. i2r/r2i: the keys derived\n\
         # from the Noise split by HKDF-SHA256 (\"atenet v1 aes\"/\"atenet v1 hmac\").\n",
        &[
            handshake_record([1; 32], [2; 32], b""),
            handshake_record([0xa1; 32], [0xb2; 32], b"node-7f3a"),
        ],
    );
    let header = |counter, kind| Header {
        chain_id: ChainId(*b"atenet-vectors-1"),
        key_id: KeyId(0x0a0b_0c0d),
        session: SessionId(0x0102_0304_0506_0708),
        counter,
        kind,
    };
    let frame: Vec<u8> = (0..100u8).collect();
    let big: Vec<u8> = (0..1518u32).map(|i| (i * 7) as u8).collect();
    write(
        "sealed.hex",
        "# atenet wire v1 sealed packets (WIRE.md, \"Sealed packets\").\n\
         # packet = header(37) || AES-256-CTR(plaintext) || HMAC-SHA256(header || ciphertext)[..16]\n",
        &[
            sealed_record([0x11; 32], [0x22; 32], header(0, PacketKind::Keepalive), b""),
            sealed_record([0x11; 32], [0x22; 32], header(1, PacketKind::Frame), &frame),
            sealed_record([0x33; 32], [0x44; 32], header(0xffff_ffff_fffe, PacketKind::Frame), &big),
            sealed_record([0x33; 32], [0x44; 32], header(0x0001_0000_0000, PacketKind::Control), b"ctl"),
        ],
    );
}

#[test]
fn handshake_vectors_match_this_crate() {
    for r in read("handshake.hex") {
        let key = AccessKey {
            chain_id: ChainId(arr(&r["chain_id"])),
            key_id: KeyId(u32::from_be_bytes(arr(&r["key_id"]))),
            secret: arr(&r["psk"]),
        };
        let i_id = SessionId(u64::from_be_bytes(arr(&r["initiator_session_id"])));
        let r_id = SessionId(u64::from_be_bytes(arr(&r["responder_session_id"])));
        let mut init = [0u8; 256];
        let (mut ini, n) = Initiator::start(
            &key,
            i_id,
            &r["init_payload"],
            &mut Recorded(r["initiator_rng_seed"].clone()),
            &mut init,
        )
        .unwrap();
        assert_eq!(init[..n], r["init_packet"][..]);
        let req = read_init(
            &key.secret,
            &init[..n],
            &mut Recorded(r["responder_rng_seed"].clone()),
        )
        .unwrap();
        assert_eq!(req.payload(), &r["init_payload"][..]);
        let mut reply = [0u8; 256];
        let (m, rkeys) = req.accept(r_id, &mut reply).unwrap();
        assert_eq!(reply[..m], r["reply_packet"][..]);
        let ReplyOutcome::Accepted { responder, keys } = ini.finish(&reply[..m]).unwrap() else {
            panic!()
        };
        assert_eq!(responder, r_id);
        assert_eq!(keys.send.aes[..], r["i2r_aes"][..]);
        assert_eq!(keys.send.hmac[..], r["i2r_hmac"][..]);
        assert_eq!(keys.recv.aes[..], r["r2i_aes"][..]);
        assert_eq!(keys.recv.hmac[..], r["r2i_hmac"][..]);
        assert_eq!(rkeys.send, keys.recv);
        assert_eq!(
            seeded_ephemeral(arr(&r["initiator_rng_seed"]))[..],
            r["initiator_ephemeral_private"][..]
        );
    }
}

/// WIRE.md followed with `snow` directly (fixed ephemerals) and `hkdf`.
#[test]
fn handshake_vectors_match_the_spec() {
    for r in read("handshake.hex") {
        let psk: [u8; 32] = arr(&r["psk"]);
        fn build<'a>(psk: &'a [u8; 32], prologue: &'a [u8], e: &'a [u8]) -> snow::Builder<'a> {
            // snow's default resolver has no RNG here (no getrandom); the
            // fixed ephemeral means the resolver's RNG is never used.
            let unused_rng = Box::new(SeededResolver::new([0; 32]));
            snow::Builder::with_resolver(NOISE_PARAMS.parse().unwrap(), unused_rng)
                .psk(0, psk)
                .unwrap()
                .prologue(prologue)
                .unwrap()
                .fixed_ephemeral_key_for_testing_only(e)
        }
        let prologue = &r["prologue"];
        let mut i = build(&psk, prologue, &r["initiator_ephemeral_private"])
            .build_initiator()
            .unwrap();
        let mut rs = build(&psk, prologue, &r["responder_ephemeral_private"])
            .build_responder()
            .unwrap();
        let init = &r["init_packet"];
        assert_eq!(init[..HEADER_LEN], r["prologue"][PROLOGUE_LABEL.len()..]);
        // Init plaintext: len(1) || payload || zeros to 65 bytes.
        let mut plain = vec![0u8; 65];
        plain[0] = r["init_payload"].len() as u8;
        plain[1..=r["init_payload"].len()].copy_from_slice(&r["init_payload"]);
        let mut msg = [0u8; 256];
        let n = i.write_message(&plain, &mut msg).unwrap();
        assert_eq!(msg[..n], init[HEADER_LEN..]);
        let mut got = [0u8; 256];
        rs.read_message(&init[HEADER_LEN..], &mut got).unwrap();
        // Reply plaintext: status 0 || responder session id; header = init
        // header with type 0x12.
        let mut reply_plain = vec![0u8];
        reply_plain.extend_from_slice(&r["responder_session_id"]);
        let m = rs.write_message(&reply_plain, &mut msg).unwrap();
        let reply = &r["reply_packet"];
        assert_eq!(msg[..m], reply[HEADER_LEN..]);
        let mut reply_header = init[..HEADER_LEN].to_vec();
        reply_header[36] = 0x12;
        assert_eq!(reply[..HEADER_LEN], reply_header[..]);
        let (i2r, r2i) = rs.dangerously_get_raw_split();
        let derive = |secret: &[u8; 32], label: &[u8]| {
            let mut k = [0u8; 32];
            hkdf::Hkdf::<Sha256>::new(None, secret)
                .expand(label, &mut k)
                .unwrap();
            k
        };
        assert_eq!(derive(&i2r, AES_LABEL)[..], r["i2r_aes"][..]);
        assert_eq!(derive(&i2r, HMAC_LABEL)[..], r["i2r_hmac"][..]);
        assert_eq!(derive(&r2i, AES_LABEL)[..], r["r2i_aes"][..]);
        assert_eq!(derive(&r2i, HMAC_LABEL)[..], r["r2i_hmac"][..]);
    }
}

#[test]
fn sealed_vectors_match_this_crate_and_the_spec() {
    let records = read("sealed.hex");
    assert!(records.len() >= 4);
    for r in records {
        let packet = &r["packet"];
        let header = Header::parse(packet).unwrap();
        assert_eq!(packet[..16], r["chain_id"][..]);
        assert_eq!(header.session.0.to_be_bytes()[..], r["session_id"][..]);
        assert_eq!(header.counter.to_be_bytes()[..], r["counter"][..]);
        assert_eq!(packet[36], r["type"][0]);
        let keys = DirectionKeys {
            aes: arr(&r["aes_key"]),
            hmac: arr(&r["hmac_key"]),
        };
        // This crate.
        let mut out = vec![0u8; packet.len()];
        PacketKey::new(&keys)
            .seal(&header, &r["plaintext"], &mut out)
            .unwrap();
        assert_eq!(&out, packet);
        let (_, range) = PacketKey::new(&keys).open(&mut out).unwrap();
        assert_eq!(out[range], r["plaintext"][..]);
        // The spec: IV = session id || counter48 || 0000, 32-bit BE block counter.
        let mut iv_bytes = r["session_id"].clone();
        iv_bytes.extend_from_slice(&r["counter"][2..]);
        iv_bytes.extend_from_slice(&[0, 0]);
        assert_eq!(iv_bytes, r["iv"]);
        let mut ct = r["plaintext"].clone();
        ctr::Ctr32BE::<aes::Aes256>::new(&keys.aes.into(), iv_bytes.as_slice().into())
            .apply_keystream(&mut ct);
        assert_eq!(ct, r["ciphertext"]);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&keys.hmac).unwrap();
        mac.update(&packet[..packet.len() - TAG_LEN]);
        assert_eq!(mac.finalize().into_bytes()[..TAG_LEN], r["tag"][..]);
    }
}
