//! Why a packet was dropped, and the per-reason counters.
//!
//! Exactly one reason per dropped packet, named for the first check that
//! failed (DESIGN.md "Sessions and wire format"), in the order `handle`
//! runs them (WIRE.md, "Order of checks").

/// The reason a received UDP packet was dropped.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PacketDrop {
    /// Shorter than header + tag (53 bytes).
    Runt,
    /// Longer than header + 1518 + tag (1571 bytes).
    Oversize,
    /// Version nibble is not 1.
    BadVersion,
    /// Kind nibble names no packet kind.
    BadKind,
    /// No key of this chain id is known.
    UnknownNetwork,
    /// The chain is known but not this key id (or we do not answer inits for it).
    UnknownKey,
    /// No session (in the right state) has this id under this key.
    UnknownSession,
    /// The key id is revoked.
    Revoked,
    /// A handshake message failed: wrong length, Noise AEAD, header or payload.
    BadHandshake,
    /// A counter already seen or too old, or a handshake init whose
    /// ephemeral key was seen before.
    Replay,
    /// A valid init beyond the per-source or global rate.
    RateLimited,
    /// A valid init beyond a half-open or session cap.
    CapReached,
    /// The HMAC tag does not match.
    BadTag,
    /// An authentic packet whose counter is >= 2^48.
    BadCounter,
    /// An authentic control message of a type this version does not know
    /// ([`crate::control`]): a newer peer's; the session stays up.
    UnknownControl,
}

impl PacketDrop {
    /// Every reason, in counter order.
    pub const ALL: [PacketDrop; 15] = [
        Self::Runt,
        Self::Oversize,
        Self::BadVersion,
        Self::BadKind,
        Self::UnknownNetwork,
        Self::UnknownKey,
        Self::UnknownSession,
        Self::Revoked,
        Self::BadHandshake,
        Self::Replay,
        Self::RateLimited,
        Self::CapReached,
        Self::BadTag,
        Self::BadCounter,
        Self::UnknownControl,
    ];

    /// A stable snake_case name, for metrics and `tok status`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Runt => "runt",
            Self::Oversize => "oversize",
            Self::BadVersion => "bad_version",
            Self::BadKind => "bad_kind",
            Self::UnknownNetwork => "unknown_network",
            Self::UnknownKey => "unknown_key",
            Self::UnknownSession => "unknown_session",
            Self::Revoked => "revoked",
            Self::BadHandshake => "bad_handshake",
            Self::Replay => "replay",
            Self::RateLimited => "rate_limited",
            Self::CapReached => "cap_reached",
            Self::BadTag => "bad_tag",
            Self::BadCounter => "bad_counter",
            Self::UnknownControl => "unknown_control",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Drop counts indexed by [`PacketDrop`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: [u64; PacketDrop::ALL.len()],
}

impl DropCounters {
    /// Counts one drop.
    pub fn count(&mut self, reason: PacketDrop) {
        self.counts[reason.index()] += 1;
    }

    /// The count for one reason.
    pub fn get(&self, reason: PacketDrop) -> u64 {
        self.counts[reason.index()]
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(name, count)` for every reason, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        PacketDrop::ALL.iter().map(|r| (r.name(), self.get(*r)))
    }
}

/// Things a v1 endpoint does not understand inside a packet it accepts:
/// ignored and counted, never a drop (docs/versioning.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoredCounters {
    /// Accepted inits with non-zero bytes after the payload: a newer
    /// initiator's extension (feature flags); the session is made as usual.
    pub handshake_extension: u64,
}

impl IgnoredCounters {
    /// `(name, count)` for every counter, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [("ignored_handshake_extension", self.handshake_extension)].into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_with_unique_names() {
        for (i, r) in PacketDrop::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let names: std::collections::HashSet<_> =
            PacketDrop::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), PacketDrop::ALL.len());
        let mut c = DropCounters::default();
        c.count(PacketDrop::Replay);
        assert_eq!(c.iter().find(|(n, _)| *n == "replay"), Some(("replay", 1)));
        assert_eq!(c.total(), 1);
    }
}
