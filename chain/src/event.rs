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
    KeyRevoked { network: String, key_id: u32 },
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
    NodeLeft { node_id: String },
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
        }
    }

    /// The network this event belongs to, if it belongs to one.
    pub fn network(&self) -> Option<&str> {
        match self {
            Event::NetworkCreated { network, .. }
            | Event::KeyIssued { network, .. }
            | Event::KeyRevoked { network, .. }
            | Event::SettingChanged { network, .. } => Some(network),
            Event::NodeJoined { .. } | Event::NodeLeft { .. } => None,
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
        assert!(serde_json::from_str::<Event>(r#"{"type":"route_added","a":1}"#).is_err());
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
