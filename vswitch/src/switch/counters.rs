//! Why a frame was dropped, and the switch's counters (issue 3, item 6:
//! "Drops counted by reason, one reason per failed check").

use std::fmt;

/// The reason [`super::Switch::forward`] dropped a frame: one variant per
/// check, named for the check that failed. The first failing check wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameDrop {
    /// Shorter than an Ethernet header (14 bytes).
    Runt,
    /// Longer than 1518 bytes (1500 of payload, header, one VLAN tag).
    Oversize,
    /// The ingress port is not (or no longer) a port of this switch.
    UnknownPort,
    /// The source MAC is multicast, broadcast or all zeros: no station has
    /// it (IEEE 802.1D drops these; so does the Linux bridge).
    InvalidSource,
    /// A client sent a frame whose source MAC is a pinned ethereal MAC
    /// (DESIGN.md, anti-spoofing).
    SpoofedSource,
    /// A client sent ARP claiming a protected IPv4 address (the gateway's)
    /// or a pinned ethereal MAC (DESIGN.md, anti-spoofing).
    SpoofedArp,
    /// Sent to an IEEE 802.1D reserved group (01:80:C2:00:00:00..0F: STP,
    /// LACP, 802.1X, LLDP), which a bridge must not forward.
    ReservedGroup,
    /// A broadcast or multicast frame over its local port's storm limit.
    StormLimited,
    /// The destination is behind the ingress port itself.
    Hairpin,
    /// From a peer node to a MAC learned behind another peer: split
    /// horizon never forwards peer to peer.
    SplitHorizon,
}

impl FrameDrop {
    /// How many reasons there are.
    pub const COUNT: usize = 10;

    /// Every reason, in counter order.
    pub const ALL: [FrameDrop; Self::COUNT] = [
        FrameDrop::Runt,
        FrameDrop::Oversize,
        FrameDrop::UnknownPort,
        FrameDrop::InvalidSource,
        FrameDrop::SpoofedSource,
        FrameDrop::SpoofedArp,
        FrameDrop::ReservedGroup,
        FrameDrop::StormLimited,
        FrameDrop::Hairpin,
        FrameDrop::SplitHorizon,
    ];

    /// A snake_case name for metrics and `tok status`.
    pub fn name(self) -> &'static str {
        match self {
            FrameDrop::Runt => "runt",
            FrameDrop::Oversize => "oversize",
            FrameDrop::UnknownPort => "unknown_port",
            FrameDrop::InvalidSource => "invalid_source",
            FrameDrop::SpoofedSource => "spoofed_source",
            FrameDrop::SpoofedArp => "spoofed_arp",
            FrameDrop::ReservedGroup => "reserved_group",
            FrameDrop::StormLimited => "storm_limited",
            FrameDrop::Hairpin => "hairpin",
            FrameDrop::SplitHorizon => "split_horizon",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FrameDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for FrameDrop {}

/// What a switch has done since it was made. Plain counters: the node reads
/// them for metrics and `tok status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwitchCounters {
    drops: [u64; FrameDrop::COUNT],
    /// Frames sent to one port (a learned or pinned destination).
    pub unicast: u64,
    /// Frames flooded (broadcast, multicast, unknown destination).
    pub flooded: u64,
    /// Frames forwarded whose source was not learned because a MAC table
    /// cap was reached.
    pub unlearned: u64,
    /// Learned MACs that moved to another port.
    pub moved: u64,
    /// `MacMoved` events not queued because the event queue was full.
    pub events_lost: u64,
}

impl SwitchCounters {
    /// Frames dropped for `reason`.
    pub fn drops(&self, reason: FrameDrop) -> u64 {
        self.drops[reason.index()]
    }

    /// Drops by reason, in [`FrameDrop::ALL`] order (for labelled metrics).
    pub fn drops_by_reason(&self) -> impl Iterator<Item = (FrameDrop, u64)> + '_ {
        FrameDrop::ALL.into_iter().zip(self.drops)
    }

    /// Frames dropped for any reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub(super) fn count_drop(&mut self, reason: FrameDrop) {
        self.drops[reason.index()] += 1;
    }

    /// Every counter as `(name, count)`; drops are named `drop_<reason>`.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        const DROP_NAMES: [&str; FrameDrop::COUNT] = [
            "drop_runt",
            "drop_oversize",
            "drop_unknown_port",
            "drop_invalid_source",
            "drop_spoofed_source",
            "drop_spoofed_arp",
            "drop_reserved_group",
            "drop_storm_limited",
            "drop_hairpin",
            "drop_split_horizon",
        ];
        DROP_NAMES.into_iter().zip(self.drops).chain([
            ("unicast", self.unicast),
            ("flooded", self.flooded),
            ("unlearned", self.unlearned),
            ("moved", self.moved),
            ("events_lost", self.events_lost),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn reasons_index_their_own_counter_and_names_are_unique() {
        let mut c = SwitchCounters::default();
        for (i, reason) in FrameDrop::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i);
            for _ in 0..=i {
                c.count_drop(reason);
            }
        }
        let names: HashSet<_> = c.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), FrameDrop::COUNT + 5);
        for (i, (reason, n)) in c.drops_by_reason().enumerate() {
            assert_eq!(n, i as u64 + 1);
            assert_eq!(c.drops(reason), n);
            let name = format!("drop_{reason}");
            assert_eq!(
                c.iter().find(|(n, _)| *n == name).map(|(_, v)| v),
                Some(i as u64 + 1)
            );
        }
    }
}
