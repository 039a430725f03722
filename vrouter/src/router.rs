//! Routing between the networks of one node (seed 004, "vRouter": "feed
//! the packet into this network using the associated default router of the
//! secondary vSwitch after the MAC addresses are substituted").
//!
//! One [`Router`] per node holds every network's [`Gateway`] and
//! [`ArpTable`], and the routes (pairs of networks, from the chain's
//! `tok route add`). A packet that enters network A's gateway for an
//! address in network B's subnet, with a route A<->B, leaves into B with
//! the source MAC = B's gateway MAC, the destination MAC = the host's MAC
//! from B's ARP table, and the TTL one lower (RFC 1812, 5.2 and 5.3.1).
//! Routing is stateless, so it works on whichever node the packet enters.
//!
//! Sans-IO: `handle_frame`, `observe_frame`, `insert_lease` and
//! `handle_timeout` write what to send into an [`Outbox`]; call
//! `poll_timeout` after each and `handle_timeout` when it is due.

use crate::forward::decrement_ttl;
use crate::gateway::{valid_ipv4, NoGatewayAddress};
use crate::icmp::{self, Addressing, IcmpError};
use crate::outbox::{Outbox, Target};
use crate::pending::{Pending, PendingConfig, Waiting};
use crate::{
    arp, ether, Counters, DropReason, Gateway, Handled, Ipv4Subnet, Ipv6Prefix, NetworkId,
};
use smoltcp::wire::{EthernetFrame, EthernetProtocol, Ipv4Packet};
use snooping::{ArpTable, ArpTableConfig, Binding, Mac, Observed, ProtectedFull, Unlearned};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

/// Limits and switches of a [`Router`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// This node's id (the chain's node id): it makes the node probe MAC.
    pub node_id: u64,
    /// Networks served: 1024 by default.
    pub max_networks: usize,
    /// Routes (pairs of networks): 65 536 by default.
    pub max_routes: usize,
    /// The ARP-resolution queue.
    pub pending: PendingConfig,
    /// Each network's ARP table.
    pub arp: ArpTableConfig,
    /// Hand packets for destinations outside every served network to NAT
    /// ([`crate::Output::ToNat`]) instead of answering net unreachable.
    /// Off by default; atenet turns it on (one translator per network).
    pub nat_handoff: bool,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            node_id: 0,
            max_networks: 1024,
            max_routes: 65_536,
            pending: PendingConfig::default(),
            arp: ArpTableConfig::default(),
            nat_handoff: false,
        }
    }
}

/// Why a router call could not be done (a local misconfiguration or cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// `max_networks` networks are served already.
    #[error("the router serves at most {cap} networks (max_networks)")]
    TooManyNetworks {
        /// The cap.
        cap: usize,
    },
    /// More routes than `max_routes`.
    #[error("the router holds at most {cap} routes (max_routes)")]
    TooManyRoutes {
        /// The cap.
        cap: usize,
    },
    /// The subnet has no address for a gateway.
    #[error(transparent)]
    NoGatewayAddress(#[from] NoGatewayAddress),
    /// The ARP table could not protect the gateway's addresses.
    #[error(transparent)]
    Protect(#[from] ProtectedFull),
    /// The network is not served by this router.
    #[error("network not served by this router")]
    UnknownNetwork,
    /// The lease was not recorded.
    #[error("lease not recorded: {0}")]
    Lease(Unlearned),
}

#[derive(Debug)]
struct Network {
    gateway: Gateway,
    arp: ArpTable,
}

/// The gateways, ARP tables and routes of one node.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    networks: HashMap<NetworkId, Network>,
    /// Both directions of every route.
    routes: HashMap<NetworkId, Vec<NetworkId>>,
    route_count: usize,
    pending: Pending,
    counters: Counters,
}

impl Router {
    /// A router serving no network.
    pub fn new(config: RouterConfig) -> Self {
        Self {
            config,
            networks: HashMap::new(),
            routes: HashMap::new(),
            route_count: 0,
            pending: Pending::new(config.pending),
            counters: Counters::default(),
        }
    }

    /// Serves `network` on `subnet`: makes its gateway and ARP table (the
    /// gateway's address and MACs protected). Adding a served network
    /// again with another subnet starts it afresh.
    pub fn add_network(
        &mut self,
        network: NetworkId,
        subnet: Ipv4Subnet,
    ) -> Result<&Gateway, RouterError> {
        let same = self
            .networks
            .get(&network)
            .is_some_and(|n| n.gateway.subnet() == subnet);
        if !same {
            if !self.networks.contains_key(&network)
                && self.networks.len() >= self.config.max_networks
            {
                return Err(RouterError::TooManyNetworks {
                    cap: self.config.max_networks,
                });
            }
            let mut gateway = Gateway::new(network, subnet, self.config.node_id)?;
            let mut arp = ArpTable::new(self.config.arp);
            arp.protect_ip(gateway.ipv4())?;
            arp.protect_mac(gateway.mac())?;
            arp.protect_mac(gateway.node_mac())?;
            // A new subnet keeps the network's IPv6 prefix.
            let prefix = self
                .networks
                .get(&network)
                .and_then(|n| n.gateway.ipv6_prefix());
            gateway.set_ipv6_prefix(prefix);
            protect_v6(&mut arp, &gateway)?;
            self.pending.forget_network(network);
            self.networks.insert(network, Network { gateway, arp });
        }
        Ok(&self.networks[&network].gateway)
    }

    /// Sets `network`'s IPv6 prefix (the chain's `ipv6-prefix` setting;
    /// `None`: no setting): its gateway answers ND, ICMPv6 echo and router
    /// solicitations for its addresses in it, and its ARP table never
    /// learns them. Setting the same prefix again does nothing.
    pub fn set_ipv6_prefix(
        &mut self,
        network: NetworkId,
        prefix: Option<Ipv6Prefix>,
    ) -> Result<(), RouterError> {
        let n = self
            .networks
            .get_mut(&network)
            .ok_or(RouterError::UnknownNetwork)?;
        if n.gateway.ipv6_prefix() == prefix {
            return Ok(());
        }
        for old in [n.gateway.ipv6(), n.gateway.ipv6_link_local()]
            .into_iter()
            .flatten()
        {
            n.arp.unprotect_ipv6(old);
        }
        n.gateway.set_ipv6_prefix(prefix);
        if let Err(err) = protect_v6(&mut n.arp, &n.gateway) {
            n.gateway.set_ipv6_prefix(None);
            return Err(err.into());
        }
        Ok(())
    }

    /// Stops serving `network`, dropping what waited to go into or come
    /// from it. Routes naming it stay (they apply if it comes back).
    pub fn remove_network(&mut self, network: NetworkId) -> bool {
        self.pending.forget_network(network);
        self.networks.remove(&network).is_some()
    }

    /// Replaces the routes with `routes` (each pair routes both ways; the
    /// chain's route list). On error the old routes stay.
    pub fn set_routes(
        &mut self,
        routes: impl IntoIterator<Item = (NetworkId, NetworkId)>,
    ) -> Result<(), RouterError> {
        let mut table: HashMap<NetworkId, Vec<NetworkId>> = HashMap::new();
        let mut count = 0;
        for (a, b) in routes {
            if a == b || table.get(&a).is_some_and(|v| v.contains(&b)) {
                continue;
            }
            count += 1;
            if count > self.config.max_routes {
                return Err(RouterError::TooManyRoutes {
                    cap: self.config.max_routes,
                });
            }
            table.entry(a).or_default().push(b);
            table.entry(b).or_default().push(a);
        }
        self.routes = table;
        self.route_count = count;
        Ok(())
    }

    /// Whether packets may go from `a` to `b`.
    pub fn has_route(&self, a: NetworkId, b: NetworkId) -> bool {
        a == b || self.routes.get(&a).is_some_and(|v| v.contains(&b))
    }

    /// Routes held (pairs).
    pub fn route_count(&self) -> usize {
        self.route_count
    }

    /// The gateway of a served network.
    pub fn gateway(&self, network: NetworkId) -> Option<&Gateway> {
        self.networks.get(&network).map(|n| &n.gateway)
    }

    /// The ARP table of a served network.
    pub fn arp_table(&self, network: NetworkId) -> Option<&ArpTable> {
        self.networks.get(&network).map(|n| &n.arp)
    }

    /// Routing counters (what the gateways answered is in their own).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Routing counters plus every gateway's.
    pub fn total_counters(&self) -> Counters {
        let mut total = self.counters.clone();
        for n in self.networks.values() {
            total.add(n.gateway.counters());
        }
        total
    }

    /// Packets waiting for ARP resolution.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Snoops a frame `network`'s switch forwarded (call it for every
    /// frame, from any port): ARP and IPv6 ND teach the table, and packets waiting
    /// for a binding just learned are sent.
    pub fn observe_frame(
        &mut self,
        now: Instant,
        network: NetworkId,
        frame: &[u8],
        out: &mut Outbox,
    ) -> Observed {
        let Some(n) = self.networks.get_mut(&network) else {
            return Observed::NotArp;
        };
        let observed = n.arp.observe_frame(now, frame);
        if let Observed::Learned { ip, mac, .. } = observed {
            self.release(network, ip, mac, out);
        }
        observed
    }

    /// Records a DHCP lease of `network` from the chain, and sends packets
    /// that were waiting for it.
    pub fn insert_lease(
        &mut self,
        now: Instant,
        network: NetworkId,
        ip: Ipv4Addr,
        mac: Mac,
        expires: Instant,
        out: &mut Outbox,
    ) -> Result<Binding, RouterError> {
        let n = self
            .networks
            .get_mut(&network)
            .ok_or(RouterError::UnknownNetwork)?;
        let binding = n
            .arp
            .insert_lease(now, ip, mac, expires)
            .map_err(RouterError::Lease)?;
        self.release(network, ip, mac, out);
        Ok(binding)
    }

    /// Forgets a lease released in the chain.
    pub fn remove_lease(&mut self, network: NetworkId, ip: Ipv4Addr, mac: Mac) -> bool {
        self.networks
            .get_mut(&network)
            .is_some_and(|n| n.arp.remove_lease(ip, mac))
    }

    /// Handles a frame `network`'s switch delivered to its gateway port:
    /// the gateway answers what is for it, the router routes the rest.
    /// Never panics, whatever the bytes.
    pub fn handle_frame(
        &mut self,
        now: Instant,
        network: NetworkId,
        frame: &[u8],
        out: &mut Outbox,
    ) -> Handled {
        let Some(n) = self.networks.get_mut(&network) else {
            self.counters.count_drop(DropReason::UnknownNetwork);
            return Handled::Dropped(DropReason::UnknownNetwork);
        };
        match n.gateway.handle_frame(now, frame, out) {
            Handled::Transit => match self.route(now, network, frame, out) {
                Ok(handled) => handled,
                Err(reason) => {
                    self.counters.count_drop(reason);
                    Handled::Dropped(reason)
                }
            },
            other => other,
        }
    }

    /// When [`Router::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.next_deadline()
    }

    /// Fails the destinations unresolved at `now`: every packet they held
    /// gets ICMP host unreachable, sent into the network it came from.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) {
        for item in self.pending.take_expired(now) {
            self.counters.count_drop(DropReason::HostUnreachable);
            self.unreachable_late(&item, out);
            self.pending.recycle(item.frame);
        }
    }

    /// Reclaims expired ARP bindings in every network (call it from a
    /// timer; expired bindings are already misses without it).
    pub fn expire(&mut self, now: Instant) -> usize {
        self.networks.values_mut().map(|n| n.arp.expire(now)).sum()
    }

    fn route(
        &mut self,
        now: Instant,
        ingress: NetworkId,
        frame: &[u8],
        out: &mut Outbox,
    ) -> Result<Handled, DropReason> {
        let eth = EthernetFrame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
        let sender = eth.src_addr().0;
        let packet = valid_ipv4(eth.payload())?;
        let (src, dst) = (packet.src_addr(), packet.dst_addr());
        if !icmp::is_host_source(src) {
            return Err(DropReason::Martian);
        }
        // Loopback is never routed, but with NAT it goes to the translator,
        // whose policy denies it (admin-prohibited) unless `nat-allow`
        // opens it.
        let to_nat_loopback = self.config.nat_handoff && dst.is_loopback();
        if !is_forwardable(dst) && !to_nat_loopback {
            return Err(DropReason::NotForwardable);
        }
        let Some(egress) = self.egress(ingress, dst) else {
            if self.config.nat_handoff && !self.is_served(dst) {
                let buf = out
                    .push(Target::ToNat(ingress))
                    .ok_or(DropReason::OutboxFull)?;
                buf.extend_from_slice(packet.into_inner());
                self.counters.to_nat += 1;
                return Ok(Handled::ToNat);
            }
            self.error_reply(ingress, sender, IcmpError::NetUnreachable, &packet, out);
            return Err(DropReason::NoRoute);
        };
        let (gateway, arp) = {
            let n = &self.networks[&egress];
            (&n.gateway, &n.arp)
        };
        let subnet = gateway.subnet();
        if dst == gateway.ipv4() || !subnet.is_host(dst) {
            // Directed broadcast (RFC 1812, 5.3.5.2: off by default), the
            // network address, or another network's gateway address (the
            // gateway answers only on its own network).
            return Err(DropReason::NotForwardable);
        }
        if packet.hop_limit() <= 1 {
            self.error_reply(ingress, sender, IcmpError::TtlExceeded, &packet, out);
            return Err(DropReason::TtlExpired);
        }
        let (gateway_mac, node_mac) = (gateway.mac(), gateway.node_mac());
        let ip = packet.into_inner();
        if let Some(mac) = arp.lookup(now, dst) {
            let buf = out
                .push(Target::Originate(egress))
                .ok_or(DropReason::OutboxFull)?;
            write_routed(buf, mac, gateway_mac, ip);
            self.counters.routed += 1;
            return Ok(Handled::Routed);
        }
        let mut buf = self.pending.buffer();
        write_routed(&mut buf, [0; 6], gateway_mac, ip);
        let waiting = Waiting {
            ingress,
            sender,
            frame: buf,
        };
        let enqueued = self.pending.enqueue(now, egress, dst, waiting);
        self.counters.queued += 1;
        for _ in 0..enqueued.evicted {
            self.counters.count_drop(DropReason::QueueOverflow);
        }
        if enqueued.new_destination {
            match out.push(Target::Originate(egress)) {
                Some(buf) => {
                    arp::probe(buf, node_mac, dst);
                    self.counters.probes += 1;
                }
                None => self.counters.count_drop(DropReason::OutboxFull),
            }
        }
        Ok(Handled::Queued)
    }

    /// The network `dst` goes to from `ingress`: the ingress network itself
    /// or one with a route, longest prefix first.
    fn egress(&self, ingress: NetworkId, dst: Ipv4Addr) -> Option<NetworkId> {
        let routed = self.routes.get(&ingress).into_iter().flatten();
        std::iter::once(&ingress)
            .chain(routed)
            .filter_map(|id| Some((*id, self.networks.get(id)?.gateway.subnet())))
            .filter(|(_, subnet)| subnet.contains(dst))
            .max_by_key(|(id, subnet)| (subnet.prefix_len(), std::cmp::Reverse(*id)))
            .map(|(id, _)| id)
    }

    fn is_served(&self, dst: Ipv4Addr) -> bool {
        self.networks
            .values()
            .any(|n| n.gateway.subnet().contains(dst))
    }

    /// Sends packets waiting for `(network, ip)` to `mac`.
    fn release(&mut self, network: NetworkId, ip: Ipv4Addr, mac: Mac, out: &mut Outbox) {
        for mut item in self.pending.take(network, ip) {
            ether::set_dst(&mut item.frame, mac);
            match out.push(Target::Originate(network)) {
                Some(buf) => {
                    buf.extend_from_slice(&item.frame);
                    self.counters.routed += 1;
                }
                None => self.counters.count_drop(DropReason::OutboxFull),
            }
            self.pending.recycle(item.frame);
        }
    }

    /// An ICMP error about the frame being handled, back to its port.
    fn error_reply(
        &mut self,
        ingress: NetworkId,
        sender: Mac,
        kind: IcmpError,
        packet: &Ipv4Packet<&[u8]>,
        out: &mut Outbox,
    ) {
        let Some(gateway) = self.networks.get(&ingress).map(|n| &n.gateway) else {
            return;
        };
        if !icmp::may_send_error(gateway.mac(), packet) {
            return;
        }
        let addressing = Addressing {
            eth_dst: sender,
            eth_src: gateway.mac(),
            ip_src: gateway.ipv4(),
            ip_dst: packet.src_addr(),
        };
        match out.push(Target::Reply) {
            Some(buf) => {
                icmp::error(buf, addressing, kind, packet.as_ref());
                self.counters.icmp_errors += 1;
            }
            None => self.counters.count_drop(DropReason::OutboxFull),
        }
    }

    /// Host unreachable for a packet that waited: the port it came from is
    /// not at hand any more, so it is switched into its network.
    fn unreachable_late(&mut self, item: &Waiting, out: &mut Outbox) {
        let Some(gateway) = self.networks.get(&item.ingress).map(|n| &n.gateway) else {
            return;
        };
        let Some(packet) = item
            .frame
            .get(ether::HEADER_LEN..)
            .and_then(|p| Ipv4Packet::new_checked(p).ok())
        else {
            return;
        };
        if !icmp::may_send_error(gateway.mac(), &packet) {
            return;
        }
        let addressing = Addressing {
            eth_dst: item.sender,
            eth_src: gateway.mac(),
            ip_src: gateway.ipv4(),
            ip_dst: packet.src_addr(),
        };
        match out.push(Target::Originate(item.ingress)) {
            Some(buf) => {
                icmp::error(
                    buf,
                    addressing,
                    IcmpError::HostUnreachable,
                    packet.into_inner(),
                );
                self.counters.icmp_errors += 1;
            }
            None => self.counters.count_drop(DropReason::OutboxFull),
        }
    }
}

/// Protects the gateway's IPv6 addresses, if it has any, in its ARP table.
fn protect_v6(arp: &mut ArpTable, gateway: &Gateway) -> Result<(), ProtectedFull> {
    for ip in [gateway.ipv6(), gateway.ipv6_link_local()]
        .into_iter()
        .flatten()
    {
        arp.protect_ipv6(ip)?;
    }
    Ok(())
}

/// Writes the routed frame: the new MACs, then the packet with its TTL one
/// lower.
fn write_routed(buf: &mut Vec<u8>, dst: Mac, src: Mac, ip: &[u8]) {
    let at = ether::start(buf, dst, src, EthernetProtocol::Ipv4, ip.len());
    buf[at..].copy_from_slice(ip);
    decrement_ttl(&mut buf[at..]);
}

/// A destination a router may forward to (RFC 1812, 5.3.5 and 4.2.2.11):
/// not limited broadcast, multicast (no multicast routing), 0.0.0.0/8,
/// loopback or class E.
fn is_forwardable(dst: Ipv4Addr) -> bool {
    icmp::is_host_source(dst)
}

#[cfg(test)]
mod tests;
