//! The services on the gateway address of every network (issue 13, item
//! 4), like a home router's: one [`vhost::VirtualHost`] per network on
//! this node, and the [`GatewayService`]s registered at start, each
//! listening on its ports of every network's gateway address.
//!
//! The gateway stays the one port that owns the gateway MAC and answers
//! ARP and ICMP (`vrouter`); a frame to the gateway address on a port a
//! service listens on comes here instead of to the router, as an IP
//! packet; what the hosts send goes back in Ethernet frames to the MAC the
//! client's packets came from, switched from the gateway port. Port map:
//!
//! | port | service |
//! |---|---|
//! | 53 udp/tcp | DNS forwarder (`services::dns`) |
//! | 67 udp | DHCP: the DHCP server's, not a virtual host's |
//! | 80 tcp | IoT relay (issue 16) |
//! | 5683 udp / 5684 udp | CoAP / CoAP over DTLS (issue 18) |
//! | 8444-8446 tcp | device protocol (issue 17) |
//!
//! Sans-IO like the services: frames, host messages and `now` in; frames
//! to switch ([`GatewayHosts::take_frames`]) and host sends
//! ([`GatewayHosts::take_host_out`]) out. The node drains both after
//! every `handle_*`.

pub mod frame;
pub mod service;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use vhost::{ConnId, Event, Protocol, VirtualHost};
use vswitch::key::ChainId;

pub use self::service::{Cx, GatewayService, HostMessage, HostTransmit, HostTransport};

/// Client addresses remembered per network (whose MAC answers go to).
const MAX_NEIGHBOURS: usize = 4096;
/// Rounds of "events to services, then their output" per input: each
/// round is bounded, and a service that keeps answering itself stops here.
const MAX_ROUNDS: usize = 16;

/// One network's virtual host and how to reach its clients.
#[derive(Debug)]
struct NetHost {
    host: VirtualHost,
    gateway_mac: [u8; 6],
    gateway_ip: Ipv4Addr,
    /// Client IP -> the MAC its packets to the gateway came from.
    neighbours: HashMap<Ipv4Addr, [u8; 6]>,
}

/// The virtual hosts of every network, as services see them.
#[derive(Debug, Default)]
pub struct Hosts {
    nets: HashMap<ChainId, NetHost>,
}

impl Hosts {
    pub fn get_mut(&mut self, network: ChainId) -> Option<&mut VirtualHost> {
        self.nets.get_mut(&network).map(|net| &mut net.host)
    }
}

/// Counters of the runtime (each host counts its own, summed in
/// [`GatewayHosts::counters`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeCounters {
    pub frames_in: u64,
    pub frames_out: u64,
    /// A packet for a client whose MAC this host never saw.
    pub drop_no_neighbour: u64,
    /// An event for a port or connection no service owns.
    pub drop_no_service: u64,
    /// A neighbour not remembered: the table is full.
    pub neighbours_full: u64,
}

/// Every network's virtual host and the services on them.
#[derive(Debug)]
pub struct GatewayHosts {
    hosts: Hosts,
    services: Vec<Box<dyn GatewayService>>,
    /// Which service listens on a port.
    ports: HashMap<(Protocol, u16), usize>,
    /// Which service owns a connection.
    conns: HashMap<(ChainId, ConnId), usize>,
    frames: Vec<(ChainId, Vec<u8>)>,
    host_out: Vec<HostTransmit>,
    rng: StdRng,
    pub counters: RuntimeCounters,
    /// Host counters of networks that went away (so totals never drop).
    retired: vhost::Counters,
}

impl GatewayHosts {
    /// The runtime with `services` registered (their order is their
    /// index in host messages). Two services on one port: the first keeps it.
    pub fn new(services: Vec<Box<dyn GatewayService>>, seed: u64) -> Self {
        let mut ports = HashMap::new();
        for (index, service) in services.iter().enumerate() {
            for listener in service.listeners() {
                if let Some(first) = ports.get(&listener) {
                    tracing::warn!(
                        service = service.name(),
                        ?listener,
                        first,
                        "port taken by an earlier service; ignored"
                    );
                    continue;
                }
                ports.insert(listener, index);
            }
        }
        Self {
            hosts: Hosts::default(),
            services,
            ports,
            conns: HashMap::new(),
            frames: Vec::new(),
            host_out: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            counters: RuntimeCounters::default(),
            retired: vhost::Counters::default(),
        }
    }

    /// Makes (once) the virtual host of `network` at its gateway address.
    pub fn ensure(
        &mut self,
        network: ChainId,
        gateway_mac: [u8; 6],
        gateway_ip: Ipv4Addr,
        mtu: usize,
    ) {
        if let Some(net) = self.hosts.nets.get(&network) {
            if net.gateway_ip == gateway_ip && net.gateway_mac == gateway_mac {
                return;
            }
            self.remove(network);
        }
        let mut config = vhost::Config::new(gateway_ip);
        config.mtu = mtu;
        config.seed = self.rng.next_u64();
        let mut host = VirtualHost::new(config);
        for &(protocol, port) in self.ports.keys() {
            match protocol {
                Protocol::Tcp => host.listen_tcp(port),
                Protocol::Udp => host.listen_udp(port),
            }
        }
        tracing::debug!(%network, gateway = %gateway_ip, listeners = self.ports.len(), "virtual host up");
        self.hosts.nets.insert(
            network,
            NetHost {
                host,
                gateway_mac,
                gateway_ip,
                neighbours: HashMap::new(),
            },
        );
    }

    /// `network` is no longer served here: its host and connections go.
    pub fn remove(&mut self, network: ChainId) {
        if let Some(net) = self.hosts.nets.remove(&network) {
            let mut gone = net.host.counters();
            // Its connections went with it: none of them is active now.
            gone.tcp_active = 0;
            self.retired.add(&gone);
            self.conns.retain(|(chain, _), _| *chain != network);
            for service in &mut self.services {
                service.network_removed(network);
            }
        }
    }

    /// Handles `frame` from a client of `network` if it is for a port a
    /// service listens on at the gateway address (`true`); `false`: the
    /// frame is the router's.
    pub fn handle_frame(&mut self, now: Instant, network: ChainId, frame: &[u8]) -> bool {
        let Some(net) = self.hosts.nets.get_mut(&network) else {
            return false;
        };
        let Some(to) = frame::to_gateway(frame, net.gateway_mac, net.gateway_ip) else {
            return false;
        };
        if !net.host.is_listening(to.protocol, to.dst_port) {
            return false;
        }
        self.counters.frames_in += 1;
        if net.neighbours.get(&to.src_ip) != Some(&to.src_mac) {
            if net.neighbours.len() < MAX_NEIGHBOURS || net.neighbours.contains_key(&to.src_ip) {
                net.neighbours.insert(to.src_ip, to.src_mac);
            } else {
                self.counters.neighbours_full += 1;
            }
        }
        net.host.handle_packet(now, to.packet);
        self.drain(now);
        true
    }

    /// Bytes from the host network for service `service`.
    pub fn handle_host(&mut self, now: Instant, service: usize, message: HostMessage) {
        let Some(svc) = self.services.get_mut(service) else {
            return;
        };
        let mut cx = Cx {
            now,
            hosts: &mut self.hosts,
            host_out: &mut self.host_out,
            rng: &mut self.rng,
        };
        svc.handle_host(&mut cx, message);
        stamp(&mut self.host_out, service);
        self.drain(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let hosts = self
            .hosts
            .nets
            .values()
            .filter_map(|net| net.host.poll_timeout());
        let services = self.services.iter().filter_map(|svc| svc.poll_timeout());
        hosts.chain(services).min()
    }

    /// Runs the hosts' timers (retransmits, keep-alives) and the services'.
    pub fn handle_timeout(&mut self, now: Instant) {
        for net in self.hosts.nets.values_mut() {
            if net.host.poll_timeout().is_some_and(|at| at <= now) {
                net.host.handle_timeout(now);
            }
        }
        for index in 0..self.services.len() {
            if self.services[index]
                .poll_timeout()
                .is_some_and(|at| at <= now)
            {
                let mut cx = Cx {
                    now,
                    hosts: &mut self.hosts,
                    host_out: &mut self.host_out,
                    rng: &mut self.rng,
                };
                self.services[index].handle_timeout(&mut cx);
                stamp(&mut self.host_out, index);
            }
        }
        self.drain(now);
    }

    /// Ethernet frames for clients, to switch from `network`'s gateway port.
    pub fn take_frames(&mut self) -> Vec<(ChainId, Vec<u8>)> {
        std::mem::take(&mut self.frames)
    }

    /// What the services send to the host network.
    pub fn take_host_out(&mut self) -> Vec<HostTransmit> {
        std::mem::take(&mut self.host_out)
    }

    /// The hosts' and the runtime's counters, by name.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let mut total = self.retired;
        for net in self.hosts.nets.values() {
            total.add(&net.host.counters());
        }
        let c = &self.counters;
        let mut out: BTreeMap<String, u64> =
            total.iter().map(|(name, n)| (name.to_owned(), n)).collect();
        for (name, n) in [
            ("frames_in", c.frames_in),
            ("frames_out", c.frames_out),
            ("drop_no_neighbour", c.drop_no_neighbour),
            ("drop_no_service", c.drop_no_service),
            ("neighbours_full", c.neighbours_full),
        ] {
            out.insert(name.to_owned(), n);
        }
        out
    }

    /// Each service's counters, by service name.
    pub fn service_counters(&self) -> BTreeMap<&'static str, Vec<(&'static str, u64)>> {
        self.services
            .iter()
            .map(|svc| (svc.name(), svc.counters()))
            .collect()
    }

    /// Events to their services and packets to frames, until both are
    /// quiet (bounded).
    fn drain(&mut self, now: Instant) {
        for _ in 0..MAX_ROUNDS {
            let mut events = Vec::new();
            for (&network, net) in &mut self.hosts.nets {
                while let Some(packet) = net.host.poll_transmit(now) {
                    let mac = frame::destination(&packet).and_then(|ip| net.neighbours.get(&ip));
                    match mac {
                        Some(mac) => {
                            self.counters.frames_out += 1;
                            self.frames
                                .push((network, frame::ethernet(*mac, net.gateway_mac, &packet)));
                        }
                        None => self.counters.drop_no_neighbour += 1,
                    }
                }
                while let Some(event) = net.host.poll_event() {
                    events.push((network, event));
                }
            }
            if events.is_empty() {
                return;
            }
            for (network, event) in events {
                let owner = match &event {
                    Event::TcpAccepted {
                        conn, local_port, ..
                    } => {
                        let owner = self.ports.get(&(Protocol::Tcp, *local_port)).copied();
                        if let Some(owner) = owner {
                            self.conns.insert((network, *conn), owner);
                        }
                        owner
                    }
                    Event::UdpDatagram { local_port, .. } => {
                        self.ports.get(&(Protocol::Udp, *local_port)).copied()
                    }
                    Event::TcpClosed(conn) => self.conns.remove(&(network, *conn)),
                    Event::TcpConnected(conn)
                    | Event::TcpReadable(conn)
                    | Event::TcpWritable(conn)
                    | Event::TcpPeerClosed(conn) => self.conns.get(&(network, *conn)).copied(),
                };
                let Some(owner) = owner else {
                    self.counters.drop_no_service += 1;
                    continue;
                };
                let mut cx = Cx {
                    now,
                    hosts: &mut self.hosts,
                    host_out: &mut self.host_out,
                    rng: &mut self.rng,
                };
                self.services[owner].handle_event(&mut cx, network, event);
                stamp(&mut self.host_out, owner);
            }
        }
    }
}

/// Marks the host sends just queued as `service`'s.
fn stamp(out: &mut [HostTransmit], service: usize) {
    for transmit in out.iter_mut().rev() {
        if transmit.service != usize::MAX {
            break;
        }
        transmit.service = service;
    }
}
