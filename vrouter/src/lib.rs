//! vrouter: the ethereal gateway of every network on a node, and routing
//! between networks (seed 004, "vRouter"; DESIGN.md, "How a frame
//! travels"). Sans-IO: frames and `now` in, frames out through an
//! [`Outbox`]; no sockets, clocks or randomness.
//!
//! Table of contents:
//! - [`addressing`]: the gateway MAC and address, the node probe MAC.
//! - [`subnet`]: [`Ipv4Subnet`], the chain's `subnet`.
//! - [`ipv6`]: [`Ipv6Prefix`], the chain's `ipv6-prefix` setting, and the
//!   gateway's IPv6 addresses.
//! - [`gateway`]: [`Gateway`], ARP and ICMP echo answers for one network,
//!   and IPv6 ND, echo and router advertisements with an `ipv6-prefix`.
//! - [`router`]: [`Router`], one per node: gateways, ARP tables, routes
//!   between networks, the ARP-resolution queue ([`PendingConfig`]).
//! - [`outbox`]: [`Outbox`] and [`Output`], what the node must send.
//! - [`counters`]: [`DropReason`] and [`Counters`].
//! - internal: `arp`, `icmp` and `nd` (packets the gateway sends), `forward`
//!   (TTL decrement), `pending` (the queue), `ether` (headers).

pub mod addressing;
mod arp;
pub mod counters;
mod ether;
mod forward;
pub mod gateway;
mod icmp;
pub mod ipv6;
mod nd;
pub mod outbox;
mod pending;
pub mod router;
pub mod subnet;
#[cfg(test)]
mod testutil;

pub use addressing::{gateway_ipv4, gateway_mac, node_mac};
/// The ARP probe a node sends from its node MAC (sender 0.0.0.0): the
/// router's own next-hop probe, public for the DHCP server's address probes.
pub use arp::probe as arp_probe;
pub use counters::{Counters, DropReason};
pub use gateway::{Gateway, Handled, NoGatewayAddress};
pub use ipv6::{Ipv6Prefix, Ipv6PrefixParseError};
pub use outbox::{Outbox, Output};
pub use pending::PendingConfig;
pub use router::{Router, RouterConfig, RouterError};
pub use subnet::{Ipv4Subnet, SubnetParseError};

/// A network's id: the chain id (`vswitch::key::ChainId`'s 16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkId(pub [u8; 16]);
