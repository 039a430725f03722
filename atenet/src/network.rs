//! One network on this node: its switch and what is behind each port.
//!
//! The port model (DESIGN.md, "How a frame travels"): every port of a
//! network's switch is one [`LocalPort`], named by what it is: a tok
//! client's session, a peer node's session, a browser's websocket, or one
//! of the network's ethereal services. The node delivers a frame to a port
//! by what it is, and nothing else tells them apart (no made-up session
//! ids for websockets, no side tables).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

use vswitch::key::{AccessKey, ChainId};
use vswitch::port::{PortId, PortKind};
use vswitch::switch::{Switch, SwitchError};
use vswitch::wire::SessionId;

/// Where a port's frames go: the session to seal for and its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Egress {
    pub session: SessionId,
    pub remote: SocketAddr,
}

/// A browser's websocket connection (`--wss`), numbered by the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WsId(pub u64);

impl std::fmt::Display for WsId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ws{}", self.0)
    }
}

/// Which ethereal service sits behind a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// The gateway (router, NAT, the virtual host on the gateway address);
    /// the gateway and node MACs are pinned to it.
    Gateway,
    /// The DHCP server: it receives what is flooded.
    Dhcp,
}

/// What is behind one port of a network's switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalPort {
    /// A client's sealed UDP session (`tok connect`).
    Client(Egress),
    /// Another node of the network, over a node session.
    Peer(Egress),
    /// A browser over `wss://`, fed through its connection task's queue.
    Ws(WsId),
    /// An ethereal service of this network on this node.
    Service(ServiceKind),
}

impl LocalPort {
    /// A client of this node (the only ports services answer).
    pub fn is_client(&self) -> bool {
        matches!(self, Self::Client(_) | Self::Ws(_))
    }

    /// The sealed session behind the port, if it is one.
    pub fn egress(&self) -> Option<Egress> {
        match *self {
            Self::Client(egress) | Self::Peer(egress) => Some(egress),
            Self::Ws(_) | Self::Service(_) => None,
        }
    }
}

/// The ethereal ports of a network on this node (DESIGN.md, "How a frame
/// travels"): the gateway's, where its MAC and this node's probe MAC are
/// pinned, and the DHCP server's, which receives what is flooded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherealPorts {
    pub gateway: PortId,
    pub dhcp: PortId,
}

/// A network this node serves: one switch, what is behind each of its
/// ports, and the ethereal ports once the services are set up.
#[derive(Debug)]
pub struct Network {
    pub id: ChainId,
    pub name: String,
    pub subnet: String,
    /// The key nodes of this network connect to each other with.
    pub node_key: AccessKey,
    pub switch: Switch,
    ports: HashMap<PortId, LocalPort>,
    pub ethereal: Option<EtherealPorts>,
}

impl Network {
    pub fn new(name: String, subnet: String, node_key: AccessKey) -> Self {
        Self {
            id: node_key.chain_id,
            name,
            subnet,
            node_key,
            switch: Switch::default(),
            ports: HashMap::new(),
            ethereal: None,
        }
    }

    /// Adds the gateway and DHCP ports: pins the gateway MAC and this
    /// node's probe MAC to the gateway port and protects the gateway
    /// address (ARP claiming it from a client is dropped). Idempotent.
    pub fn add_ethereal(
        &mut self,
        gateway_mac: [u8; 6],
        node_mac: [u8; 6],
        gateway_ip: Ipv4Addr,
    ) -> Result<EtherealPorts, SwitchError> {
        if let Some(ports) = self.ethereal {
            return Ok(ports);
        }
        let gateway = self.switch.add_port(PortKind::Gateway)?;
        let set_up = self.switch.add_port(PortKind::Dhcp).and_then(|dhcp| {
            let pinned = self
                .switch
                .pin_mac(gateway_mac, gateway)
                .and_then(|()| self.switch.pin_mac(node_mac, gateway))
                .and_then(|()| self.switch.protect_ip(gateway_ip));
            if pinned.is_err() {
                self.switch.remove_port(dhcp);
            }
            pinned.map(|()| dhcp)
        });
        let dhcp = match set_up {
            Ok(dhcp) => dhcp,
            Err(err) => {
                // No half-made ports left behind (pins go with the port).
                self.switch.remove_port(gateway);
                self.switch.unprotect_ip(gateway_ip);
                return Err(err);
            }
        };
        let ports = EtherealPorts { gateway, dhcp };
        self.ports
            .insert(gateway, LocalPort::Service(ServiceKind::Gateway));
        self.ports
            .insert(dhcp, LocalPort::Service(ServiceKind::Dhcp));
        self.ethereal = Some(ports);
        Ok(ports)
    }

    /// A new switch port of `kind` with `local` behind it.
    pub fn attach(&mut self, kind: PortKind, local: LocalPort) -> Result<PortId, SwitchError> {
        let port = self.switch.add_port(kind)?;
        self.ports.insert(port, local);
        Ok(port)
    }

    /// What is behind `port`.
    pub fn port(&self, port: PortId) -> Option<LocalPort> {
        self.ports.get(&port).copied()
    }

    /// Removes the port and every MAC learned on it.
    pub fn detach(&mut self, port: PortId) {
        self.switch.remove_port(port);
        self.ports.remove(&port);
    }

    /// The sealed session behind `port`, if it is a client's or a peer's.
    pub fn egress(&self, port: PortId) -> Option<Egress> {
        self.ports.get(&port)?.egress()
    }

    /// A session's packets now come from `remote` (NAT rebinding).
    pub fn set_remote(&mut self, port: PortId, remote: SocketAddr) {
        if let Some(LocalPort::Client(egress) | LocalPort::Peer(egress)) = self.ports.get_mut(&port)
        {
            egress.remote = remote;
        }
    }

    /// Ports of clients and peers (the services' are not counted).
    pub fn port_count(&self) -> usize {
        self.ports
            .values()
            .filter(|port| !matches!(port, LocalPort::Service(_)))
            .count()
    }
}

/// A network's id as the chain writes it (32 hex digits).
pub fn parse_chain_id(text: &str) -> Option<ChainId> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text, &mut id).ok()?;
    Some(ChainId(id))
}
