//! What the node task owns: one [`Node`] holding every session, switch,
//! service and socket, so the data path takes no lock. This file holds the
//! state only; what the node does with it is in the files that `impl Node`
//! by concern (`udp` the data path, `sessions` their lifecycle, `ethereal`
//! the services' frames, `chain_sync` the chain, `wss::attach` websockets,
//! `nat::glue` NAT), each of which imports this one and never the other way.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use vswitch::endpoint::Endpoint;
use vswitch::key::{ChainId, KeyId};
use vswitch::port::PortId;
use vswitch::wire::SessionId;

use crate::clients::Client;
use crate::network::Network;
use crate::peers::{NodeId, Peers};
use crate::services::Services;
use crate::status::Counters;

/// Size of every packet buffer: more than the largest sealed packet.
pub(crate) const PACKET_BUF: usize = 2048;

/// What a session is to this node.
#[derive(Debug)]
pub(crate) enum Attached {
    Client(Client),
    Peer {
        network: ChainId,
        node: NodeId,
        port: PortId,
    },
}

/// The state the node task owns.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: NodeId,
    pub(crate) listen: SocketAddr,
    pub(crate) advertise: SocketAddr,
    pub(crate) started: Instant,
    /// The node's UDP socket with batched receive and GSO send lanes.
    pub(crate) udp: udpio::UdpIo,
    pub(crate) endpoint: Endpoint,
    pub(crate) rng: StdRng,
    pub(crate) networks: HashMap<ChainId, Network>,
    /// Keys registered in the endpoint (node keys and live client keys).
    pub(crate) keys: HashSet<(ChainId, KeyId)>,
    pub(crate) sessions: HashMap<SessionId, Attached>,
    pub(crate) peers: Peers,
    pub(crate) counters: Counters,
    /// Egress ports of the frame being forwarded (reused, never shrunk).
    pub(crate) egress: Vec<PortId>,
    /// Where packets are sealed before sending (reused).
    pub(crate) tx: Box<[u8; PACKET_BUF]>,
    /// Where the endpoint writes handshake replies (reused).
    pub(crate) reply: Box<[u8; PACKET_BUF]>,
    /// Sealed packets the synchronous handlers left to send (hellos, leaves).
    pub(crate) queued: Vec<(Vec<u8>, SocketAddr)>,
    pub(crate) last_mac_sweep: Instant,
    /// The gateways, router and DHCP servers of every network.
    pub(crate) services: Services,
    /// Websocket clients (`--wss`): their queues and the listener's events.
    pub(crate) ws: crate::wss::ports::WsPorts,
    /// NAT translators and their host sockets, published ports, DNS.
    pub(crate) nat: crate::nat::NatService,
    /// The gateway services' sockets on the host network.
    pub(crate) host_sockets: crate::host_sockets::HostSockets,
}

/// Milliseconds since the Unix epoch (lease times in the chain).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}
