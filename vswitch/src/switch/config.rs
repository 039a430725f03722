//! The limits of a switch, and the errors of setting one up.

use crate::port::PortId;
use crate::storm::StormConfig;
use snooping::MacTableConfig;

/// Every cap and limit of one [`super::Switch`] (every table has a cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchConfig {
    /// MAC learning: age (300 s), global cap (65 536), per-port cap (4096).
    /// Peer-node ports get the global cap as their per-port cap: a whole
    /// node's clients live behind one.
    pub mac_table: MacTableConfig,
    /// Broadcast/multicast limit per local port (1000 fps, burst 2000);
    /// `None` turns storm control off.
    pub storm: Option<StormConfig>,
    /// The most ports at once. 16 384 by default; the node's session caps
    /// are expected to be lower.
    pub max_ports: usize,
    /// The most pinned (ethereal) MACs. 256 by default.
    pub max_pinned: usize,
    /// The most protected IPv4 addresses. 64 by default.
    pub max_protected: usize,
    /// The most events waiting for `poll_event`. 1024 by default; more are
    /// counted as lost.
    pub max_events: usize,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        Self {
            mac_table: MacTableConfig::default(),
            storm: Some(StormConfig::default()),
            max_ports: 16_384,
            max_pinned: 256,
            max_protected: 64,
            max_events: 1024,
        }
    }
}

/// Why setting up a switch (ports, pins, protected addresses) failed: all
/// local decisions of the node, never caused by a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// A table is at its cap.
    #[error("the {table} table is full ({cap} entries, SwitchConfig::{setting})")]
    TableFull {
        /// Which table: "port", "pinned MAC" or "protected address".
        table: &'static str,
        /// The `SwitchConfig` field that sets its cap.
        setting: &'static str,
        /// Its cap.
        cap: usize,
    },
    /// All 2^32 port ids were handed out (ids are never reused).
    #[error("port ids are exhausted")]
    PortIdsExhausted,
    /// The port is not a port of this switch.
    #[error("{0} is not a port of this switch")]
    UnknownPort(PortId),
    /// Only ethereal ports (gateway, DHCP, virtual hosts) own pinned MACs.
    #[error(
        "{0} is not an ethereal port; only gateway, DHCP and virtual-host ports own pinned MACs"
    )]
    NotEthereal(PortId),
    /// A pinned MAC must be a unicast station address.
    #[error("{} is not a unicast MAC", hex_mac(*.0))]
    NotUnicast([u8; 6]),
}

fn hex_mac(mac: [u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}
