//! Virtual hosts: the TCP and UDP endpoints services (DNS, the IoT relay,
//! CoAP, the device protocol) have on a network's gateway address, like the
//! services of a home router.
//!
//! The node hands a [`VirtualHost`] the IPv4 packets to the gateway address
//! on ports it [`VirtualHost::is_listening`] on (Ethernet stripped; ARP,
//! ICMP echo and DHCP stay with the vRouter and the DHCP service) and sends
//! what [`VirtualHost::poll_transmit`] returns back to the client.
//!
//! - TCP ends in smoltcp, spread over [`Config::shards`] interfaces by a
//!   hash of the 4-tuple, so a packet costs a walk of one small socket set
//!   rather than of every connection. Each SYN to a listened port gets a
//!   fresh listening socket (no backlog), connections are capped per peer
//!   IP and in total (over a cap: RST), and finished sockets are freed at
//!   once.
//! - UDP is read and written directly with smoltcp's `wire` types.
//!
//! Sans-IO: no sockets, clocks or ambient randomness; `now` and a seed are
//! passed in; no input bytes can panic it (`tests/hostile.rs`). The drain
//! rule is on [`VirtualHost`].

mod config;
mod counters;
mod device;
mod error;
mod event;
mod host;
mod shard;
mod wire;

pub use config::Config;
pub use counters::{Counters, DropReason};
pub use error::Error;
pub use event::{ConnId, Event, Protocol};
pub use host::VirtualHost;
