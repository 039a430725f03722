//! The session handshake: Noise `NNpsk0` (one round trip) with the access
//! key's secret as the pre-shared key, over `snow`.
//!
//! ```text
//! NNpsk0:
//!   -> psk, e        (init: no DH; the payload AEAD is keyed by psk and e)
//!   <- e, ee         (reply: one X25519)
//! ```
//!
//! Why this pattern (DESIGN.md "Sessions and wire format"): both ephemerals
//! give forward secrecy and make every session's keys fresh, so a captured
//! packet is worthless to a restarted node or another node; the PSK means
//! only holders of the key can start one. Because message 1 has no DH
//! token, a forged init fails its AEAD before the responder does any
//! Diffie-Hellman. The prologue binds the version, chain id, key id and the
//! initiator's session id (the whole init header), so none can be changed.
//!
//! Randomness is passed in: each handshake side draws a 32-byte seed from
//! the caller's RNG and gives `snow` a resolver whose RNG is an AES-256-CTR
//! keystream under that seed ([`SeededResolver`]). A seeded caller RNG thus
//! yields a deterministic transcript, which the test vectors rely on.

use std::sync::atomic::{AtomicU64, Ordering};

use aes::cipher::{KeyIvInit, StreamCipher};
use rand_core::{CryptoRng, RngCore};
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use snow::{Builder, HandshakeState};

use crate::key::AccessKey;
use crate::seal::DirectionKeys;
use crate::wire::{Header, PacketKind, SessionId, HEADER_LEN};

/// The Noise protocol name: X25519, ChaCha20-Poly1305 and SHA-256 (SHA-256
/// to match the HKDF and HMAC of the data path).
pub const NOISE_PARAMS: &str = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";
/// Prologue = this label ‖ the 37-byte init header.
pub const PROLOGUE_LABEL: &[u8] = b"atenet v1 handshake";
/// Most bytes an initiator may put in its init (a node puts its node id).
pub const MAX_INIT_PAYLOAD: usize = 64;
/// Init plaintext: payload length (1) ‖ payload ‖ extension (zeros from a
/// v1 initiator), 65 bytes in all.
pub const INIT_PLAINTEXT_LEN: usize = 1 + MAX_INIT_PAYLOAD;
/// Reply plaintext: status (1) ‖ responder's session id (8).
pub const REPLY_PLAINTEXT_LEN: usize = 1 + 8;
const DH_LEN: usize = 32;
const AEAD_TAG: usize = 16;
/// Whole init packet: header ‖ e (32) ‖ AEAD(init plaintext) = 150 bytes.
pub const INIT_LEN: usize = HEADER_LEN + DH_LEN + INIT_PLAINTEXT_LEN + AEAD_TAG;
/// Whole reply packet: header ‖ e (32) ‖ AEAD(reply plaintext) = 94 bytes.
pub const REPLY_LEN: usize = HEADER_LEN + DH_LEN + REPLY_PLAINTEXT_LEN + AEAD_TAG;
/// Reply status byte: session accepted.
pub const STATUS_ACCEPTED: u8 = 0;
/// Reply status byte: the key id is revoked; no session.
pub const STATUS_REVOKED: u8 = 1;

// The no-amplification rule (DESIGN.md): a reply is never larger than the
// init that caused it.
const _: () = assert!(REPLY_LEN <= INIT_LEN);

/// Why a handshake message was refused. The endpoint counts all of these
/// as `PacketDrop::BadHandshake`.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The packet is not the fixed length of its kind.
    #[error("handshake packet of {seen} bytes, expected {expected}")]
    Length {
        /// Bytes seen.
        seen: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// A header field is not what the handshake requires (counter not 0,
    /// kind not matching the authenticated status).
    #[error("handshake header field is wrong")]
    Header,
    /// The authenticated plaintext is malformed.
    #[error("handshake payload is malformed")]
    Payload,
    /// The caller's payload is over [`MAX_INIT_PAYLOAD`].
    #[error("init payload of {0} bytes exceeds 64")]
    PayloadTooLong(usize),
    /// The output buffer is too small.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// Noise refused the message (AEAD failure: wrong PSK or forged).
    #[error("noise: {0}")]
    Noise(#[from] snow::Error),
}

/// The two directional key sets of a session, from one side's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKeys {
    /// Keys this side seals with.
    pub send: DirectionKeys,
    /// Keys this side opens with.
    pub recv: DirectionKeys,
}

impl SessionKeys {
    /// Noise's split gives (initiator->responder, responder->initiator);
    /// each becomes one direction's AES and HMAC keys by HKDF.
    fn from_split(state: &mut HandshakeState, initiator: bool) -> Self {
        let (i2r, r2i) = state.dangerously_get_raw_split();
        let (i2r, r2i) = (DirectionKeys::derive(&i2r), DirectionKeys::derive(&r2i));
        if initiator {
            SessionKeys {
                send: i2r,
                recv: r2i,
            }
        } else {
            SessionKeys {
                send: r2i,
                recv: i2r,
            }
        }
    }
}

fn params() -> NoiseParams {
    NOISE_PARAMS
        .parse()
        .expect("NOISE_PARAMS is a valid Noise name")
}

fn prologue(init_header: &Header) -> [u8; PROLOGUE_LABEL.len() + HEADER_LEN] {
    let mut p = [0u8; PROLOGUE_LABEL.len() + HEADER_LEN];
    p[..PROLOGUE_LABEL.len()].copy_from_slice(PROLOGUE_LABEL);
    p[PROLOGUE_LABEL.len()..].copy_from_slice(&init_header.to_bytes());
    p
}

fn build(
    secret: &[u8; 32],
    init_header: &Header,
    seed: [u8; 32],
    initiator: bool,
) -> Result<HandshakeState, snow::Error> {
    let prologue = prologue(init_header);
    let builder = Builder::with_resolver(params(), Box::new(SeededResolver::new(seed)))
        .psk(0, secret)?
        .prologue(&prologue)?;
    if initiator {
        builder.build_initiator()
    } else {
        builder.build_responder()
    }
}

fn draw_seed(rng: &mut (impl RngCore + CryptoRng)) -> [u8; 32] {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    seed
}

/// The initiator's half-done handshake, kept until the reply arrives.
pub struct Initiator {
    state: HandshakeState,
    header: Header,
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// What an authentic reply said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// A session: address the responder with `responder`, seal with `keys`.
    Accepted {
        /// The responder's receive id.
        responder: SessionId,
        /// This side's keys.
        keys: SessionKeys,
    },
    /// The responder says this key is revoked.
    Revoked,
}

impl Initiator {
    /// Writes an init packet ([`INIT_LEN`] bytes) into `out`. `local` is the
    /// id the responder will address us with; `payload` (<= 64 bytes) is
    /// encrypted under the PSK and shown to the responder.
    pub fn start(
        key: &AccessKey,
        local: SessionId,
        payload: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
        out: &mut [u8],
    ) -> Result<(Self, usize), HandshakeError> {
        if payload.len() > MAX_INIT_PAYLOAD {
            return Err(HandshakeError::PayloadTooLong(payload.len()));
        }
        let out = out
            .get_mut(..INIT_LEN)
            .ok_or(HandshakeError::BufferTooSmall)?;
        let header = Header {
            chain_id: key.chain_id,
            key_id: key.key_id,
            session: local,
            counter: 0,
            kind: PacketKind::HandshakeInit,
        };
        let mut state = build(&key.secret, &header, draw_seed(rng), true)?;
        let mut plain = [0u8; INIT_PLAINTEXT_LEN];
        plain[0] = payload.len() as u8;
        plain[1..=payload.len()].copy_from_slice(payload);
        out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        let n = state.write_message(&plain, &mut out[HEADER_LEN..])?;
        debug_assert_eq!(HEADER_LEN + n, INIT_LEN);
        Ok((Initiator { state, header }, INIT_LEN))
    }

    /// The header of the init this handshake sent.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads the reply. A reply that fails the Noise AEAD leaves the state
    /// unchanged (snow restores its checkpoint), so a forged reply cannot
    /// spoil a pending handshake; an authentic reply whose kind nibble
    /// disagrees with its status (changed on path) does, and the pending
    /// handshake then times out.
    pub fn finish(&mut self, packet: &[u8]) -> Result<ReplyOutcome, HandshakeError> {
        if packet.len() != REPLY_LEN {
            return Err(HandshakeError::Length {
                seen: packet.len(),
                expected: REPLY_LEN,
            });
        }
        let header = Header::parse(packet).map_err(|_| HandshakeError::Header)?;
        if header.counter != 0
            || header.chain_id != self.header.chain_id
            || header.key_id != self.header.key_id
            || header.session != self.header.session
        {
            return Err(HandshakeError::Header);
        }
        let mut plain = [0u8; REPLY_LEN];
        let n = self.state.read_message(&packet[HEADER_LEN..], &mut plain)?;
        if n != REPLY_PLAINTEXT_LEN {
            return Err(HandshakeError::Payload);
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&plain[1..9]);
        // The kind nibble is not covered by Noise; the status byte is, and
        // must agree with it.
        match (plain[0], header.kind) {
            (STATUS_ACCEPTED, PacketKind::HandshakeReply) => Ok(ReplyOutcome::Accepted {
                responder: SessionId(u64::from_be_bytes(id)),
                keys: SessionKeys::from_split(&mut self.state, true),
            }),
            (STATUS_REVOKED, PacketKind::Revoked) => Ok(ReplyOutcome::Revoked),
            _ => Err(HandshakeError::Header),
        }
    }
}

/// An init that authenticated under the PSK; no DH has been done yet.
pub struct InitRequest {
    state: HandshakeState,
    header: Header,
    ephemeral: [u8; 32],
    payload: [u8; MAX_INIT_PAYLOAD],
    payload_len: usize,
}

impl std::fmt::Debug for InitRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitRequest")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Authenticates an init packet with `secret` (the PSK of the key id in
/// its header). Cheap: hashing and one ChaCha20-Poly1305 open, no DH.
pub fn read_init(
    secret: &[u8; 32],
    packet: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<InitRequest, HandshakeError> {
    if packet.len() != INIT_LEN {
        return Err(HandshakeError::Length {
            seen: packet.len(),
            expected: INIT_LEN,
        });
    }
    let header = Header::parse(packet).map_err(|_| HandshakeError::Header)?;
    if header.counter != 0 || header.kind != PacketKind::HandshakeInit {
        return Err(HandshakeError::Header);
    }
    let mut state = build(secret, &header, draw_seed(rng), false)?;
    let mut plain = [0u8; INIT_LEN];
    let n = state.read_message(&packet[HEADER_LEN..], &mut plain)?;
    let len = plain[0] as usize;
    // The bytes after the payload are zeros from a v1 initiator and a
    // newer one's extension (feature flags): authenticated, kept for
    // `extension()`, never a reason to refuse (docs/versioning.md).
    if n != INIT_PLAINTEXT_LEN || len > MAX_INIT_PAYLOAD {
        return Err(HandshakeError::Payload);
    }
    let mut ephemeral = [0u8; 32];
    ephemeral.copy_from_slice(&packet[HEADER_LEN..HEADER_LEN + DH_LEN]);
    let mut payload = [0u8; MAX_INIT_PAYLOAD];
    payload.copy_from_slice(&plain[1..INIT_PLAINTEXT_LEN]);
    Ok(InitRequest {
        state,
        header,
        ephemeral,
        payload,
        payload_len: len,
    })
}

impl InitRequest {
    /// The authenticated init header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The initiator's ephemeral public key, used to recognise a replayed
    /// init.
    pub fn ephemeral(&self) -> &[u8; 32] {
        &self.ephemeral
    }

    /// The initiator's payload (a node's node id).
    pub fn payload(&self) -> &[u8] {
        &self.payload[..self.payload_len]
    }

    /// The plaintext after the payload: zeros from a v1 initiator, a newer
    /// one's extension otherwise (ignored by v1, counted by the endpoint).
    pub fn extension(&self) -> &[u8] {
        &self.payload[self.payload_len..]
    }

    fn write_reply(
        &mut self,
        status: u8,
        local: SessionId,
        out: &mut [u8],
    ) -> Result<usize, HandshakeError> {
        let out = out
            .get_mut(..REPLY_LEN)
            .ok_or(HandshakeError::BufferTooSmall)?;
        let header = Header {
            kind: if status == STATUS_ACCEPTED {
                PacketKind::HandshakeReply
            } else {
                PacketKind::Revoked
            },
            ..self.header
        };
        out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        let mut plain = [0u8; REPLY_PLAINTEXT_LEN];
        plain[0] = status;
        plain[1..].copy_from_slice(&local.0.to_be_bytes());
        let n = self.state.write_message(&plain, &mut out[HEADER_LEN..])?;
        debug_assert_eq!(HEADER_LEN + n, REPLY_LEN);
        Ok(REPLY_LEN)
    }

    /// Accepts: writes the reply ([`REPLY_LEN`] bytes; one X25519) telling
    /// the initiator to address us as `local`, and returns our keys.
    pub fn accept(
        mut self,
        local: SessionId,
        out: &mut [u8],
    ) -> Result<(usize, SessionKeys), HandshakeError> {
        let n = self.write_reply(STATUS_ACCEPTED, local, out)?;
        Ok((n, SessionKeys::from_split(&mut self.state, false)))
    }

    /// Refuses because the key is revoked: a reply the initiator can
    /// authenticate, creating no session.
    pub fn refuse_revoked(mut self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        self.write_reply(STATUS_REVOKED, SessionId(0), out)
    }
}

/// A `snow` resolver whose RNG is a keystream under a seed the caller drew
/// from its own RNG (Sans-IO: no ambient randomness). DH, hash and cipher
/// come from snow's default resolver.
#[derive(Debug)]
pub struct SeededResolver {
    seed: [u8; 32],
    streams: AtomicU64,
}

impl SeededResolver {
    /// A resolver for one handshake.
    pub fn new(seed: [u8; 32]) -> Self {
        SeededResolver {
            seed,
            streams: AtomicU64::new(0),
        }
    }
}

/// AES-256-CTR keystream: key = seed, IV = stream number (8, BE) ‖ 0 (8).
/// Stream 0 is the one a handshake uses; its first 32 bytes are the
/// ephemeral private key (WIRE.md, "Randomness").
struct SeededRandom(ctr::Ctr64BE<aes::Aes256>);

impl Random for SeededRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        dest.fill(0);
        self.0
            .try_apply_keystream(dest)
            .map_err(|_| snow::Error::Rng)
    }
}

impl CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        let stream = self.streams.fetch_add(1, Ordering::Relaxed);
        let mut iv = [0u8; 16];
        iv[..8].copy_from_slice(&stream.to_be_bytes());
        Some(Box::new(SeededRandom(ctr::Ctr64BE::new(
            &self.seed.into(),
            &iv.into(),
        ))))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

/// The first 32 bytes of stream 0 of [`SeededResolver`] for `seed`: the
/// ephemeral private key a handshake side uses. For test vectors.
pub fn seeded_ephemeral(seed: [u8; 32]) -> [u8; 32] {
    let mut rng = SeededResolver::new(seed)
        .resolve_rng()
        .expect("seeded resolver always has an RNG");
    let mut e = [0u8; 32];
    // 32 bytes never exhaust the keystream.
    let _ = rng.try_fill_bytes(&mut e);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{ChainId, KeyId};
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn key() -> AccessKey {
        AccessKey {
            chain_id: ChainId([1; 16]),
            key_id: KeyId(7),
            secret: [3; 32],
        }
    }

    #[test]
    fn round_trip_gives_mirrored_keys_and_payload() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut init = [0u8; 200];
        let (mut ini, n) =
            Initiator::start(&key(), SessionId(11), b"node-a", &mut rng, &mut init).unwrap();
        assert_eq!(n, INIT_LEN);
        let req = read_init(&key().secret, &init[..n], &mut rng).unwrap();
        assert_eq!(req.payload(), b"node-a");
        let mut reply = [0u8; 200];
        let (m, rkeys) = req.accept(SessionId(22), &mut reply).unwrap();
        assert_eq!(m, REPLY_LEN);
        let ReplyOutcome::Accepted { responder, keys } = ini.finish(&reply[..m]).unwrap() else {
            panic!("not accepted")
        };
        assert_eq!(responder, SessionId(22));
        assert_eq!(keys.send, rkeys.recv);
        assert_eq!(keys.recv, rkeys.send);
        assert_ne!(keys.send, keys.recv);
    }

    #[test]
    fn wrong_psk_or_changed_header_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut init = [0u8; INIT_LEN];
        Initiator::start(&key(), SessionId(11), b"", &mut rng, &mut init).unwrap();
        assert!(matches!(
            read_init(&[4; 32], &init, &mut rng),
            Err(HandshakeError::Noise(_))
        ));
        let mut changed = init;
        changed[20] ^= 1; // initiator's session id: bound by the prologue
        assert!(read_init(&key().secret, &changed, &mut rng).is_err());
    }

    fn revoked_reply(seed: u64) -> (Initiator, [u8; REPLY_LEN]) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut init = [0u8; INIT_LEN];
        let (ini, _) = Initiator::start(&key(), SessionId(11), b"", &mut rng, &mut init).unwrap();
        let req = read_init(&key().secret, &init, &mut rng).unwrap();
        let mut reply = [0u8; REPLY_LEN];
        req.refuse_revoked(&mut reply).unwrap();
        (ini, reply)
    }

    #[test]
    fn revoked_reply_is_authenticated() {
        let (mut ini, reply) = revoked_reply(3);
        assert_eq!(ini.finish(&reply).unwrap(), ReplyOutcome::Revoked);
        // The kind nibble says "accepted" but the status byte disagrees.
        let (mut ini, mut flipped) = revoked_reply(4);
        flipped[36] = 0x12;
        assert!(matches!(ini.finish(&flipped), Err(HandshakeError::Header)));
    }

    #[test]
    fn seeded_rng_gives_deterministic_init() {
        let mut a = [0u8; INIT_LEN];
        let mut b = [0u8; INIT_LEN];
        Initiator::start(
            &key(),
            SessionId(1),
            b"x",
            &mut ChaCha20Rng::seed_from_u64(9),
            &mut a,
        )
        .unwrap();
        Initiator::start(
            &key(),
            SessionId(1),
            b"x",
            &mut ChaCha20Rng::seed_from_u64(9),
            &mut b,
        )
        .unwrap();
        assert_eq!(a, b);
    }
}
