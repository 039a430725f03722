//! Snooping: what a switch learns by watching frames go by (DESIGN.md,
//! "Workspace": MAC learning with ageing, ARP/ND tracking, IGMP/MLD group
//! membership). No I/O, no clock: time is passed in as `now`.
//!
//! Table of contents:
//! - [`mac_table`]: MAC learning with ageing, a global and a per-port cap
//!   ([`MacTable`], [`Learned`], [`MacTableConfig`]).
//!
//! - [`arp_table`]: IPv4 -> MAC bindings learned from ARP and DHCP leases,
//!   and IPv6 -> MAC bindings learned from Neighbor Discovery, with ageing,
//!   a cap and protected addresses ([`ArpTable`], [`Observed`],
//!   [`Unlearned`]).
//!
//! IGMP/MLD snooping comes with a later issue.

pub mod arp_table;
pub mod mac_table;

pub use arp_table::{
    ArpCounters, ArpTable, ArpTableConfig, Binding, Observed, Origin, ProtectedFull, Unlearned,
};
pub use mac_table::{Learned, Mac, MacTable, MacTableConfig};
