//! Snooping: what a switch learns by watching frames go by (DESIGN.md,
//! "Workspace": MAC learning with ageing, ARP/ND tracking, IGMP/MLD group
//! membership). No I/O, no clock: time is passed in as `now`.
//!
//! Table of contents:
//! - [`mac_table`]: MAC learning with ageing, a global and a per-port cap
//!   ([`MacTable`], [`Learned`], [`MacTableConfig`]).
//!
//! ARP/ND tracking and IGMP/MLD snooping come with later issues.

pub mod mac_table;

pub use mac_table::{Learned, Mac, MacTable, MacTableConfig};
