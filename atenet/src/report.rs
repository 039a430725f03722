//! The node's status as one [`Snapshot`], for `tok status` and metrics.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::sessions::UNREACHABLE_AFTER;
use crate::state::{Attached, Node};
use crate::status::{ClientStatus, NetworkStatus, PeerStatus, Snapshot, STATUS_VERSION};

fn millis_since(now: Instant, then: Instant) -> u64 {
    now.saturating_duration_since(then).as_millis() as u64
}

/// How this node moves packets: crypto in hardware or software, and the
/// UDP offloads (GSO can be switched off at run time if the kernel refuses
/// it, so this is read afresh each time).
pub(crate) fn data_path(udp: &udpio::UdpIo) -> String {
    format!(
        "{}; UDP GSO {} and GRO {} datagrams per call",
        vswitch::seal::Acceleration::detect(),
        udp.gso_segments(),
        udp.gro_segments()
    )
}

pub(crate) fn snapshot(node: &Node, now: Instant) -> Snapshot {
    let network_id = |chain: &vswitch::key::ChainId| hex::encode(chain.0);
    let mut networks: Vec<NetworkStatus> = node
        .networks
        .values()
        .map(|net| NetworkStatus {
            id: network_id(&net.id),
            name: net.name.clone(),
            subnet: net.subnet.clone(),
            ports: net.port_count(),
            gateway: node
                .services
                .router
                .gateway(vrouter::NetworkId(net.id.0))
                .map(|gateway| gateway.ipv4().to_string())
                .unwrap_or_default(),
            leases: node.services.lease_count(net.id),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));

    let mut peers: Vec<PeerStatus> = node
        .peers
        .links()
        .map(|((chain, peer), link)| {
            let heard = link
                .session
                .and_then(|session| node.endpoint.session_info(session))
                .map(|info| info.last_heard);
            let addr = link
                .session
                .and_then(|session| node.remote_of(session))
                .or_else(|| node.peers.first_addr(peer));
            PeerStatus {
                node_id: peer.to_string(),
                network: network_id(&chain),
                addr: addr.map(|addr| addr.to_string()).unwrap_or_default(),
                connected: link.session.is_some(),
                reachable: heard
                    .is_some_and(|heard| now.saturating_duration_since(heard) < UNREACHABLE_AFTER),
                last_heard_ms: heard.map(|heard| millis_since(now, heard)),
            }
        })
        .collect();
    peers.sort_by(|a, b| (&a.network, &a.node_id).cmp(&(&b.network, &b.node_id)));

    let mut clients: Vec<ClientStatus> = node
        .sessions
        .iter()
        .filter_map(|(session, attached)| {
            let Attached::Client(client) = attached else {
                return None;
            };
            let info = node.endpoint.session_info(*session)?;
            Some(ClientStatus {
                network: network_id(&client.network),
                key_id: client.key_id.to_string(),
                remote: node.remote_of(*session).unwrap_or(info.remote).to_string(),
                macs: client.macs().collect(),
                last_heard_ms: millis_since(now, info.last_heard),
            })
        })
        .collect();
    clients.extend(node.ws_client_status(now));
    clients.sort_by(|a, b| (&a.network, &a.remote).cmp(&(&b.network, &b.remote)));

    let packet_drops = node
        .endpoint
        .counters()
        .iter()
        .map(|(name, count)| (name.to_owned(), count))
        .collect();
    let mut frame_drops: BTreeMap<String, u64> = BTreeMap::new();
    for net in node.networks.values() {
        for (name, count) in net.switch.counters().iter() {
            let Some(reason) = name.strip_prefix("drop_") else {
                continue;
            };
            *frame_drops.entry(reason.to_owned()).or_default() += count;
        }
    }

    if node.ws.is_enabled() {
        // Frames dropped at a websocket client's queue (it reads too
        // slowly) or on their way in (the node task's queue was full):
        // drops of the frame layer, so `tok status` shows them.
        for (name, count) in node.ws.stats().iter() {
            if matches!(name, "queue_full" | "rx_dropped") {
                frame_drops.insert(format!("ws_{name}"), count);
            }
        }
    }
    let (router_drops, router) = node.services.router_counters();
    let (dhcp_drops, dhcp) = node.services.dhcp_counters();
    let mut counters = node.counters;
    let appends = node.services.leases.stats();
    counters.chain_appends = appends.appended.load(Ordering::Relaxed);
    counters.chain_append_errors = appends.failed.load(Ordering::Relaxed);
    counters.chain_appends_dropped = appends.dropped.load(Ordering::Relaxed);
    counters.service_frames_unsent = node.services.counters.unsent;
    counters.leases_refused = node.services.counters.leases_refused;

    Snapshot {
        version: STATUS_VERSION,
        node_id: node.id.to_string(),
        pid: std::process::id(),
        listen: node.listen.to_string(),
        advertise: node.advertise.to_string(),
        uptime_secs: now.saturating_duration_since(node.started).as_secs(),
        data_path: node.data_path.clone(),
        networks,
        peers,
        clients,
        packet_drops,
        frame_drops,
        counters,
        router_drops,
        router,
        dhcp_drops,
        dhcp,
        ws: if node.ws.is_enabled() {
            node.ws
                .stats()
                .iter()
                .map(|(name, count)| (name.to_owned(), count))
                .collect()
        } else {
            BTreeMap::new()
        },
        ws_clients: node.ws.len(),
        nat_flows: node.nat.flow_counts(),
        nat_clients: node.nat.client_flows(),
        nat: node.nat.counter_map(),
        dns: node
            .services
            .hosts
            .service_counters()
            .remove("dns")
            .unwrap_or_default()
            .into_iter()
            .map(|(name, n)| (name.to_owned(), n))
            .collect(),
        vhost: {
            let mut vhost = node.services.hosts.counters();
            vhost.extend(node.host_sockets.counters());
            vhost
        },
    }
}
