//! Browser clients over wss (DESIGN.md, "What it is"; issue 7).
//!
//! One TCP listener (TLS unless the operator asked for plain text) serves
//! the page (`GET /`, the embedded files of `atenet/web/`) and websocket
//! upgrades at `/ws/TOKEN`, where TOKEN is a wss token derived from an
//! access key (vswitch WIRE.md, "Access keys and wss tokens"). One binary
//! websocket message is one Ethernet frame (the v86 relay framing).
//!
//! Table of contents:
//! - [`tls`]: the certificate (given, or self-signed once and kept in the
//!   data dir) and the acceptor;
//! - `tokens`: token -> (network, key id) for every live key, rebuilt from
//!   each chain state;
//! - `http`: reading one request head, the page, 401 / 404 answers, the
//!   upgrade;
//! - `conn`: one task per websocket: frames in to the node task over one
//!   shared bounded queue, frames out from the client's own bounded queue,
//!   ping/pong keepalive and reaping;
//! - `ports`: the node task's side: a websocket client is a
//!   `PortKind::WsClient` port behind which is `LocalPort::Ws(id)`, a
//!   client like a tap client for the switch, the gateway, DHCP,
//!   revocation and `tok status`; frames for it are handed to its queue with `try_send` (full:
//!   dropped and counted, the switch never waits).

mod attach;
mod conn;
mod http;
pub(crate) mod ports;
pub mod tls;
mod tokens;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chain::State;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

pub(crate) use ports::WsPorts;

/// Websocket clients a node accepts unless told otherwise (`--wss-max-clients`).
pub const DEFAULT_MAX_CLIENTS: usize = 4096;
/// Frames waiting for one client's websocket; more are dropped and counted
/// (`queue_full`). 64 full-size frames are ~97 KiB at most.
pub(crate) const CLIENT_QUEUE: usize = 64;
/// Frames from all websocket clients waiting for the node task; more are
/// dropped and counted (`rx_dropped`).
pub(crate) const EVENT_QUEUE: usize = 4096;
/// A websocket connection pings this often ...
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(15);
/// ... and is reaped after this long without hearing anything (3 pings).
pub(crate) const DEAD_AFTER: Duration = Duration::from_secs(45);
/// TLS handshake plus the request head must complete within this long.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// One websocket write may wait this long for a client that does not read
/// before the connection is reaped.
pub(crate) const WRITE_STALL: Duration = Duration::from_secs(30);
/// Connections being set up (TLS, request head) beyond the client cap.
const SETUP_SLACK: usize = 256;

/// How the wss listener secures its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WssTls {
    /// Certificate chain and key from PEM files (`--tls-cert`, `--tls-key`).
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate made once and kept in the data dir.
    SelfSigned,
    /// Plain `ws://` and `http://` (`--wss-insecure-plain-http`): tests, or
    /// behind a TLS-terminating proxy.
    InsecurePlain,
}

/// `--wss ADDR` and its companions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WssConfig {
    pub addr: SocketAddr,
    pub tls: WssTls,
    pub max_clients: usize,
}

/// What happened at the wss listener since start (all connections); the
/// `ws` section of `tok status` and `atenet_ws_total{event=...}`.
#[derive(Debug, Default)]
pub struct WsStats {
    pub connections: AtomicU64,
    pub pages_served: AtomicU64,
    pub upgrades: AtomicU64,
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    /// A frame for a client whose queue was full (the client reads slower
    /// than the network sends it).
    pub queue_full: AtomicU64,
    /// A frame from a client dropped because the node task's queue was full.
    pub rx_dropped: AtomicU64,
    pub runt: AtomicU64,
    /// Closed: a text message (only binary frames are accepted).
    pub text_closed: AtomicU64,
    /// Closed: a message larger than an Ethernet frame (1518 bytes).
    pub oversize_closed: AtomicU64,
    /// 401: a token that is malformed, unknown or revoked.
    pub bad_token: AtomicU64,
    /// 400/404/405/431: anything else that was not a page or an upgrade.
    pub bad_request: AtomicU64,
    pub tls_errors: AtomicU64,
    /// TLS handshake or request head not completed in time, or the peer
    /// went away during them.
    pub handshake_aborted: AtomicU64,
    /// Refused: the websocket client cap or the connection cap was reached.
    pub cap_reached: AtomicU64,
    /// Closed: silent past the keepalive, or not reading its frames.
    pub reaped: AtomicU64,
    /// Closed by the node: key revoked, MAC moved, shutdown.
    pub closed_by_node: AtomicU64,
    pub protocol_errors: AtomicU64,
}

impl WsStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter by its snake_case name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        [
            ("connections", &self.connections),
            ("pages_served", &self.pages_served),
            ("upgrades", &self.upgrades),
            ("frames_in", &self.frames_in),
            ("frames_out", &self.frames_out),
            ("queue_full", &self.queue_full),
            ("rx_dropped", &self.rx_dropped),
            ("runt", &self.runt),
            ("text_closed", &self.text_closed),
            ("oversize_closed", &self.oversize_closed),
            ("bad_token", &self.bad_token),
            ("bad_request", &self.bad_request),
            ("tls_errors", &self.tls_errors),
            ("handshake_aborted", &self.handshake_aborted),
            ("cap_reached", &self.cap_reached),
            ("reaped", &self.reaped),
            ("closed_by_node", &self.closed_by_node),
            ("protocol_errors", &self.protocol_errors),
        ]
        .into_iter()
        .map(|(name, counter)| (name, counter.load(Ordering::Relaxed)))
    }
}

/// The listener's side, shared by its connection tasks.
pub(crate) struct Shared {
    pub(crate) acceptor: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) tokens: watch::Receiver<Arc<tokens::TokenTable>>,
    pub(crate) events: mpsc::Sender<ports::WsEvent>,
    pub(crate) stats: Arc<WsStats>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("tls", &self.acceptor.is_some())
            .finish_non_exhaustive()
    }
}

/// The running listener: its address and certificate fingerprint.
#[derive(Debug, Clone)]
pub struct WssInfo {
    pub addr: SocketAddr,
    /// SHA-256 of the certificate (hex pairs with colons); `None` in
    /// plain mode.
    pub fingerprint: Option<String>,
}

/// Binds `--wss`, loads or makes the certificate and starts the accept
/// loop; returns the node task's side.
pub(crate) async fn start(
    config: &WssConfig,
    data_dir: &Path,
    states: watch::Receiver<Arc<State>>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(WsPorts, WssInfo)> {
    let (acceptor, fingerprint) = match &config.tls {
        WssTls::InsecurePlain => (None, None),
        tls => {
            let (acceptor, fingerprint) = tls::acceptor(tls, data_dir, config.addr)?;
            (Some(acceptor), Some(fingerprint))
        }
    };
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding TCP {} (--wss)", config.addr))?;
    let addr = listener.local_addr()?;
    match &fingerprint {
        Some(fingerprint) => {
            tracing::info!(%addr, sha256 = %fingerprint, "serving browsers over wss (https://{addr}/)");
        }
        None => {
            tracing::warn!(%addr, "serving browsers over PLAIN ws:// and http:// (--wss-insecure-plain-http): tokens and frames are readable on the wire");
        }
    }
    let stats = Arc::new(WsStats::default());
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (tokens_tx, tokens_rx) = watch::channel(Arc::new(tokens::TokenTable::default()));
    tokens_tx.send_replace(Arc::new(tokens::TokenTable::from_state(&states.borrow())));
    let shared = Arc::new(Shared {
        acceptor,
        tokens: tokens_rx,
        events: events_tx,
        stats: Arc::clone(&stats),
        shutdown: shutdown.clone(),
    });
    let permits = Arc::new(Semaphore::new(config.max_clients + SETUP_SLACK));
    tokio::spawn(accept_loop(listener, shared, permits, shutdown));
    Ok((
        WsPorts::new(events_rx, stats, config.max_clients, tokens_tx),
        WssInfo { addr, fingerprint },
    ))
}

/// Accepts until shutdown: one task per connection, at most the client cap
/// plus some slack at once (the rest are closed at once and counted).
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = crate::shutdown::stopped(&mut shutdown) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%err, "wss accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        WsStats::bump(&shared.stats.connections);
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            WsStats::bump(&shared.stats.cap_reached);
            drop(stream);
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            conn::handle(stream, peer, shared).await;
            drop(permit);
        });
    }
}

/// A URL path with its token hidden, for logs: `/ws/atw1…[redacted]`.
pub fn redact(path: &str) -> String {
    match path.strip_prefix("/ws/") {
        Some(token) => {
            let head: String = token.chars().take(4).collect();
            format!("/ws/{head}…[redacted]")
        }
        None => path.chars().take(64).collect(),
    }
}

/// Raises the soft open-file limit to the hard limit: every websocket
/// client is a file descriptor.
pub fn raise_nofile_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass, which
    // lives on this stack frame for the duration of the call.
    #[allow(unsafe_code)]
    let raised = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) != 0 {
            return;
        }
        let before = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        (
            before,
            libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) == 0,
        )
    };
    match raised {
        (before, true) if before != limit.rlim_cur => {
            tracing::debug!(from = before, to = limit.rlim_cur, "raised RLIMIT_NOFILE");
        }
        (_, true) => {}
        (before, false) => tracing::warn!(limit = before, "could not raise RLIMIT_NOFILE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_tokens() {
        assert_eq!(redact("/ws/atw1abcdefgh"), "/ws/atw1…[redacted]");
        assert_eq!(redact("/atenet.js"), "/atenet.js");
    }
}
