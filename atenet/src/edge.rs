//! The tokio edge of a node: the one task that moves bytes and time between
//! the world and the node core ([`Node`], which decides and never awaits).
//! It receives batches from the UDP socket and hands each datagram to the
//! core, fires the core's timers, passes chain states, websocket and NAT
//! socket events and status queries in, and after every input moves the
//! datagrams the core sealed ([`crate::outbox::Outbox`]) into the socket's
//! GSO send lanes. quinn (over quinn-proto) is the model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chain::State;
use tokio::sync::{mpsc, oneshot, watch};
use udpio::{RxBatch, Sent, UdpIo};

use crate::state::Node;
use crate::status::{Counters, Snapshot};

/// Receive batches (`recvmmsg` calls of up to 32 buffers) handled per
/// wake-up before timers and other sources get a turn.
const RECEIVE_BURST: usize = 8;
/// How often peers are (re)connected and their reachability checked.
pub(crate) const PEER_TICK: Duration = Duration::from_millis(250);
/// Datagrams the core may queue inside one receive batch before the edge
/// moves them to the socket (well below the outbox's cap).
const DRAIN_AT: usize = 256;

/// The node core and the socket it is served on.
pub(crate) struct Edge {
    pub(crate) node: Node,
    pub(crate) udp: UdpIo,
}

impl Edge {
    /// The event loop: datagrams, timers, chain states and status queries,
    /// until shutdown.
    pub(crate) async fn run(
        &mut self,
        mut states: watch::Receiver<Arc<State>>,
        mut queries: mpsc::Receiver<oneshot::Sender<Snapshot>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut rx = RxBatch::new();
        let mut peer_tick = tokio::time::interval(PEER_TICK);
        peer_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Whatever the last input sealed goes out before the node waits
            // again (frames to one address leave together, as GSO sends).
            self.send_out().await;
            let flushed = self.udp.flush().await;
            count(&mut self.node.counters, flushed);
            let node = &mut self.node;
            let timer = node.endpoint.poll_timeout().map_or_else(
                || tokio::time::Instant::now() + PEER_TICK,
                tokio::time::Instant::from_std,
            );
            let services_timer = node.services.poll_timeout();
            let services_at = services_timer.map_or_else(
                || tokio::time::Instant::now() + PEER_TICK,
                tokio::time::Instant::from_std,
            );
            // At least 1 ms away: a timer that stays due cannot spin the loop.
            let nat_at = tokio::time::Instant::from_std(node.nat.poll_timeout())
                .max(tokio::time::Instant::now() + Duration::from_millis(1));
            tokio::select! {
                biased;
                () = crate::shutdown::stopped(&mut shutdown) => return,
                received = self.udp.recv(&mut rx) => match received {
                    Ok(_) => {
                        self.on_batch(&mut rx).await;
                        // Drain what else is queued before looking at timers.
                        for _ in 0..RECEIVE_BURST {
                            match self.udp.try_recv(&mut rx) {
                                Ok(0) => break,
                                Ok(_) => self.on_batch(&mut rx).await,
                                Err(err) => {
                                    tracing::debug!(%err, "UDP receive failed");
                                    break;
                                }
                            }
                        }
                    }
                    Err(err) => tracing::debug!(%err, "UDP receive failed"),
                },
                () = tokio::time::sleep_until(timer) => {
                    let now = Instant::now();
                    self.node.endpoint.handle_timeout(now);
                    self.node.drain_endpoint_events(now);
                }
                () = tokio::time::sleep_until(services_at), if services_timer.is_some() => {
                    self.node.on_services_timer(Instant::now());
                }
                () = tokio::time::sleep_until(nat_at) => self.node.on_nat_timer(Instant::now()),
                Some(event) = self.node.nat.recv() => self.node.on_nat_event(Instant::now(), event),
                _ = peer_tick.tick() => self.node.on_peer_tick(Instant::now()),
                changed = states.changed() => {
                    if changed.is_err() {
                        if !*shutdown.borrow() {
                            tracing::error!("chain sync stopped; shutting down");
                        }
                        return;
                    }
                    let state = Arc::clone(&states.borrow_and_update());
                    self.node.ws.update_tokens(&state);
                    self.node.reconcile(&state, Instant::now());
                }
                Some(event) = self.node.ws.recv() => self.node.on_ws_event(Instant::now(), event),
                Some(reply) = queries.recv() => {
                    let _ = reply.send(crate::report::snapshot(&self.node, Instant::now()));
                }
            }
        }
    }

    /// Hands every datagram one `recvmmsg` brought to the core (GRO glues
    /// a sender's datagrams at a fixed stride), moving what it seals to the
    /// socket whenever a good batch is waiting.
    async fn on_batch(&mut self, rx: &mut RxBatch) {
        self.node.counters.receive_calls += 1;
        let now = Instant::now();
        for (from, packet) in rx.datagrams() {
            self.node.on_datagram(now, from, packet);
            if self.node.out.len() >= DRAIN_AT {
                self.send_out().await;
            }
        }
    }

    /// Moves the core's sealed datagrams into the socket's send lanes, in
    /// order; a full socket buffer makes this wait (backpressure, not a
    /// drop).
    pub(crate) async fn send_out(&mut self) {
        let Edge { node, udp } = self;
        for (packet, to) in node.out.iter() {
            udp.tx_slot()[..packet.len()].copy_from_slice(packet);
            let sent = udp.tx_commit(packet.len(), to).await;
            count(&mut node.counters, sent);
        }
        node.out.clear();
    }

    /// Tells every session "leave" (clean shutdown) and sends it now.
    pub(crate) async fn leave_all(&mut self) {
        self.node.leave_all(Instant::now());
        self.send_out().await;
        let flushed = self.udp.flush().await;
        count(&mut self.node.counters, flushed);
    }
}

/// Adds a send's outcome to the node's counters.
fn count(counters: &mut Counters, sent: Sent) {
    counters.packets_sent += sent.packets;
    counters.send_errors += sent.errors;
    counters.send_calls += sent.calls;
}
