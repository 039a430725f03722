//! What the server did and why it dropped what it dropped, by name.
//!
//! Every message that gets no answer is counted under exactly one
//! [`DropReason`]; everything else under a [`Stat`]. Names are snake_case
//! for metrics (`dhcp_drop_<reason>`, `dhcp_<stat>`).

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant,)* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// snake_case name for logs and metrics.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }
    };
}

named_enum! {
    /// Why a frame (or a transaction) got no answer.
    DropReason {
        /// Not parseable as Ethernet/IPv4/UDP/DHCP (bad checksum, short, bad magic, ...).
        Malformed => "malformed",
        /// Not IPv4, not UDP, or not to port 67: not a DHCP request.
        NotDhcp => "not_dhcp",
        /// An IPv4 fragment (DHCP messages are never fragmented here).
        Fragment => "fragment",
        /// A BOOTREPLY or a server message type (OFFER, ACK, NAK) from a client port.
        NotClientMessage => "not_client_message",
        /// `chaddr` differs from the frame's source MAC: a client speaking for another.
        ChaddrMismatch => "chaddr_mismatch",
        /// Came through a relay agent (`giaddr` set): not supported on a virtual switch.
        Relayed => "relayed",
        /// Addressed to another server (server identifier, RFC 2131 4.3.2).
        NotForUs => "not_for_us",
        /// A required field is missing (requested IP in SELECTING or DECLINE, ciaddr in INFORM).
        MissingField => "missing_field",
        /// No address is free to offer.
        PoolExhausted => "pool_exhausted",
        /// The table of outstanding offers is full.
        OffersFull => "offers_full",
        /// The table of claims waiting for the chain is full.
        PendingFull => "pending_full",
        /// RELEASE or DECLINE of an address the client does not hold.
        UnknownLease => "unknown_lease",
        /// The chain did not show the claim's outcome in time.
        ClaimTimeout => "claim_timeout",
        /// Every probed candidate answered ARP.
        ProbesExhausted => "probes_exhausted",
        /// The subnet gives the network no address to serve (wrong network in INFORM).
        WrongNetwork => "wrong_network",
    }
}

named_enum! {
    /// Things the server did.
    Stat {
        Discover => "discover",
        Request => "request",
        Renew => "renew",
        Rebind => "rebind",
        Release => "release",
        Decline => "decline",
        Inform => "inform",
        OfferSent => "offer_sent",
        AckSent => "ack_sent",
        NakSent => "nak_sent",
        ProbeSent => "probe_sent",
        ProbeConflict => "probe_conflict",
        ClaimAppended => "claim_appended",
        ClaimWon => "claim_won",
        ClaimLost => "claim_lost",
        OfferExpired => "offer_expired",
        LeaseRetired => "lease_retired",
    }
}

/// Counts by [`DropReason`] and [`Stat`].
#[derive(Debug, Clone, Default)]
pub struct Counters {
    drops: [u64; DROP_REASONS],
    stats: [u64; STATS],
}

const DROP_REASONS: usize = 15;
const STATS: usize = 17;

impl Counters {
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    pub fn stat(&self, stat: Stat) -> u64 {
        self.stats[stat as usize]
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Every counter as (name, count): drops as `drop_<reason>`.
    pub fn iter(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let drops = DropReason::ALL
            .iter()
            .map(|r| (format!("drop_{}", r.name()), self.drops(*r)));
        let stats = Stat::ALL
            .iter()
            .map(|s| (s.name().to_owned(), self.stat(*s)));
        drops.chain(stats)
    }

    pub(crate) fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    pub(crate) fn count(&mut self, stat: Stat) {
        self.stats[stat as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_fit_the_enums() {
        assert_eq!(DropReason::ALL.len(), DROP_REASONS);
        assert_eq!(Stat::ALL.len(), STATS);
        let mut c = Counters::default();
        c.drop(DropReason::WrongNetwork);
        c.count(Stat::LeaseRetired);
        assert_eq!(c.total_drops(), 1);
        assert!(c.iter().any(|(n, v)| n == "drop_wrong_network" && v == 1));
        assert!(c.iter().any(|(n, v)| n == "lease_retired" && v == 1));
    }
}
