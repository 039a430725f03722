//! Load generators for `scripts/bench/` (benchmarks, never CI tests).
//!
//! - `dhcp-load`: many distinct DHCP clients, each its own vswitch session
//!   and MAC, against one atenet node (see `src/bin/dhcp-load.rs`).

pub mod dhcp_msg;
pub mod stats;
