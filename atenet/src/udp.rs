//! The data path: a batch of datagrams in (`recvmmsg`, GRO), each through
//! the endpoint (open) and the switch (decide), out to every egress port's
//! session (seal into the socket's send lanes, which leave as GSO sends).
//!
//! Per frame this allocates nothing: the receive batch, the send lanes and
//! the egress list are the node's, reused. Any bytes at all may arrive here;
//! whatever the endpoint cannot authenticate is dropped and counted by it.

use std::net::SocketAddr;
use std::time::Instant;

use vswitch::endpoint::Received;
use vswitch::wire::{PacketKind, SessionId};

use crate::egress::{deliver, send};
use crate::ethereal::Reached;
use crate::network::LocalPort;
use crate::state::{Attached, Node};

impl Node {
    /// Handles one received datagram.
    pub(crate) fn on_datagram(&mut self, now: Instant, from: SocketAddr, packet: &mut [u8]) {
        self.counters.packets_received += 1;
        let received = self
            .endpoint
            .handle(now, from, packet, &mut self.rng, &mut self.reply[..]);
        match received {
            Received::Frame { session, frame } => self.forward(now, session, from, frame),
            Received::Keepalive { session } => self.note_remote(session, from),
            Received::Control { session, payload } => {
                self.note_remote(session, from);
                self.on_control(now, session, payload);
            }
            Received::Leave { session } => {
                if let Some((_, node)) = self.peers.take_pending(session) {
                    tracing::debug!(peer = %node, "peer refused our handshake");
                }
                self.detach(session, now, "left");
            }
            Received::Accepted { reply_len, .. } => {
                // The port comes with `EndpointEvent::Confirmed`.
                self.counters.handshakes_accepted += 1;
                send(&mut self.out, &self.reply[..reply_len], from);
            }
            Received::Established { session } => {
                self.counters.handshakes_completed += 1;
                self.on_established(now, session, from);
            }
            Received::Reply { len } => {
                send(&mut self.out, &self.reply[..len], from);
            }
            Received::Revoked { chain, key_id } => {
                tracing::warn!(%chain, key = %key_id, %from, "a node says our key is revoked");
            }
            Received::Dropped(_) => {}
        }
        self.drain_endpoint_events(now);
    }

    /// Switches one opened frame, sends a sealed copy to every egress
    /// port's session, and shows it to the ethereal services (snooping, and
    /// the gateway or DHCP port when it reached them).
    pub(crate) fn forward(
        &mut self,
        now: Instant,
        session: SessionId,
        from: SocketAddr,
        frame: &[u8],
    ) {
        let (network_id, port, is_client) = match self.sessions.get_mut(&session) {
            Some(Attached::Client(client)) => {
                client.note_source(frame);
                (client.network, client.port, true)
            }
            Some(Attached::Peer { network, port, .. }) => (*network, *port, false),
            None => return,
        };
        if let Some(network) = self.networks.get_mut(&network_id) {
            if network
                .egress(port)
                .is_some_and(|egress| egress.remote != from)
            {
                network.set_remote(port, from);
            }
        }
        self.switch_frame(now, network_id, port, is_client, frame);
    }

    /// Switches a frame that came in on `port` of `network_id` (a client's
    /// when `is_client`: the services may answer it), delivers a copy to
    /// every egress port by what is behind it, and shows it to the
    /// ethereal services (snooping, and the gateway or DHCP port when it
    /// reached them).
    pub(crate) fn switch_frame(
        &mut self,
        now: Instant,
        network_id: vswitch::key::ChainId,
        port: vswitch::port::PortId,
        is_client: bool,
        frame: &[u8],
    ) {
        if !self.networks.contains_key(&network_id) {
            return;
        }
        self.counters.frames_received += 1;
        let Some(reached) = self.switch_from(now, network_id, port, frame) else {
            return;
        };
        self.drain_switch_events(network_id, now);
        let asker = is_client.then_some(port);
        self.serve_ethereal(now, network_id, asker, frame, reached);
    }

    /// Switches `frame` in `network_id` with `ingress` as its ingress port
    /// and delivers a copy to every egress port by what is behind it;
    /// returns which service ports it reached (`None`: no such network,
    /// or the switch dropped it, counted under its reason).
    pub(crate) fn switch_from(
        &mut self,
        now: Instant,
        network_id: vswitch::key::ChainId,
        ingress: vswitch::port::PortId,
        frame: &[u8],
    ) -> Option<Reached> {
        let network = self.networks.get_mut(&network_id)?;
        network
            .switch
            .forward(now, ingress, frame, &mut self.egress)
            .ok()?;
        let mut reached = Reached::default();
        for &out in &self.egress {
            match network.port(out) {
                Some(LocalPort::Service(kind)) => reached.note(kind),
                Some(local) => {
                    deliver(
                        &mut self.ws,
                        &mut self.endpoint,
                        &mut self.out,
                        &mut self.counters,
                        now,
                        local,
                        frame,
                    );
                }
                None => {}
            }
        }
        Some(reached)
    }

    /// An authenticated packet of `session` came from `from`: follow the
    /// client if its address changed (NAT rebinding).
    fn note_remote(&mut self, session: SessionId, from: SocketAddr) {
        let (network, port) = match self.sessions.get(&session) {
            Some(Attached::Client(client)) => (client.network, client.port),
            Some(Attached::Peer { network, port, .. }) => (*network, *port),
            None => return,
        };
        if let Some(network) = self.networks.get_mut(&network) {
            network.set_remote(port, from);
        }
    }

    /// Seals `payload` as a packet of `kind` for `session` and sends it to
    /// the session's remote address.
    pub(crate) fn send_payload(
        &mut self,
        now: Instant,
        session: SessionId,
        kind: PacketKind,
        payload: &[u8],
    ) {
        let Some(remote) = self.remote_of(session) else {
            return;
        };
        match self
            .endpoint
            .seal(now, session, kind, payload, &mut self.tx[..])
        {
            Ok(len) => send(&mut self.out, &self.tx[..len], remote),
            Err(err) => tracing::debug!(%session, %err, "sealing {kind:?} failed"),
        }
    }

    pub(crate) fn send_leave(&mut self, now: Instant, session: SessionId) {
        self.send_payload(now, session, PacketKind::Leave, &[]);
    }

    /// Where a session's packets go: the port's address for attached
    /// sessions, else what the endpoint knows.
    pub(crate) fn remote_of(&self, session: SessionId) -> Option<SocketAddr> {
        let (network, port) = match self.sessions.get(&session) {
            Some(Attached::Client(client)) => (client.network, client.port),
            Some(Attached::Peer { network, port, .. }) => (*network, *port),
            None => return self.endpoint.session_info(session).map(|info| info.remote),
        };
        self.networks
            .get(&network)?
            .egress(port)
            .map(|egress| egress.remote)
    }
}
