//! Userspace NAPT for one network on one node, by socket translation.
//!
//! The gateway hands a [`Translator`] the IPv4-in-Ethernet frames of its
//! clients whose destination lies outside every routed subnet. The translator
//! keeps a flow per (client, remote) and tells the I/O side (`atenet/`) which
//! host sockets to open and what to send on them ([`Command`]); what the host
//! sockets receive comes back through calls such as
//! [`Translator::udp_received`] and leaves as frames to the client, written as
//! if the remote host sent them. Each flow owns its host socket and so its own
//! host source port: the seed's "unique source port per flow" without root,
//! raw sockets or iptables.
//!
//! - UDP: one connected host socket per flow ([`udp`]).
//! - ICMP echo: one unprivileged ping socket per flow ([`icmp`]).
//! - TCP: the client's connection ends in a smoltcp interface inside the
//!   translator and is spliced to a host TCP connection ([`tcp`]).
//! - Port publishing: a host port of this node reaches one client ([`publish`]).
//!
//! # Drain rule
//!
//! After every call that takes `now` (`handle_*`, `udp_received`, `tcp_*`,
//! `inbound_*`, ...), call [`Translator::poll_command`] and
//! [`Translator::poll_frame`] until both return `None`, then re-arm the timer
//! with [`Translator::poll_timeout`]. Queues are capped: packets that do not
//! fit are dropped and counted, never control commands.
//!
//! Sans-IO: no sockets, clocks or ambient randomness; `now` and a seed are
//! passed in, every table is capped, and no input bytes can panic it.

pub mod command;
pub mod config;
pub mod counters;
pub mod flow;
mod frames;
pub mod icmp;
pub mod policy;
pub mod publish;
mod table;
pub mod tcp;
mod translator;
pub mod udp;

pub use command::Command;
pub use config::{Config, Limits, Timeouts};
pub use counters::{Counters, DropReason};
pub use flow::{FlowId, FlowKind, FlowStats};
pub use policy::{DenyReason, Policy};
pub use publish::{InboundError, Protocol, PublishError};
pub use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
pub use translator::Translator;
