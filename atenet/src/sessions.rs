//! Session lifecycle on the node: a new session becomes a client port or a
//! peer port; endpoint timers (keepalives, 60 s expiry) and switch events
//! (a client's MAC moved behind a peer) end them; peers are (re)connected
//! with backoff and watched for silence.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use vswitch::endpoint::EndpointEvent;
use vswitch::key::{ChainId, KeyRole};
use vswitch::port::PortKind;
use vswitch::switch::SwitchEvent;
use vswitch::wire::{PacketKind, SessionId};

use crate::clients::Client;
use crate::network::{Egress, LocalPort};
use crate::peers::NodeId;
use crate::state::{Attached, Node};

/// A peer not heard for this long (3 keepalive intervals) is unreachable.
pub(crate) const UNREACHABLE_AFTER: Duration = Duration::from_secs(3);
/// Two sessions with one peer that came up within this long of each other
/// were started by both sides at once: keep the one the lower node id
/// started. Otherwise the newer one wins (the peer lost the older one).
const SIMULTANEOUS: Duration = Duration::from_secs(5);
/// Control message: "I am node ID" (tag, then the id big-endian).
const HELLO_TAG: u8 = 1;
const HELLO_LEN: usize = 9;

impl Node {
    /// A responder session is confirmed (the initiator's first authentic
    /// packet arrived): it becomes a client port or a peer port.
    fn on_confirmed(&mut self, now: Instant, session: SessionId) {
        let Some(info) = self.endpoint.session_info(session) else {
            return;
        };
        match info.role {
            KeyRole::Client => {
                let Some(network) = self.networks.get_mut(&info.chain) else {
                    self.endpoint.remove_session(session);
                    return;
                };
                let egress = Egress {
                    session,
                    remote: info.remote,
                };
                match network.attach(PortKind::UdpClient, LocalPort::Client(egress)) {
                    Ok(port) => {
                        self.sessions.insert(
                            session,
                            Attached::Client(Client::new(info.chain, port, info.key_id)),
                        );
                        tracing::info!(%session, key = %info.key_id, from = %info.remote, network = %network.name, "client connected");
                    }
                    Err(err) => {
                        tracing::warn!(%err, from = %info.remote, "client refused");
                        self.queue_leave(now, session);
                        self.endpoint.remove_session(session);
                    }
                }
            }
            KeyRole::Node => match NodeId::from_bytes(&info.peer_payload) {
                Some(node) if node != self.id => {
                    self.attach_peer(now, info.chain, node, session, info.remote, node);
                }
                _ => {
                    // Our own init reflected back to us, or a node key
                    // holder that does not say who it is.
                    tracing::debug!(from = %info.remote, "peer session without a usable node id refused");
                    self.endpoint.remove_session(session);
                }
            },
        }
    }

    /// Our handshake init was answered: the session is the peer's we sent
    /// it to.
    pub(crate) fn on_established(&mut self, now: Instant, session: SessionId, from: SocketAddr) {
        let Some((network, node)) = self.peers.take_pending(session) else {
            self.endpoint.remove_session(session);
            return;
        };
        self.attach_peer(now, network, node, session, from, self.id);
    }

    /// Makes `session` the peer `node`'s port in `network`, settling a
    /// duplicate: one session per peer node id per network.
    fn attach_peer(
        &mut self,
        now: Instant,
        network: ChainId,
        node: NodeId,
        session: SessionId,
        from: SocketAddr,
        initiator: NodeId,
    ) {
        if let Some(link) = self.peers.link(network, node) {
            if let Some(old) = link.session.filter(|old| *old != session) {
                let simultaneous = link
                    .since
                    .is_some_and(|since| now.duration_since(since) < SIMULTANEOUS);
                let keep_old = simultaneous
                    && link.initiator.is_some_and(|old_initiator| {
                        old_initiator != initiator && old_initiator < initiator
                    });
                let dropped = if keep_old { session } else { old };
                tracing::debug!(peer = %node, kept = %if keep_old { old } else { session }, %dropped, "duplicate peer session");
                // Tell the other side, in case it decided otherwise.
                self.queue_leave(now, dropped);
                if keep_old {
                    self.endpoint.remove_session(session);
                    return;
                }
                self.detach(old, now, "replaced by a newer session");
            }
        }
        let Some(net) = self.networks.get_mut(&network) else {
            self.endpoint.remove_session(session);
            return;
        };
        let egress = Egress {
            session,
            remote: from,
        };
        match net.attach(PortKind::PeerNode, LocalPort::Peer(egress)) {
            Ok(port) => {
                tracing::info!(peer = %node, %from, network = %net.name, %session, "peer connected");
                self.sessions.insert(
                    session,
                    Attached::Peer {
                        network,
                        node,
                        port,
                    },
                );
                self.peers
                    .session_up(network, node, session, initiator, now);
                self.queue_hello(now, session);
                self.retire_stale_at(now, node, from);
            }
            Err(err) => {
                tracing::warn!(%err, peer = %node, "peer port refused");
                self.queue_leave(now, session);
                self.endpoint.remove_session(session);
            }
        }
    }

    /// Two nodes cannot answer at one UDP address: another peer id whose
    /// session comes from `from` died without leaving and a new process
    /// took its address. Its sessions are dead on the other side: drop them
    /// without a "leave" (it would only be counted there as a drop).
    fn retire_stale_at(&mut self, now: Instant, node: NodeId, from: SocketAddr) {
        let stale: Vec<NodeId> = self
            .sessions
            .iter()
            .filter_map(|(session, attached)| match attached {
                Attached::Peer { node: other, .. }
                    if *other != node && self.remote_of(*session) == Some(from) =>
                {
                    Some(*other)
                }
                _ => None,
            })
            .collect();
        for old in stale {
            tracing::info!(stale = %old, actual = %node, addr = %from, "peer address now answers as another node; forgetting the old id");
            for session in self.peers.mark_stale(old) {
                self.detach(session, now, "stale node id");
            }
        }
    }

    /// A control message on a session. For a peer, a hello naming another
    /// node than the one we dialled means the address now belongs to a new
    /// process (the old one died without `NodeLeft`): forget the old id.
    pub(crate) fn on_control(&mut self, now: Instant, session: SessionId, payload: &[u8]) {
        let Some(Attached::Peer { node, .. }) = self.sessions.get(&session) else {
            return;
        };
        let node = *node;
        if payload.len() != HELLO_LEN || payload[0] != HELLO_TAG {
            return;
        }
        let Some(actual) = NodeId::from_bytes(&payload[1..]) else {
            return;
        };
        if actual != node {
            tracing::info!(stale = %node, %actual, "peer address now answers as another node; forgetting the old id");
            for session in self.peers.mark_stale(node) {
                self.queue_leave(now, session);
                self.detach(session, now, "stale node id");
            }
        }
    }

    fn queue_hello(&mut self, now: Instant, session: SessionId) {
        let mut hello = [0u8; HELLO_LEN];
        hello[0] = HELLO_TAG;
        hello[1..].copy_from_slice(&self.id.to_bytes());
        self.queue_sealed(now, session, PacketKind::Control, &hello);
    }

    /// Seals a "leave" now, while the session still exists (into the
    /// outbox, before the session is removed).
    pub(crate) fn queue_leave(&mut self, now: Instant, session: SessionId) {
        self.queue_sealed(now, session, PacketKind::Leave, &[]);
    }

    /// Seals a packet for `session` now, into the outbox.
    fn queue_sealed(&mut self, now: Instant, session: SessionId, kind: PacketKind, payload: &[u8]) {
        self.send_payload(now, session, kind, payload);
    }

    /// Drains the endpoint's timer events (drain rule: after every handle*).
    pub(crate) fn drain_endpoint_events(&mut self, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                EndpointEvent::KeepaliveDue(session) => {
                    self.send_payload(now, session, PacketKind::Keepalive, &[]);
                }
                EndpointEvent::Confirmed(session) => self.on_confirmed(now, session),
                EndpointEvent::Expired(session) => {
                    if let Some((_, node)) = self.peers.take_pending(session) {
                        tracing::debug!(peer = %node, "no answer from peer");
                    } else if self.sessions.contains_key(&session) {
                        self.counters.sessions_expired += 1;
                        self.detach(session, now, "expired");
                    }
                }
            }
        }
    }

    /// Drains a switch's events: a client whose MAC now arrives from a peer
    /// moved to that node, so its session here ends at once.
    pub(crate) fn drain_switch_events(&mut self, network: ChainId, now: Instant) {
        let mut moved: Vec<LocalPort> = Vec::new();
        if let Some(net) = self.networks.get_mut(&network) {
            while let Some(SwitchEvent::MacMoved { mac, from, .. }) = net.switch.poll_event() {
                if let Some(port) = net.port(from).filter(LocalPort::is_client) {
                    tracing::debug!(mac = ?mac, ?port, "client MAC moved to a peer");
                    if !moved.contains(&port) {
                        moved.push(port);
                    }
                }
            }
        }
        for port in moved {
            self.counters.clients_moved += 1;
            match port {
                LocalPort::Client(egress) => {
                    self.send_payload(now, egress.session, PacketKind::Leave, &[]);
                    self.detach(egress.session, now, "client moved to another node");
                }
                LocalPort::Ws(ws) => self.detach_ws(ws, "client moved to another node"),
                LocalPort::Peer(_) | LocalPort::Service(_) => {}
            }
        }
    }

    /// Connects to peers that are due, and logs reachability changes.
    pub(crate) fn on_peer_tick(&mut self, now: Instant) {
        let networks: Vec<ChainId> = self.networks.keys().copied().collect();
        for attempt in self.peers.due(now, &networks) {
            if attempt.addr == self.advertise || attempt.addr == self.listen {
                continue;
            }
            let Some(network) = self.networks.get(&attempt.network) else {
                continue;
            };
            let key = network.node_key.clone();
            match self.endpoint.connect(
                now,
                attempt.addr,
                &key,
                KeyRole::Node,
                &self.id.to_bytes(),
                &mut self.rng,
                &mut self.tx[..],
            ) {
                Ok(initiated) => {
                    tracing::debug!(peer = %attempt.node, addr = %attempt.addr, "connecting to peer");
                    if let Some(old) = self.peers.set_pending(attempt, initiated.session) {
                        self.endpoint.remove_session(old);
                    }
                    crate::egress::send(&mut self.out, &self.tx[..initiated.len], attempt.addr);
                }
                Err(err) => {
                    tracing::debug!(peer = %attempt.node, %err, "peer handshake not started");
                }
            }
        }
        for ((_, node), link) in self.peers.links_mut() {
            let Some(session) = link.session else {
                continue;
            };
            let heard = self
                .endpoint
                .session_info(session)
                .map(|info| info.last_heard);
            let reachable =
                heard.is_some_and(|heard| now.saturating_duration_since(heard) < UNREACHABLE_AFTER);
            if reachable != link.reachable {
                link.reachable = reachable;
                if reachable {
                    tracing::info!(peer = %node, "peer reachable again");
                } else {
                    tracing::warn!(peer = %node, "peer unreachable (silent for 3 keepalive intervals)");
                }
            }
        }
        if now.duration_since(self.last_mac_sweep) >= MAC_SWEEP {
            self.last_mac_sweep = now;
            for network in self.networks.values_mut() {
                network.switch.expire(now);
            }
            self.services.router.expire(now);
        }
        self.drain_endpoint_events(now);
    }
}

/// How often aged MAC entries are swept from every switch.
const MAC_SWEEP: Duration = Duration::from_secs(10);
