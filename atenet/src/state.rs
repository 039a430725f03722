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
    /// The wall clock at `started`, in Unix milliseconds: the core reads
    /// wall time (lease times in the chain) as `started_ms + (now -
    /// started)`, so time comes only from the `now` it is given.
    pub(crate) started_ms: u64,
    /// Datagrams decided and sealed, waiting for the edge to send them.
    pub(crate) out: crate::outbox::Outbox,
    /// How the edge's socket sends and receives (for the status report).
    pub(crate) data_path: String,
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

/// What a node core is made of that its edge chooses: identity and
/// addresses, the RNG (seeded by the caller: a simulation passes a fixed
/// seed), the gateway services (the one registration line is in
/// `node.rs`), where lease events go, the websocket ports.
pub(crate) struct CoreParts {
    pub(crate) id: NodeId,
    pub(crate) listen: SocketAddr,
    pub(crate) advertise: SocketAddr,
    pub(crate) rng: StdRng,
    pub(crate) gateway_services: Vec<Box<dyn crate::gateway_host::GatewayService>>,
    pub(crate) leases: crate::services::lease_store::ChainLeases,
    pub(crate) ws: crate::wss::ports::WsPorts,
    pub(crate) nat_idle: Option<std::time::Duration>,
    pub(crate) data_path: String,
    pub(crate) started_ms: u64,
}

impl Node {
    /// A node core at `now` with no session, network or socket: datagrams,
    /// chain states and timers come in through its handlers, datagrams go
    /// out through `out`.
    pub(crate) fn new(parts: CoreParts, now: Instant) -> Node {
        let CoreParts {
            id,
            listen,
            advertise,
            mut rng,
            gateway_services,
            leases,
            ws,
            nat_idle,
            data_path,
            started_ms,
        } = parts;
        let gateway_hosts = crate::gateway_host::GatewayHosts::new(
            gateway_services,
            rand::RngCore::next_u64(&mut rng),
        );
        let nat = crate::nat::NatService::new(nat_idle, now);
        Node {
            host_sockets: crate::host_sockets::HostSockets::new(nat.sender()),
            nat,
            ws,
            id,
            listen,
            advertise,
            started: now,
            started_ms,
            out: crate::outbox::Outbox::default(),
            data_path,
            endpoint: Endpoint::new(vswitch::endpoint::EndpointConfig::default()),
            rng,
            networks: HashMap::new(),
            keys: HashSet::new(),
            sessions: HashMap::new(),
            peers: Peers::default(),
            counters: Counters::default(),
            egress: Vec::with_capacity(64),
            tx: Box::new([0; PACKET_BUF]),
            reply: Box::new([0; PACKET_BUF]),
            last_mac_sweep: now,
            services: Services::new(id, leases, gateway_hosts),
        }
    }

    /// Wall time at `now`, in Unix milliseconds (see `started_ms`).
    pub(crate) fn unix_ms_at(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.started).as_millis();
        self.started_ms
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }
}

/// Milliseconds since the Unix epoch (lease times in the chain).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}
