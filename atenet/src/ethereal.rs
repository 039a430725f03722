//! Moving the ethereal services' frames (DESIGN.md, "How a frame travels"):
//! what a switch delivers to a network's gateway or DHCP port goes to the
//! router or the DHCP server; what they *answer* is sealed to the asking
//! client's port only; what they *originate* (routed frames, ARP probes)
//! is switched into its network with the gateway port as ingress, to the
//! session ports it reaches. Every frame a switch forwards from a session
//! is shown to the router's ARP snooping first (this is how node A learns
//! a client of node B); frames the services originate are not (their
//! senders are the gateway and node MACs, which the ARP tables refuse).
//!
//! Per frame nothing is allocated: the router's outbox, the DHCP actions
//! and the probe buffer are the node's, reused (the DHCP core allocates
//! its own replies, which are not on the data path).

use std::sync::Arc;
use std::time::Instant;

use chain::State;
use dhcp::Action;
use snooping::Observed;
use vrouter::{NetworkId, Outbox, Output};
use vswitch::key::ChainId;
use vswitch::port::PortId;

use crate::egress::deliver;
use crate::network::{LocalPort, ServiceKind};
use crate::services::dhcp::{is_request, reply_client};
use crate::state::Node;

/// The local client whose frame a service is handling: the only port its
/// replies may go to, and the source MAC NAT answers to. Passed with the
/// frame, never left in another service's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asker {
    pub port: PortId,
    pub mac: [u8; 6],
}

/// Which ethereal ports a switched frame reached.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reached {
    gateway: bool,
    dhcp: bool,
}

impl Reached {
    /// The frame reached the service port of `kind`.
    pub(crate) fn note(&mut self, kind: ServiceKind) {
        match kind {
            ServiceKind::Gateway => self.gateway = true,
            ServiceKind::Dhcp => self.dhcp = true,
        }
    }
}

impl Node {
    /// Shows a frame switched in `network` to the services. `asker` is the
    /// client port it came from (`None`: from a peer node, which is
    /// snooped but never answered: its own node answers it).
    pub(crate) fn serve_ethereal(
        &mut self,
        now: Instant,
        network: ChainId,
        asker: Option<PortId>,
        frame: &[u8],
        reached: Reached,
    ) {
        let asker = asker.and_then(|port| {
            let mac = frame.get(6..12)?.try_into().ok()?;
            Some(Asker { port, mac })
        });
        let now_ms = self.unix_ms_at(now);
        let services = &mut self.services;
        let Some(ethereal) = services.nets.get_mut(&network) else {
            return;
        };
        let id = NetworkId(network.0);
        let observed = services
            .router
            .observe_frame(now, id, frame, &mut services.outbox);
        if let (Observed::Learned { ip, mac, .. }, Some(dhcp)) = (observed, &mut ethereal.dhcp) {
            dhcp.server.observe_arp_reply(
                now,
                now_ms,
                ip,
                mac,
                &services.leases,
                &mut services.actions,
            );
        }
        if asker.is_some() && (reached.gateway || reached.dhcp) {
            if is_request(frame) {
                if let Some(dhcp) = &mut ethereal.dhcp {
                    // Refusals are counted by the server under their reason.
                    let _ = dhcp.server.handle_frame(
                        now,
                        now_ms,
                        frame,
                        &services.leases,
                        &mut services.actions,
                    );
                }
            } else if reached.gateway && frame.get(..6) != Some(&ethereal.node_mac[..]) {
                // (Frames to the node MAC answer its probes: snooped above.)
                // A service's port on the gateway address goes to the
                // virtual host; the rest to the router, which hands NAT
                // its off-net packets.
                if !services.hosts.handle_frame(now, network, frame) {
                    services
                        .router
                        .handle_frame(now, id, frame, &mut services.outbox);
                }
            }
        }
        self.flush_services(now, network, asker);
    }

    /// A chain state arrived: ports and gateways for new networks, DHCP
    /// settings, routes and leases into the router, then the DHCP servers
    /// learn which of their claims won.
    pub(crate) fn reconcile_services(&mut self, state: &Arc<State>, now: Instant) {
        self.services.leases.set_state(Arc::clone(state));
        for net in state.networks() {
            let Some(chain) = crate::network::parse_chain_id(&net.id) else {
                continue;
            };
            if let Some(network) = self.networks.get_mut(&chain) {
                self.services.ensure(now, net, network);
            }
        }
        let now_ms = self.unix_ms_at(now);
        self.services.sync_router(state, now, now_ms);
        let networks: Vec<ChainId> = self.services.nets.keys().copied().collect();
        self.flush_services(
            now,
            networks.first().copied().unwrap_or(ChainId([0; 16])),
            None,
        );
        for chain in networks {
            let services = &mut self.services;
            if let Some(dhcp) = services.nets.get_mut(&chain).and_then(|n| n.dhcp.as_mut()) {
                dhcp.server
                    .chain_updated(now, now_ms, &services.leases, &mut services.actions);
            }
            self.flush_services(now, chain, None);
        }
        self.sync_nat(now, state);
        self.flush_nat(now);
    }

    /// The services' timers: ARP resolution timeouts, DHCP probes that
    /// stayed silent, offers and claims that time out, lease retirement,
    /// the virtual hosts' TCP timers and their services'.
    pub(crate) fn on_services_timer(&mut self, now: Instant) {
        let now_ms = self.unix_ms_at(now);
        let services = &mut self.services;
        services.router.handle_timeout(now, &mut services.outbox);
        services.hosts.handle_timeout(now);
        let due: Vec<ChainId> = services
            .nets
            .iter()
            .filter(|(_, net)| {
                net.dhcp
                    .as_ref()
                    .and_then(|dhcp| dhcp.server.poll_timeout())
                    .is_some_and(|at| at <= now)
            })
            .map(|(chain, _)| *chain)
            .collect();
        let any = due.first().copied().unwrap_or(ChainId([0; 16]));
        self.flush_services(now, any, None);
        for chain in due {
            let services = &mut self.services;
            if let Some(dhcp) = services.nets.get_mut(&chain).and_then(|n| n.dhcp.as_mut()) {
                dhcp.server
                    .handle_timeout(now, now_ms, &services.leases, &mut services.actions);
            }
            self.flush_services(now, chain, None);
        }
    }

    /// Carries out what the router's outbox and `network`'s DHCP actions
    /// hold. `asker` is the client whose frame was just handled, if any:
    /// the only port replies may go to.
    fn flush_services(&mut self, now: Instant, network: ChainId, asker: Option<Asker>) {
        if !self.services.outbox.is_empty() {
            // Taken out while its frames are sent (no allocation: a
            // zero-capacity outbox holds no buffers).
            let mut outbox = std::mem::replace(&mut self.services.outbox, Outbox::new(0));
            for output in outbox.iter() {
                match output {
                    Output::Reply(frame) => match asker {
                        Some(asker) => self.send_to_client(now, network, asker.port, frame),
                        None => self.services.counters.unsent += 1,
                    },
                    Output::Originate { network, frame } => {
                        self.originate(now, ChainId(network.0), frame);
                    }
                    Output::ToNat { network, packet } => {
                        // Only frames from local clients reach the router
                        // (`serve_ethereal`): peers' clients are NATed by
                        // their own node. Only a handled frame hands off.
                        match asker {
                            Some(asker) => {
                                self.nat.packet(now, ChainId(network.0), asker.mac, packet);
                            }
                            None => self.services.counters.unsent += 1,
                        }
                    }
                }
            }
            outbox.clear();
            self.services.outbox = outbox;
        }
        self.flush_gateway_hosts(now);
        if !self.services.actions.is_empty() {
            let mut actions = std::mem::take(&mut self.services.actions);
            for action in actions.drain(..) {
                match action {
                    Action::Transmit(frame) => {
                        let client = asker
                            .map(|a| a.port)
                            .or_else(|| self.dhcp_client(now, network, &frame));
                        match client {
                            Some(port) => self.send_to_client(now, network, port, &frame),
                            None => self.services.counters.unsent += 1,
                        }
                    }
                    Action::Probe { ip } => {
                        let Some(node_mac) = self.services.nets.get(&network).map(|n| n.node_mac)
                        else {
                            continue;
                        };
                        let mut probe = std::mem::take(&mut self.services.probe);
                        probe.clear();
                        vrouter::arp_probe(&mut probe, node_mac, ip);
                        self.originate(now, network, &probe);
                        self.services.probe = probe;
                    }
                    write => {
                        write.write_to(&mut self.services.leases);
                    }
                }
            }
            // Keep the allocation (the next call may have pushed nothing).
            actions.append(&mut self.services.actions);
            self.services.actions = actions;
        }
        self.flush_nat(now);
    }

    /// What the gateway services' host sockets brought back.
    pub(crate) fn on_host_message(
        &mut self,
        now: Instant,
        service: usize,
        message: crate::gateway_host::HostMessage,
    ) {
        self.services.hosts.handle_host(now, service, message);
        self.flush_gateway_hosts(now);
    }

    /// Carries out what the virtual hosts produced: frames to their
    /// clients (switched from the gateway port), messages to the host
    /// network.
    fn flush_gateway_hosts(&mut self, now: Instant) {
        for transmit in self.services.hosts.take_host_out() {
            self.host_sockets.send(transmit);
        }
        for (network, frame) in self.services.hosts.take_frames() {
            self.originate(now, network, &frame);
        }
    }

    /// The local client port a DHCP reply is for: where the switch
    /// learned its MAC, if that is a client port of this node.
    fn dhcp_client(&self, now: Instant, network: ChainId, frame: &[u8]) -> Option<PortId> {
        let net = self.networks.get(&network)?;
        let port = net.switch.lookup(now, reply_client(frame)?)?;
        net.port(port)?.is_client().then_some(port)
    }

    /// Delivers an answer to one client port of `network`.
    fn send_to_client(&mut self, now: Instant, network: ChainId, port: PortId, frame: &[u8]) {
        let local = self
            .networks
            .get(&network)
            .and_then(|net| net.port(port))
            .filter(LocalPort::is_client);
        let Some(local) = local else {
            self.services.counters.unsent += 1;
            return;
        };
        deliver(
            &mut self.ws,
            &mut self.endpoint,
            &mut self.out,
            &mut self.counters,
            now,
            local,
            frame,
        );
    }

    /// Switches a frame a service originated into `network`, with the
    /// gateway port as ingress, to the session ports it reaches.
    pub(crate) fn originate(&mut self, now: Instant, network: ChainId, frame: &[u8]) {
        let Some(gateway) = self
            .networks
            .get(&network)
            .and_then(|net| net.ethereal)
            .map(|ports| ports.gateway)
        else {
            return;
        };
        if self.switch_from(now, network, gateway, frame).is_none() {
            return; // counted by the switch
        }
        self.drain_switch_events(network, now);
    }
}
