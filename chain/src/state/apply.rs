//! How each event kind changes the state.
//!
//! Validate, then mutate: every arm checks what could make the event
//! ignored against the current state and returns `Err` before it changes
//! anything, so an ignored event leaves the state as it was without a copy
//! to roll back to. (Lease events hand the check and the change to
//! [`NetworkLeases`], which follows the same rule; the lease table an
//! ignored lease event may have created empty is dropped by
//! [`State::apply`].)

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::{Ignored, Key, Network, Node, Proto, Published, State};
use crate::event::Event;
use crate::ipv4::Ipv4Subnet;
use crate::leases::{ClaimId, ClaimOutcome, Declined, Lease, NetworkLeases, TableRefusal};
use crate::validate::InvalidEvent;

impl State {
    pub(super) fn apply_valid(&mut self, ev: &Event) -> Result<(), Ignored> {
        match ev {
            Event::NetworkCreated {
                network,
                name,
                subnet,
                node_key_id,
                node_secret,
            } => {
                if self.networks.contains_key(network) {
                    return Err(Ignored::NetworkExists(network.clone()));
                }
                if self.names.contains_key(name) {
                    return Err(Ignored::NameTaken(name.clone()));
                }
                self.names.insert(name.clone(), network.clone());
                self.networks.insert(
                    network.clone(),
                    Network {
                        id: network.clone(),
                        name: name.clone(),
                        subnet: subnet.clone(),
                        node_key_id: *node_key_id,
                        node_secret: node_secret.clone(),
                        settings: BTreeMap::new(),
                        keys: BTreeMap::new(),
                    },
                );
            }
            Event::KeyIssued {
                network,
                key_id,
                secret,
                label,
            } => {
                let net = self.network_mut(network)?;
                if *key_id == net.node_key_id || net.keys.contains_key(key_id) {
                    return Err(Ignored::KeyIdTaken {
                        network: network.clone(),
                        key_id: *key_id,
                    });
                }
                net.keys.insert(
                    *key_id,
                    Key {
                        secret: secret.clone(),
                        label: label.clone(),
                        revoked: false,
                    },
                );
            }
            Event::KeyRevoked { network, key_id } => {
                let net = self.network_mut(network)?;
                let key = net
                    .keys
                    .get_mut(key_id)
                    .ok_or_else(|| Ignored::UnknownKey {
                        network: network.clone(),
                        key_id: *key_id,
                    })?;
                if key.revoked {
                    return Err(Ignored::AlreadyRevoked {
                        network: network.clone(),
                        key_id: *key_id,
                    });
                }
                key.revoked = true;
            }
            Event::SettingChanged {
                network,
                name,
                value,
            } => {
                let net = self.network_mut(network)?;
                net.settings.insert(name.clone(), value.clone());
            }
            Event::NodeJoined {
                node_id,
                advertise,
                at_ms,
            } => {
                self.nodes.insert(
                    node_id.clone(),
                    Node {
                        advertise: advertise.clone(),
                        at_ms: *at_ms,
                    },
                );
            }
            Event::NodeLeft { node_id } => {
                if self.nodes.remove(node_id).is_none() {
                    return Err(Ignored::NodeAbsent(node_id.clone()));
                }
            }
            Event::RouteAdded {
                network_a,
                network_b,
            } => {
                self.network_mut(network_a)?;
                self.network_mut(network_b)?;
                let pair = route_pair(network_a, network_b);
                if self.routes.contains(&pair) {
                    return Err(Ignored::RouteExists(pair.0, pair.1));
                }
                self.routes.insert(pair);
            }
            Event::RouteRemoved {
                network_a,
                network_b,
            } => {
                let pair = route_pair(network_a, network_b);
                if !self.routes.remove(&pair) {
                    return Err(Ignored::NoRoute(pair.0, pair.1));
                }
            }
            Event::ReservationAdded { network, mac, ip } => {
                let ip = parse_ip(ip)?;
                let (subnet, table) = self.lease_table(network)?;
                table
                    .reserve(subnet, mac, ip)
                    .map_err(|r| refusal(r, network, mac, ip))?;
            }
            Event::ReservationRemoved { network, mac } => {
                let (_, table) = self.lease_table(network)?;
                table
                    .unreserve(mac)
                    .map_err(|r| refusal(r, network, mac, Ipv4Addr::UNSPECIFIED))?;
            }
            Event::LeaseClaimed {
                network,
                mac,
                ip,
                client_id,
                hostname,
                node_id,
                at_ms,
                expires_ms,
            } => {
                let ip = parse_ip(ip)?;
                let (subnet, table) = self.lease_table(network)?;
                let lease = Lease {
                    mac: mac.clone(),
                    ip,
                    client_id: client_id.clone(),
                    hostname: hostname.clone(),
                    node_id: node_id.clone(),
                    at_ms: *at_ms,
                    expires_ms: *expires_ms,
                };
                let result = table.claim(subnet, lease);
                let id = ClaimId {
                    network: network.clone(),
                    node_id: node_id.clone(),
                    mac: mac.clone(),
                    ip,
                    at_ms: *at_ms,
                };
                let outcome = match &result {
                    Ok(()) => ClaimOutcome::Won,
                    Err(why) => ClaimOutcome::Lost(why.clone()),
                };
                self.claims.record(id, outcome);
                result.map_err(|why| Ignored::ClaimLost {
                    network: network.clone(),
                    mac: mac.clone(),
                    ip,
                    why,
                })?;
            }
            Event::LeaseReleased {
                network, mac, ip, ..
            } => {
                let ip = parse_ip(ip)?;
                let (_, table) = self.lease_table(network)?;
                table
                    .release(mac, ip)
                    .map_err(|r| refusal(r, network, mac, ip))?;
            }
            Event::LeaseExpired {
                network,
                mac,
                ip,
                expires_ms,
            } => {
                let ip = parse_ip(ip)?;
                let (_, table) = self.lease_table(network)?;
                table
                    .expire(mac, ip, *expires_ms)
                    .map_err(|r| refusal(r, network, mac, ip))?;
            }
            Event::LeaseDeclined {
                network,
                ip,
                mac,
                at_ms,
                until_ms,
            } => {
                let ip = parse_ip(ip)?;
                let (subnet, table) = self.lease_table(network)?;
                let d = Declined {
                    mac: mac.clone(),
                    at_ms: *at_ms,
                    until_ms: *until_ms,
                };
                table
                    .decline(subnet, ip, d)
                    .map_err(|r| refusal(r, network, mac, ip))?;
            }
            Event::PortPublished {
                network,
                proto,
                host_port,
                client_ip,
                client_port,
            } => {
                let proto = parse_proto(proto)?;
                let ip = parse_ip(client_ip)?;
                let net = self
                    .networks
                    .get(network)
                    .ok_or_else(|| Ignored::UnknownNetwork(network.clone()))?;
                let subnet = net
                    .ipv4_subnet()
                    .ok_or_else(|| Ignored::NotIpv4(network.clone()))?;
                if !subnet.is_assignable(ip) {
                    return Err(Ignored::NotAssignable {
                        network: network.clone(),
                        ip,
                    });
                }
                if let Some(p) = self.published.get(&(proto, *host_port)) {
                    return Err(Ignored::PortTaken {
                        proto,
                        host_port: *host_port,
                        network: p.network.clone(),
                    });
                }
                self.published.insert(
                    (proto, *host_port),
                    Published {
                        network: network.clone(),
                        proto,
                        host_port: *host_port,
                        client_ip: ip,
                        client_port: *client_port,
                    },
                );
            }
            Event::PortUnpublished {
                network,
                proto,
                host_port,
            } => {
                let proto = parse_proto(proto)?;
                let key = (proto, *host_port);
                if self.published.get(&key).map(|p| &p.network) != Some(network) {
                    return Err(Ignored::NotPublished {
                        network: network.clone(),
                        proto,
                        host_port: *host_port,
                    });
                }
                self.published.remove(&key);
            }
        }
        Ok(())
    }

    /// The network's IPv4 subnet and lease table (created empty on first use).
    fn lease_table(&mut self, id: &str) -> Result<(Ipv4Subnet, &mut NetworkLeases), Ignored> {
        let net = self
            .networks
            .get(id)
            .ok_or_else(|| Ignored::UnknownNetwork(id.to_owned()))?;
        let subnet = net
            .ipv4_subnet()
            .ok_or_else(|| Ignored::NotIpv4(id.to_owned()))?;
        Ok((subnet, self.leases.entry(id.to_owned()).or_default()))
    }

    fn network_mut(&mut self, id: &str) -> Result<&mut Network, Ignored> {
        self.networks
            .get_mut(id)
            .ok_or_else(|| Ignored::UnknownNetwork(id.to_owned()))
    }
}

/// A route's key: the two ids, smaller first.
pub(super) fn route_pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// Validated events hold canonical addresses; this only maps the type.
fn parse_ip(ip: &str) -> Result<Ipv4Addr, Ignored> {
    crate::validate::ipv4(ip).map_err(Ignored::Invalid)
}

fn parse_proto(proto: &str) -> Result<Proto, Ignored> {
    Proto::parse(proto).ok_or_else(|| Ignored::Invalid(InvalidEvent::Proto(proto.to_owned())))
}

fn refusal(r: TableRefusal, network: &str, mac: &str, ip: Ipv4Addr) -> Ignored {
    let network = network.to_owned();
    match r {
        TableRefusal::NotAssignable => Ignored::NotAssignable { network, ip },
        TableRefusal::ReservedForOther(mac) => Ignored::ReservedForOther { network, ip, mac },
        TableRefusal::ReservationExists => Ignored::ReservationExists {
            network,
            mac: mac.to_owned(),
        },
        TableRefusal::NoReservation => Ignored::NoReservation {
            network,
            mac: mac.to_owned(),
        },
        TableRefusal::NoLease => Ignored::NoLease {
            network,
            mac: mac.to_owned(),
            ip,
        },
        TableRefusal::LeaseHeld(mac) => Ignored::LeaseHeld { network, ip, mac },
    }
}
