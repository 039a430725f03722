//! One network on this node: its switch and which session each port is.

use std::collections::HashMap;
use std::net::SocketAddr;

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

/// A network this node serves: one switch, one port per session.
#[derive(Debug)]
pub struct Network {
    pub id: ChainId,
    pub name: String,
    pub subnet: String,
    /// The key nodes of this network connect to each other with.
    pub node_key: AccessKey,
    pub switch: Switch,
    ports: HashMap<PortId, Egress>,
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
        }
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
