//! The atenet node: the edge that moves bytes between UDP sockets and the
//! Sans-IO cores (`vswitch` sessions and switches, the `chain`).
//!
//! Table of contents:
//! - startup and the node task: [`config`] (command line), [`bootstrap`]
//!   (first run), [`node`] (start, event loop, shutdown), [`host`] (routes,
//!   addresses);
//! - the data path: [`udp`] (datagram in, frames out), [`network`]
//!   (switch + ports per network), [`clients`], [`peers`], [`sessions`]
//!   (session lifecycle);
//! - the ethereal services: [`services`] (gateway and router, DHCP server,
//!   the lease store over the chain), `ethereal` (their frames in and out),
//!   `nat` (NAT sockets, published ports) and `dns` (the gateway's DNS
//!   forwarder);
//! - browsers: [`wss`] (the page, websocket clients as switch ports);
//! - the chain: [`chain_sync`] (store polling, reconcile);
//! - observability: [`status`] (Unix socket JSON for `tok status`),
//!   [`metrics`] (Prometheus text), [`report`] (the snapshot both show).

pub mod bootstrap;
pub mod chain_sync;
pub mod clients;
pub mod config;
#[cfg(test)]
mod core_tests;
mod edge;
mod egress;
mod ethereal;
mod gateway_host;
pub mod host;
mod host_sockets;
pub mod metrics;
mod nat;
pub mod network;
pub mod node;
mod outbox;
pub mod peers;
mod report;
pub mod services;
mod sessions;
pub mod shutdown;
mod state;
pub mod status;
mod udp;
pub mod wss;

pub use config::{Cli, Command, Config};
pub use node::{start, Running};
pub use status::NodeHandle;
