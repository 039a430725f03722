//! Sealing and opening data packets: AES-256-CTR then HMAC-SHA256 over the
//! header and ciphertext, truncated to 16 bytes (encrypt-then-MAC).
//!
//! The seed asks for AES encryption and a SHA256 signature with keys derived
//! by fixed labels (DESIGN.md "Sessions and wire format"). Each direction of
//! a session has its own AES and HMAC key, derived by HKDF-SHA256 (RFC 5869)
//! from that direction's Noise split secret, so a packet reflected back to
//! its sender fails the tag. The AES key schedule and the keyed HMAC state
//! are built once per session; a packet only clones the HMAC state (a copy
//! on the stack), so nothing allocates per packet.

use aes::cipher::{InnerIvInit, KeyInit, StreamCipher};
use aes::Aes256;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::wire::{Header, SessionId, COUNTER_LIMIT, HEADER_LEN, MAX_PAYLOAD, TAG_LEN};

/// HKDF `info` label of a direction's AES-256 key.
pub const AES_LABEL: &[u8] = b"atenet v1 aes";
/// HKDF `info` label of a direction's HMAC-SHA256 key.
pub const HMAC_LABEL: &[u8] = b"atenet v1 hmac";

type Ctr = ctr::Ctr32BE<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// Which hardware paths the seal's ciphers take on this CPU. The `aes`
/// and `sha2` crates pick AES-NI and SHA-NI at run time (so one binary runs
/// everywhere); operators want to know which one they got, since without
/// them a seal costs several times more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acceleration {
    /// AES-256-CTR uses AES-NI.
    pub aes_ni: bool,
    /// HMAC-SHA256 uses the SHA extensions.
    pub sha_ni: bool,
}

impl Acceleration {
    /// What this CPU offers the seal (the same detection the crates use).
    pub fn detect() -> Acceleration {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            Acceleration {
                aes_ni: std::arch::is_x86_feature_detected!("aes"),
                sha_ni: std::arch::is_x86_feature_detected!("sha")
                    && std::arch::is_x86_feature_detected!("sse4.1"),
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            Acceleration {
                aes_ni: std::arch::is_aarch64_feature_detected!("aes"),
                sha_ni: std::arch::is_aarch64_feature_detected!("sha2"),
            }
        }
        #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
        {
            Acceleration {
                aes_ni: false,
                sha_ni: false,
            }
        }
    }
}

impl std::fmt::Display for Acceleration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let yes = |b: bool| if b { "hardware" } else { "software" };
        write!(f, "AES {}, SHA-256 {}", yes(self.aes_ni), yes(self.sha_ni))
    }
}

/// One direction's raw keys, as derived (kept for test vectors).
#[derive(Clone, PartialEq, Eq)]
pub struct DirectionKeys {
    /// AES-256 key.
    pub aes: [u8; 32],
    /// HMAC-SHA256 key.
    pub hmac: [u8; 32],
}

impl std::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectionKeys(..)")
    }
}

impl DirectionKeys {
    /// HKDF-SHA256 with no salt (RFC 5869 §2.2: a zero-filled salt) over one
    /// Noise split secret, expanded with [`AES_LABEL`] and [`HMAC_LABEL`].
    pub fn derive(split_secret: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(None, split_secret);
        let mut keys = DirectionKeys {
            aes: [0; 32],
            hmac: [0; 32],
        };
        // 32 bytes is a valid HKDF-SHA256 output length: cannot fail.
        hk.expand(AES_LABEL, &mut keys.aes)
            .expect("32-byte HKDF output");
        hk.expand(HMAC_LABEL, &mut keys.hmac)
            .expect("32-byte HKDF output");
        keys
    }
}

/// Why a packet could not be sealed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SealError {
    /// The payload is longer than [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes exceeds {MAX_PAYLOAD}")]
    PayloadTooLong(usize),
    /// The output buffer cannot hold header, payload and tag.
    #[error("output buffer of {have} bytes, need {need}")]
    BufferTooSmall {
        /// Bytes in the buffer.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The direction's counter reached 2^48: the session must be replaced.
    #[error("counter exhausted: handshake again")]
    CounterExhausted,
}

/// Why a sealed packet did not open.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum OpenError {
    /// Shorter than header plus tag.
    #[error("runt")]
    Runt,
    /// The tag does not match.
    #[error("bad tag")]
    BadTag,
    /// Authentic but the counter is >= 2^48 (a broken sender).
    #[error("counter out of range")]
    BadCounter,
}

/// A direction's prepared keys: AES key schedule and keyed HMAC state.
/// `&self` methods only, so a session's sealer can be shared by threads
/// once the counter is shared (issue 8).
#[derive(Clone)]
pub struct PacketKey {
    aes: Aes256,
    mac: HmacSha256,
}

impl std::fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PacketKey(..)")
    }
}

/// The AES-CTR initial counter block: session id (8) ‖ low 48 bits of the
/// packet counter (6) ‖ 0x0000 (2). `Ctr32BE` counts blocks in the last 32
/// bits, of which a packet of at most 1518 bytes uses fewer than 16, so
/// packets never share keystream (WIRE.md, "IV").
pub fn iv(session: SessionId, counter: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..8].copy_from_slice(&session.0.to_be_bytes());
    iv[8..14].copy_from_slice(&counter.to_be_bytes()[2..]);
    iv
}

impl PacketKey {
    /// Prepares the key schedule and HMAC state for one direction.
    pub fn new(keys: &DirectionKeys) -> Self {
        PacketKey {
            aes: Aes256::new(&keys.aes.into()),
            mac: <HmacSha256 as Mac>::new_from_slice(&keys.hmac)
                .expect("HMAC takes keys of any length"),
        }
    }

    fn cipher(&self, session: SessionId, counter: u64) -> Ctr {
        let core = ctr::CtrCore::<Aes256, ctr::flavors::Ctr32BE>::inner_iv_init(
            self.aes.clone(),
            &iv(session, counter).into(),
        );
        Ctr::from_core(core)
    }

    fn apply_keystream(&self, session: SessionId, counter: u64, data: &mut [u8]) {
        self.cipher(session, counter).apply_keystream(data);
    }

    fn tag(&self, covered: &[u8]) -> [u8; TAG_LEN] {
        let full = self
            .mac
            .clone()
            .chain_update(covered)
            .finalize()
            .into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// Writes header ‖ AES-CTR(payload) ‖ tag into `out`; returns the length.
    /// The IV uses `header.session` (the receiver's id) and `header.counter`.
    pub fn seal(
        &self,
        header: &Header,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SealError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(SealError::PayloadTooLong(payload.len()));
        }
        if header.counter >= COUNTER_LIMIT {
            return Err(SealError::CounterExhausted);
        }
        let need = HEADER_LEN + payload.len() + TAG_LEN;
        let Some(out) = out.get_mut(..need) else {
            return Err(SealError::BufferTooSmall {
                have: out.len(),
                need,
            });
        };
        let (body, tag) = out.split_at_mut(need - TAG_LEN);
        body[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        // Encrypt from `payload` straight into `out`: one pass over the
        // bytes instead of a copy and an in-place pass.
        self.cipher(header.session, header.counter)
            .apply_keystream_b2b(payload, &mut body[HEADER_LEN..])
            .map_err(|_| SealError::BufferTooSmall {
                have: body.len(),
                need,
            })?;
        tag.copy_from_slice(&self.tag(body));
        Ok(need)
    }

    /// Checks the tag over everything before it, in constant time
    /// (`verify_truncated_left`), without decrypting anything.
    pub fn verify(&self, packet: &[u8]) -> Result<(), OpenError> {
        if packet.len() < HEADER_LEN + TAG_LEN {
            return Err(OpenError::Runt);
        }
        let (covered, tag) = packet.split_at(packet.len() - TAG_LEN);
        self.mac
            .clone()
            .chain_update(covered)
            .verify_truncated_left(tag)
            .map_err(|_| OpenError::BadTag)
    }

    /// Decrypts the payload of a packet whose tag was verified, in place;
    /// returns the plaintext range within `packet`.
    pub fn decrypt(&self, header: &Header, packet: &mut [u8]) -> std::ops::Range<usize> {
        let range = HEADER_LEN..packet.len().saturating_sub(TAG_LEN).max(HEADER_LEN);
        self.apply_keystream(header.session, header.counter, &mut packet[range.clone()]);
        range
    }

    /// Verifies, range-checks the counter and decrypts in place; returns the
    /// parsed header and the plaintext range. The endpoint splits these
    /// steps to put the replay check between tag and decryption.
    pub fn open(&self, packet: &mut [u8]) -> Result<(Header, std::ops::Range<usize>), OpenError> {
        self.verify(packet)?;
        // An authentic packet has a valid header: the sender wrote it.
        let header = Header::parse(packet).map_err(|_| OpenError::BadTag)?;
        if header.counter >= COUNTER_LIMIT {
            return Err(OpenError::BadCounter);
        }
        let range = self.decrypt(&header, packet);
        Ok((header, range))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceleration_agrees_with_the_kernel() {
        let accel = Acceleration::detect();
        let text = accel.to_string();
        assert!(text.starts_with("AES "), "{text}");
        // The kernel's view of the CPU, where there is one.
        if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
            let flags: Vec<&str> = info
                .lines()
                .find(|l| l.starts_with("flags"))
                .map(|l| l.split_whitespace().collect())
                .unwrap_or_default();
            if cfg!(target_arch = "x86_64") && !flags.is_empty() {
                assert_eq!(accel.aes_ni, flags.contains(&"aes"), "{text}");
                assert_eq!(
                    accel.sha_ni,
                    flags.contains(&"sha_ni") && flags.contains(&"sse4_1"),
                    "{text}"
                );
            }
        }
    }
    use crate::key::{ChainId, KeyId};
    use crate::wire::PacketKind;
    use proptest::prelude::*;

    fn key() -> PacketKey {
        PacketKey::new(&DirectionKeys::derive(&[9; 32]))
    }

    fn header(counter: u64) -> Header {
        Header {
            chain_id: ChainId([1; 16]),
            key_id: KeyId(2),
            session: SessionId(3),
            counter,
            kind: PacketKind::Frame,
        }
    }

    #[test]
    fn labels_give_distinct_keys() {
        let k = DirectionKeys::derive(&[9; 32]);
        assert_ne!(k.aes, k.hmac);
        assert_ne!(DirectionKeys::derive(&[8; 32]).aes, k.aes);
    }

    #[test]
    fn counter_limit_and_buffers() {
        let mut out = [0u8; 100];
        assert_eq!(
            key().seal(&header(COUNTER_LIMIT), &[0; 14], &mut out),
            Err(SealError::CounterExhausted)
        );
        assert_eq!(
            key().seal(&header(1), &[0; 60], &mut out),
            Err(SealError::BufferTooSmall {
                have: 100,
                need: 113
            })
        );
        let mut short = [0u8; 52];
        assert_eq!(key().open(&mut short), Err(OpenError::Runt));
    }

    #[test]
    fn reflected_direction_fails() {
        let keys = DirectionKeys::derive(&[1; 32]);
        let other = PacketKey::new(&DirectionKeys::derive(&[2; 32]));
        let mut out = [0u8; 200];
        let n = PacketKey::new(&keys)
            .seal(&header(5), &[7; 64], &mut out)
            .unwrap();
        assert_eq!(other.open(&mut out[..n]), Err(OpenError::BadTag));
    }

    #[test]
    fn consecutive_packets_share_no_keystream_block() {
        let k = key();
        let plain = [0x5au8; 1518];
        let mut blocks = std::collections::HashSet::new();
        for counter in [1u64, 2] {
            let mut out = [0u8; 1600];
            let n = k.seal(&header(counter), &plain, &mut out).unwrap();
            let ct = &out[HEADER_LEN..n - TAG_LEN];
            for chunk in ct.chunks(16).zip(plain.chunks(16)) {
                let ks: Vec<u8> = chunk.0.iter().zip(chunk.1).map(|(c, p)| c ^ p).collect();
                if ks.len() == 16 {
                    assert!(blocks.insert(ks), "keystream block reused");
                }
            }
        }
        assert_eq!(blocks.len(), 2 * (1518 / 16));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn open_seal_round_trip(frame in proptest::collection::vec(any::<u8>(), 14..=1518), counter in 0u64..COUNTER_LIMIT) {
            let k = key();
            let mut out = [0u8; 1600];
            let n = k.seal(&header(counter), &frame, &mut out).unwrap();
            let (h, range) = k.open(&mut out[..n]).unwrap();
            prop_assert_eq!(h, header(counter));
            prop_assert_eq!(&out[range], &frame[..]);
        }
    }
}
