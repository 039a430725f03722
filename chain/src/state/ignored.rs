//! What [`State::apply`](super::State::apply) did with an event, and why an
//! event was ignored.

use std::net::Ipv4Addr;

use super::Proto;
use crate::leases::ClaimLost;
use crate::validate::InvalidEvent;

/// What [`State::apply`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The state now reflects the event.
    Changed,
    /// The event had no effect, for this reason.
    Ignored(Ignored),
}

/// Why an event left the state unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// A network with this name exists already (first in chain order wins).
    #[error("network name {0:?} is taken")]
    NameTaken(String),
    /// A network with this id exists already.
    #[error("network {0} exists already")]
    NetworkExists(String),
    #[error("no network {0}")]
    UnknownNetwork(String),
    /// The key id is in use (or was: key ids are never reused), or is the
    /// network's node key id.
    #[error("key id {key_id:08x} is taken in network {network}")]
    KeyIdTaken { network: String, key_id: u32 },
    #[error("no key {key_id:08x} in network {network}")]
    UnknownKey { network: String, key_id: u32 },
    #[error("key {key_id:08x} of network {network} is already revoked")]
    AlreadyRevoked { network: String, key_id: u32 },
    #[error("node {0} is not present")]
    NodeAbsent(String),
    #[error("invalid event: {0}")]
    Invalid(InvalidEvent),
    /// Leases and reservations need an IPv4 subnet.
    #[error("network {0} has no IPv4 subnet")]
    NotIpv4(String),
    #[error("a route between {0} and {1} exists already")]
    RouteExists(String, String),
    #[error("no route between {0} and {1}")]
    NoRoute(String, String),
    /// A `LeaseClaimed` lost by the claim rule ([`crate::leases`]).
    #[error("claim of {ip} by {mac} in network {network} lost: {why}")]
    ClaimLost {
        network: String,
        mac: String,
        ip: Ipv4Addr,
        why: ClaimLost,
    },
    /// The address is the network's, broadcast or gateway address, or outside the subnet.
    #[error("{ip} is not assignable in network {network}")]
    NotAssignable { network: String, ip: Ipv4Addr },
    #[error("{ip} is reserved for {mac} in network {network}")]
    ReservedForOther {
        network: String,
        ip: Ipv4Addr,
        mac: String,
    },
    #[error("{mac} already has this reservation in network {network}")]
    ReservationExists { network: String, mac: String },
    #[error("{mac} has no reservation in network {network}")]
    NoReservation { network: String, mac: String },
    /// A release, expiry or decline names a lease that is not (or no longer) there.
    #[error("{mac} holds no such lease on {ip} in network {network}")]
    NoLease {
        network: String,
        mac: String,
        ip: Ipv4Addr,
    },
    /// A decline of an address another client holds.
    #[error("{ip} is leased to {mac} in network {network}")]
    LeaseHeld {
        network: String,
        ip: Ipv4Addr,
        mac: String,
    },
    /// The protocol and host port are published already (first wins).
    #[error("{proto} host port {host_port} is published already (network {network})")]
    PortTaken {
        proto: Proto,
        host_port: u16,
        /// The network holding the publication.
        network: String,
    },
    /// An unpublish names a port this network has not published.
    #[error("{proto} host port {host_port} is not published in network {network}")]
    NotPublished {
        network: String,
        proto: Proto,
        host_port: u16,
    },
}
