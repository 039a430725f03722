//! Why an ARP or ND frame or lease taught the table nothing, and what it
//! learned.

use std::fmt;

/// The reason a binding was not learned: one variant per check, the first
/// failing check wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unlearned {
    /// ARP that does not parse, is not Ethernet/IPv4, or is neither a
    /// request nor a reply; ND with a bad checksum, a hop limit other than
    /// 255 (RFC 4861, 7.1) or a link-layer address that is not 6 bytes.
    Malformed,
    /// The sender address is 0.0.0.0: an RFC 5227 probe claims nothing.
    Unspecified,
    /// The sender address is broadcast, multicast or loopback, or the MAC
    /// is a group address or all zeros.
    InvalidAddress,
    /// The frame's source or the ARP sender is a protected MAC (pinned
    /// ethereal MACs, node probe MACs).
    ProtectedMac,
    /// The sender claims a protected address (the gateway's).
    ProtectedAddress,
    /// The address is leased to another MAC in the chain.
    LeaseConflict,
    /// The table is full.
    CapReached,
    /// An IPv6 Neighbor Solicitation without a source link-layer address
    /// option, or an Advertisement without a target link-layer address
    /// option (RFC 4861, 4.3 and 4.4): no MAC to bind.
    NoLinkAddress,
}

impl Unlearned {
    /// How many reasons there are.
    pub const COUNT: usize = 8;

    /// Every reason, in counter order.
    pub const ALL: [Unlearned; Self::COUNT] = [
        Unlearned::Malformed,
        Unlearned::Unspecified,
        Unlearned::InvalidAddress,
        Unlearned::ProtectedMac,
        Unlearned::ProtectedAddress,
        Unlearned::LeaseConflict,
        Unlearned::CapReached,
        Unlearned::NoLinkAddress,
    ];

    /// A snake_case name for metrics and `tok status`.
    pub fn name(self) -> &'static str {
        match self {
            Unlearned::Malformed => "malformed",
            Unlearned::Unspecified => "unspecified",
            Unlearned::InvalidAddress => "invalid_address",
            Unlearned::ProtectedMac => "protected_mac",
            Unlearned::ProtectedAddress => "protected_address",
            Unlearned::LeaseConflict => "lease_conflict",
            Unlearned::CapReached => "cap_reached",
            Unlearned::NoLinkAddress => "no_link_address",
        }
    }
}

impl fmt::Display for Unlearned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an [`super::ArpTable`] has done since it was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArpCounters {
    unlearned: [u64; Unlearned::COUNT],
    /// Snooped IPv4 bindings learned or refreshed.
    pub learned: u64,
    /// Snooped IPv6 bindings (ND) learned or refreshed.
    pub learned_v6: u64,
    /// Leases inserted or refreshed.
    pub leases: u64,
    /// Bindings whose MAC changed.
    pub changed: u64,
}

impl ArpCounters {
    /// Frames or leases not learned for `reason`.
    pub fn unlearned(&self, reason: Unlearned) -> u64 {
        self.unlearned[reason as usize]
    }

    /// Not learned, by reason, in [`Unlearned::ALL`] order.
    pub fn unlearned_by_reason(&self) -> impl Iterator<Item = (Unlearned, u64)> + '_ {
        Unlearned::ALL.into_iter().zip(self.unlearned)
    }

    pub(super) fn count(&mut self, reason: Unlearned) {
        self.unlearned[reason as usize] += 1;
    }
}
