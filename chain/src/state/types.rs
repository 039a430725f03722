//! What the folded state holds: networks and their keys, nodes, published ports.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::ipv4::Ipv4Subnet;

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// `"tcp"` / `"udp"`, as events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// The lowercase spelling events use; `None` for anything else.
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A published port (inbound NAT): `proto` traffic to `host_port` of the
/// node the client holding `client_ip` is attached to reaches
/// `client_ip:client_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The network id.
    pub network: String,
    pub proto: Proto,
    pub host_port: u16,
    /// An assignable address of the network's subnet.
    pub client_ip: Ipv4Addr,
    pub client_port: u16,
}

/// One network as the chain describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The chain id, 32 lowercase hex digits.
    pub id: String,
    pub name: String,
    /// CIDR, e.g. `10.1.2.0/24`.
    pub subnet: String,
    pub node_key_id: u32,
    /// 64 lowercase hex digits.
    pub node_secret: String,
    /// Setting name -> latest value.
    pub settings: BTreeMap<String, String>,
    /// Access keys ever issued, revoked ones included (key ids are never reused).
    pub keys: BTreeMap<u32, Key>,
}

/// An access key of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// 64 lowercase hex digits.
    pub secret: String,
    pub label: Option<String>,
    pub revoked: bool,
}

/// A node that has joined and not left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `IP:PORT` addresses, as last announced.
    pub advertise: Vec<String>,
    /// `at_ms` of the node's latest `NodeJoined` (it renews its presence by
    /// joining again).
    pub at_ms: u64,
}

impl Network {
    /// Unrevoked keys in key id order.
    pub fn live_keys(&self) -> impl Iterator<Item = (u32, &Key)> {
        self.keys
            .iter()
            .filter(|(_, k)| !k.revoked)
            .map(|(id, k)| (*id, k))
    }

    /// A key by id, revoked or not.
    pub fn key(&self, key_id: u32) -> Option<&Key> {
        self.keys.get(&key_id)
    }

    /// A setting's latest value.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    /// The subnet as IPv4, if it is one.
    pub fn ipv4_subnet(&self) -> Option<Ipv4Subnet> {
        Ipv4Subnet::parse(&self.subnet)
    }
}
