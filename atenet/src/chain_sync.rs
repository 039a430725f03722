//! Following the chain: poll the store every [`chain::POLL_INTERVAL`],
//! fold what is new, and hand the node the latest [`State`] to act on
//! (`Node::reconcile`). File reads run on the blocking pool so the data path
//! never waits for a disk.

use std::net::SocketAddr;
use std::sync::Arc;

use chain::{Follower, State, Store};
use tokio::sync::watch;
use vswitch::key::{AccessKey, ChainId, KeyId, KeyRole};
use vswitch::wire::SessionId;

use crate::network::{parse_chain_id, Network};
use crate::peers::NodeId;
use crate::state::Attached;

/// Polls `store` until `shutdown` turns true; publishes each changed state.
pub async fn follow(
    store: Arc<dyn Store>,
    states: watch::Sender<Arc<State>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut follower = Follower::new();
    let mut interval = tokio::time::interval(chain::POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = crate::shutdown::stopped(&mut shutdown) => return,
        }
        let reader = Arc::clone(&store);
        let polled = tokio::task::spawn_blocking(move || {
            let update = follower.poll_if_changed(reader.as_ref());
            (follower, update)
        })
        .await;
        let update;
        (follower, update) = match polled {
            Ok(polled) => polled,
            Err(err) => {
                tracing::error!(%err, "chain poll task failed; stopping chain sync");
                return;
            }
        };
        match update {
            Ok(update) => {
                if failing {
                    tracing::info!("chain store readable again");
                    failing = false;
                }
                if update.reset || !update.events.is_empty() {
                    tracing::debug!(
                        events = update.events.len(),
                        reset = update.reset,
                        "chain changed"
                    );
                    if states.send(Arc::new(follower.state().clone())).is_err() {
                        return;
                    }
                }
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(%err, "reading the chain store failed; retrying");
                    failing = true;
                }
            }
        }
    }
}

/// What a new chain state means to the node: networks to serve (and their
/// ethereal services), keys to accept or revoke, peers to dial or forget.
impl crate::state::Node {
    pub(crate) fn reconcile(&mut self, state: &Arc<State>, now: std::time::Instant) {
        self.reconcile_networks(state);
        self.reconcile_services(state, now);
        self.reconcile_revocations(state, now);
        self.reconcile_nodes(state, now);
    }

    /// New networks get a switch and their node key; new live keys are
    /// accepted from now on.
    fn reconcile_networks(&mut self, state: &State) {
        for net in state.networks() {
            let (Some(chain), Some(node_secret)) =
                (parse_chain_id(&net.id), parse_secret(&net.node_secret))
            else {
                tracing::warn!(network = %net.id, "network with a malformed id or secret in the chain; skipped");
                continue;
            };
            if !self.networks.contains_key(&chain) {
                let node_key = AccessKey {
                    chain_id: chain,
                    key_id: KeyId(net.node_key_id),
                    secret: node_secret,
                };
                match self
                    .endpoint
                    .add_key(chain, node_key.key_id, node_secret, KeyRole::Node)
                {
                    Ok(()) => {
                        self.keys.insert((chain, node_key.key_id));
                    }
                    Err(err) => {
                        tracing::warn!(network = %net.name, %err, "node key not accepted");
                        continue;
                    }
                }
                tracing::info!(network = %net.name, id = %net.id, subnet = %net.subnet, "serving network");
                self.networks.insert(
                    chain,
                    Network::new(net.name.clone(), net.subnet.clone(), node_key),
                );
            }
            for (key_id, key) in net.live_keys() {
                let key_id = KeyId(key_id);
                if self.keys.contains(&(chain, key_id)) {
                    continue;
                }
                let Some(secret) = parse_secret(&key.secret) else {
                    continue;
                };
                match self
                    .endpoint
                    .add_key(chain, key_id, secret, KeyRole::Client)
                {
                    Ok(()) => {
                        self.keys.insert((chain, key_id));
                        tracing::debug!(network = %net.name, key = %key_id, "access key accepted");
                    }
                    Err(err) => {
                        tracing::warn!(network = %net.name, key = %key_id, %err, "access key not accepted");
                    }
                }
            }
        }
    }

    /// Keys no longer live (revoked) are revoked in the endpoint, and their
    /// sessions told to leave and removed at once.
    fn reconcile_revocations(&mut self, state: &State, now: std::time::Instant) {
        let gone: Vec<(ChainId, KeyId)> = self
            .keys
            .iter()
            .copied()
            .filter(|&(chain, key_id)| {
                let Some(net) = state.network(&hex::encode(chain.0)) else {
                    return false;
                };
                key_id.0 != net.node_key_id && net.key(key_id.0).is_none_or(|key| key.revoked)
            })
            .collect();
        for (chain, key_id) in gone {
            let sessions: Vec<SessionId> = self
                .sessions
                .iter()
                .filter(|(_, attached)| {
                    matches!(attached, Attached::Client(client) if client.network == chain && client.key_id == key_id)
                })
                .map(|(session, _)| *session)
                .collect();
            for &session in &sessions {
                self.queue_leave(now, session);
            }
            let ended = self.endpoint.revoke_key(chain, key_id);
            for session in sessions.into_iter().chain(ended) {
                self.detach(session, now, "key revoked");
            }
            for ws in self.ws.of_key(chain, key_id) {
                self.detach_ws(ws, "key revoked");
            }
            self.keys.remove(&(chain, key_id));
            tracing::info!(key = %key_id, "access key revoked");
        }
    }

    /// Every other present node is a peer; nodes that left are forgotten.
    fn reconcile_nodes(&mut self, state: &State, now: std::time::Instant) {
        let mut present = Vec::new();
        for (id, node) in state.nodes() {
            let Ok(id) = id.parse::<NodeId>() else {
                continue;
            };
            if id == self.id {
                continue;
            }
            let addrs: Vec<SocketAddr> = node
                .advertise
                .iter()
                .filter_map(|addr| addr.parse().ok())
                .collect();
            // An earlier run of this node that died without leaving.
            if addrs.contains(&self.advertise) {
                continue;
            }
            for addr in addrs {
                self.peers.learn(id, addr);
            }
            present.push(id);
        }
        let left: Vec<NodeId> = self
            .peers
            .known_nodes()
            .filter(|id| !present.contains(id))
            .collect();
        for node in left {
            let sessions = self.peers.forget(node);
            for &session in &sessions {
                self.queue_leave(now, session);
            }
            for session in sessions {
                self.detach(session, now, "peer left the chain");
            }
        }
    }
}

fn parse_secret(text: &str) -> Option<[u8; 32]> {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text, &mut secret).ok()?;
    Some(secret)
}
