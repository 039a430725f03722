//! DHCPv4 server (RFC 2131, options RFC 2132) for one network on one node,
//! Sans-IO: frames and times in, [`Action`]s out; and the DHCPv4 client
//! that `tok connect --dhcp` runs ([`client`]), Sans-IO too. Leases live in the chain
//! behind [`LeaseStore`]; an address is ACKed only once the chain shows this
//! node's claim on it won. See `README.md`.
//!
//! - [`server`]: the state machine ([`Server`], [`Action`]).
//! - [`client`]: the client state machine ([`client::Client`],
//!   [`client::Event`]) and its frames ([`client::wire`]).
//! - [`codec`]: Ethernet frames <-> client messages and replies (smoltcp wire).
//! - [`options`]: option codes and values beyond smoltcp's `DhcpRepr`.
//! - [`pool`]: choosing an address to offer.
//! - [`lease_store`]: the [`LeaseStore`] trait and [`MemoryLeaseStore`].
//! - `probe`: addresses found in use by ARP probes.
//! - [`config`]: [`ServerConfig`], the `lease-time` and `mtu` settings.
//! - [`counters`]: [`Counters`] by [`DropReason`] and [`Stat`].

pub mod client;
pub mod codec;
pub mod config;
pub mod counters;
pub mod lease_store;
pub mod options;
pub mod pool;
mod probe;
pub mod server;

pub use config::{ConfigError, ServerConfig};
pub use counters::{Counters, DropReason, Stat};
pub use lease_store::{
    LeaseClaim, LeaseDecline, LeaseExpiry, LeaseRelease, LeaseStore, MemoryLeaseStore,
};
pub use server::{Action, Server};
