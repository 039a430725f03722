//! The event model: what the chain records.
//!
//! An event is one JSON object tagged by `"type"` (snake_case). The model is
//! meant to grow: later versions add kinds (routes, reservations, published
//! ports, leases) and optional fields. Old readers cope with both:
//! - an unknown `"type"` fails to decode as [`Event`]; stores skip such a
//!   record and count it in [`Batch::skipped`](crate::Batch::skipped), never
//!   failing the read;
//! - unknown fields of a known kind are ignored by serde, so new fields must
//!   be optional (`#[serde(default)]`) for old readers to keep the record.
//!
//! Ids and secrets are plain strings (lowercase hex) so this crate stays
//! independent of `vswitch`; [`Event::validate`] checks their shape.

use serde::{Deserialize, Serialize};

use crate::validate::{self, InvalidEvent};

/// One change to the deployment's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A network (one virtual switch on every node) came into being.
    NetworkCreated {
        /// The chain id: 32 lowercase hex digits.
        network: String,
        /// Unique among networks; the first creation in chain order wins.
        name: String,
        /// The network's IP subnet as a CIDR (`10.1.2.0/24`).
        subnet: String,
        /// The key id nodes use between themselves (never printed in an `ate1` key).
        node_key_id: u32,
        /// The node key's 32-byte secret, 64 lowercase hex digits.
        node_secret: String,
    },
    /// An access key was issued for a network.
    KeyIssued {
        network: String,
        /// Random, never reused within the network (nor equal to the node key id).
        key_id: u32,
        /// 32-byte secret, 64 lowercase hex digits.
        secret: String,
        /// Who or what the key was issued to, for `tok key list`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// An access key was retired; nodes tear down its sessions.
    KeyRevoked {
        network: String,
        key_id: u32,
    },
    /// A network setting (`lease-time`, `nat`, `mtu`, ...) took a new value.
    /// The chain stores the text; its reader interprets it.
    SettingChanged {
        network: String,
        name: String,
        value: String,
    },
    /// A node announced itself (on start, and again to renew its presence).
    NodeJoined {
        /// 16 lowercase hex digits (a `u64`).
        node_id: String,
        /// `IP:PORT` addresses peers use to reach the node.
        advertise: Vec<String>,
        /// Wall-clock milliseconds since the Unix epoch when written.
        at_ms: u64,
    },
    /// A node shut down cleanly.
    NodeLeft {
        node_id: String,
    },
    /// Gateways route IPv4 between the two networks. The pair is unordered:
    /// `(a, b)` and `(b, a)` are the same route; adding it again is ignored.
    RouteAdded {
        network_a: String,
        network_b: String,
    },
    /// The route between the two networks (either order) is gone.
    RouteRemoved {
        network_a: String,
        network_b: String,
    },
    /// A DHCP reservation: `mac` always gets `ip`, and nobody else does. A
    /// new reservation for the same MAC replaces its old one; an address
    /// reserved for another MAC is refused.
    ReservationAdded {
        network: String,
        /// Canonical MAC (`02:00:00:00:00:01`).
        mac: String,
        /// Dotted IPv4 inside the network's subnet, not its gateway.
        ip: String,
    },
    ReservationRemoved {
        network: String,
        mac: String,
    },
    /// A node's DHCP server claims `ip` for a client (on a REQUEST, and on
    /// every renewal). Won or lost by the claim rule of
    /// [`crate::leases`]: first in chain order wins, judged by this
    /// event's `at_ms`, never by a reader's clock.
    LeaseClaimed {
        network: String,
        mac: String,
        ip: String,
        /// DHCP option 61 as lowercase hex, when the client sent one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// DHCP option 12, when the client sent a usable one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hostname: Option<String>,
        /// The claiming node (16 hex digits).
        node_id: String,
        /// Wall-clock ms (Unix epoch) when the claim was made.
        at_ms: u64,
        /// Wall-clock ms when the lease ends unless renewed.
        expires_ms: u64,
    },
    /// The client gave its address back (DHCPRELEASE).
    LeaseReleased {
        network: String,
        mac: String,
        ip: String,
        at_ms: u64,
    },
    /// The client found `ip` in use (DHCPDECLINE): nobody may claim it
    /// before `until_ms`.
    LeaseDeclined {
        network: String,
        ip: String,
        mac: String,
        at_ms: u64,
        until_ms: u64,
    },
    /// A node saw that the lease of `mac` on `ip` ended at `expires_ms` long
    /// ago and retires it, so that compaction can drop its record. Applies
    /// only if the lease was not renewed since (same `expires_ms`).
    LeaseExpired {
        network: String,
        mac: String,
        ip: String,
        expires_ms: u64,
    },
    /// Inbound NAT: `proto` traffic to `host_port` of the node the client
    /// holding `client_ip` is attached to reaches `client_ip:client_port`.
    /// A host port is published at most once per chain (per protocol, across
    /// all networks: it is a port of every node host); the first
    /// publication in chain order wins.
    PortPublished {
        network: String,
        /// `"tcp"` or `"udp"`.
        proto: String,
        /// 1..=65535.
        host_port: u16,
        /// Dotted IPv4, an assignable address of the network's subnet.
        client_ip: String,
        /// 1..=65535.
        client_port: u16,
    },
    /// The publication of `proto` `host_port` in `network` is gone (ignored
    /// when there is none).
    PortUnpublished {
        network: String,
        proto: String,
        host_port: u16,
    },
}

impl Event {
    /// The `"type"` tag this event is stored under.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::NetworkCreated { .. } => "network_created",
            Event::KeyIssued { .. } => "key_issued",
            Event::KeyRevoked { .. } => "key_revoked",
            Event::SettingChanged { .. } => "setting_changed",
            Event::NodeJoined { .. } => "node_joined",
            Event::NodeLeft { .. } => "node_left",
            Event::RouteAdded { .. } => "route_added",
            Event::RouteRemoved { .. } => "route_removed",
            Event::ReservationAdded { .. } => "reservation_added",
            Event::ReservationRemoved { .. } => "reservation_removed",
            Event::LeaseClaimed { .. } => "lease_claimed",
            Event::LeaseReleased { .. } => "lease_released",
            Event::LeaseDeclined { .. } => "lease_declined",
            Event::LeaseExpired { .. } => "lease_expired",
            Event::PortPublished { .. } => "port_published",
            Event::PortUnpublished { .. } => "port_unpublished",
        }
    }

    /// The network this event belongs to, if it belongs to exactly one
    /// (a route joins two: `None`).
    pub fn network(&self) -> Option<&str> {
        match self {
            Event::NetworkCreated { network, .. }
            | Event::KeyIssued { network, .. }
            | Event::KeyRevoked { network, .. }
            | Event::SettingChanged { network, .. }
            | Event::ReservationAdded { network, .. }
            | Event::ReservationRemoved { network, .. }
            | Event::LeaseClaimed { network, .. }
            | Event::LeaseReleased { network, .. }
            | Event::LeaseDeclined { network, .. }
            | Event::LeaseExpired { network, .. }
            | Event::PortPublished { network, .. }
            | Event::PortUnpublished { network, .. } => Some(network),
            Event::NodeJoined { .. }
            | Event::NodeLeft { .. }
            | Event::RouteAdded { .. }
            | Event::RouteRemoved { .. } => None,
        }
    }

    /// Checks the shape of every field (ids, secrets, names, CIDR, addresses).
    /// Stores refuse to append an invalid event, and [`State`](crate::State)
    /// ignores one found in a log.
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        match self {
            Event::NetworkCreated {
                network,
                name,
                subnet,
                node_key_id: _,
                node_secret,
            } => {
                validate::network_id(network)?;
                validate::network_name(name)?;
                validate::subnet(subnet)?;
                validate::secret("node secret", node_secret)
            }
            Event::KeyIssued {
                network,
                key_id: _,
                secret,
                label,
            } => {
                validate::network_id(network)?;
                validate::secret("key secret", secret)?;
                if let Some(label) = label {
                    validate::label(label)?;
                }
                Ok(())
            }
            Event::KeyRevoked { network, key_id: _ } => validate::network_id(network),
            Event::SettingChanged {
                network,
                name,
                value,
            } => {
                validate::network_id(network)?;
                validate::name("setting name", name)?;
                validate::setting_value(value)
            }
            Event::NodeJoined {
                node_id,
                advertise,
                at_ms: _,
            } => {
                validate::node_id(node_id)?;
                validate::advertise(advertise)
            }
            Event::NodeLeft { node_id } => validate::node_id(node_id),
            Event::RouteAdded {
                network_a,
                network_b,
            }
            | Event::RouteRemoved {
                network_a,
                network_b,
            } => {
                validate::network_id(network_a)?;
                validate::network_id(network_b)?;
                if network_a == network_b {
                    return Err(InvalidEvent::RouteToItself(network_a.clone()));
                }
                Ok(())
            }
            Event::ReservationAdded { network, mac, ip } => {
                validate::network_id(network)?;
                validate::mac(mac)?;
                validate::ipv4(ip).map(|_| ())
            }
            Event::ReservationRemoved { network, mac } => {
                validate::network_id(network)?;
                validate::mac(mac)
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
                validate::network_id(network)?;
                validate::mac(mac)?;
                validate::ipv4(ip)?;
                if let Some(id) = client_id {
                    validate::client_id(id)?;
                }
                if let Some(name) = hostname {
                    validate::hostname(name)?;
                }
                validate::node_id(node_id)?;
                validate::time_order("expires_ms", *at_ms, *expires_ms)
            }
            Event::LeaseReleased {
                network,
                mac,
                ip,
                at_ms: _,
            }
            | Event::LeaseExpired {
                network,
                mac,
                ip,
                expires_ms: _,
            } => {
                validate::network_id(network)?;
                validate::mac(mac)?;
                validate::ipv4(ip).map(|_| ())
            }
            Event::LeaseDeclined {
                network,
                ip,
                mac,
                at_ms,
                until_ms,
            } => {
                validate::network_id(network)?;
                validate::mac(mac)?;
                validate::ipv4(ip)?;
                validate::time_order("until_ms", *at_ms, *until_ms)
            }
            Event::PortPublished {
                network,
                proto,
                host_port,
                client_ip,
                client_port,
            } => {
                validate::network_id(network)?;
                validate::proto(proto)?;
                validate::port("host_port", *host_port)?;
                validate::ipv4(client_ip)?;
                validate::port("client_port", *client_port)
            }
            Event::PortUnpublished {
                network,
                proto,
                host_port,
            } => {
                validate::network_id(network)?;
                validate::proto(proto)?;
                validate::port("host_port", *host_port)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_internally_tagged_snake_case() {
        let ev = Event::KeyRevoked {
            network: "ab".repeat(16),
            key_id: 7,
        };
        let json = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"type":"key_revoked","network":"{}","key_id":7}}"#,
                "ab".repeat(16)
            )
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), ev);
        assert_eq!(ev.kind(), "key_revoked");
    }

    #[test]
    fn label_is_optional_and_unknown_fields_are_ignored() {
        let json = format!(
            r#"{{"type":"key_issued","network":"{}","key_id":1,"secret":"{}","added_later":true}}"#,
            "ab".repeat(16),
            "cd".repeat(32)
        );
        let ev: Event = serde_json::from_str(&json).unwrap();
        assert!(matches!(ev, Event::KeyIssued { label: None, .. }));
        assert!(ev.validate().is_ok());
    }

    #[test]
    fn unknown_kind_does_not_decode() {
        assert!(serde_json::from_str::<Event>(r#"{"type":"kind_from_the_future","a":1}"#).is_err());
        // A known kind whose fields do not decode is refused the same way.
        assert!(serde_json::from_str::<Event>(r#"{"type":"route_added","a":1}"#).is_err());
    }

    #[test]
    fn lease_claim_round_trips_and_optional_fields_are_omitted() {
        let ev = Event::LeaseClaimed {
            network: "ab".repeat(16),
            mac: "02:00:00:00:00:01".into(),
            ip: "10.0.0.2".into(),
            client_id: None,
            hostname: Some("alice".into()),
            node_id: "00000000000000aa".into(),
            at_ms: 1,
            expires_ms: 2,
        };
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.starts_with(r#"{"type":"lease_claimed""#), "{json}");
        assert!(!json.contains("client_id"), "{json}");
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), ev);
        assert!(ev.validate().is_ok());
        assert_eq!(ev.network(), Some("ab".repeat(16).as_str()));
    }

    #[test]
    fn lease_and_route_fields_are_checked() {
        let route = Event::RouteAdded {
            network_a: "ab".repeat(16),
            network_b: "ab".repeat(16),
        };
        assert!(matches!(
            route.validate(),
            Err(InvalidEvent::RouteToItself(_))
        ));
        let claim = Event::LeaseClaimed {
            network: "ab".repeat(16),
            mac: "02:00:00:00:00:01".into(),
            ip: "10.0.0.2".into(),
            client_id: Some("xyz".into()),
            hostname: None,
            node_id: "00000000000000aa".into(),
            at_ms: 1,
            expires_ms: 2,
        };
        assert!(matches!(claim.validate(), Err(InvalidEvent::ClientId(_))));
        let decline = Event::LeaseDeclined {
            network: "ab".repeat(16),
            ip: "10.0.0.2".into(),
            mac: "02:00:00:00:00:01".into(),
            at_ms: 10,
            until_ms: 9,
        };
        assert!(matches!(
            decline.validate(),
            Err(InvalidEvent::TimeOrder { .. })
        ));
    }

    #[test]
    fn publish_fields_are_checked() {
        let ev = Event::PortPublished {
            network: "ab".repeat(16),
            proto: "tcp".into(),
            host_port: 8080,
            client_ip: "10.0.0.2".into(),
            client_port: 80,
        };
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.starts_with(r#"{"type":"port_published""#), "{json}");
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), ev);
        assert!(ev.validate().is_ok());
        let mut bad = ev.clone();
        if let Event::PortPublished { proto, .. } = &mut bad {
            *proto = "sctp".into();
        }
        assert!(matches!(bad.validate(), Err(InvalidEvent::Proto(_))));
        let mut bad = ev.clone();
        if let Event::PortPublished { client_port, .. } = &mut bad {
            *client_port = 0;
        }
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("client_port"), "{err}");
        let un = Event::PortUnpublished {
            network: "ab".repeat(16),
            proto: "udp".into(),
            host_port: 0,
        };
        assert!(matches!(un.validate(), Err(InvalidEvent::Port { .. })));
        assert_eq!(un.kind(), "port_unpublished");
    }

    #[test]
    fn validate_names_the_bad_field() {
        let ev = Event::NodeJoined {
            node_id: "xyz".into(),
            advertise: vec![],
            at_ms: 0,
        };
        let err = ev.validate().unwrap_err().to_string();
        assert!(err.contains("node id") && err.contains("xyz"), "{err}");
    }
}
