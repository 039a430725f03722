//! The virtual host: demultiplexing, connection table, caps, events.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint, Ipv4Repr, TcpControl, TcpRepr};

use crate::config::Config;
use crate::counters::{Counters, DropReason};
use crate::error::Error;
use crate::event::{ConnId, Event, Protocol};
use crate::shard::{mix, Shard};
use crate::wire::{self, Inbound, IPV4_HEADER, UDP_HEADER};

/// A connection's key: the peer's endpoint and our port (our address is
/// always `Config::address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Tuple {
    peer: SocketAddrV4,
    local_port: u16,
}

#[derive(Debug)]
struct Conn {
    shard: usize,
    handle: SocketHandle,
    tuple: Tuple,
    outbound: bool,
    established: bool,
    /// `TcpReadable` was sent and the buffer not yet drained.
    readable: bool,
    /// A `tcp_send` came up short: `TcpWritable` is owed.
    want_write: bool,
    peer_closed: bool,
    /// Listed in `VirtualHost::dirty`.
    dirty: bool,
}

/// Services' TCP and UDP endpoints on a network's gateway address.
///
/// Sans-IO. **Drain rule**: after every `handle_packet`, `handle_timeout`,
/// `tcp_*` or `udp_send` call, call [`VirtualHost::poll_transmit`] until
/// `None` and [`VirtualHost::poll_event`] until `None` (acting on events
/// may queue more: repeat until both are empty), then re-arm one timer at
/// [`VirtualHost::poll_timeout`] and call `handle_timeout` when it fires.
/// `tcp_send`/`tcp_recv`/`tcp_close` take effect (segments, freed sockets)
/// at the next `poll_transmit` or `handle_*`, which carry `now`.
pub struct VirtualHost {
    config: Config,
    shards: Vec<Shard>,
    /// (deadline micros, shard) for every shard with a deadline.
    timers: BTreeSet<(i64, usize)>,
    conns: HashMap<ConnId, Conn>,
    tuples: HashMap<Tuple, ConnId>,
    per_peer_ip: HashMap<Ipv4Addr, usize>,
    tcp_ports: HashSet<u16>,
    udp_ports: HashSet<u16>,
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    udp_queued: usize,
    dirty: Vec<ConnId>,
    flush_round: u64,
    scratch: Vec<ConnId>,
    next_conn: u64,
    /// smoltcp time zero: the first `now` the host was given.
    base: Option<Instant>,
    last_now: Option<Instant>,
    counters: Counters,
}

impl std::fmt::Debug for VirtualHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualHost")
            .field("address", &self.config.address)
            .field("shards", &self.shards.len())
            .field("conns", &self.conns.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl VirtualHost {
    pub fn new(config: Config) -> Self {
        let n = config.shards.max(1);
        let shards = (0..n)
            .map(|i| Shard::new(config.address, config.mtu, mix(config.seed ^ mix(i as u64))))
            .collect();
        VirtualHost {
            config,
            shards,
            timers: BTreeSet::new(),
            conns: HashMap::new(),
            tuples: HashMap::new(),
            per_peer_ip: HashMap::new(),
            tcp_ports: HashSet::new(),
            udp_ports: HashSet::new(),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            udp_queued: 0,
            dirty: Vec::new(),
            flush_round: 0,
            scratch: Vec::new(),
            next_conn: 1,
            base: None,
            last_now: None,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    // ---- listeners ----

    /// Accept TCP connections to `port` (a fresh socket per SYN: no
    /// backlog to overflow).
    pub fn listen_tcp(&mut self, port: u16) {
        if port != 0 {
            self.tcp_ports.insert(port);
        }
    }

    /// Stop accepting on `port`; live connections stay.
    pub fn unlisten_tcp(&mut self, port: u16) {
        self.tcp_ports.remove(&port);
    }

    pub fn listen_udp(&mut self, port: u16) {
        if port != 0 {
            self.udp_ports.insert(port);
        }
    }

    pub fn unlisten_udp(&mut self, port: u16) {
        self.udp_ports.remove(&port);
    }

    /// Whether a packet to the gateway on `port` belongs to this host (the
    /// node hands it over) or to the router.
    pub fn is_listening(&self, proto: Protocol, port: u16) -> bool {
        match proto {
            Protocol::Tcp => self.tcp_ports.contains(&port),
            Protocol::Udp => self.udp_ports.contains(&port),
        }
    }

    // ---- Sans-IO driving ----

    /// An IPv4 packet to the gateway address (Ethernet stripped). Anything
    /// else is dropped and counted.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let at = self.at(now);
        self.flush_dirty(at);
        match wire::parse(packet, self.config.address) {
            Err(reason) => self.counters.drop(reason),
            Ok(Inbound::Udp {
                peer,
                local_port,
                payload,
            }) => self.udp_in(packet, peer, local_port, payload),
            Ok(Inbound::Tcp { ip, tcp }) => self.tcp_in(at, packet, &ip, &tcp),
        }
    }

    /// The next IP packet to send to a client.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let at = self.at(now);
        self.flush_dirty(at);
        self.tx.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        if matches!(ev, Event::UdpDatagram { .. }) {
            self.udp_queued -= 1;
        }
        Some(ev)
    }

    /// When to call `handle_timeout` (O(log shards): each shard's deadline
    /// is kept in an ordered set, recomputed only when that shard is
    /// polled).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.dirty.is_empty() {
            return self.last_now;
        }
        let base = self.base?;
        let (micros, _) = self.timers.first()?;
        Some(base + Duration::from_micros(u64::try_from(*micros).unwrap_or(0)))
    }

    /// Polls every shard whose deadline has passed (retransmits, delayed
    /// ACKs, keep-alives, timeouts).
    pub fn handle_timeout(&mut self, now: Instant) {
        let at = self.at(now);
        self.flush_dirty(at);
        let mut due = Vec::new();
        for &(micros, shard) in &self.timers {
            if micros > at.total_micros() {
                break;
            }
            due.push(shard);
        }
        for shard in due {
            self.run_shard(at, shard, None);
        }
    }

    // ---- TCP ----

    /// Reads up to `buf.len()` bytes; 0 when none wait (or `conn` is gone).
    pub fn tcp_recv(&mut self, conn: ConnId, buf: &mut [u8]) -> usize {
        let Some((c, socket)) = self.conn_socket(conn) else {
            return 0;
        };
        let n = socket.recv_slice(buf).unwrap_or(0);
        if !socket.can_recv() {
            c.readable = false;
        }
        if n > 0 {
            self.mark_dirty(conn);
        }
        n
    }

    /// Queues up to `data.len()` bytes; returns how many were taken. When
    /// short, `TcpWritable` says when to offer the rest.
    pub fn tcp_send(&mut self, conn: ConnId, data: &[u8]) -> usize {
        let Some((c, socket)) = self.conn_socket(conn) else {
            return 0;
        };
        let n = socket.send_slice(data).unwrap_or(0);
        if n < data.len() {
            c.want_write = true;
        }
        if n > 0 {
            self.mark_dirty(conn);
        }
        n
    }

    /// Sends FIN after the queued bytes; the socket is freed (and
    /// `TcpClosed` sent) once both sides are done.
    pub fn tcp_close(&mut self, conn: ConnId) {
        if let Some((_, socket)) = self.conn_socket(conn) {
            socket.close();
            self.mark_dirty(conn);
        }
    }

    /// Sends RST and frees the connection.
    pub fn tcp_abort(&mut self, conn: ConnId) {
        if let Some((_, socket)) = self.conn_socket(conn) {
            socket.abort();
            self.mark_dirty(conn);
        }
    }

    /// The peer of `conn` and our port, while it lives.
    pub fn tcp_endpoints(&self, conn: ConnId) -> Option<(u16, SocketAddrV4)> {
        self.conns
            .get(&conn)
            .map(|c| (c.tuple.local_port, c.tuple.peer))
    }

    /// Opens a connection from our `local_port` to a client of the network.
    /// `TcpConnected` or `TcpClosed` follows.
    pub fn tcp_connect(
        &mut self,
        now: Instant,
        local_port: u16,
        remote: SocketAddrV4,
    ) -> Result<ConnId, Error> {
        let at = self.at(now);
        self.flush_dirty(at);
        let ip = *remote.ip();
        if local_port == 0 || remote.port() == 0 || !unicast(ip) || ip == self.config.address {
            return Err(Error::BadEndpoint(remote));
        }
        let tuple = Tuple {
            peer: remote,
            local_port,
        };
        if self.tuples.contains_key(&tuple) {
            return Err(Error::InUse { local_port, remote });
        }
        match self.admit(ip) {
            Err(DropReason::CapPerPeerIp) => return Err(Error::CapPerPeerIp(remote)),
            Err(_) => return Err(Error::CapTotal),
            Ok(()) => {}
        }
        let shard = self.shard_of(tuple);
        let mut socket = self.new_socket();
        let local = IpListenEndpoint {
            addr: Some(self.config.address.into()),
            port: local_port,
        };
        let remote_ep = IpEndpoint::new(ip.into(), remote.port());
        let s = &mut self.shards[shard];
        socket
            .connect(s.iface.context(), remote_ep, local)
            .map_err(|_| Error::BadEndpoint(remote))?;
        let handle = s.sockets.add(socket);
        let id = self.insert_conn(shard, handle, tuple, true);
        self.run_shard(at, shard, Some(id));
        Ok(id)
    }

    // ---- UDP ----

    /// Sends one datagram from our `local_port` to `peer`.
    pub fn udp_send(
        &mut self,
        local_port: u16,
        peer: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), Error> {
        if local_port == 0 || peer.port() == 0 || !unicast(*peer.ip()) {
            return Err(Error::BadEndpoint(peer));
        }
        let max = self.config.mtu.saturating_sub(IPV4_HEADER + UDP_HEADER);
        if data.len() > max {
            return Err(Error::TooLarge {
                len: data.len(),
                max,
            });
        }
        if self.tx.len() >= self.config.max_tx_queue {
            return Err(Error::QueueFull);
        }
        let src = SocketAddrV4::new(self.config.address, local_port);
        self.tx.push_back(wire::udp_datagram(src, peer, data));
        self.counters.udp_sent += 1;
        Ok(())
    }

    // ---- inside ----

    fn at(&mut self, now: Instant) -> SmolInstant {
        self.last_now = Some(now);
        let base = *self.base.get_or_insert(now);
        let micros = now.saturating_duration_since(base).as_micros();
        SmolInstant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    fn udp_in(&mut self, packet: &[u8], peer: SocketAddrV4, local_port: u16, payload: &[u8]) {
        if peer.port() == 0 {
            return self.counters.drop(DropReason::Malformed);
        }
        if !self.udp_ports.contains(&local_port) {
            self.counters.drop(DropReason::UdpNotListening);
            if let Some(icmp) = wire::port_unreachable(packet) {
                self.push_tx(icmp);
            }
            return;
        }
        if self.udp_queued >= self.config.max_udp_queue {
            return self.counters.drop(DropReason::UdpQueueFull);
        }
        self.udp_queued += 1;
        self.counters.udp_received += 1;
        self.events.push_back(Event::UdpDatagram {
            local_port,
            peer,
            data: payload.to_vec(),
        });
    }

    fn tcp_in(&mut self, at: SmolInstant, packet: &[u8], ip: &Ipv4Repr, tcp: &TcpRepr<'_>) {
        let (peer, local_port) = Inbound::tcp_tuple(ip, tcp);
        if peer.port() == 0 || local_port == 0 || *peer.ip() == self.config.address {
            return self.counters.drop(DropReason::Malformed);
        }
        let tuple = Tuple { peer, local_port };
        if let Some(&id) = self.tuples.get(&tuple) {
            if let Some(shard) = self.conns.get(&id).map(|c| c.shard) {
                self.shards[shard].device.put_rx(packet);
                self.run_shard(at, shard, Some(id));
            }
            return;
        }
        let is_syn = tcp.control == TcpControl::Syn && tcp.ack_number.is_none();
        let refusal = if !is_syn {
            Some(DropReason::TcpNoConnection)
        } else if !self.tcp_ports.contains(&local_port) {
            Some(DropReason::TcpNotListening)
        } else {
            self.admit(*peer.ip()).err()
        };
        if let Some(reason) = refusal {
            // A closed port or a full table answers at once rather than let
            // the client retransmit SYNs into it.
            self.counters.drop(reason);
            if let Some(rst) = wire::tcp_rst(ip, tcp) {
                self.push_tx(rst);
            }
            return;
        }
        let shard = self.shard_of(tuple);
        let mut socket = self.new_socket();
        let endpoint = IpListenEndpoint {
            addr: Some(self.config.address.into()),
            port: local_port,
        };
        if socket.listen(endpoint).is_err() {
            return self.counters.drop(DropReason::Malformed);
        }
        let handle = self.shards[shard].sockets.add(socket);
        let id = self.insert_conn(shard, handle, tuple, false);
        self.shards[shard].device.put_rx(packet);
        // If the listener did not take the SYN it is still listening and
        // `observe` frees it: no listener outlives its SYN.
        self.run_shard(at, shard, Some(id));
    }

    fn admit(&self, ip: Ipv4Addr) -> Result<(), DropReason> {
        if self.conns.len() >= self.config.max_sockets_total {
            return Err(DropReason::CapTotal);
        }
        if self.per_peer_ip.get(&ip).copied().unwrap_or(0) >= self.config.max_sockets_per_peer_ip {
            return Err(DropReason::CapPerPeerIp);
        }
        Ok(())
    }

    fn shard_of(&self, tuple: Tuple) -> usize {
        // Keyed by the seed so a peer cannot aim its connections at one
        // shard (it is capped per IP anyway).
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.config.seed.hash(&mut h);
        tuple.hash(&mut h);
        (h.finish() % self.shards.len() as u64) as usize
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let rx = tcp::SocketBuffer::new(vec![0u8; self.config.tcp_buffer]);
        let tx = tcp::SocketBuffer::new(vec![0u8; self.config.tcp_buffer]);
        let mut socket = tcp::Socket::new(rx, tx);
        socket.set_timeout(Some(smol_duration(self.config.tcp_timeout)));
        socket.set_keep_alive(self.config.tcp_keep_alive.map(smol_duration));
        // Services write whole messages; do not hold the tail back.
        socket.set_nagle_enabled(false);
        socket
    }

    fn insert_conn(
        &mut self,
        shard: usize,
        handle: SocketHandle,
        tuple: Tuple,
        outbound: bool,
    ) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                shard,
                handle,
                tuple,
                outbound,
                established: false,
                readable: false,
                want_write: false,
                peer_closed: false,
                dirty: false,
            },
        );
        self.tuples.insert(tuple, id);
        *self.per_peer_ip.entry(*tuple.peer.ip()).or_insert(0) += 1;
        self.shards[shard].conns.push(id);
        self.counters.tcp_active += 1;
        id
    }

    fn conn_socket(&mut self, conn: ConnId) -> Option<(&mut Conn, &mut tcp::Socket<'static>)> {
        let c = self.conns.get_mut(&conn)?;
        let socket = self.shards[c.shard]
            .sockets
            .get_mut::<tcp::Socket>(c.handle);
        Some((c, socket))
    }

    fn mark_dirty(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(conn);
            }
        }
    }

    /// Polls the shards of connections a service touched, once each.
    fn flush_dirty(&mut self, at: SmolInstant) {
        if self.dirty.is_empty() {
            return;
        }
        self.flush_round += 1;
        let dirty = std::mem::take(&mut self.dirty);
        for &id in &dirty {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            c.dirty = false;
            let shard = c.shard;
            if self.shards[shard].flushed_in == self.flush_round {
                self.observe(id);
            } else {
                self.shards[shard].flushed_in = self.flush_round;
                self.run_shard(at, shard, Some(id));
            }
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    /// Polls one shard, collects what it sent, and looks at `focus` (or
    /// every connection of the shard when a timer was due or none is
    /// given: only timers change sockets no packet was for).
    fn run_shard(&mut self, at: SmolInstant, shard: usize, focus: Option<ConnId>) {
        let s = &mut self.shards[shard];
        let due = s.deadline.is_some_and(|d| d <= at.total_micros());
        s.poll(at);
        while let Some(p) = self.shards[shard].device.tx.pop_front() {
            self.push_tx(p);
        }
        match focus {
            Some(id) if !due => self.observe(id),
            _ => {
                let mut ids = std::mem::take(&mut self.scratch);
                ids.clear();
                ids.extend_from_slice(&self.shards[shard].conns);
                for &id in &ids {
                    self.observe(id);
                }
                self.scratch = ids;
            }
        }
        let s = &mut self.shards[shard];
        let next = s.next_deadline(at);
        if s.deadline != next {
            if let Some(old) = s.deadline {
                self.timers.remove(&(old, shard));
            }
            if let Some(new) = next {
                self.timers.insert((new, shard));
            }
            s.deadline = next;
        }
    }

    /// Turns a socket's state into events, and frees it once it is done.
    fn observe(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let socket = self.shards[c.shard].sockets.get::<tcp::Socket>(c.handle);
        let state = socket.state();
        // TIME-WAIT is freed at once (the peer's retransmitted FIN then
        // gets RST, which it takes as the end), unless bytes wait unread.
        let done = matches!(state, State::Closed | State::Listen)
            || (state == State::TimeWait && !socket.can_recv());
        if done {
            return self.free(id);
        }
        if !c.established && !matches!(state, State::SynSent | State::SynReceived) {
            c.established = true;
            if c.outbound {
                self.counters.tcp_connected += 1;
                self.events.push_back(Event::TcpConnected(id));
            } else {
                self.counters.tcp_accepted += 1;
                self.events.push_back(Event::TcpAccepted {
                    conn: id,
                    local_port: c.tuple.local_port,
                    peer: c.tuple.peer,
                });
            }
        }
        if !c.established {
            return;
        }
        if !c.readable && socket.can_recv() {
            c.readable = true;
            self.events.push_back(Event::TcpReadable(id));
        }
        if c.want_write && socket.can_send() {
            c.want_write = false;
            self.events.push_back(Event::TcpWritable(id));
        }
        if !c.peer_closed && !socket.may_recv() {
            c.peer_closed = true;
            self.events.push_back(Event::TcpPeerClosed(id));
        }
    }

    fn free(&mut self, id: ConnId) {
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        self.tuples.remove(&c.tuple);
        let ip = *c.tuple.peer.ip();
        if let Some(n) = self.per_peer_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_peer_ip.remove(&ip);
            }
        }
        let s = &mut self.shards[c.shard];
        s.sockets.remove(c.handle);
        if let Some(pos) = s.conns.iter().position(|&x| x == id) {
            s.conns.swap_remove(pos);
        }
        self.counters.tcp_active -= 1;
        if c.established {
            self.counters.tcp_closed += 1;
        } else {
            self.counters.tcp_handshake_failed += 1;
        }
        // A service heard of every connection it accepted or opened.
        if c.established || c.outbound {
            self.events.push_back(Event::TcpClosed(id));
        }
    }

    fn push_tx(&mut self, packet: Vec<u8>) {
        if self.tx.len() >= self.config.max_tx_queue {
            return self.counters.drop(DropReason::TxQueueFull);
        }
        self.tx.push_back(packet);
    }
}

fn unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast())
}

fn smol_duration(d: Duration) -> SmolDuration {
    SmolDuration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
