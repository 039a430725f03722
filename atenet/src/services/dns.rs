//! DNS on the gateway address (issue 6 item 4, issue 13 item 5): the
//! [`dns::Forwarder`] core behind the [`GatewayService`] trait, over UDP
//! and TCP (RFC 7766) on port 53 of every network's virtual host.
//!
//! A client's query goes to the node's resolvers (`--dns ADDR`, else the
//! `nameserver` lines of `/etc/resolv.conf`) from the service's host UDP
//! socket; a truncated answer for a TCP client is fetched again over TCP.
//! Caps on queries in flight are per client, per network and in total
//! (the forwarder's), so one client cannot take DNS from another network.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Instant;

use dns::{Forwarder, QueryOutcome, TcpFramer, Transport};
use vhost::{ConnId, Event, Protocol};
use vswitch::key::ChainId;

use crate::gateway_host::{Cx, GatewayService, HostMessage, HostTransport};

const DNS_PORT: u16 = 53;
/// Bytes read from a TCP connection at once.
const READ_CHUNK: usize = 4096;

/// Who asked: a UDP client address, or one TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Asker {
    Udp(SocketAddrV4),
    Tcp(ConnId),
}

/// One client TCP connection: its reassembly and what is still owed.
#[derive(Debug)]
struct TcpClient {
    framer: TcpFramer,
    in_flight: usize,
    /// The client sent FIN: close once every answer is sent.
    peer_closed: bool,
}

impl TcpClient {
    fn new() -> Self {
        Self {
            framer: TcpFramer::for_queries(),
            in_flight: 0,
            peer_closed: false,
        }
    }
}

/// Service counters beside the forwarder's.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    answered_udp: u64,
    answered_tcp: u64,
    drop_tcp_framing: u64,
    drop_reply_unsent: u64,
}

/// The gateways' DNS forwarder (one per node, every network).
#[derive(Debug)]
pub struct DnsService {
    forwarder: Forwarder<ChainId, Asker>,
    tcp: HashMap<(ChainId, ConnId), TcpClient>,
    counters: Counters,
    buf: Vec<u8>,
}

impl DnsService {
    pub fn new(upstreams: Vec<SocketAddr>) -> Self {
        Self {
            forwarder: Forwarder::new(dns::Config {
                upstreams,
                ..dns::Config::default()
            }),
            tcp: HashMap::new(),
            counters: Counters::default(),
            buf: vec![0; READ_CHUNK],
        }
    }

    /// Sends what the forwarder queued: upstream queries to the host
    /// network, answers to their clients.
    fn flush(&mut self, cx: &mut Cx<'_>) {
        while let Some(t) = self.forwarder.poll_transmit() {
            let transport = match t.transport {
                Transport::Udp => HostTransport::Udp,
                Transport::Tcp => HostTransport::Tcp,
            };
            cx.send_host(t.to, transport, t.bytes);
        }
        while let Some(reply) = self.forwarder.poll_reply() {
            let Some(host) = cx.host(reply.network) else {
                self.counters.drop_reply_unsent += 1;
                continue;
            };
            match reply.client {
                Asker::Udp(peer) => match host.udp_send(DNS_PORT, peer, &reply.bytes) {
                    Ok(()) => self.counters.answered_udp += 1,
                    Err(_) => self.counters.drop_reply_unsent += 1,
                },
                Asker::Tcp(conn) => {
                    let framed = TcpFramer::frame(&reply.bytes);
                    let sent = framed.as_ref().map_or(0, |f| host.tcp_send(conn, f));
                    if framed.as_ref().is_some_and(|f| sent == f.len()) {
                        self.counters.answered_tcp += 1;
                    } else {
                        // A client that does not read its answers loses them.
                        self.counters.drop_reply_unsent += 1;
                    }
                    if let Some(client) = self.tcp.get_mut(&(reply.network, conn)) {
                        client.in_flight = client.in_flight.saturating_sub(1);
                        if client.peer_closed && client.in_flight == 0 {
                            host.tcp_close(conn);
                        }
                    }
                }
            }
        }
    }

    fn read_tcp(&mut self, cx: &mut Cx<'_>, network: ChainId, conn: ConnId) {
        let Some(host) = cx.hosts.get_mut(network) else {
            return;
        };
        let mut queries = Vec::new();
        let mut broken = false;
        let client = self
            .tcp
            .entry((network, conn))
            .or_insert_with(|| TcpClient {
                framer: TcpFramer::for_queries(),
                in_flight: 0,
                peer_closed: false,
            });
        loop {
            let n = host.tcp_recv(conn, &mut self.buf);
            if n == 0 {
                break;
            }
            if let Ok(messages) = client.framer.push(&self.buf[..n]) {
                queries.extend(messages);
            } else {
                broken = true;
                break;
            }
        }
        if broken {
            self.counters.drop_tcp_framing += 1;
            host.tcp_abort(conn);
            return;
        }
        for query in queries {
            let outcome = self.forwarder.handle_query(
                cx.now,
                network,
                Asker::Tcp(conn),
                Transport::Tcp,
                &query,
                &mut cx.rng,
            );
            // Only a query that will be answered is owed (a dropped one is
            // counted by the forwarder; one that times out is not answered,
            // and the host's idle timeout ends the connection).
            if !matches!(outcome, QueryOutcome::Dropped(_)) {
                if let Some(client) = self.tcp.get_mut(&(network, conn)) {
                    client.in_flight += 1;
                }
            }
        }
    }
}

impl GatewayService for DnsService {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn listeners(&self) -> Vec<(Protocol, u16)> {
        vec![(Protocol::Udp, DNS_PORT), (Protocol::Tcp, DNS_PORT)]
    }

    fn handle_event(&mut self, cx: &mut Cx<'_>, network: ChainId, event: Event) {
        match event {
            Event::UdpDatagram { peer, data, .. } => {
                self.forwarder.handle_query(
                    cx.now,
                    network,
                    Asker::Udp(peer),
                    Transport::Udp,
                    &data,
                    &mut cx.rng,
                );
            }
            Event::TcpAccepted { conn, .. } => {
                self.tcp.insert((network, conn), TcpClient::new());
            }
            Event::TcpReadable(conn) => self.read_tcp(cx, network, conn),
            Event::TcpPeerClosed(conn) => {
                let done = self.tcp.get_mut(&(network, conn)).is_none_or(|client| {
                    client.peer_closed = true;
                    client.in_flight == 0
                });
                if done {
                    if let Some(host) = cx.host(network) {
                        host.tcp_close(conn);
                    }
                }
            }
            Event::TcpClosed(conn) => {
                self.tcp.remove(&(network, conn));
                self.forwarder.cancel_client(network, Asker::Tcp(conn));
            }
            Event::TcpConnected(_) | Event::TcpWritable(_) => {}
        }
        self.flush(cx);
    }

    fn handle_host(&mut self, cx: &mut Cx<'_>, message: HostMessage) {
        let transport = match message.transport {
            HostTransport::Udp => Transport::Udp,
            HostTransport::Tcp => Transport::Tcp,
        };
        self.forwarder
            .handle_upstream(cx.now, message.from, transport, &message.bytes);
        self.flush(cx);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.forwarder.poll_timeout()
    }

    fn handle_timeout(&mut self, cx: &mut Cx<'_>) {
        self.forwarder.handle_timeout(cx.now);
        self.flush(cx);
    }

    fn network_removed(&mut self, network: ChainId) {
        self.tcp.retain(|(chain, _), _| *chain != network);
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = &self.counters;
        let mut out: Vec<(&'static str, u64)> = self.forwarder.counters().iter().collect();
        out.extend([
            ("answered_udp", c.answered_udp),
            ("answered_tcp", c.answered_tcp),
            ("drop_tcp_framing", c.drop_tcp_framing),
            ("drop_reply_unsent", c.drop_reply_unsent),
        ]);
        out
    }
}
