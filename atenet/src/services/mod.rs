//! The ethereal services of every network on this node: the gateway and
//! router (`vrouter`), the DHCP server (`dhcp`) and the lease store it
//! writes through. This module holds their state and how the chain sets
//! them up; `crate::ethereal` moves their frames.
//!
//! - [`gateway`]: routes and leases from the chain into the router.
//! - [`dhcp`]: the per-network server, and which frames are DHCP.
//! - [`lease_store`]: [`ChainLeases`] (the `dhcp::LeaseStore`) and the
//!   writer task that appends lease events off the data path.

pub mod dhcp;
pub mod dns;
pub mod gateway;
pub mod lease_store;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use ::dhcp::{Action, ServerConfig};
use chain::State;
use vrouter::{NetworkId, Outbox, Router, RouterConfig};
use vswitch::key::ChainId;

use self::dhcp::DhcpService;
use self::gateway::LeaseView;
use self::lease_store::ChainLeases;
use crate::gateway_host::GatewayHosts;
use crate::network::{EtherealPorts, Network};
use crate::peers::NodeId;

/// One network's services on this node.
#[derive(Debug)]
pub struct Ethereal {
    pub ports: EtherealPorts,
    /// This node's probe MAC in the network (pinned to the gateway port).
    pub node_mac: [u8; 6],
    pub dhcp: Option<DhcpService>,
    /// The DHCP config error last logged, so it is logged once.
    dhcp_error: Option<String>,
    /// Leases the router was given.
    leases: LeaseView,
}

/// Counters of the node's side of the services (the cores count theirs).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceCounters {
    /// Frames a service produced that had nowhere to go: a reply whose
    /// client is no longer a local port, a NAT hand-off while NAT is off.
    pub unsent: u64,
    /// Leases the router's ARP table refused.
    pub leases_refused: u64,
}

/// Every network's services.
#[derive(Debug)]
pub struct Services {
    node_id: String,
    pub router: Router,
    /// The router's outbox (drained after every router call).
    pub outbox: Outbox,
    /// The DHCP servers' actions (drained after every server call).
    pub actions: Vec<Action>,
    pub leases: ChainLeases,
    pub nets: HashMap<ChainId, Ethereal>,
    pub counters: ServiceCounters,
    /// Reused to build ARP probes.
    pub probe: Vec<u8>,
    /// The virtual hosts on every gateway address and their services.
    pub hosts: GatewayHosts,
}

impl Services {
    pub fn new(node: NodeId, leases: ChainLeases, hosts: GatewayHosts) -> Self {
        Self {
            node_id: node.to_string(),
            router: Router::new(RouterConfig {
                node_id: node.0,
                // Addresses outside every network go to the network's NAT
                // translator (`crate::nat`), which applies its policy.
                nat_handoff: true,
                ..RouterConfig::default()
            }),
            outbox: Outbox::default(),
            actions: Vec::with_capacity(16),
            leases,
            nets: HashMap::new(),
            counters: ServiceCounters::default(),
            probe: Vec::with_capacity(64),
            hosts,
        }
    }

    /// Sets up (once) the gateway and DHCP ports and the gateway of a
    /// network the node serves, and (re)makes its DHCP server when the
    /// network's settings changed.
    pub fn ensure(&mut self, now: Instant, net: &chain::Network, network: &mut Network) {
        let chain = network.id;
        let id = NetworkId(chain.0);
        if !self.nets.contains_key(&chain) {
            let subnet = match net.subnet.parse::<vrouter::Ipv4Subnet>() {
                Ok(subnet) => subnet,
                Err(err) => {
                    tracing::warn!(network = %net.name, subnet = %net.subnet, %err, "no gateway: subnet not usable");
                    return;
                }
            };
            let gateway = match self.router.add_network(id, subnet) {
                Ok(gateway) => gateway,
                Err(err) => {
                    tracing::warn!(network = %net.name, %err, "no gateway for this network");
                    return;
                }
            };
            let (mac, node_mac, ip) = (gateway.mac(), gateway.node_mac(), gateway.ipv4());
            let ports = match network.add_ethereal(mac, node_mac, ip) {
                Ok(ports) => ports,
                Err(err) => {
                    self.router.remove_network(id);
                    tracing::warn!(network = %net.name, %err, "no ethereal ports for this network");
                    return;
                }
            };
            tracing::info!(network = %net.name, gateway = %ip, "gateway and DHCP server up");
            self.nets.insert(
                chain,
                Ethereal {
                    ports,
                    node_mac,
                    dhcp: None,
                    dhcp_error: None,
                    leases: LeaseView::new(),
                },
            );
        }
        let Some(gateway_mac) = self.router.gateway(id).map(vrouter::Gateway::mac) else {
            return;
        };
        self.set_ipv6_prefix(id, net);
        if let Some(gateway) = self.router.gateway(id) {
            let mtu = net
                .setting("mtu")
                .and_then(|v| ::dhcp::config::parse_mtu(v).ok())
                .unwrap_or(::dhcp::config::DEFAULT_MTU);
            self.hosts
                .ensure(chain, gateway.mac(), gateway.ipv4(), usize::from(mtu));
        }
        let Some(ethereal) = self.nets.get_mut(&chain) else {
            return;
        };
        match ServerConfig::from_network(net, gateway_mac, &self.node_id) {
            Ok(cfg) => {
                ethereal.dhcp_error = None;
                if ethereal.dhcp.as_ref().is_none_or(|d| d.differs(&cfg)) {
                    tracing::debug!(network = %net.name, mtu = cfg.mtu, lease_time = ?cfg.lease_time, "DHCP server (re)configured");
                    ethereal.dhcp = Some(DhcpService::new(cfg, now));
                }
            }
            Err(err) => {
                let text = err.to_string();
                if ethereal.dhcp_error.as_deref() != Some(&text) {
                    tracing::warn!(network = %net.name, %err, "DHCP settings not usable; keeping the previous ones");
                    ethereal.dhcp_error = Some(text);
                }
            }
        }
    }

    /// The network's `ipv6-prefix` setting (as `tok` stores it,
    /// `fd00:1::/64`) into its gateway: ND, ICMPv6 echo and router
    /// advertisements for `prefix::1` and its link-local address. No
    /// setting, or one not usable, takes them away.
    fn set_ipv6_prefix(&mut self, id: NetworkId, net: &chain::Network) {
        let setting = net.settings.get("ipv6-prefix");
        let prefix = match setting.map(|v| v.parse::<vrouter::Ipv6Prefix>()) {
            Some(Ok(prefix)) => Some(prefix),
            Some(Err(err)) => {
                // Warned once, when it takes a usable prefix away.
                if self
                    .router
                    .gateway(id)
                    .and_then(vrouter::Gateway::ipv6_prefix)
                    .is_some()
                {
                    tracing::warn!(network = %net.name, %err, "ipv6-prefix not usable; the gateway answers no IPv6");
                } else {
                    tracing::debug!(network = %net.name, %err, "ipv6-prefix not usable");
                }
                None
            }
            None => None,
        };
        let before = self
            .router
            .gateway(id)
            .and_then(vrouter::Gateway::ipv6_prefix);
        if before == prefix {
            return;
        }
        match self.router.set_ipv6_prefix(id, prefix) {
            Ok(()) => {
                let gateway = self.router.gateway(id);
                let ipv6 = gateway.and_then(vrouter::Gateway::ipv6);
                let link_local = gateway.and_then(vrouter::Gateway::ipv6_link_local);
                tracing::info!(network = %net.name, ?prefix, ?ipv6, ?link_local, "gateway IPv6 prefix set");
            }
            Err(err) => {
                tracing::warn!(network = %net.name, %err, "gateway IPv6 prefix not set");
            }
        }
    }

    /// Routes and leases from a new chain state into the router.
    pub fn sync_router(&mut self, state: &State, now: Instant, now_ms: u64) {
        gateway::set_routes(&mut self.router, state);
        for (chain, ethereal) in &mut self.nets {
            self.counters.leases_refused += gateway::sync_leases(
                &mut self.router,
                &mut self.outbox,
                *chain,
                state,
                &mut ethereal.leases,
                now,
                now_ms,
            );
        }
    }

    /// When a service timer is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.nets
            .values()
            .filter_map(|net| net.dhcp.as_ref()?.server.poll_timeout())
            .chain(self.router.poll_timeout())
            .chain(self.hosts.poll_timeout())
            .min()
    }

    /// Leases in the chain for `chain` (not yet expired or not).
    pub fn lease_count(&self, chain: ChainId) -> usize {
        self.leases.state().leases(&hex::encode(chain.0)).count()
    }

    /// Router drops and other counters (every gateway's included), by name.
    pub fn router_counters(&self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        let total = self.router.total_counters();
        let drops = total
            .drops_by_reason()
            .map(|(reason, n)| (reason.name().to_owned(), n))
            .collect();
        let stats = total
            .iter()
            .skip(vrouter::DropReason::ALL.len())
            .map(|(name, n)| (name.to_owned(), n))
            .collect();
        (drops, stats)
    }

    /// DHCP drops and other counters, summed over networks, by name.
    pub fn dhcp_counters(&self) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
        let mut drops = BTreeMap::new();
        let mut stats = BTreeMap::new();
        for server in self.nets.values().filter_map(|net| net.dhcp.as_ref()) {
            for (name, n) in server.server.counters().iter() {
                match name.strip_prefix("drop_") {
                    Some(reason) => *drops.entry(reason.to_owned()).or_default() += n,
                    None => *stats.entry(name).or_default() += n,
                }
            }
        }
        (drops, stats)
    }
}
