//! `tok status` support: the JSON document a node writes to whoever connects
//! to `DATA_DIR/nodes/NODE_ID.sock` (mode 0600), then closes. The shape is
//! the contract in docs/internals.md, "atenet <-> tok".

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

/// A cheap handle to ask the running node for its status.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    queries: mpsc::Sender<oneshot::Sender<Snapshot>>,
}

impl NodeHandle {
    /// The handle of the node task that answers `queries`.
    pub(crate) fn new(queries: mpsc::Sender<oneshot::Sender<Snapshot>>) -> Self {
        Self { queries }
    }

    /// The node's current status; `None` once it has stopped.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.queries.send(tx).await.ok()?;
        rx.await.ok()
    }
}

/// Version of the document shape; bumped when a field changes meaning.
pub const STATUS_VERSION: u32 = 1;

/// At most this many status readers are served at once; the rest wait.
const MAX_READERS: usize = 16;
/// A reader that does not take its document within this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything `tok status` prints about one node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub version: u32,
    pub node_id: String,
    pub pid: u32,
    pub listen: String,
    pub advertise: String,
    pub uptime_secs: u64,
    /// How the node moves packets on this machine: hardware or software
    /// crypto, UDP GSO/GRO segments per system call.
    #[serde(default)]
    pub data_path: String,
    pub networks: Vec<NetworkStatus>,
    pub peers: Vec<PeerStatus>,
    pub clients: Vec<ClientStatus>,
    /// UDP packets dropped by the sessions layer, by the check that failed.
    pub packet_drops: BTreeMap<String, u64>,
    /// Frames dropped by a switch, by the check that failed (all networks).
    pub frame_drops: BTreeMap<String, u64>,
    pub counters: Counters,
    /// Frames the gateways and router dropped, by reason (all networks;
    /// `vrouter::DropReason` names).
    #[serde(default)]
    pub router_drops: BTreeMap<String, u64>,
    /// What the gateways and router did: `arp_replies`, `echo_replies`,
    /// `routed`, `queued`, `probes`, `icmp_errors`, `to_nat`.
    #[serde(default)]
    pub router: BTreeMap<String, u64>,
    /// DHCP messages the servers left unanswered, by reason (all networks;
    /// `dhcp::DropReason` names).
    #[serde(default)]
    pub dhcp_drops: BTreeMap<String, u64>,
    /// What the DHCP servers did (`dhcp::Stat` names: `discover`,
    /// `ack_sent`, `claim_won`, ...).
    #[serde(default)]
    pub dhcp: BTreeMap<String, u64>,
    /// The `--wss` listener since start (`crate::wss::WsStats` names:
    /// `upgrades`, `queue_full`, `bad_token`, `text_closed`, ...); empty
    /// without `--wss`.
    #[serde(default)]
    pub ws: BTreeMap<String, u64>,
    /// Websocket clients attached now (they are also in `clients`).
    #[serde(default)]
    pub ws_clients: usize,
    /// NAT flows open now (all networks), by kind: `udp`, `ping`, `tcp`,
    /// `published_udp`, `published_tcp`, and `tcp_time_wait` (TCP flows
    /// whose host side is done, waiting out TIME-WAIT) and `total`.
    #[serde(default)]
    pub nat_flows: BTreeMap<String, u64>,
    /// NAT flows open now per client address, busiest first.
    #[serde(default)]
    pub nat_clients: Vec<NatClientStatus>,
    /// NAT since start (all networks): the translators' `drop_<reason>`,
    /// `deny_<reason>`, `opened_<kind>`, `expired`, `reset`, `closed`,
    /// `frames_out` (`nat::Counters`) and the sockets' `io_<event>`.
    #[serde(default)]
    pub nat: BTreeMap<String, u64>,
    /// The gateways' DNS forwarder since start: `queries`, `forwarded`,
    /// `answered`, `servfail`, `timeouts`, `drop_<reason>`.
    #[serde(default)]
    pub dns: BTreeMap<String, u64>,
    /// The gateways' virtual hosts (issue 13): connections, datagrams,
    /// drops by reason, all networks.
    #[serde(default)]
    pub vhost: BTreeMap<String, u64>,
}

/// NAT flows of one client.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NatClientStatus {
    /// The chain id, 32 hex digits.
    pub network: String,
    /// The client's IPv4 address.
    pub ip: String,
    pub flows: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkStatus {
    /// The chain id, 32 hex digits.
    pub id: String,
    pub name: String,
    pub subnet: String,
    /// Switch ports in use (clients and peer sessions).
    pub ports: usize,
    /// The gateway's address (empty: no gateway on this node).
    #[serde(default)]
    pub gateway: String,
    /// DHCP leases of this network in the chain.
    #[serde(default)]
    pub leases: usize,
}

/// One peer node of one network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PeerStatus {
    pub node_id: String,
    pub network: String,
    /// The session's remote address, else the first advertised one.
    pub addr: String,
    /// A node session with this peer exists in this network.
    pub connected: bool,
    /// Heard within 3 keepalive intervals.
    pub reachable: bool,
    /// Milliseconds since the peer was last heard; absent if never.
    pub last_heard_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientStatus {
    pub network: String,
    /// The access key id, 8 hex digits.
    pub key_id: String,
    pub remote: String,
    /// Source MACs seen from this client (at most a few).
    pub macs: Vec<String>,
    pub last_heard_ms: u64,
}

/// Totals since the node started.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counters {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub send_errors: u64,
    /// `sendmsg` calls that carried `packets_sent`: fewer than packets
    /// when GSO glued packets to one address together.
    #[serde(default)]
    pub send_calls: u64,
    /// Receive system calls (`recvmmsg`) that carried `packets_received`.
    #[serde(default)]
    pub receive_calls: u64,
    /// Ethernet frames opened from a session (client or peer).
    pub frames_received: u64,
    /// Frame copies sealed and sent to a session (one per egress port).
    pub frames_forwarded: u64,
    pub handshakes_accepted: u64,
    pub handshakes_completed: u64,
    pub sessions_expired: u64,
    pub clients_moved: u64,
    /// Lease events appended to the chain (durable).
    #[serde(default)]
    pub chain_appends: u64,
    /// Lease events the chain store refused or failed to write.
    #[serde(default)]
    pub chain_append_errors: u64,
    /// Lease events dropped because the append queue was full.
    #[serde(default)]
    pub chain_appends_dropped: u64,
    /// Frames a service produced with nowhere to go (the client left the
    /// node; a NAT hand-off while NAT is off).
    #[serde(default)]
    pub service_frames_unsent: u64,
    /// Chain leases the router's ARP tables refused (conflicting binding).
    #[serde(default)]
    pub leases_refused: u64,
}

/// The socket path of a node in a data directory.
pub fn socket_path(data_dir: &Path, node_id: &str) -> PathBuf {
    data_dir.join("nodes").join(format!("{node_id}.sock"))
}

/// Removes sockets in `DATA_DIR/nodes` whose node is gone (connecting is
/// refused): what a node killed with SIGKILL leaves behind.
pub fn remove_stale_sockets(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("nodes")) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "sock") {
            continue;
        }
        if let Err(err) = std::os::unix::net::UnixStream::connect(&path) {
            if err.kind() == io::ErrorKind::ConnectionRefused {
                tracing::info!(path = %path.display(), "removing stale status socket");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// The bound status socket; the file is removed when this is dropped.
#[derive(Debug)]
pub struct StatusSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl StatusSocket {
    /// Binds `DATA_DIR/nodes/NODE_ID.sock` with mode 0600 (in a 0700 dir).
    pub fn bind(data_dir: &Path, node_id: &str) -> io::Result<Self> {
        let dir = data_dir.join("nodes");
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let path = socket_path(data_dir, node_id);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Self { listener, path })
    }

    /// Serves one document per connection until `shutdown` turns true.
    pub async fn serve(self, node: NodeHandle, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(MAX_READERS));
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = crate::shutdown::stopped(&mut shutdown) => return,
            };
            let mut stream = match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "status socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let node = node.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let Some(snapshot) = node.snapshot().await else {
                    return;
                };
                let mut doc = match serde_json::to_vec(&snapshot) {
                    Ok(doc) => doc,
                    Err(err) => {
                        tracing::warn!(%err, "status document not serialisable");
                        return;
                    }
                };
                doc.push(b'\n');
                let write = async {
                    stream.write_all(&doc).await?;
                    stream.shutdown().await
                };
                if let Err(err) = tokio::time::timeout(WRITE_TIMEOUT, write)
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
                {
                    tracing::debug!(%err, "status reader went away");
                }
            });
        }
    }
}

impl Drop for StatusSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_socket_is_removed_live_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = dir.path().join("nodes");
        std::fs::create_dir_all(&nodes).unwrap();
        let stale = nodes.join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let live_path = nodes.join("live.sock");
        let _live = std::os::unix::net::UnixListener::bind(&live_path).unwrap();
        let other = nodes.join("notes.txt");
        std::fs::write(&other, b"x").unwrap();
        remove_stale_sockets(dir.path());
        assert!(!stale.exists());
        assert!(live_path.exists());
        assert!(other.exists());
    }

    #[test]
    fn snapshot_round_trips_as_json() {
        let mut snapshot = Snapshot {
            version: STATUS_VERSION,
            node_id: "00112233aabbccdd".into(),
            ..Snapshot::default()
        };
        snapshot.packet_drops.insert("bad_tag".into(), 3);
        let text = serde_json::to_string(&snapshot).unwrap();
        assert!(text.contains("\"bad_tag\":3"));
        let back: Snapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snapshot);
    }
}
