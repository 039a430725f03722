//! The node task's side of websocket events: a checked upgrade becomes a
//! `PortKind::WsClient` port with `LocalPort::Ws(id)` behind it, its
//! frames are switched like a tap client's, and it ends like one.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use vswitch::key::{ChainId, KeyId};
use vswitch::port::PortKind;

use super::ports::{WsClientPort, WsEvent};
use crate::clients::Client;
use crate::network::{LocalPort, WsId};
use crate::state::Node;
use crate::status::ClientStatus;

impl Node {
    pub(crate) fn on_ws_event(&mut self, now: Instant, event: WsEvent) {
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
                self.switch_frame(now, network, port, true, &frame);
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
