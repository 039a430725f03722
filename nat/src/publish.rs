//! Port publishing (issue 6, item 3), core side: a host port of the node the
//! client is attached to reaches one client address and port. The I/O side
//! owns the listeners; it hands over accepted connections
//! (`inbound_tcp`) and datagrams (`inbound_udp`). The mapping moves with
//! the client: the node it attaches to publishes, the one it left
//! unpublishes.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddrV4;
use std::time::Instant;

use smoltcp::wire::EthernetAddress;

use crate::counters::DropReason;
use crate::flow::{FlowId, FlowKey, FlowKind, FlowState, Transport};
use crate::frames;
use crate::tcp::{Phase, TcpFlow};
use crate::translator::Translator;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishError {
    /// `Limits::max_published` mappings exist.
    TableFull,
}

/// Why an inbound connection or datagram was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundError {
    /// No mapping for this host port.
    NotPublished,
    /// The remote is not an address the client could answer (loopback,
    /// 0/8, multicast, broadcast, port 0).
    BadRemote,
    /// A flow with the same addresses exists.
    Busy,
    /// A flow cap was reached.
    Cap(DropReason),
}

impl fmt::Display for InboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InboundError::NotPublished => write!(f, "port not published"),
            InboundError::BadRemote => write!(f, "remote address cannot be answered by a client"),
            InboundError::Busy => write!(f, "a flow with these addresses exists"),
            InboundError::Cap(reason) => write!(f, "flow cap reached: {}", reason.name()),
        }
    }
}

impl std::error::Error for InboundError {}

#[derive(Debug, Default)]
pub(crate) struct PublishTable {
    map: BTreeMap<(Protocol, u16), SocketAddrV4>,
}

fn check_remote(remote: SocketAddrV4) -> Result<(), InboundError> {
    let ip = *remote.ip();
    // The client answers the remote through its default route: an address
    // that route cannot carry back to us would make a connection that hangs.
    let first = ip.octets()[0];
    if remote.port() == 0 || first == 0 || first >= 224 || ip.is_loopback() {
        return Err(InboundError::BadRemote);
    }
    Ok(())
}

impl Translator {
    /// Publishes `host_port` to `client` (replacing an earlier mapping of
    /// the port). Flows already open keep running.
    pub fn publish(
        &mut self,
        proto: Protocol,
        host_port: u16,
        client: SocketAddrV4,
    ) -> Result<(), PublishError> {
        let map = &mut self.publish.map;
        if !map.contains_key(&(proto, host_port)) && map.len() >= self.config.limits.max_published {
            return Err(PublishError::TableFull);
        }
        map.insert((proto, host_port), client);
        Ok(())
    }

    pub fn unpublish(&mut self, proto: Protocol, host_port: u16) -> bool {
        self.publish.map.remove(&(proto, host_port)).is_some()
    }

    pub fn published(&self) -> impl Iterator<Item = (Protocol, u16, SocketAddrV4)> + '_ {
        self.publish
            .map
            .iter()
            .map(|((p, port), c)| (*p, *port, *c))
    }

    /// The I/O side accepted `remote` on published TCP `host_port`: the
    /// translator connects to the client as `remote` and splices like an
    /// outbound flow. `client_mac` is the client's MAC as the gateway
    /// resolved it. The flow ends with `Close`/`Reset` like any other.
    pub fn inbound_tcp(
        &mut self,
        now: Instant,
        host_port: u16,
        remote: SocketAddrV4,
        client_mac: EthernetAddress,
    ) -> Result<FlowId, InboundError> {
        self.last_now = now;
        let client = *self
            .publish
            .map
            .get(&(Protocol::Tcp, host_port))
            .ok_or(InboundError::NotPublished)?;
        check_remote(remote)?;
        let key = FlowKey {
            transport: Transport::Tcp,
            client,
            remote,
        };
        if self.table.lookup(&key).is_some() {
            return Err(InboundError::Busy);
        }
        self.table
            .admit(&self.config.limits, *client.ip(), FlowKind::PublishedTcp)
            .map_err(InboundError::Cap)?;
        let params = self.socket_params();
        let handle = self
            .stack
            .connect(client, remote, params)
            .ok_or(InboundError::BadRemote)?;
        let state = FlowState::Tcp(Box::new(TcpFlow::new(Phase::Open { handle })));
        let deadline = now + self.config.timeouts.tcp_connect;
        let id = self
            .table
            .insert(key, FlowKind::PublishedTcp, client_mac, deadline, state);
        self.counters.open(FlowKind::PublishedTcp);
        self.stack.poll(now);
        self.drain_stack(None);
        Ok(id)
    }

    /// A datagram from `remote` arrived on published UDP `host_port`:
    /// deliver it to the client; the client's replies to `remote` leave as
    /// `Command::SendUdpTo` until `Timeouts::udp_idle` passes quietly.
    pub fn inbound_udp(
        &mut self,
        now: Instant,
        host_port: u16,
        remote: SocketAddrV4,
        client_mac: EthernetAddress,
        payload: &[u8],
    ) -> Result<(), InboundError> {
        self.last_now = now;
        let client = *self
            .publish
            .map
            .get(&(Protocol::Udp, host_port))
            .ok_or(InboundError::NotPublished)?;
        check_remote(remote)?;
        if frames::udp_ip_len(payload.len()) > self.config.mtu {
            self.counters.drop(DropReason::Oversize);
            return Ok(());
        }
        let key = FlowKey {
            transport: Transport::Udp,
            client,
            remote,
        };
        let deadline = now + self.config.timeouts.udp_idle;
        let id = if let Some(id) = self.table.lookup(&key) {
            id
        } else {
            self.table
                .admit(&self.config.limits, *client.ip(), FlowKind::PublishedUdp)
                .map_err(InboundError::Cap)?;
            self.counters.open(FlowKind::PublishedUdp);
            let state = FlowState::PublishedUdp { host_port };
            self.table
                .insert(key, FlowKind::PublishedUdp, client_mac, deadline, state)
        };
        self.table.set_deadline(id, deadline);
        let frame = frames::udp(self.macs(client_mac), remote, client, payload);
        self.push_frame(frame);
        Ok(())
    }
}
