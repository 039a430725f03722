//! One network on this node: its switch and which session each port is.

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

/// The ethereal ports of a network on this node (DESIGN.md, "How a frame
/// travels"): the gateway's, where its MAC and this node's probe MAC are
/// pinned, and the DHCP server's, which receives what is flooded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherealPorts {
    pub gateway: PortId,
    pub dhcp: PortId,
}

/// A network this node serves: one switch, one port per session, and the
/// ethereal ports once the services are set up.
#[derive(Debug)]
pub struct Network {
    pub id: ChainId,
    pub name: String,
    pub subnet: String,
    /// The key nodes of this network connect to each other with.
    pub node_key: AccessKey,
    pub switch: Switch,
    ports: HashMap<PortId, Egress>,
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
        self.ethereal = Some(ports);
        Ok(ports)
    }

    /// A new switch port of `kind` whose frames are sealed for `session`.
    pub fn attach(
        &mut self,
        kind: PortKind,
        session: SessionId,
        remote: SocketAddr,
    ) -> Result<PortId, SwitchError> {
        let port = self.switch.add_port(kind)?;
        self.ports.insert(port, Egress { session, remote });
        Ok(port)
    }

    /// Removes the port and every MAC learned on it.
    pub fn detach(&mut self, port: PortId) {
        self.switch.remove_port(port);
        self.ports.remove(&port);
    }

    pub fn egress(&self, port: PortId) -> Option<Egress> {
        self.ports.get(&port).copied()
    }

    /// A session's packets now come from `remote` (NAT rebinding).
    pub fn set_remote(&mut self, port: PortId, remote: SocketAddr) {
        if let Some(egress) = self.ports.get_mut(&port) {
            egress.remote = remote;
        }
    }

    pub fn port_count(&self) -> usize {
        self.ports.len()
    }
}
