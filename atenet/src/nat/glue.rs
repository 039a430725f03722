//! The node task's NAT duties: frames from the translators to clients,
//! socket reports in, timers, the chain's settings and published ports.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use chain::State;
use nat::Protocol;
use vrouter::NetworkId;
use vswitch::key::ChainId;

use super::io::IoEvent;
use crate::network::Network;
use crate::services::Services;
use crate::state::Node;

/// The MAC of the client holding `ip` in `chain` if that client is attached
/// to this node (learned on one of its client ports).
pub(crate) fn local_client_mac(
    now: Instant,
    services: &Services,
    networks: &HashMap<ChainId, Network>,
    chain: ChainId,
    ip: Ipv4Addr,
) -> Option<[u8; 6]> {
    let mac = services
        .router
        .arp_table(NetworkId(chain.0))
        .and_then(|arp| arp.lookup(now, ip))
        .or_else(|| {
            let lease = services
                .leases
                .state()
                .lease_by_ip(&hex::encode(chain.0), ip)?;
            chain::validate::parse_mac(&lease.mac)
        })?;
    let net = networks.get(&chain)?;
    let port = net.switch.lookup(now, mac)?;
    net.port(port)?.is_client().then_some(mac)
}

impl Node {
    /// Sends the frames the translators and the DNS forwarder produced,
    /// switched from the gateway port to their clients.
    pub(crate) fn flush_nat(&mut self, now: Instant) {
        let frames = self.nat.take_frames();
        if frames.is_empty() {
            return self.nat.recycle(frames);
        }
        for (network, frame) in &frames {
            self.originate(now, *network, frame);
        }
        self.nat.recycle(frames);
    }

    /// A socket task's report (and what else is queued, up to a bound).
    pub(crate) fn on_nat_event(&mut self, now: Instant, first: IoEvent) {
        let mut next = Some(first);
        let mut handled = 0;
        while let Some(event) = next.take() {
            if let IoEvent::Host { service, message } = event {
                self.on_host_message(now, service, message);
                handled += 1;
                if handled < 64 {
                    next = self.nat.try_recv();
                }
                continue;
            }
            let (services, networks) = (&self.services, &self.networks);
            self.nat.on_event(now, event, |chain, ip| {
                local_client_mac(now, services, networks, chain, ip)
            });
            handled += 1;
            if handled < 64 {
                next = self.nat.try_recv();
            }
        }
        self.flush_nat(now);
    }

    /// The translators', DNS and host-address timers; published ports.
    pub(crate) fn on_nat_timer(&mut self, now: Instant) {
        if self.nat.handle_timeout(now) {
            self.sync_published(now);
        }
        self.flush_nat(now);
    }

    /// Translators for networks with a gateway here; `nat`/`nat-allow`.
    pub(crate) fn sync_nat(&mut self, now: Instant, state: &State) {
        let router = &self.services.router;
        let gateways = self.services.nets.keys().filter_map(|chain| {
            let gateway = router.gateway(NetworkId(chain.0))?;
            Some((*chain, gateway.mac(), gateway.ipv4()))
        });
        self.nat.sync(now, state, gateways);
        self.sync_published(now);
    }

    /// Opens the host listener of every published port whose client is
    /// attached here, closes the others: the listener follows the client.
    pub(crate) fn sync_published(&mut self, now: Instant) {
        let tx = self.nat.sender();
        let state = self.services.leases.state();
        let chains: Vec<ChainId> = self.nat.nets().map(|(chain, _)| *chain).collect();
        for chain in chains {
            let wanted: Vec<(Protocol, u16, SocketAddrV4)> = state
                .published(&hex::encode(chain.0))
                .filter(|p| {
                    local_client_mac(now, &self.services, &self.networks, chain, p.client_ip)
                        .is_some()
                })
                .map(|p| {
                    let proto = match p.proto {
                        chain::Proto::Tcp => Protocol::Tcp,
                        chain::Proto::Udp => Protocol::Udp,
                    };
                    (
                        proto,
                        p.host_port,
                        SocketAddrV4::new(p.client_ip, p.client_port),
                    )
                })
                .collect();
            let Some(net) = self.nat.net_mut(chain) else {
                continue;
            };
            let mut failed = 0;
            let current: Vec<(Protocol, u16, SocketAddrV4)> = net.translator.published().collect();
            for (proto, port, client) in &current {
                if !wanted.contains(&(*proto, *port, *client)) {
                    net.translator.unpublish(*proto, *port);
                    net.listeners.close(*proto, *port);
                }
            }
            for (proto, port) in net.listeners.ports() {
                if !wanted.iter().any(|(p, hp, _)| *p == proto && *hp == port) {
                    net.listeners.close(proto, port);
                }
            }
            for (proto, port, client) in wanted {
                if !current.contains(&(proto, port, client))
                    && net.translator.publish(proto, port, client).is_err()
                {
                    failed += 1;
                    continue;
                }
                if !net.listeners.ensure(chain, proto, port, &tx) {
                    failed += 1;
                }
            }
            self.nat.counters.publish_bind_failed += failed;
        }
    }
}
