//! An in-memory network for tests: client hosts, each a plain smoltcp
//! interface (IP medium) with one address and its own sockets, wired to a
//! `VirtualHost`, under a fake clock.
#![allow(dead_code, clippy::needless_pass_by_value)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpCidr, IpEndpoint, IpListenEndpoint};
use vhost::{Event, VirtualHost};

pub const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const MTU: usize = 1380;

#[derive(Debug, Default)]
pub struct Queue {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

pub struct Rx(Vec<u8>);
pub struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::Device for Queue {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _t: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }
    fn transmit(&mut self, _t: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}
impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}
impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut p = vec![0u8; len];
        let r = f(&mut p);
        self.0.push_back(p);
        r
    }
}

/// What a client socket does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Send `msg` once connected, read the echo, then close.
    EchoClient { msg: Vec<u8> },
    /// Send back whatever arrives; close when the peer does.
    EchoServer,
}

#[derive(Debug)]
pub struct ClientConn {
    pub handle: SocketHandle,
    pub role: Role,
    pub sent: bool,
    pub got: Vec<u8>,
    pub closed: bool,
    /// Saw RST / ended without the echo.
    pub reset: bool,
}

pub struct ClientHost {
    pub ip: Ipv4Addr,
    iface: Interface,
    dev: Queue,
    pub sockets: SocketSet<'static>,
    pub conns: Vec<ClientConn>,
}

impl ClientHost {
    fn new(ip: Ipv4Addr, seed: u64) -> Self {
        let mut dev = Queue::default();
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, SmolInstant::ZERO);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(ip.into(), 8));
        });
        ClientHost {
            ip,
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            conns: Vec::new(),
        }
    }

    fn socket() -> tcp::Socket<'static> {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 1024]),
            tcp::SocketBuffer::new(vec![0; 1024]),
        )
    }

    pub fn state(&self, i: usize) -> State {
        self.sockets
            .get::<tcp::Socket>(self.conns[i].handle)
            .state()
    }

    /// Runs every socket's role once.
    fn act(&mut self) {
        let mut buf = [0u8; 2048];
        for c in &mut self.conns {
            let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
            if c.closed {
                continue;
            }
            match &c.role {
                Role::EchoClient { msg } => {
                    if !c.sent && s.can_send() {
                        assert_eq!(s.send_slice(msg).expect("send"), msg.len());
                        c.sent = true;
                    }
                    while s.can_recv() {
                        let n = s.recv_slice(&mut buf).expect("recv");
                        c.got.extend_from_slice(&buf[..n]);
                    }
                    if c.got.len() >= msg.len() {
                        s.close();
                        c.closed = true;
                    } else if c.sent && !s.is_open() {
                        c.reset = true;
                        c.closed = true;
                    }
                }
                Role::EchoServer => {
                    while s.can_recv() && s.can_send() {
                        let n = s.recv_slice(&mut buf).expect("recv");
                        c.got.extend_from_slice(&buf[..n]);
                        assert_eq!(s.send_slice(&buf[..n]).expect("send"), n);
                    }
                    if s.state() == State::CloseWait {
                        s.close();
                        c.closed = true;
                    }
                }
            }
        }
    }
}

/// Clients and one virtual host in memory.
pub struct Net {
    pub vhost: VirtualHost,
    pub clients: HashMap<Ipv4Addr, ClientHost>,
    dirty: BTreeSet<Ipv4Addr>,
    pub base: Instant,
    pub now: Instant,
    /// Packets from the vhost to an address no client has.
    pub lost: usize,
    /// Packets the vhost sent, in order, when `record` is set.
    pub record: bool,
    pub sent: Vec<Vec<u8>>,
}

/// A service's reaction to one event.
pub type App<'a> = dyn FnMut(&mut VirtualHost, Instant, Event) + 'a;

/// Echo service: reads everything, writes it back, closes after the peer.
pub fn echo_app(vh: &mut VirtualHost, _now: Instant, ev: Event) {
    let mut buf = [0u8; 4096];
    match ev {
        Event::TcpReadable(c) | Event::TcpWritable(c) => loop {
            let n = vh.tcp_recv(c, &mut buf);
            if n == 0 {
                break;
            }
            assert_eq!(vh.tcp_send(c, &buf[..n]), n, "echo fits the buffer");
        },
        Event::TcpPeerClosed(c) => vh.tcp_close(c),
        _ => {}
    }
}

impl Net {
    pub fn new(vhost: VirtualHost) -> Self {
        let base = Instant::now();
        Net {
            vhost,
            clients: HashMap::new(),
            dirty: BTreeSet::new(),
            base,
            now: base,
            lost: 0,
            record: false,
            sent: Vec::new(),
        }
    }

    fn smol(&self) -> SmolInstant {
        SmolInstant::from_micros(self.now.duration_since(self.base).as_micros() as i64)
    }

    pub fn client(&mut self, ip: Ipv4Addr) -> &mut ClientHost {
        let seed = u64::from(u32::from(ip));
        self.clients
            .entry(ip)
            .or_insert_with(|| ClientHost::new(ip, seed))
    }

    /// A client socket from `from` to the gateway's `port`, echoing `msg`.
    pub fn connect(&mut self, from: SocketAddrV4, port: u16, msg: Vec<u8>) -> (Ipv4Addr, usize) {
        let ip = *from.ip();
        let c = self.client(ip);
        let mut s = ClientHost::socket();
        s.connect(
            c.iface.context(),
            IpEndpoint::new(GW.into(), port),
            IpListenEndpoint {
                addr: Some(ip.into()),
                port: from.port(),
            },
        )
        .expect("connect");
        let handle = c.sockets.add(s);
        c.conns.push(ClientConn {
            handle,
            role: Role::EchoClient { msg },
            sent: false,
            got: Vec::new(),
            closed: false,
            reset: false,
        });
        let i = c.conns.len() - 1;
        self.dirty.insert(ip);
        (ip, i)
    }

    /// A client echo server listening on `at`.
    pub fn listen(&mut self, at: SocketAddrV4) -> (Ipv4Addr, usize) {
        let ip = *at.ip();
        let c = self.client(ip);
        let mut s = ClientHost::socket();
        s.listen(at.port()).expect("listen");
        let handle = c.sockets.add(s);
        c.conns.push(ClientConn {
            handle,
            role: Role::EchoServer,
            sent: false,
            got: Vec::new(),
            closed: false,
            reset: false,
        });
        (ip, c.conns.len() - 1)
    }

    pub fn conn(&self, at: (Ipv4Addr, usize)) -> &ClientConn {
        &self.clients[&at.0].conns[at.1]
    }

    /// Moves packets and events until nothing moves. Returns whether
    /// anything did.
    pub fn exchange(&mut self, app: &mut App<'_>) -> bool {
        let mut any = false;
        loop {
            let mut moved = false;
            let t = self.smol();
            let dirty = std::mem::take(&mut self.dirty);
            for ip in dirty {
                let Some(c) = self.clients.get_mut(&ip) else {
                    continue;
                };
                c.iface.poll(t, &mut c.dev, &mut c.sockets);
                c.act();
                c.iface.poll(t, &mut c.dev, &mut c.sockets);
                let out: Vec<_> = c.dev.tx.drain(..).collect();
                for p in out {
                    // The drain rule: poll after every handle_*.
                    self.vhost.handle_packet(self.now, &p);
                    moved = true;
                    self.drain(app);
                }
            }
            while let Some(p) = self.vhost.poll_transmit(self.now) {
                moved = true;
                self.deliver(p);
            }
            while let Some(ev) = self.vhost.poll_event() {
                moved = true;
                app(&mut self.vhost, self.now, ev);
            }
            if !moved {
                return any;
            }
            any = true;
        }
    }

    fn drain(&mut self, app: &mut App<'_>) {
        loop {
            let mut moved = false;
            while let Some(p) = self.vhost.poll_transmit(self.now) {
                moved = true;
                self.deliver(p);
            }
            while let Some(ev) = self.vhost.poll_event() {
                moved = true;
                app(&mut self.vhost, self.now, ev);
            }
            if !moved {
                return;
            }
        }
    }

    /// Hands a packet from the vhost to the client it is addressed to.
    pub fn deliver(&mut self, p: Vec<u8>) {
        if p.len() < 20 {
            self.lost += 1;
            return;
        }
        let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
        if self.record {
            self.sent.push(p.clone());
        }
        match self.clients.get_mut(&dst) {
            Some(c) => {
                c.dev.rx.push_back(p);
                self.dirty.insert(dst);
            }
            None => self.lost += 1,
        }
    }

    /// Advances the fake clock to the next timer of anyone, fires it.
    /// Returns false when no timer is armed before `limit`.
    pub fn tick(&mut self, limit: Instant) -> bool {
        let t = self.smol();
        let mut next = self.vhost.poll_timeout();
        for c in self.clients.values_mut() {
            if let Some(at) = c.iface.poll_at(t, &c.sockets) {
                let at = self.base + Duration::from_micros(at.total_micros() as u64);
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        let Some(next) = next.filter(|n| *n <= limit) else {
            return false;
        };
        self.now = self.now.max(next);
        let t = self.smol();
        self.vhost.handle_timeout(self.now);
        for (ip, c) in &mut self.clients {
            if c.iface.poll_at(t, &c.sockets).is_some_and(|at| at <= t) {
                self.dirty.insert(*ip);
            }
        }
        true
    }

    /// Runs until `done` holds with nothing moving, or `limit` of fake time.
    pub fn run(&mut self, app: &mut App<'_>, limit: Duration, done: &dyn Fn(&Net) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.exchange(app);
            if done(self) {
                return true;
            }
            if !self.tick(end) {
                return done(self);
            }
        }
    }
}
