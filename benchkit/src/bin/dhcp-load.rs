//! `dhcp-load`: many distinct DHCP clients against one atenet node.
//!
//! Each client is what a `tok connect` plus a DHCP client on its tap would
//! be: its own vswitch session (Noise NNpsk0 handshake under an access key,
//! keepalives, exactly as tok's `Endpoint` use) and its own MAC, and it runs
//! DISCOVER -> OFFER -> REQUEST -> ACK over that session. `perfdhcp` cannot
//! do this: it sends many `chaddr`s from one MAC, which the node drops as
//! spoofing (chaddr must be the frame's source MAC).
//!
//! Phases: (1) sessions: handshakes paced at `--handshake-rate` (the node
//! answers at most 128 inits/s and 8/s per source address), until every
//! client has one or `--setup-timeout`; (2) DHCP: at most `--concurrency`
//! four-way exchanges in flight, until every client is bound or `--timeout`.
//! The node caps sessions per key (8) and per source address (64): give
//! enough keys (`--keys FILE`, `--per-key`) and source addresses
//! (`--sources`). Prints one summary line on stdout.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use benchkit::dhcp_msg::{self, MessageType};
use benchkit::stats::percentile;
use clap::Parser;
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use vswitch::endpoint::{Endpoint, EndpointConfig, EndpointEvent, Received};
use vswitch::key::{AccessKey, KeyRole};
use vswitch::wire::{PacketKind, SessionId, MAX_PACKET};

#[derive(Parser, Debug)]
#[command(
    about = "DHCP four-way exchanges of many distinct clients (own MAC, own session) against one atenet node"
)]
struct Args {
    /// The node's UDP address.
    #[arg(long)]
    node: SocketAddr,
    /// File of access keys (ate1...), one a line; client i uses key i / per-key.
    #[arg(long)]
    keys: String,
    /// Clients per key (the node allows 8 sessions per client key).
    #[arg(long, default_value_t = 8)]
    per_key: usize,
    /// Local IPv4 addresses to send from, comma-separated (one socket and
    /// task each; the node allows 64 sessions per source address).
    #[arg(long, value_delimiter = ',', required = true)]
    sources: Vec<Ipv4Addr>,
    /// Number of clients (each its own session and MAC).
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Four-way exchanges in flight at most (split evenly over the sources).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Handshakes started per second, in total.
    #[arg(long, default_value_t = 100)]
    handshake_rate: u32,
    /// Bound of the session phase, seconds.
    #[arg(long, default_value_t = 60)]
    setup_timeout: u64,
    /// Bound of the DHCP phase, seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Resend DISCOVER/REQUEST after this many ms without an answer.
    #[arg(long, default_value_t = 2000)]
    retransmit_ms: u64,
    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Setup,
    Run(Instant),
    Stop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No session yet (handshake queued or in flight).
    Connecting,
    /// Session up, waiting for its turn.
    Ready,
    Discovering,
    Requesting {
        addr: Ipv4Addr,
        server: Ipv4Addr,
    },
    Bound,
}

#[derive(Debug)]
struct Client {
    mac: [u8; 6],
    key: usize,
    session: Option<SessionId>,
    pending: Option<SessionId>,
    state: State,
    queued: bool,
    xid: u32,
    /// First DISCOVER of the exchange.
    t0: Option<Instant>,
    /// Last DISCOVER/REQUEST sent.
    sent_at: Instant,
    /// The OFFER of the exchange came (the first REQUEST left then).
    t_offer: Option<Instant>,
}

#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<Duration>,
    /// First DISCOVER -> OFFER (DO) and first REQUEST -> ACK (RA).
    do_latencies: Vec<Duration>,
    ra_latencies: Vec<Duration>,
    last_ack: Option<Instant>,
    retransmits: u64,
    naks: u64,
    handshake_retries: u64,
    lost_sessions: u64,
    dropped_packets: u64,
    send_errors: u64,
    frames_in: u64,
    /// Frames that were DHCP replies (to any client of the session's MAC or not).
    replies_in: u64,
    /// Replies whose xid or chaddr was not the session's current exchange.
    replies_stale: u64,
}

struct Worker {
    sock: UdpSocket,
    node: SocketAddr,
    keys: Arc<Vec<AccessKey>>,
    endpoint: Endpoint,
    rng: OsRng,
    clients: Vec<Client>,
    by_session: HashMap<SessionId, usize>,
    handshakes: VecDeque<usize>,
    next_handshake: Instant,
    handshake_every: Duration,
    ready: VecDeque<usize>,
    in_flight: Vec<usize>,
    cap: usize,
    retransmit: Duration,
    phase: Phase,
    established: Arc<AtomicUsize>,
    out: Vec<u8>,
    reply: Vec<u8>,
    tally: Tally,
}

impl Worker {
    async fn send_out(&mut self, len: usize) {
        if self
            .sock
            .send_to(&self.out[..len], self.node)
            .await
            .is_err()
        {
            self.tally.send_errors += 1;
        }
    }

    async fn seal(&mut self, session: SessionId, kind: PacketKind, payload: &[u8]) {
        if let Ok(len) = self
            .endpoint
            .seal(Instant::now(), session, kind, payload, &mut self.out)
        {
            self.send_out(len).await;
        }
    }

    async fn start_handshake(&mut self, now: Instant, i: usize) {
        let key = &self.keys[self.clients[i].key];
        match self.endpoint.connect(
            now,
            self.node,
            key,
            KeyRole::Client,
            &[],
            &mut self.rng,
            &mut self.out,
        ) {
            Ok(init) => {
                self.clients[i].pending = Some(init.session);
                self.by_session.insert(init.session, i);
                self.send_out(init.len).await;
            }
            Err(e) => {
                eprintln!("dhcp-load: handshake of client {i}: {e}");
                self.handshakes.push_back(i);
            }
        }
    }

    /// The frame of client `i`'s current message (DISCOVER or REQUEST).
    async fn send_dhcp(&mut self, i: usize, now: Instant) {
        let c = &mut self.clients[i];
        let Some(session) = c.session else { return };
        let body = match c.state {
            State::Discovering => dhcp_msg::discover_bootp(c.mac, c.xid),
            State::Requesting { addr, server } => {
                dhcp_msg::request_bootp(c.mac, c.xid, addr, server)
            }
            _ => return,
        };
        c.sent_at = now;
        let frame = dhcp_msg::frame(c.mac, &body);
        self.seal(session, PacketKind::Frame, &frame).await;
    }

    async fn begin_exchange(&mut self, i: usize, now: Instant) {
        let xid = self.rng.next_u32();
        let c = &mut self.clients[i];
        c.xid = xid;
        c.state = State::Discovering;
        c.t0.get_or_insert(now);
        self.in_flight.push(i);
        self.send_dhcp(i, now).await;
    }

    fn make_ready(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.state == State::Connecting {
            c.state = State::Ready;
        }
        if c.state == State::Ready && !c.queued {
            c.queued = true;
            self.ready.push_back(i);
        }
    }

    async fn on_packet(&mut self, packet: &mut [u8], from: SocketAddr) {
        let now = Instant::now();
        let got = match self
            .endpoint
            .handle(now, from, packet, &mut self.rng, &mut self.reply)
        {
            Received::Frame { session, frame } => {
                self.tally.frames_in += 1;
                match dhcp_msg::parse_reply_frame(frame) {
                    Some(r) => {
                        self.tally.replies_in += 1;
                        Got::Dhcp(session, r)
                    }
                    None => Got::Nothing,
                }
            }
            Received::Established { session } => Got::Established(session),
            Received::Leave { session } => Got::Lost(session),
            Received::Reply { len } => Got::Reply(len),
            Received::Revoked { key_id, .. } => {
                eprintln!("dhcp-load: key {key_id} is revoked");
                Got::Nothing
            }
            Received::Dropped(_) => {
                self.tally.dropped_packets += 1;
                Got::Nothing
            }
            _ => Got::Nothing,
        };
        match got {
            Got::Nothing => {}
            Got::Reply(len) => {
                self.out[..len].copy_from_slice(&self.reply[..len]);
                self.send_out(len).await;
            }
            Got::Established(session) => {
                let Some(&i) = self.by_session.get(&session) else {
                    self.endpoint.remove_session(session);
                    return;
                };
                if self.clients[i].pending != Some(session) {
                    self.endpoint.remove_session(session);
                    return;
                }
                self.clients[i].pending = None;
                self.clients[i].session = Some(session);
                // key confirmation, as tok does at once
                self.seal(session, PacketKind::Keepalive, &[]).await;
                self.established.fetch_add(1, Ordering::Relaxed);
                self.make_ready(i);
            }
            Got::Lost(session) => self.lost(session),
            Got::Dhcp(session, r) => self.on_reply(session, r, now).await,
        }
        self.drain_events().await;
    }

    fn lost(&mut self, session: SessionId) {
        let Some(i) = self.by_session.remove(&session) else {
            return;
        };
        let c = &mut self.clients[i];
        if c.session == Some(session) {
            c.session = None;
            self.tally.lost_sessions += 1;
            self.established.fetch_sub(1, Ordering::Relaxed);
            if c.state != State::Bound {
                c.state = State::Connecting;
                c.queued = false;
                self.in_flight.retain(|&j| j != i);
                self.handshakes.push_back(i);
            }
        } else if c.pending == Some(session) {
            c.pending = None;
            self.tally.handshake_retries += 1;
            self.handshakes.push_back(i);
        }
    }

    async fn on_reply(&mut self, session: SessionId, r: dhcp_msg::Reply, now: Instant) {
        let Some(&i) = self.by_session.get(&session) else {
            return;
        };
        let c = &mut self.clients[i];
        if r.xid != c.xid || r.chaddr != c.mac {
            self.tally.replies_stale += 1;
            return; // not ours (or a stale transaction)
        }
        match (c.state, r.kind) {
            (State::Discovering, MessageType::Offer) => {
                let Some(server) = r.server else { return };
                c.t_offer = Some(now);
                c.state = State::Requesting {
                    addr: r.yiaddr,
                    server,
                };
                self.send_dhcp(i, now).await;
            }
            (State::Requesting { addr, .. }, MessageType::Ack) if r.yiaddr == addr => {
                c.state = State::Bound;
                let t0 = c.t0.unwrap_or(now);
                let t_offer = c.t_offer.unwrap_or(t0);
                self.tally.latencies.push(now - t0);
                self.tally.do_latencies.push(t_offer - t0);
                self.tally.ra_latencies.push(now - t_offer);
                self.tally.last_ack = Some(now);
                self.in_flight.retain(|&j| j != i);
            }
            (State::Requesting { .. }, MessageType::Nak) => {
                self.tally.naks += 1;
                self.in_flight.retain(|&j| j != i);
                self.begin_exchange(i, now).await;
            }
            _ => {}
        }
    }

    async fn drain_events(&mut self) {
        while let Some(ev) = self.endpoint.poll_event() {
            match ev {
                EndpointEvent::KeepaliveDue(s) => self.seal(s, PacketKind::Keepalive, &[]).await,
                EndpointEvent::Expired(s) => self.lost(s),
                EndpointEvent::Confirmed(_) => {}
            }
        }
    }

    async fn on_timer(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
            self.drain_events().await;
        }
        while now >= self.next_handshake {
            let Some(i) = self.handshakes.pop_front() else {
                break;
            };
            self.start_handshake(now, i).await;
            self.next_handshake += self.handshake_every;
        }
        if self.handshakes.is_empty() && self.next_handshake < now {
            self.next_handshake = now;
        }
        if matches!(self.phase, Phase::Run(_)) {
            for k in 0..self.in_flight.len() {
                let i = self.in_flight[k];
                if now >= self.clients[i].sent_at + self.retransmit {
                    self.tally.retransmits += 1;
                    self.send_dhcp(i, now).await;
                }
            }
            while self.in_flight.len() < self.cap {
                let Some(i) = self.ready.pop_front() else {
                    break;
                };
                self.clients[i].queued = false;
                if self.clients[i].state == State::Ready {
                    self.begin_exchange(i, now).await;
                }
            }
        }
    }

    fn deadline(&self) -> Instant {
        let mut t = Instant::now() + Duration::from_millis(100);
        if let Some(e) = self.endpoint.poll_timeout() {
            t = t.min(e);
        }
        if !self.handshakes.is_empty() {
            t = t.min(self.next_handshake);
        }
        if matches!(self.phase, Phase::Run(_)) {
            if !self.ready.is_empty() && self.in_flight.len() < self.cap {
                t = Instant::now();
            }
            for &i in &self.in_flight {
                t = t.min(self.clients[i].sent_at + self.retransmit);
            }
        }
        t
    }

    fn all_bound(&self) -> bool {
        self.clients.iter().all(|c| c.state == State::Bound)
    }

    async fn run(mut self, mut phase: watch::Receiver<Phase>) -> Tally {
        let mut rx = vec![0u8; MAX_PACKET + 512];
        loop {
            if self.phase == Phase::Stop
                || (matches!(self.phase, Phase::Run(_)) && self.all_bound())
            {
                break;
            }
            let deadline = self.deadline();
            tokio::select! {
                r = self.sock.recv_from(&mut rx) => {
                    if let Ok((n, from)) = r {
                        self.on_packet(&mut rx[..n], from).await;
                        // drain what else is queued before looking at timers
                        for _ in 0..256 {
                            match self.sock.try_recv_from(&mut rx) {
                                Ok((n, from)) => self.on_packet(&mut rx[..n], from).await,
                                Err(_) => break,
                            }
                        }
                    }
                }
                changed = phase.changed() => {
                    self.phase = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Stop };
                }
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            self.on_timer(Instant::now()).await;
        }
        // say goodbye (best effort) so that the node frees the sessions
        let sessions: Vec<SessionId> = self.clients.iter().filter_map(|c| c.session).collect();
        for s in sessions {
            self.seal(s, PacketKind::Leave, &[]).await;
        }
        self.tally
    }
}

enum Got {
    Nothing,
    Reply(usize),
    Established(SessionId),
    Lost(SessionId),
    Dhcp(SessionId, dhcp_msg::Reply),
}

/// Kernel buffers asked for, as tok's sockets (udpio) ask: the floods of
/// other clients' broadcasts arrive on the same socket as our replies.
const SOCKET_BUFFER: usize = 4 << 20;

fn bind(addr: SocketAddr) -> Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // best effort, as udpio: a smaller buffer only drops more under load
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(UdpSocket::from_std(s.into())?)
}

fn client_mac(i: usize) -> [u8; 6] {
    let b = (i as u32).to_be_bytes();
    [0x02, 0xb1, b[0], b[1], b[2], b[3]]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let keys: Vec<AccessKey> = fs::read_to_string(&args.keys)
        .with_context(|| format!("reading {}", args.keys))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse::<AccessKey>()
                .map_err(|e| anyhow::anyhow!("bad key in {}: {e}", args.keys))
        })
        .collect::<Result<_>>()?;
    if args.clients == 0 || args.per_key == 0 || args.concurrency == 0 || args.handshake_rate == 0 {
        bail!("--clients, --per-key, --concurrency and --handshake-rate must be positive");
    }
    let need = args.clients.div_ceil(args.per_key);
    if keys.len() < need {
        bail!(
            "{} clients at {} per key need {need} keys; {} has {}",
            args.clients,
            args.per_key,
            args.keys,
            keys.len()
        );
    }
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    rt.block_on(run(args, keys))
}

async fn run(args: Args, keys: Vec<AccessKey>) -> Result<()> {
    let keys = Arc::new(keys);
    let s = args.sources.len();
    let established = Arc::new(AtomicUsize::new(0));
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    let cfg = EndpointConfig {
        sessions_per_client_key: usize::MAX,
        sessions_total: usize::MAX,
        ..EndpointConfig::default()
    };
    let handshake_every = Duration::from_secs_f64(s as f64 / f64::from(args.handshake_rate));
    let setup_start = Instant::now();
    let mut tasks = Vec::with_capacity(s);
    for (w, &src) in args.sources.iter().enumerate() {
        let sock = bind(SocketAddr::new(IpAddr::V4(src), 0))
            .with_context(|| format!("binding a UDP socket on {src}"))?;
        let mut clients = Vec::new();
        let mut handshakes = VecDeque::new();
        for i in (w..args.clients).step_by(s) {
            handshakes.push_back(clients.len());
            clients.push(Client {
                mac: client_mac(i),
                key: i / args.per_key,
                session: None,
                pending: None,
                state: State::Connecting,
                queued: false,
                xid: 0,
                t0: None,
                sent_at: setup_start,
                t_offer: None,
            });
        }
        let cap = args.concurrency / s + usize::from(w < args.concurrency % s);
        let worker = Worker {
            sock,
            node: args.node,
            keys: Arc::clone(&keys),
            endpoint: Endpoint::new(cfg.clone()),
            rng: OsRng,
            clients,
            by_session: HashMap::new(),
            handshakes,
            // spread the sources' first handshakes over one interval
            next_handshake: setup_start + handshake_every.mul_f64(w as f64 / s as f64),
            handshake_every,
            ready: VecDeque::new(),
            in_flight: Vec::new(),
            cap: cap.max(1),
            retransmit: Duration::from_millis(args.retransmit_ms),
            phase: Phase::Setup,
            established: Arc::clone(&established),
            out: vec![0; MAX_PACKET + 512],
            reply: vec![0; MAX_PACKET + 512],
            tally: Tally::default(),
        };
        tasks.push(tokio::spawn(worker.run(phase_rx.clone())));
    }

    // phase 1: sessions
    let setup_end = setup_start + Duration::from_secs(args.setup_timeout);
    while established.load(Ordering::Relaxed) < args.clients && Instant::now() < setup_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sessions = established.load(Ordering::Relaxed);
    let setup = setup_start.elapsed();
    eprintln!(
        "dhcp-load: {sessions}/{} sessions in {:.1} s; starting DHCP",
        args.clients,
        setup.as_secs_f64()
    );
    // phase 2: DHCP
    let start = Instant::now();
    let _ = phase_tx.send(Phase::Run(start));
    let stop = tokio::time::sleep(Duration::from_secs(args.timeout));
    tokio::pin!(stop);
    let mut tallies = Vec::new();
    let mut joined = futures_join(tasks, &mut stop, &phase_tx).await;
    tallies.append(&mut joined);

    let mut all = Tally::default();
    for t in tallies {
        all.latencies.extend(t.latencies);
        all.do_latencies.extend(t.do_latencies);
        all.ra_latencies.extend(t.ra_latencies);
        all.last_ack = all.last_ack.max(t.last_ack);
        all.retransmits += t.retransmits;
        all.naks += t.naks;
        all.handshake_retries += t.handshake_retries;
        all.lost_sessions += t.lost_sessions;
        all.dropped_packets += t.dropped_packets;
        all.send_errors += t.send_errors;
        all.frames_in += t.frames_in;
        all.replies_in += t.replies_in;
        all.replies_stale += t.replies_stale;
    }
    all.latencies.sort_unstable();
    all.do_latencies.sort_unstable();
    all.ra_latencies.sort_unstable();
    let leased = all.latencies.len();
    let span = all.last_ack.map_or(Duration::ZERO, |t| t - start);
    let rate = if span.is_zero() {
        0.0
    } else {
        leased as f64 / span.as_secs_f64()
    };
    let ms = |d: Option<Duration>| {
        d.map_or("nan".to_string(), |d| {
            format!("{:.1}", d.as_secs_f64() * 1e3)
        })
    };
    println!(
        "dhcp-load clients={} sessions={sessions} leased={leased} unfinished={} concurrency={} sources={s} \
         setup_s={:.2} run_s={:.3} leases_per_s={rate:.1} p50_ms={} p99_ms={} max_ms={} do_p50_ms={} do_p99_ms={} ra_p50_ms={} ra_p99_ms={} \
         retransmits={} naks={} lost_sessions={} handshake_retries={} frames_in={} replies_in={} replies_stale={} dropped_packets={} send_errors={}",
        args.clients,
        args.clients - leased,
        args.concurrency,
        setup.as_secs_f64(),
        span.as_secs_f64(),
        ms(percentile(&all.latencies, 50.0)),
        ms(percentile(&all.latencies, 99.0)),
        ms(all.latencies.last().copied()),
        ms(percentile(&all.do_latencies, 50.0)),
        ms(percentile(&all.do_latencies, 99.0)),
        ms(percentile(&all.ra_latencies, 50.0)),
        ms(percentile(&all.ra_latencies, 99.0)),
        all.retransmits,
        all.naks,
        all.lost_sessions,
        all.handshake_retries,
        all.frames_in,
        all.replies_in,
        all.replies_stale,
        all.dropped_packets,
        all.send_errors,
    );
    Ok(())
}

/// Waits for every worker; at `stop` tells the rest to stop and waits for them.
async fn futures_join(
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
    stop: &mut std::pin::Pin<&mut tokio::time::Sleep>,
    phase_tx: &watch::Sender<Phase>,
) -> Vec<Tally> {
    let mut out = Vec::with_capacity(tasks.len());
    let mut stopped = false;
    for mut t in tasks {
        let tally = if stopped {
            t.await
        } else {
            tokio::select! {
                r = &mut t => r,
                () = stop.as_mut() => {
                    stopped = true;
                    let _ = phase_tx.send(Phase::Stop);
                    t.await
                }
            }
        };
        if let Ok(tally) = tally {
            out.push(tally);
        }
    }
    out
}
