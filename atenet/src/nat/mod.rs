//! The node's side of NAT (issue 6): one [`nat::Translator`] per network,
//! fed the packets the router hands off (`Output::ToNat`) for *local*
//! clients only, and the host sockets its commands ask for ([`io`]);
//! published ports' listeners ([`publish`]); the gateway's DNS forwarder
//! (`crate::dns`).
//!
//! Everything here runs on the node task; socket tasks report through one
//! bounded channel ([`IoEvent`]). After every translator call its commands
//! are carried out and its frames collected (the drain rule of
//! `nat/README.md`); the node then switches the frames from the gateway
//! port to the clients.

pub(crate) mod glue;
pub(crate) mod io;
pub(crate) mod policy;
pub(crate) mod publish;
pub(crate) mod wire;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use chain::State;
use nat::{Command, FlowId, FlowKind, Translator};
use rand::RngCore;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use vswitch::key::ChainId;

pub(crate) use self::io::IoEvent;
use self::io::{FlowIo, Reporter, What};

/// Reports of socket tasks waiting for the node task.
pub const EVENT_QUEUE: usize = 1024;
/// How often the host's own addresses are read again.
const HOST_ADDRS_EVERY: Duration = Duration::from_secs(30);
/// How often published ports are matched with where their clients are.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Room for one frame to a client (largest MTU plus Ethernet).
const FRAME_BUF: usize = 65_536 + 14;

/// Counters of the I/O side (the translators count theirs).
#[derive(Debug, Clone, Copy, Default)]
pub struct IoCounters {
    /// A host socket could not be opened (descriptor limit, ...).
    pub open_failed: u64,
    /// Ping sockets not allowed (`net.ipv4.ping_group_range`).
    pub ping_unavailable: u64,
    /// A datagram the host socket did not take (buffer full, error).
    pub send_dropped: u64,
    /// A command for a flow with no socket (its open failed).
    pub no_socket: u64,
    /// A hand-off for a network with no translator.
    pub no_translator: u64,
    /// Inbound connections or datagrams the translator refused.
    pub inbound_refused: u64,
    /// Published ports whose host port could not be bound.
    pub publish_bind_failed: u64,
}

impl IoCounters {
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("io_open_failed", self.open_failed),
            ("io_ping_unavailable", self.ping_unavailable),
            ("io_send_dropped", self.send_dropped),
            ("io_no_socket", self.no_socket),
            ("io_no_translator", self.no_translator),
            ("io_inbound_refused", self.inbound_refused),
            ("io_publish_bind_failed", self.publish_bind_failed),
        ]
        .into_iter()
    }
}

/// One network's NAT on this node.
#[derive(Debug)]
pub(crate) struct NetNat {
    pub translator: Translator,
    flows: HashMap<FlowId, FlowIo>,
    pub listeners: publish::Listeners,
    /// The `nat-allow` entries last logged as unusable.
    bad_allow: Vec<String>,
}

/// Every network's NAT, the DNS forwarder and their sockets.
#[derive(Debug)]
pub struct NatService {
    nets: HashMap<ChainId, NetNat>,
    tx: mpsc::Sender<IoEvent>,
    rx: mpsc::Receiver<IoEvent>,
    host_addrs: Vec<Ipv4Addr>,
    /// The chain store's endpoint addresses: none for the embedded store.
    store_addrs: Vec<Ipv4Addr>,
    next_host_read: Instant,
    next_publish_check: Instant,
    pub counters: IoCounters,
    /// Frames for clients, collected until the node sends them.
    out: Vec<(ChainId, Vec<u8>)>,
    buf: Box<[u8]>,
    ping_warned: bool,
    seeds: rand::rngs::StdRng,
    /// `--nat-idle`: caps the idle and closing timers of new translators.
    idle_cap: Option<Duration>,
}

impl Drop for NatService {
    fn drop(&mut self) {
        for net in self.nets.values() {
            for flow in net.flows.values() {
                flow.abort();
            }
        }
    }
}

impl NatService {
    pub(crate) fn new(idle_cap: Option<Duration>, now: Instant) -> Self {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        Self {
            nets: HashMap::new(),
            tx,
            rx,
            host_addrs: crate::host::interface_ipv4_addrs(),
            store_addrs: Vec::new(),
            next_host_read: now + HOST_ADDRS_EVERY,
            next_publish_check: now,
            counters: IoCounters::default(),
            out: Vec::new(),
            buf: vec![0u8; FRAME_BUF].into_boxed_slice(),
            ping_warned: false,
            seeds: rand::SeedableRng::from_entropy(),
            idle_cap,
        }
    }

    pub(crate) fn nets(&self) -> impl Iterator<Item = (&ChainId, &NetNat)> {
        self.nets.iter()
    }

    /// Makes (once) the translator of every network with a gateway here,
    /// and applies the chain's `nat`/`nat-allow` settings.
    pub(crate) fn sync(
        &mut self,
        now: Instant,
        state: &State,
        gateways: impl Iterator<Item = (ChainId, [u8; 6], Ipv4Addr)>,
    ) {
        let mut seen = Vec::new();
        for (chain, mac, ip) in gateways {
            let Some(net) = state.network(&hex::encode(chain.0)) else {
                continue;
            };
            seen.push(chain);
            let (policy, bad) = policy::policy(net, &self.host_addrs, &self.store_addrs);
            let entry = self.nets.entry(chain).or_insert_with(|| {
                let mut config = nat::Config::new(nat::EthernetAddress(mac), ip);
                if let Some(mtu) = net
                    .setting("mtu")
                    .and_then(|v| dhcp::config::parse_mtu(v).ok())
                {
                    config.mtu = usize::from(mtu);
                }
                if let Some(cap) = self.idle_cap {
                    let t = &mut config.timeouts;
                    for timer in [
                        &mut t.udp_idle,
                        &mut t.ping_idle,
                        &mut t.tcp_idle,
                        &mut t.tcp_closing,
                    ] {
                        *timer = (*timer).min(cap);
                    }
                }
                tracing::info!(network = %net.name, nat = policy.enabled, "NAT translator up");
                NetNat {
                    translator: Translator::new(config, policy.clone(), self.seeds.next_u64(), now),
                    flows: HashMap::new(),
                    listeners: publish::Listeners::default(),
                    bad_allow: Vec::new(),
                }
            });
            if !bad.is_empty() && bad != entry.bad_allow {
                tracing::warn!(network = %net.name, ?bad, "nat-allow entries not usable; skipped");
            }
            entry.bad_allow = bad;
            if !policy::same(entry.translator.policy(), &policy) {
                tracing::info!(network = %net.name, nat = policy.enabled, allow = policy.allow.len(), "NAT policy changed");
                entry.translator.set_policy(policy);
            }
        }
        self.nets.retain(|chain, net| {
            let keep = seen.contains(chain);
            if !keep {
                for (_, flow) in net.flows.drain() {
                    flow.end(true);
                }
            }
            keep
        });
    }

    /// A packet the router handed off from the local client `asker_mac`
    /// of `network`.
    pub(crate) fn packet(
        &mut self,
        now: Instant,
        network: ChainId,
        asker_mac: [u8; 6],
        packet: &[u8],
    ) {
        let Some(net) = self.nets.get_mut(&network) else {
            self.counters.no_translator += 1;
            return;
        };
        net.translator
            .handle_packet(now, nat::EthernetAddress(asker_mac), packet);
        self.drain(now, network);
    }

    /// The next time `handle_timeout` is due.
    pub(crate) fn poll_timeout(&mut self) -> Instant {
        let mut at = self.next_host_read.min(self.next_publish_check);
        for net in self.nets.values_mut() {
            if let Some(t) = net.translator.poll_timeout() {
                at = at.min(t);
            }
        }
        at
    }

    /// Runs due timers. Returns whether published ports are due a check.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> bool {
        let due: Vec<ChainId> = self
            .nets
            .iter_mut()
            .filter_map(|(chain, net)| {
                let due = net.translator.poll_timeout().is_some_and(|t| t <= now);
                due.then_some(*chain)
            })
            .collect();
        for chain in due {
            if let Some(net) = self.nets.get_mut(&chain) {
                net.translator.handle_timeout(now);
            }
            self.drain(now, chain);
        }
        if now >= self.next_host_read {
            self.next_host_read = now + HOST_ADDRS_EVERY;
            let addrs = crate::host::interface_ipv4_addrs();
            if addrs != self.host_addrs {
                self.host_addrs = addrs;
                for net in self.nets.values_mut() {
                    let mut policy = net.translator.policy().clone();
                    policy.host_addrs.clone_from(&self.host_addrs);
                    net.translator.set_policy(policy);
                }
            }
        }
        if now >= self.next_publish_check {
            self.next_publish_check = now + PUBLISH_EVERY;
            return true;
        }
        false
    }

    /// Waits for the next socket report.
    pub(crate) async fn recv(&mut self) -> Option<IoEvent> {
        self.rx.recv().await
    }

    pub(crate) fn try_recv(&mut self) -> Option<IoEvent> {
        self.rx.try_recv().ok()
    }

    /// Frames for clients collected so far.
    pub(crate) fn take_frames(&mut self) -> Vec<(ChainId, Vec<u8>)> {
        std::mem::take(&mut self.out)
    }

    /// Gives back the (drained) vector of `take_frames` to reuse it.
    pub(crate) fn recycle(&mut self, mut frames: Vec<(ChainId, Vec<u8>)>) {
        frames.clear();
        if self.out.is_empty() {
            self.out = frames;
        }
    }

    /// A socket task's report; `client_mac` resolves a published port's
    /// client (for inbound connections).
    pub(crate) fn on_event(
        &mut self,
        now: Instant,
        event: IoEvent,
        client_mac: impl Fn(ChainId, Ipv4Addr) -> Option<[u8; 6]>,
    ) {
        match event {
            IoEvent::Flow(event) => self.on_flow_event(now, event),
            IoEvent::Host { .. } => {} // the node hands these to the gateway hosts
            IoEvent::InboundTcp {
                network,
                host_port,
                remote,
                stream,
            } => self.inbound_tcp(now, network, host_port, remote, stream, &client_mac),
            IoEvent::InboundUdp {
                network,
                host_port,
                remote,
                payload,
            } => {
                let Some(net) = self.nets.get_mut(&network) else {
                    return;
                };
                let SocketAddr::V4(remote) = remote else {
                    self.counters.inbound_refused += 1;
                    return;
                };
                let Some(mac) = publish::client_of(&net.translator, nat::Protocol::Udp, host_port)
                    .and_then(|ip| client_mac(network, ip))
                else {
                    self.counters.inbound_refused += 1;
                    return;
                };
                let took = net.translator.inbound_udp(
                    now,
                    host_port,
                    remote,
                    nat::EthernetAddress(mac),
                    &payload,
                );
                if took.is_err() {
                    self.counters.inbound_refused += 1;
                }
                self.drain(now, network);
            }
        }
    }

    fn inbound_tcp(
        &mut self,
        now: Instant,
        network: ChainId,
        host_port: u16,
        remote: SocketAddr,
        stream: TcpStream,
        client_mac: &impl Fn(ChainId, Ipv4Addr) -> Option<[u8; 6]>,
    ) {
        let Some(net) = self.nets.get_mut(&network) else {
            return;
        };
        let mac = publish::client_of(&net.translator, nat::Protocol::Tcp, host_port)
            .and_then(|ip| client_mac(network, ip));
        let (SocketAddr::V4(remote), Some(mac)) = (remote, mac) else {
            self.counters.inbound_refused += 1;
            return;
        };
        match net
            .translator
            .inbound_tcp(now, host_port, remote, nat::EthernetAddress(mac))
        {
            Ok(flow) => {
                let report = Reporter {
                    network,
                    flow,
                    tx: self.tx.clone(),
                };
                net.flows.insert(flow, io::splice_accepted(stream, report));
            }
            Err(err) => {
                tracing::debug!(%remote, host_port, %err, "inbound connection refused");
                self.counters.inbound_refused += 1;
            }
        }
        self.drain(now, network);
    }

    fn on_flow_event(&mut self, now: Instant, event: io::FlowEvent) {
        let network = event.network;
        let Some(net) = self.nets.get_mut(&network) else {
            return;
        };
        let (t, flow) = (&mut net.translator, event.flow);
        match event.what {
            What::Udp(payload) => t.udp_received(now, flow, &payload),
            What::Unreachable(why) => t.datagram_unreachable(now, flow, why),
            What::Ping { seq, payload } => t.ping_reply(now, flow, seq, &payload),
            What::TcpConnected => t.tcp_connected(now, flow),
            What::TcpRefused => t.tcp_refused(now, flow),
            What::TcpReceived(bytes) => {
                let taken = t.tcp_received(now, flow, &bytes);
                if let Some(FlowIo::Tcp { ctl, pending, .. }) = net.flows.get_mut(&flow) {
                    match bytes.get(taken..) {
                        Some(rest) if !rest.is_empty() => *pending = Some(rest.to_vec()),
                        _ => ctl.update(|s| s.resume = true),
                    }
                }
            }
            What::TcpWritten(n) => t.tcp_written(now, flow, n),
            What::TcpClosed => t.tcp_closed(now, flow),
            What::TcpReset => t.tcp_reset(now, flow),
        }
        self.drain(now, network);
    }

    /// The drain rule: carry out every command, collect every frame, until
    /// the translator has nothing more (commands may call back into it).
    fn drain(&mut self, now: Instant, network: ChainId) {
        let Some(net) = self.nets.get_mut(&network) else {
            return;
        };
        loop {
            let mut busy = false;
            while let Some(command) = net.translator.poll_command() {
                busy = true;
                execute(
                    now,
                    network,
                    net,
                    command,
                    &self.tx,
                    &mut self.counters,
                    &mut self.ping_warned,
                );
            }
            while let Some(len) = net.translator.poll_frame(&mut self.buf) {
                busy = true;
                if let Some(frame) = self.buf.get(..len) {
                    self.out.push((network, frame.to_vec()));
                }
            }
            if !busy {
                break;
            }
        }
    }

    /// Flows per kind (summed over networks), with TIME-WAIT and total.
    pub(crate) fn flow_counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for net in self.nets.values() {
            let stats = net.translator.flows();
            for kind in FlowKind::ALL {
                *out.entry(kind.name().to_owned()).or_default() += stats.kind(kind) as u64;
            }
            *out.entry("tcp_time_wait".to_owned()).or_default() += stats.tcp_time_wait as u64;
            *out.entry("total".to_owned()).or_default() += stats.total() as u64;
        }
        out
    }

    /// Flows per client, busiest first (at most 256 clients listed).
    pub(crate) fn client_flows(&self) -> Vec<crate::status::NatClientStatus> {
        let mut out: Vec<crate::status::NatClientStatus> = Vec::new();
        for (chain, net) in &self.nets {
            for (ip, flows) in net.translator.flows().per_client {
                out.push(crate::status::NatClientStatus {
                    network: hex::encode(chain.0),
                    ip: ip.to_string(),
                    flows,
                });
            }
        }
        out.sort_by(|a, b| b.flows.cmp(&a.flows).then_with(|| a.ip.cmp(&b.ip)));
        out.truncate(256);
        out
    }

    /// Every translator's counters (summed) and the I/O side's.
    pub(crate) fn counter_map(&self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        for net in self.nets.values() {
            for (name, n) in net.translator.counters().iter() {
                *out.entry(name).or_default() += n;
            }
        }
        for (name, n) in self.counters.iter() {
            out.insert(name.to_owned(), n);
        }
        out
    }

    pub(crate) fn sender(&self) -> mpsc::Sender<IoEvent> {
        self.tx.clone()
    }

    pub(crate) fn net_mut(&mut self, chain: ChainId) -> Option<&mut NetNat> {
        self.nets.get_mut(&chain)
    }
}

/// Carries out one translator command.
fn execute(
    now: Instant,
    network: ChainId,
    net: &mut NetNat,
    command: Command,
    tx: &mpsc::Sender<IoEvent>,
    counters: &mut IoCounters,
    ping_warned: &mut bool,
) {
    let report = |flow: FlowId| Reporter {
        network,
        flow,
        tx: tx.clone(),
    };
    match command {
        Command::OpenUdp { flow, dst } => match io::open_udp(dst, report(flow)) {
            Ok(io) => {
                net.flows.insert(flow, io);
            }
            Err(err) => {
                counters.open_failed += 1;
                tracing::debug!(%flow, %dst, %err, "NAT UDP socket not opened");
            }
        },
        Command::OpenPing { flow, dst } => match io::open_ping(dst, report(flow)) {
            Ok(io) => {
                net.flows.insert(flow, io);
            }
            Err(err) => {
                counters.ping_unavailable += 1;
                if !std::mem::replace(ping_warned, true) {
                    tracing::warn!(%err, "ICMP echo through NAT needs ping sockets: add this process's group to the sysctl net.ipv4.ping_group_range (see atenet/README.md); pings are dropped");
                }
            }
        },
        Command::OpenTcp { flow, dst } => {
            let timeout = net.translator.config().timeouts.tcp_connect;
            net.flows
                .insert(flow, io::open_tcp(dst, timeout, report(flow)));
        }
        Command::SendUdp { flow, payload } => match net.flows.get(&flow) {
            Some(FlowIo::Udp { socket, .. }) => {
                if let Err(err) = socket.send(&payload) {
                    match io::unreachable_of(&err) {
                        Some(why) => net.translator.datagram_unreachable(now, flow, why),
                        None => counters.send_dropped += 1,
                    }
                }
            }
            _ => counters.no_socket += 1,
        },
        Command::SendPing { flow, seq, payload } => match net.flows.get(&flow) {
            Some(FlowIo::Ping { socket, .. }) => {
                if socket.send(&wire::echo_request(seq, &payload)).is_err() {
                    counters.send_dropped += 1;
                }
            }
            _ => counters.no_socket += 1,
        },
        Command::SendUdpTo {
            host_port,
            remote,
            payload,
        } => {
            if !net.listeners.send_udp(host_port, remote, &payload) {
                counters.send_dropped += 1;
            }
        }
        Command::SendTcp { flow, bytes } => match net.flows.get(&flow) {
            Some(FlowIo::Tcp { ctl, .. }) => ctl.update(|s| s.out.push_back(bytes)),
            _ => counters.no_socket += 1,
        },
        Command::ShutdownWrite { flow } => {
            if let Some(FlowIo::Tcp { ctl, .. }) = net.flows.get(&flow) {
                ctl.update(|s| s.shutdown = true);
            }
        }
        Command::ResumeRecv { flow } => {
            let Some(FlowIo::Tcp { ctl, pending, .. }) = net.flows.get_mut(&flow) else {
                return;
            };
            match pending.take() {
                Some(bytes) => {
                    let taken = net.translator.tcp_received(now, flow, &bytes);
                    match bytes.get(taken..) {
                        Some(rest) if !rest.is_empty() => *pending = Some(rest.to_vec()),
                        _ => ctl.update(|s| s.resume = true),
                    }
                }
                None => ctl.update(|s| s.resume = true),
            }
        }
        Command::Close { flow } => {
            if let Some(io) = net.flows.remove(&flow) {
                io.end(false);
            }
        }
        Command::Reset { flow } => {
            if let Some(io) = net.flows.remove(&flow) {
                io.end(true);
            }
        }
    }
}
