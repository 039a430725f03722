//! One task per connection: TLS, one request head, then either a page, an
//! error, or a websocket that is one switch port until either side ends it.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::network::WsId;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::http::{self, Request};
use super::ports::WsEvent;
use super::{
    redact, Shared, WsStats, CLIENT_QUEUE, DEAD_AFTER, HANDSHAKE_TIMEOUT, PING_INTERVAL,
    WRITE_STALL,
};

/// The smallest and largest Ethernet frame a message may carry.
pub(crate) const MIN_FRAME: usize = 14;
pub(crate) const MAX_FRAME: usize = 1518;

/// Small buffers: thousands of idle browsers must fit in little memory.
pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
}

pub(crate) async fn handle(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    match &shared.acceptor {
        Some(acceptor) => match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => serve(tls, peer, &shared).await,
            Ok(Err(err)) => {
                // Garbage, a client that distrusts our certificate, or one
                // that hung up: all the same to us.
                WsStats::bump(&shared.stats.tls_errors);
                tracing::debug!(%peer, %err, "TLS handshake failed");
            }
            Err(_) => {
                WsStats::bump(&shared.stats.handshake_aborted);
                tracing::debug!(%peer, "TLS handshake timed out");
            }
        },
        None => serve(stream, peer, &shared).await,
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    shared: &Shared,
) {
    let stats = &shared.stats;
    let Ok(Some(head)) = timeout(HANDSHAKE_TIMEOUT, http::read_head(&mut stream)).await else {
        WsStats::bump(&stats.handshake_aborted);
        return;
    };
    match head.request {
        Request::File { content_type, body } => {
            WsStats::bump(&stats.pages_served);
            let _ = timeout(
                HANDSHAKE_TIMEOUT,
                http::send_file(&mut stream, content_type, body),
            )
            .await;
        }
        Request::Refuse(status) => {
            WsStats::bump(&stats.bad_request);
            tracing::debug!(%peer, path = %redact(&head.path), ?status, "HTTP request refused");
            let _ = timeout(HANDSHAKE_TIMEOUT, http::refuse(&mut stream, status)).await;
        }
        Request::Upgrade { token, key } => {
            let found = shared.tokens.borrow().check(&token);
            let Some((network, key_id)) = found else {
                WsStats::bump(&stats.bad_token);
                tracing::info!(%peer, path = %redact(&head.path), "wss token refused (401)");
                let _ = timeout(
                    HANDSHAKE_TIMEOUT,
                    http::send_status(&mut stream, "401 Unauthorized"),
                )
                .await;
                return;
            };
            if timeout(HANDSHAKE_TIMEOUT, http::accept_upgrade(&mut stream, &key))
                .await
                .is_err_and(|_| true)
            {
                WsStats::bump(&stats.handshake_aborted);
                return;
            }
            let ws = WebSocketStream::from_partially_read(
                stream,
                head.rest,
                Role::Server,
                Some(ws_config()),
            )
            .await;
            WsStats::bump(&stats.upgrades);
            run(ws, peer, network, key_id, shared).await;
        }
    }
}

/// Why a websocket ended.
enum End {
    /// The client closed or vanished.
    Client,
    /// We closed it, with this code and reason.
    Closed(CloseCode, &'static str),
    /// The node detached the port (revoked, moved, shutdown).
    Node,
}

async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocketStream<S>,
    peer: SocketAddr,
    network: vswitch::key::ChainId,
    key_id: vswitch::key::KeyId,
    shared: &Shared,
) {
    let stats = &shared.stats;
    let (queue_tx, mut queue) = mpsc::channel::<Bytes>(CLIENT_QUEUE);
    let (reply_tx, reply_rx) = oneshot::channel();
    let attach = WsEvent::Attach {
        network,
        key_id,
        remote: peer,
        queue: queue_tx,
        reply: reply_tx,
    };
    let session: Option<WsId> = match shared.events.send(attach).await {
        Ok(()) => reply_rx.await.ok().flatten(),
        Err(_) => None,
    };
    let Some(session) = session else {
        WsStats::bump(&stats.cap_reached);
        let _ = timeout(
            WRITE_STALL,
            ws.close(Some(close(CloseCode::Again, "refused: no port"))),
        )
        .await;
        return;
    };
    tracing::info!(%peer, %session, key = %key_id, "websocket client connected");
    let mut shutdown = shared.shutdown.clone();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    let mut last_heard = Instant::now();
    let end = loop {
        tokio::select! {
            message = ws.next() => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(Message::Binary(frame))) => {
                        if frame.len() < MIN_FRAME {
                            WsStats::bump(&stats.runt);
                            continue;
                        }
                        WsStats::bump(&stats.frames_in);
                        match shared.events.try_send(WsEvent::Frame { session, frame }) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => WsStats::bump(&stats.rx_dropped),
                            Err(mpsc::error::TrySendError::Closed(_)) => break End::Node,
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        WsStats::bump(&stats.text_closed);
                        break End::Closed(CloseCode::Unsupported, "binary Ethernet frames only");
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Err(WsError::Capacity(_))) => {
                        WsStats::bump(&stats.oversize_closed);
                        break End::Closed(CloseCode::Size, "larger than an Ethernet frame (1518 bytes)");
                    }
                    Some(Err(WsError::Protocol(err))) => {
                        WsStats::bump(&stats.protocol_errors);
                        tracing::debug!(%session, %err, "websocket protocol error");
                        break End::Closed(CloseCode::Protocol, "protocol error");
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break End::Client,
                }
            }
            frame = queue.recv() => {
                let Some(frame) = frame else { break End::Node };
                match timeout(WRITE_STALL, ws.send(Message::Binary(frame))).await {
                    Ok(Ok(())) => WsStats::bump(&stats.frames_out),
                    Ok(Err(_)) => break End::Client,
                    Err(_) => {
                        WsStats::bump(&stats.reaped);
                        break End::Client;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= DEAD_AFTER {
                    WsStats::bump(&stats.reaped);
                    break End::Client;
                }
                if !matches!(timeout(WRITE_STALL, ws.send(Message::Ping(Bytes::new()))).await, Ok(Ok(()))) {
                    WsStats::bump(&stats.reaped);
                    break End::Client;
                }
            }
            () = crate::shutdown::stopped(&mut shutdown) => break End::Closed(CloseCode::Away, "node shutting down"),
        }
    };
    match end {
        End::Node => {
            WsStats::bump(&stats.closed_by_node);
            let _ = timeout(
                HANDSHAKE_TIMEOUT,
                ws.close(Some(close(CloseCode::Policy, "session ended by the node"))),
            )
            .await;
            tracing::info!(%peer, %session, "websocket closed by the node");
        }
        End::Closed(code, reason) => {
            let _ = shared.events.send(WsEvent::Closed { session }).await;
            let _ = timeout(HANDSHAKE_TIMEOUT, ws.close(Some(close(code, reason)))).await;
            tracing::info!(%peer, %session, reason, "websocket closed");
        }
        End::Client => {
            let _ = shared.events.send(WsEvent::Closed { session }).await;
            tracing::info!(%peer, %session, "websocket client gone");
        }
    }
}

fn close(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}
