//! The JSON document a node writes on `DATA_DIR/nodes/NODE_ID.sock`
//! (docs/internals.md, "atenet <-> tok"; the node's `atenet/src/status.rs`).
//! Every field defaults, so a newer or older node still prints.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Snapshot {
    pub version: u32,
    pub node_id: String,
    pub pid: u32,
    pub listen: String,
    pub advertise: String,
    pub uptime_secs: u64,
    /// Crypto acceleration and UDP offloads, as the node reports them.
    pub data_path: String,
    pub networks: Vec<NetworkStatus>,
    pub peers: Vec<PeerStatus>,
    pub clients: Vec<ClientStatus>,
    pub packet_drops: BTreeMap<String, u64>,
    pub frame_drops: BTreeMap<String, u64>,
    pub counters: BTreeMap<String, u64>,
    /// NAT flows open now, by kind (`udp`, `ping`, `tcp`, `published_*`,
    /// `tcp_time_wait`) and `total`. Empty from a node without NAT.
    pub nat_flows: BTreeMap<String, u64>,
    /// NAT flows open now per client address, busiest first.
    pub nat_clients: Vec<NatClientStatus>,
    /// NAT counters since start (`opened_*`, `deny_*`, `drop_*`, `io_*`, ...).
    pub nat: BTreeMap<String, u64>,
    /// The gateways' DNS forwarder counters since start.
    pub dns: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NatClientStatus {
    pub network: String,
    pub ip: String,
    pub flows: u64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NetworkStatus {
    pub id: String,
    pub name: String,
    pub subnet: String,
    pub ports: usize,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct PeerStatus {
    pub node_id: String,
    pub network: String,
    pub addr: String,
    pub connected: bool,
    pub reachable: bool,
    pub last_heard_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClientStatus {
    pub network: String,
    pub key_id: String,
    pub remote: String,
    pub macs: Vec<String>,
    pub last_heard_ms: u64,
}
