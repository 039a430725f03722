//! The 37-byte header every v1 packet starts with, and the size limits.
//!
//! Layout (DESIGN.md "Sessions and wire format"; every byte in `WIRE.md`),
//! integers big-endian:
//!
//! | offset | len | field |
//! |---|---|---|
//! | 0 | 16 | chain id |
//! | 16 | 4 | key id |
//! | 20 | 8 | session id (the receiver's; the sender's own in a handshake init) |
//! | 28 | 8 | counter |
//! | 36 | 1 | type: high nibble version (1), low nibble [`PacketKind`] |
//!
//! Parsing checks lengths before it reads and never panics: the bytes come
//! from anyone on the internet.

use crate::key::{ChainId, KeyId};

/// Header length: chain id 16 + key id 4 + session id 8 + counter 8 + type 1.
pub const HEADER_LEN: usize = 37;
/// Truncated HMAC-SHA256 tag length at the end of every sealed packet.
pub const TAG_LEN: usize = 16;
/// The format version in the type byte's high nibble.
pub const VERSION: u8 = 1;
/// Smallest Ethernet frame a frame packet may carry (header without FCS).
pub const MIN_FRAME: usize = 14;
/// Largest Ethernet frame a frame packet may carry (1500 + 14 + VLAN tag).
pub const MAX_FRAME: usize = 1518;
/// Largest sealed payload of any kind (frames are the largest).
pub const MAX_PAYLOAD: usize = MAX_FRAME;
/// Smallest packet worth looking at: a header and a tag (a keepalive).
pub const MIN_PACKET: usize = HEADER_LEN + TAG_LEN;
/// Largest packet accepted: a header, the largest frame and a tag.
pub const MAX_PACKET: usize = HEADER_LEN + MAX_PAYLOAD + TAG_LEN;
/// Counters are at most 48 bits: the AES-CTR block only has room for the
/// low 48 (WIRE.md, "IV"), so a sender stops before reusing keystream.
pub const COUNTER_LIMIT: u64 = 1 << 48;

/// A session id, chosen at random by the side that *receives* under it,
/// so a receiver finds its session with one hash lookup.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The low nibble of the type byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum PacketKind {
    /// Noise message 1, initiator to responder.
    HandshakeInit = 1,
    /// Noise message 2, responder to initiator: session accepted.
    HandshakeReply = 2,
    /// A sealed Ethernet frame.
    Frame = 3,
    /// A sealed empty payload: liveness and key confirmation.
    Keepalive = 4,
    /// A sealed empty payload: the sender is closing this session.
    Leave = 5,
    /// A sealed control message (opaque to this crate).
    Control = 6,
    /// Noise message 2 saying the key is revoked; creates no session.
    Revoked = 7,
}

impl PacketKind {
    /// The kind for a low nibble, if it names one.
    pub fn from_nibble(n: u8) -> Option<Self> {
        Some(match n {
            1 => Self::HandshakeInit,
            2 => Self::HandshakeReply,
            3 => Self::Frame,
            4 => Self::Keepalive,
            5 => Self::Leave,
            6 => Self::Control,
            7 => Self::Revoked,
            _ => return None,
        })
    }

    /// Whether packets of this kind are sealed under session keys (rather
    /// than being Noise handshake messages).
    pub fn is_sealed(self) -> bool {
        matches!(
            self,
            Self::Frame | Self::Keepalive | Self::Leave | Self::Control
        )
    }
}

/// Why bytes are not a v1 header.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than a header.
    #[error("runt: {0} bytes, a header is 37")]
    Runt(usize),
    /// The version nibble is not 1.
    #[error("version {0}, expected 1")]
    BadVersion(u8),
    /// The kind nibble names no packet kind.
    #[error("unknown packet kind {0}")]
    BadKind(u8),
}

/// The parsed header fields (smoltcp's "Repr": plain data, parse and emit).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    /// Network.
    pub chain_id: ChainId,
    /// Key within the network.
    pub key_id: KeyId,
    /// Receiver's session id (sender's own in a handshake init).
    pub session: SessionId,
    /// Per-direction packet counter (0 in handshakes).
    pub counter: u64,
    /// What follows the header.
    pub kind: PacketKind,
}

impl Header {
    /// Parses the first [`HEADER_LEN`] bytes. Version is checked before kind
    /// so a future version's new kinds read as "bad version".
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let Some(h) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(WireError::Runt(bytes.len()));
        };
        let ty = h[36];
        if ty >> 4 != VERSION {
            return Err(WireError::BadVersion(ty >> 4));
        }
        let kind = PacketKind::from_nibble(ty & 0x0f).ok_or(WireError::BadKind(ty & 0x0f))?;
        let mut chain = [0u8; 16];
        chain.copy_from_slice(&h[..16]);
        let mut key = [0u8; 4];
        key.copy_from_slice(&h[16..20]);
        let mut session = [0u8; 8];
        session.copy_from_slice(&h[20..28]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&h[28..36]);
        Ok(Header {
            chain_id: ChainId(chain),
            key_id: KeyId(u32::from_be_bytes(key)),
            session: SessionId(u64::from_be_bytes(session)),
            counter: u64::from_be_bytes(counter),
            kind,
        })
    }

    /// The 37 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..16].copy_from_slice(&self.chain_id.0);
        h[16..20].copy_from_slice(&self.key_id.0.to_be_bytes());
        h[20..28].copy_from_slice(&self.session.0.to_be_bytes());
        h[28..36].copy_from_slice(&self.counter.to_be_bytes());
        h[36] = (VERSION << 4) | self.kind as u8;
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout() {
        let h = Header {
            chain_id: ChainId([1; 16]),
            key_id: KeyId(0x0203_0405),
            session: SessionId(0x0607_0809_0a0b_0c0d),
            counter: 0x0e0f_1011_1213_1415,
            kind: PacketKind::Frame,
        };
        let b = h.to_bytes();
        assert_eq!(&b[16..20], &[2, 3, 4, 5]);
        assert_eq!(&b[20..28], &[6, 7, 8, 9, 10, 11, 12, 13]);
        assert_eq!(b[28], 0x0e);
        assert_eq!(b[36], 0x13);
        assert_eq!(Header::parse(&b), Ok(h));
        assert_eq!(Header::parse(&b[..36]), Err(WireError::Runt(36)));
        let mut v2 = b;
        v2[36] = 0x23;
        assert_eq!(Header::parse(&v2), Err(WireError::BadVersion(2)));
        let mut k = b;
        k[36] = 0x1f;
        assert_eq!(Header::parse(&k), Err(WireError::BadKind(15)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(h) = Header::parse(&bytes) {
                prop_assert_eq!(&h.to_bytes()[..], &bytes[..HEADER_LEN]);
            }
        }
    }
}
