//! Access keys: the one string a user pastes (`ate1…`), and the ids that
//! name a network and a key on the wire.
//!
//! DESIGN.md, "Access keys": an access key is the prefix `ate1` followed by
//! base64url without padding of chain id (16) ‖ key id (4, big-endian) ‖
//! secret (32). Parsing never panics and every error names what is wrong, so
//! `tok` can print it to the user (STYLE.md: errors name the bad value).

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;

/// The prefix of every access key string; the `1` is the key format version.
pub const ACCESS_KEY_PREFIX: &str = "ate1";
/// The prefix of a wss token (see [`AccessKey::wss_token`]).
pub const WSS_TOKEN_PREFIX: &str = "atw1";
/// Length of the decoded body of an access key: chain id, key id, secret.
pub const ACCESS_KEY_BODY_LEN: usize = 16 + 4 + 32;
/// Length of the base64url-no-pad text of the body (`ceil(52 * 4 / 3)`).
pub const ACCESS_KEY_TEXT_LEN: usize = 70;
/// HKDF `info` label of the wss token derivation (DESIGN.md, "Access keys").
pub const WSS_LABEL: &[u8] = b"wss";

/// Which network a packet belongs to: the seed's 16-byte chain-of-trust
/// prefix, first field of every packet (WIRE.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChainId(pub [u8; 16]);

/// Which key of a network: random 32-bit, never reused within a network, so
/// revoking one key id retires exactly one user or device.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct KeyId(pub u32);

/// Whether a session under a key is a peer node or a client. A session under
/// the network's node key is a peer (DESIGN.md, "Sessions and wire format");
/// the switch applies split horizon to peers only.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum KeyRole {
    /// The network's node key: sessions under it are peer nodes.
    Node,
    /// Any other key: sessions under it are clients (`tok`, browsers).
    Client,
}

/// An access key: names its network and key id and holds the 32-byte
/// secret that is the Noise PSK of every session under it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The network this key opens.
    pub chain_id: ChainId,
    /// The key's id within the network.
    pub key_id: KeyId,
    /// The pre-shared secret (Noise `psk0`).
    pub secret: [u8; 32],
}

/// Why a string is not an access key, chain id or key id. Each variant
/// names the problem and the value seen, so a user can fix the paste.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// The string does not start with the expected prefix.
    #[error("missing prefix: expected the text to start with {expected:?}")]
    MissingPrefix {
        /// The prefix that was expected.
        expected: &'static str,
    },
    /// The text after the prefix has the wrong number of characters.
    #[error("wrong length: {seen} characters after the prefix, expected {expected}")]
    WrongLength {
        /// Characters seen.
        seen: usize,
        /// Characters expected.
        expected: usize,
    },
    /// A character outside the accepted alphabet.
    #[error("bad character {ch:?} at position {position}: expected {alphabet}")]
    BadAlphabet {
        /// The offending character.
        ch: char,
        /// Its character position in the whole input.
        position: usize,
        /// What would be accepted.
        alphabet: &'static str,
    },
    /// The base64 text has non-zero trailing bits (non-canonical encoding).
    #[error("non-canonical encoding: the last character has bits set that carry no data")]
    NonCanonical,
}

impl ChainId {
    /// A random chain id, for a new network.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        ChainId(id)
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({self})")
    }
}

impl FromStr for ChainId {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 16];
        parse_hex(s, &mut id)?;
        Ok(ChainId(id))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 4];
        parse_hex(s, &mut id)?;
        Ok(KeyId(u32::from_be_bytes(id)))
    }
}

/// Parses exactly `out.len() * 2` hex digits (either case) into `out`.
fn parse_hex(s: &str, out: &mut [u8]) -> Result<(), KeyParseError> {
    const ALPHABET: &str = "hex digits 0-9 a-f";
    let expected = out.len() * 2;
    if let Some((position, ch)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(KeyParseError::BadAlphabet {
            ch,
            position,
            alphabet: ALPHABET,
        });
    }
    if s.len() != expected {
        return Err(KeyParseError::WrongLength {
            seen: s.len(),
            expected,
        });
    }
    // Every char is an ASCII hex digit and the length matches: cannot fail.
    hex::decode_to_slice(s, out).map_err(|_| KeyParseError::WrongLength {
        seen: s.len(),
        expected,
    })
}

impl AccessKey {
    /// A fresh key for `chain_id` with a random key id and secret
    /// (`tok key issue`). The caller checks the key id is not in use yet.
    pub fn generate(chain_id: ChainId, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let key_id = KeyId(rng.next_u32());
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        AccessKey {
            chain_id,
            key_id,
            secret,
        }
    }

    /// The 52-byte body: chain id ‖ key id (big-endian) ‖ secret.
    fn body(&self) -> [u8; ACCESS_KEY_BODY_LEN] {
        let mut body = [0u8; ACCESS_KEY_BODY_LEN];
        body[..16].copy_from_slice(&self.chain_id.0);
        body[16..20].copy_from_slice(&self.key_id.0.to_be_bytes());
        body[20..].copy_from_slice(&self.secret);
        body
    }

    /// The 32 bytes a browser presents instead of the key: HKDF-SHA256 with
    /// salt = chain id ‖ key id (BE), IKM = secret, info = `"wss"`, L = 32
    /// (RFC 5869; WIRE.md, "wss token"). A node holding the secret recomputes
    /// it; a leaked token does not reveal the secret.
    pub fn wss_secret(&self) -> [u8; 32] {
        let mut salt = [0u8; 20];
        salt[..16].copy_from_slice(&self.chain_id.0);
        salt[16..].copy_from_slice(&self.key_id.0.to_be_bytes());
        let hk = Hkdf::<Sha256>::new(Some(&salt), &self.secret);
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 255 * 32 limit: cannot fail.
        hk.expand(WSS_LABEL, &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// The wss token string: `atw1` + base64url-no-pad(chain id ‖ key id ‖
    /// [`AccessKey::wss_secret`]), so a node can find the key it was derived
    /// from (DESIGN.md: a browser gets a token derived from the key, never
    /// the key itself).
    pub fn wss_token(&self) -> String {
        let mut body = [0u8; ACCESS_KEY_BODY_LEN];
        body[..16].copy_from_slice(&self.chain_id.0);
        body[16..20].copy_from_slice(&self.key_id.0.to_be_bytes());
        body[20..].copy_from_slice(&self.wss_secret());
        format!("{WSS_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(body))
    }
}

impl fmt::Display for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ACCESS_KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.body())
        )
    }
}

/// Never prints the secret: keys end up in logs.
impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("chain_id", &self.chain_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl FromStr for AccessKey {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(text) = s.strip_prefix(ACCESS_KEY_PREFIX) else {
            return Err(KeyParseError::MissingPrefix {
                expected: ACCESS_KEY_PREFIX,
            });
        };
        // Alphabet first, so a pasted key with a stray quote or space says
        // where it is rather than only that the length is off.
        if let Some((i, ch)) = text
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(KeyParseError::BadAlphabet {
                ch,
                position: ACCESS_KEY_PREFIX.len() + i,
                alphabet: "base64url letters A-Z a-z 0-9 - _ (no padding)",
            });
        }
        if text.len() != ACCESS_KEY_TEXT_LEN {
            return Err(KeyParseError::WrongLength {
                seen: text.len(),
                expected: ACCESS_KEY_TEXT_LEN,
            });
        }
        let mut body = [0u8; ACCESS_KEY_BODY_LEN];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut body) {
            Ok(ACCESS_KEY_BODY_LEN) => {}
            _ => return Err(KeyParseError::NonCanonical),
        }
        let mut chain = [0u8; 16];
        chain.copy_from_slice(&body[..16]);
        let mut key_id = [0u8; 4];
        key_id.copy_from_slice(&body[16..20]);
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&body[20..]);
        Ok(AccessKey {
            chain_id: ChainId(chain),
            key_id: KeyId(u32::from_be_bytes(key_id)),
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn sample() -> AccessKey {
        AccessKey::generate(ChainId([7; 16]), &mut ChaCha20Rng::seed_from_u64(1))
    }

    #[test]
    fn display_parse_round_trip() {
        let key = sample();
        let text = key.to_string();
        assert!(text.starts_with("ate1"));
        assert_eq!(text.len(), 4 + ACCESS_KEY_TEXT_LEN);
        assert_eq!(text.parse::<AccessKey>().unwrap(), key);
    }

    #[test]
    fn errors_name_the_problem() {
        let text = sample().to_string();
        assert_eq!(
            text[1..].parse::<AccessKey>(),
            Err(KeyParseError::MissingPrefix { expected: "ate1" })
        );
        assert_eq!(
            text[..text.len() - 1].parse::<AccessKey>(),
            Err(KeyParseError::WrongLength {
                seen: 69,
                expected: 70
            })
        );
        let mut bad = text.clone();
        bad.replace_range(10..11, "+");
        match bad.parse::<AccessKey>() {
            Err(KeyParseError::BadAlphabet {
                ch: '+',
                position: 10,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        // 70 chars carry 420 bits for 416 of data: the last char's low 4 bits
        // must be zero, and 'B' (0b000001) sets one.
        let mut last = text.clone();
        last.pop();
        last.push('B');
        assert_eq!(last.parse::<AccessKey>(), Err(KeyParseError::NonCanonical));
    }

    #[test]
    fn ids_display_and_parse() {
        let chain = ChainId([0xab; 16]);
        assert_eq!(chain.to_string(), "ab".repeat(16));
        assert_eq!(chain.to_string().parse::<ChainId>().unwrap(), chain);
        assert_eq!(KeyId(0x0102_0304).to_string(), "01020304");
        assert_eq!("01020304".parse::<KeyId>().unwrap(), KeyId(0x0102_0304));
        assert!(matches!(
            "0102030".parse::<KeyId>(),
            Err(KeyParseError::WrongLength {
                seen: 7,
                expected: 8
            })
        ));
        assert!(matches!(
            "0102030g".parse::<KeyId>(),
            Err(KeyParseError::BadAlphabet {
                ch: 'g',
                position: 7,
                ..
            })
        ));
    }

    #[test]
    fn wss_token_is_derived_not_the_secret() {
        let key = sample();
        let token = key.wss_token();
        assert!(token.starts_with(WSS_TOKEN_PREFIX));
        assert_ne!(key.wss_secret(), key.secret);
        let mut other = key.clone();
        other.key_id = KeyId(key.key_id.0 ^ 1);
        assert_ne!(other.wss_secret(), key.wss_secret());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn parse_never_panics(s in "\\PC{0,100}") {
            let _ = s.parse::<AccessKey>();
            let _ = s.parse::<ChainId>();
            let _ = s.parse::<KeyId>();
        }

        #[test]
        fn parse_never_panics_near_valid(s in "ate1[A-Za-z0-9_+=-]{66,74}") {
            if let Ok(key) = s.parse::<AccessKey>() {
                prop_assert_eq!(key.to_string(), s);
            }
        }
    }
}
