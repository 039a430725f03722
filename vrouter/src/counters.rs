//! Why a frame was dropped, and what the gateway and router did.

use std::fmt;

/// The reason a frame handed to a gateway or router was not answered or
/// routed: one variant per check, the first failing check wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not addressed to the gateway: ARP for another address, an ARP reply,
    /// IP to another MAC or to a broadcast address. Normal on a LAN: every
    /// broadcast reaches the gateway port.
    NotForUs,
    /// Bytes that do not parse as Ethernet, ARP, IPv4, IPv6, ICMP or
    /// ICMPv6, a bad IPv4 header or ICMPv6 checksum (RFC 1812, 5.2.2), or
    /// ND failing RFC 4861's validity checks (hop limit 255, 7.1).
    Malformed,
    /// An ethertype the gateway does not handle (VLAN-tagged frames, IPv6
    /// in a network without an `ipv6-prefix`, anything else).
    Unsupported,
    /// ARP or ND claiming the gateway's address or MAC, or IPv6 from one
    /// of its addresses (DESIGN.md, anti-spoofing).
    SpoofedClaim,
    /// A source address no host may have: 0.0.0.0, broadcast, multicast,
    /// loopback, class E (RFC 1812, 5.3.7).
    Martian,
    /// A fragment addressed to the gateway itself: no reassembly.
    Fragmented,
    /// IP to the gateway's address that is not an ICMP echo request.
    UnsupportedProtocol,
    /// A destination no router forwards to: limited or directed broadcast,
    /// multicast, 0.0.0.0/8, loopback (RFC 1812, 5.3.5).
    NotForwardable,
    /// No route from the ingress network to the destination (ICMP net
    /// unreachable sent).
    NoRoute,
    /// TTL would reach 0 (ICMP time exceeded sent, RFC 1812, 5.3.1).
    TtlExpired,
    /// ARP resolution of the next hop timed out (ICMP host unreachable sent).
    HostUnreachable,
    /// A packet waiting for ARP pushed out by a newer one (queue caps).
    QueueOverflow,
    /// The frame names a network the router does not serve.
    UnknownNetwork,
    /// The outbox had no free slot for what would have been sent.
    OutboxFull,
}

impl DropReason {
    /// How many reasons there are.
    pub const COUNT: usize = 14;

    /// Every reason, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::NotForUs,
        DropReason::Malformed,
        DropReason::Unsupported,
        DropReason::SpoofedClaim,
        DropReason::Martian,
        DropReason::Fragmented,
        DropReason::UnsupportedProtocol,
        DropReason::NotForwardable,
        DropReason::NoRoute,
        DropReason::TtlExpired,
        DropReason::HostUnreachable,
        DropReason::QueueOverflow,
        DropReason::UnknownNetwork,
        DropReason::OutboxFull,
    ];

    /// A snake_case name for metrics and `tok status`.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::NotForUs => "not_for_us",
            DropReason::Malformed => "malformed",
            DropReason::Unsupported => "unsupported",
            DropReason::SpoofedClaim => "spoofed_claim",
            DropReason::Martian => "martian",
            DropReason::Fragmented => "fragmented",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::NotForwardable => "not_forwardable",
            DropReason::NoRoute => "no_route",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::HostUnreachable => "host_unreachable",
            DropReason::QueueOverflow => "queue_overflow",
            DropReason::UnknownNetwork => "unknown_network",
            DropReason::OutboxFull => "outbox_full",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Plain counters; the node reads them for metrics and `tok status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    drops: [u64; DropReason::COUNT],
    /// ARP replies sent for the gateway address.
    pub arp_replies: u64,
    /// ICMP and ICMPv6 echo replies sent from the gateway addresses.
    pub echo_replies: u64,
    /// IPv6 Neighbor Advertisements sent for the gateway addresses.
    pub neighbor_adverts: u64,
    /// IPv6 Router Advertisements sent answering solicitations.
    pub router_adverts: u64,
    /// Packets routed into another (or the same) network.
    pub routed: u64,
    /// Packets queued while their next hop was ARP-resolved.
    pub queued: u64,
    /// ARP probes sent from the node MAC.
    pub probes: u64,
    /// ICMP errors sent (time exceeded, unreachable).
    pub icmp_errors: u64,
    /// Packets handed to NAT.
    pub to_nat: u64,
}

impl Counters {
    /// Frames dropped for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Drops by reason, in [`DropReason::ALL`] order.
    pub fn drops_by_reason(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.into_iter().zip(self.drops)
    }

    /// Frames dropped for any reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// Adds `other` into `self` (a router's total over its gateways).
    pub fn add(&mut self, other: &Counters) {
        for (mine, theirs) in self.drops.iter_mut().zip(other.drops) {
            *mine += theirs;
        }
        self.arp_replies += other.arp_replies;
        self.echo_replies += other.echo_replies;
        self.neighbor_adverts += other.neighbor_adverts;
        self.router_adverts += other.router_adverts;
        self.routed += other.routed;
        self.queued += other.queued;
        self.probes += other.probes;
        self.icmp_errors += other.icmp_errors;
        self.to_nat += other.to_nat;
    }

    /// Every counter as `(name, count)`; drops are `(drop reason name, n)`
    /// first, then the others by field name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL
            .into_iter()
            .map(|r| (r.name(), self.drops(r)))
            .chain([
                ("arp_replies", self.arp_replies),
                ("echo_replies", self.echo_replies),
                ("neighbor_adverts", self.neighbor_adverts),
                ("router_adverts", self.router_adverts),
                ("routed", self.routed),
                ("queued", self.queued),
                ("probes", self.probes),
                ("icmp_errors", self.icmp_errors),
                ("to_nat", self.to_nat),
            ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_own_counter() {
        let mut c = Counters::default();
        for (i, r) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(r as usize, i);
            for _ in 0..=i {
                c.count_drop(r);
            }
        }
        for (i, (r, n)) in c.drops_by_reason().enumerate() {
            assert_eq!(n, i as u64 + 1, "{r}");
        }
        let names: std::collections::HashSet<_> = c.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), DropReason::COUNT + 9);
    }
}
