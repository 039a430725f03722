//! The node task's side of websocket clients: a websocket is a
//! `PortKind::WsClient` port whose [`LocalPort`] is `Ws(id)`, a client like
//! a tok session for every path that serves clients (switching, gateway
//! and DHCP answers, revocation, a MAC moving away). Frames for it are
//! handed to its connection task's bounded queue and never waited for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chain::State;
use tokio::sync::{mpsc, oneshot, watch};
use vswitch::key::{ChainId, KeyId};
use vswitch::port::PortKind;

use super::tokens::TokenTable;
use super::WsStats;
use crate::clients::Client;
use crate::network::{LocalPort, WsId};
use crate::node::Node;
use crate::status::ClientStatus;

/// From a connection task to the node task.
#[derive(Debug)]
pub(crate) enum WsEvent {
    /// A checked upgrade wants a port; the reply is its id, or `None`
    /// (key no longer live, client cap, network unknown).
    Attach {
        network: ChainId,
        key_id: KeyId,
        remote: SocketAddr,
        queue: mpsc::Sender<Bytes>,
        reply: oneshot::Sender<Option<WsId>>,
    },
    Frame {
        session: WsId,
        frame: Bytes,
    },
    /// The connection ended on its side.
    Closed {
        session: WsId,
    },
}

#[derive(Debug)]
struct WsClientPort {
    /// Its network, port and key (like a tok session's).
    client: Client,
    queue: mpsc::Sender<Bytes>,
    remote: SocketAddr,
    last_heard: Instant,
}

/// The websocket clients of this node.
#[derive(Debug)]
pub(crate) struct WsPorts {
    events: Option<mpsc::Receiver<WsEvent>>,
    clients: HashMap<WsId, WsClientPort>,
    next_id: u64,
    stats: Arc<WsStats>,
    max_clients: usize,
    /// The frame last copied for a queue: a flood to many websockets
    /// shares one buffer.
    last: Bytes,
    /// Where the upgrade handler reads which tokens are live. The node task
    /// publishes a new table *before* it acts on a chain state, so a token
    /// whose sessions were just closed for revocation is already refused.
    tokens: Option<watch::Sender<Arc<TokenTable>>>,
}

impl WsPorts {
    pub(crate) fn new(
        events: mpsc::Receiver<WsEvent>,
        stats: Arc<WsStats>,
        max_clients: usize,
        tokens: watch::Sender<Arc<TokenTable>>,
    ) -> Self {
        Self {
            events: Some(events),
            clients: HashMap::new(),
            next_id: 1,
            stats,
            max_clients,
            last: Bytes::new(),
            tokens: Some(tokens),
        }
    }

    /// No `--wss`: never an event, never a client.
    pub(crate) fn disabled() -> Self {
        Self {
            events: None,
            clients: HashMap::new(),
            next_id: 1,
            stats: Arc::new(WsStats::default()),
            max_clients: 0,
            last: Bytes::new(),
            tokens: None,
        }
    }

    /// Rebuilds the live-token table from a new chain state.
    pub(crate) fn update_tokens(&self, state: &State) {
        if let Some(tokens) = &self.tokens {
            let table = TokenTable::from_state(state);
            tracing::debug!(keys = table.len(), "wss token table rebuilt");
            tokens.send_replace(Arc::new(table));
        }
    }

    /// The next event from a connection task; pending forever when
    /// disabled.
    pub(crate) async fn recv(&mut self) -> Option<WsEvent> {
        match &mut self.events {
            Some(events) => events.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Hands `frame` to websocket `id`'s queue (`true`; `false`: no such
    /// client), dropping and counting it when the queue is full.
    pub(crate) fn deliver(&mut self, id: WsId, frame: &[u8]) -> bool {
        let Some(client) = self.clients.get(&id) else {
            return false;
        };
        if self.last[..] != *frame {
            self.last = Bytes::copy_from_slice(frame);
        }
        if client.queue.try_send(self.last.clone()).is_err() {
            // Full (a slow reader) or closed (its task is ending and will
            // report `Closed`): dropped either way, never waited for.
            WsStats::bump(&self.stats.queue_full);
        }
        true
    }

    /// Forgets a client and returns it; dropping its queue's sender tells
    /// its task to close the websocket.
    pub(crate) fn remove(&mut self, id: WsId) -> Option<Client> {
        self.clients.remove(&id).map(|port| port.client)
    }

    /// The websocket clients of `network` that hold `key_id`.
    pub(crate) fn of_key(&self, network: ChainId, key_id: KeyId) -> Vec<WsId> {
        self.clients
            .iter()
            .filter(|(_, port)| port.client.network == network && port.client.key_id == key_id)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn stats(&self) -> &WsStats {
        &self.stats
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.events.is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }
}

impl Node {
    pub(crate) async fn on_ws_event(&mut self, now: Instant, event: WsEvent) {
        match event {
            WsEvent::Attach {
                network,
                key_id,
                remote,
                queue,
                reply,
            } => {
                let session = self.attach_ws(network, key_id, remote, queue);
                let _ = reply.send(session);
            }
            WsEvent::Frame { session, frame } => {
                let Some(port) = self.ws.clients.get_mut(&session) else {
                    return;
                };
                port.last_heard = now;
                port.client.note_source(&frame);
                let (network, port) = (port.client.network, port.client.port);
                self.switch_frame(now, network, port, true, &frame).await;
            }
            WsEvent::Closed { session } => self.detach_ws(session, "websocket closed"),
        }
    }

    fn attach_ws(
        &mut self,
        network: ChainId,
        key_id: KeyId,
        remote: SocketAddr,
        queue: mpsc::Sender<Bytes>,
    ) -> Option<WsId> {
        // Re-checked here: the key may have been revoked since the token
        // was looked up.
        if !self.keys.contains(&(network, key_id)) {
            return None;
        }
        if self.ws.clients.len() >= self.ws.max_clients {
            tracing::warn!(%remote, cap = self.ws.max_clients, "websocket client refused: cap reached");
            return None;
        }
        let id = WsId(self.ws.next_id);
        self.ws.next_id += 1;
        let net = self.networks.get_mut(&network)?;
        match net.attach(PortKind::WsClient, LocalPort::Ws(id)) {
            Ok(port) => {
                self.ws.clients.insert(
                    id,
                    WsClientPort {
                        client: Client::new(network, port, key_id),
                        queue,
                        remote,
                        last_heard: Instant::now(),
                    },
                );
                Some(id)
            }
            Err(err) => {
                tracing::warn!(%err, %remote, "websocket client refused");
                None
            }
        }
    }

    /// `tok status` rows for the websocket clients.
    pub(crate) fn ws_client_status(&self, now: Instant) -> Vec<ClientStatus> {
        self.ws
            .clients
            .values()
            .map(|port| {
                let client = &port.client;
                ClientStatus {
                    network: hex::encode(client.network.0),
                    key_id: client.key_id.to_string(),
                    remote: port.remote.to_string(),
                    macs: client.macs().collect(),
                    last_heard_ms: now.saturating_duration_since(port.last_heard).as_millis()
                        as u64,
                }
            })
            .collect()
    }
}
