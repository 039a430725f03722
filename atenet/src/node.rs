//! The node: startup, the one task that owns every session and switch, and
//! clean shutdown.
//!
//! One task owns the [`Endpoint`], the switches and the tables, so the data
//! path takes no lock. Everything else talks to it by message: the chain
//! follower publishes states on a `watch`, the status socket and the metrics
//! responder ask for a [`Snapshot`] over an `mpsc`. Shutdown is a `watch`
//! turned true (mini-redis style); the node then tells every session
//! "leave", writes `NodeLeft` and returns.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chain::{Event, State, Store};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use vswitch::key::AccessKey;
use vswitch::wire::SessionId;

use crate::config::Config;
use crate::edge::Edge;
use crate::gateway_host::GatewayService;
use crate::peers::NodeId;
use crate::services::dns::DnsService;
use crate::services::lease_store::{self, AppendStats, ChainLeases};
use crate::state::{unix_ms, Attached, CoreParts, Node};
use crate::status::{self, NodeHandle, StatusSocket};
use crate::{bootstrap, chain_sync, metrics};

/// Pending snapshot requests (status readers, scrapes) before they wait.
const QUERY_QUEUE: usize = 32;

/// A node that has started: its addresses, the first-run key if it made
/// one, and the means to stop it.
#[derive(Debug)]
pub struct Running {
    pub node_id: NodeId,
    pub local_addr: SocketAddr,
    pub advertise: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    /// The `--wss` listener's address and certificate fingerprint.
    pub wss: Option<crate::wss::WssInfo>,
    /// The access key of network `default` when this run created it.
    pub first_key: Option<AccessKey>,
    pub handle: NodeHandle,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// The line a user pastes to connect a machine with the first-run key.
    pub fn connect_line(&self) -> Option<String> {
        self.first_key
            .as_ref()
            .map(|key| format!("tok connect {} --key {key}", self.advertise))
    }

    /// Stops the node (sessions told "leave", `NodeLeft` written).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await.context("node task panicked")?
    }

    /// Stops the node without telling anyone, like SIGKILL: no "leave", no
    /// `NodeLeft`, the status socket left behind. For tests of failure.
    pub fn kill(self) {
        self.task.abort();
    }

    /// Runs until `signal` completes, then shuts down.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        signal.await;
        self.shutdown().await
    }
}

/// Opens the chain, runs the first-run bootstrap, binds every socket and
/// starts the node's tasks.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting mode 0700 on {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = Arc::new(
        chain::open(&config.store, &config.data_dir).with_context(|| {
            format!(
                "opening the chain (--store {:?}, data dir {})",
                config.store,
                config.data_dir.display()
            )
        })?,
    );
    let mut rng = StdRng::from_entropy();
    let first_key = {
        let store = Arc::clone(&store);
        let mut rng = StdRng::from_rng(&mut rng).context("seeding a generator")?;
        tokio::task::spawn_blocking(move || bootstrap::bootstrap(store.as_ref(), &mut rng))
            .await
            .context("bootstrap task panicked")??
    };

    let socket = udpio::UdpIo::bind(config.listen, false)
        .with_context(|| format!("binding UDP {} (--listen)", config.listen))?;
    let local_addr = socket.socket().local_addr()?;
    let mut advertise = config.advertise;
    if advertise.port() == 0 {
        advertise.set_port(local_addr.port());
    }
    let metrics_listener = match config.metrics {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding TCP {addr} (--metrics)"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;

    let id = NodeId(rng.next_u64());
    status::remove_stale_sockets(&config.data_dir);
    let status_socket = StatusSocket::bind(&config.data_dir, &id.to_string())
        .with_context(|| format!("binding the status socket in {}", config.data_dir.display()))?;
    append(
        &store,
        Event::NodeJoined {
            node_id: id.to_string(),
            advertise: vec![advertise.to_string()],
            at_ms: unix_ms(),
        },
    )
    .await
    .context("writing NodeJoined to the chain")?;
    tracing::info!(node = %id, listen = %local_addr, %advertise, "node started");
    tracing::info!(data_path = %crate::report::data_path(&socket), "data path");

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (state_tx, state_rx) = watch::channel(Arc::new(State::default()));
    let (query_tx, query_rx) = mpsc::channel(QUERY_QUEUE);
    let handle = NodeHandle::new(query_tx);

    let (appends_tx, appends_rx) = mpsc::channel(lease_store::APPEND_QUEUE);
    let append_stats = Arc::new(AppendStats::default());
    tokio::spawn(lease_store::write(
        Arc::clone(&store),
        appends_rx,
        Arc::clone(&append_stats),
    ));
    tokio::spawn(chain_sync::follow(
        Arc::clone(&store),
        state_tx,
        shutdown_rx.clone(),
    ));
    tokio::spawn(status_socket.serve(handle.clone(), shutdown_rx.clone()));
    if let Some(listener) = metrics_listener {
        tokio::spawn(metrics::serve(
            listener,
            handle.clone(),
            shutdown_rx.clone(),
        ));
    }

    let (ws, wss) = match &config.wss {
        Some(wss) => {
            crate::wss::raise_nofile_limit();
            let (ports, info) =
                crate::wss::start(wss, &config.data_dir, state_rx.clone(), shutdown_rx.clone())
                    .await?;
            (ports, Some(info))
        }
        None => (crate::wss::WsPorts::disabled(), None),
    };

    let dns = if config.dns.is_empty() {
        crate::host_sockets::system_resolvers()
    } else {
        config.dns.clone()
    };
    if dns.is_empty() {
        tracing::warn!("no DNS resolver (--dns or /etc/resolv.conf nameserver): gateways answer DNS with SERVFAIL");
    } else {
        tracing::debug!(?dns, "gateways forward DNS to these resolvers");
    }
    // The services on every gateway address (the port map is in
    // `gateway_host`): one line each.
    let gateway_services: Vec<Box<dyn GatewayService>> = vec![Box::new(DnsService::new(dns))];
    let node = Node::new(
        CoreParts {
            id,
            listen: local_addr,
            advertise,
            rng,
            gateway_services,
            leases: ChainLeases::new(appends_tx, append_stats),
            ws,
            nat_idle: config.nat_idle,
            data_path: crate::report::data_path(&socket),
            started_ms: unix_ms(),
        },
        Instant::now(),
    );
    let task = tokio::spawn(async move {
        let mut edge = Edge { node, udp: socket };
        edge.run(state_rx, query_rx, shutdown_rx).await;
        edge.leave_all().await;
        let left = append(
            &store,
            Event::NodeLeft {
                node_id: id.to_string(),
            },
        )
        .await;
        tracing::info!(node = %id, "node stopped");
        left.context("writing NodeLeft to the chain")
    });

    Ok(Running {
        node_id: id,
        local_addr,
        advertise,
        metrics_addr,
        wss,
        first_key,
        handle,
        shutdown: shutdown_tx,
        task,
    })
}

/// Appends on the blocking pool (the file store fsyncs).
async fn append(store: &Arc<dyn Store>, event: Event) -> anyhow::Result<()> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || store.append(&event))
        .await
        .context("chain append task panicked")??;
    Ok(())
}

impl Node {
    /// Ends a session: its port (and learned MACs) go, and for a peer the
    /// link is retried later. Safe to call for a session already gone.
    pub(crate) fn detach(&mut self, session: SessionId, now: Instant, why: &str) {
        self.endpoint.remove_session(session);
        let Some(attached) = self.sessions.remove(&session) else {
            return;
        };
        match attached {
            Attached::Client(client) => {
                if let Some(network) = self.networks.get_mut(&client.network) {
                    network.detach(client.port);
                }
                tracing::info!(%session, key = %client.key_id, why, "client session ended");
            }
            Attached::Peer {
                network,
                node,
                port,
            } => {
                if let Some(net) = self.networks.get_mut(&network) {
                    net.detach(port);
                }
                self.peers.session_down(network, node, session, now);
                tracing::info!(%session, peer = %node, why, "peer session ended");
            }
        }
    }

    /// Ends a websocket client: its port (and learned MACs) go, and its
    /// connection task closes the websocket. Safe to call twice.
    pub(crate) fn detach_ws(&mut self, id: crate::network::WsId, why: &str) {
        let Some(client) = self.ws.remove(id) else {
            return;
        };
        if let Some(network) = self.networks.get_mut(&client.network) {
            network.detach(client.port);
        }
        tracing::info!(ws = %id, key = %client.key_id, why, "websocket client ended");
    }

    /// Tells every session "leave" (clean shutdown).
    pub(crate) fn leave_all(&mut self, now: Instant) {
        let sessions: Vec<SessionId> = self.sessions.keys().copied().collect();
        for session in sessions {
            self.send_leave(now, session);
        }
    }
}
