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

use super::tokens::TokenTable;
use super::WsStats;
use crate::clients::Client;
use crate::network::WsId;

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
pub(super) struct WsClientPort {
    /// Its network, port and key (like a tok session's).
    pub(super) client: Client,
    pub(super) queue: mpsc::Sender<Bytes>,
    pub(super) remote: SocketAddr,
    pub(super) last_heard: Instant,
}

/// The websocket clients of this node.
#[derive(Debug)]
pub(crate) struct WsPorts {
    events: Option<mpsc::Receiver<WsEvent>>,
    pub(super) clients: HashMap<WsId, WsClientPort>,
    pub(super) next_id: u64,
    stats: Arc<WsStats>,
    pub(super) max_clients: usize,
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
