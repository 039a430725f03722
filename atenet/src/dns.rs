//! DNS on the gateway address (issue 6, item 4): a client's query to
//! `gateway:53/udp` is forwarded to the node's resolvers (`--dns ADDR`, else
//! the `nameserver` lines of `/etc/resolv.conf`) from one host UDP socket,
//! under a fresh random id, and the answer goes back to the client as if
//! from `gateway:53`. In-flight queries are a bounded table; a query
//! unanswered for [`QUERY_TIMEOUT`] is dropped and counted (the client
//! retries). There is no built-in public resolver: with none configured,
//! every query is answered SERVFAIL.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vswitch::key::ChainId;

use crate::nat::io::IoEvent;
use crate::nat::wire::{self, ClientDatagram};

/// How long a forwarded query waits for its answer.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Queries in flight at once (all networks).
pub const MAX_IN_FLIGHT: usize = 1024;
const HEADER: usize = 12;
const DNS_PORT: u16 = 53;

/// The resolvers of `resolv.conf` text: IPv4 `nameserver` lines, port 53.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            let ip: Ipv4Addr = words.next()?.parse().ok()?;
            Some(SocketAddr::from((ip, DNS_PORT)))
        })
        .collect()
}

/// The node's resolvers when no `--dns` was given.
pub fn system_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| parse_resolv_conf(&text))
        .unwrap_or_default()
}

#[derive(Debug)]
struct Pending {
    network: ChainId,
    client_mac: [u8; 6],
    client: SocketAddrV4,
    gateway_mac: [u8; 6],
    gateway_ip: Ipv4Addr,
    id: u16,
    server: SocketAddr,
    mtu: usize,
}

/// What the forwarder did, for status.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsCounters {
    pub queries: u64,
    pub forwarded: u64,
    pub answered: u64,
    pub servfail: u64,
    pub timeouts: u64,
    pub drop_malformed: u64,
    pub drop_table_full: u64,
    pub drop_send_failed: u64,
    pub drop_unexpected_answer: u64,
    pub drop_oversize: u64,
}

impl DnsCounters {
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("queries", self.queries),
            ("forwarded", self.forwarded),
            ("answered", self.answered),
            ("servfail", self.servfail),
            ("timeouts", self.timeouts),
            ("drop_malformed", self.drop_malformed),
            ("drop_table_full", self.drop_table_full),
            ("drop_send_failed", self.drop_send_failed),
            ("drop_unexpected_answer", self.drop_unexpected_answer),
            ("drop_oversize", self.drop_oversize),
        ]
        .into_iter()
    }
}

/// The gateways' DNS forwarder (one per node, every network).
#[derive(Debug)]
pub struct Dns {
    servers: Vec<SocketAddr>,
    next_server: usize,
    /// The forwarding socket (a non-blocking std handle for sends; the
    /// reader task owns a duplicate registered with tokio).
    socket: Option<std::net::UdpSocket>,
    task: Option<JoinHandle<()>>,
    events: mpsc::Sender<IoEvent>,
    pending: HashMap<u16, Pending>,
    /// (deadline, id) in the order queries were sent.
    deadlines: VecDeque<(Instant, u16)>,
    rng: StdRng,
    pub counters: DnsCounters,
    bind_error_logged: bool,
}

impl Drop for Dns {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A query a client sent to its gateway.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub network: ChainId,
    pub gateway_mac: [u8; 6],
    pub gateway_ip: Ipv4Addr,
    pub mtu: usize,
    pub datagram: ClientDatagram<'a>,
}

impl Dns {
    pub(crate) fn new(servers: Vec<SocketAddr>, events: mpsc::Sender<IoEvent>) -> Self {
        Self {
            servers,
            next_server: 0,
            socket: None,
            task: None,
            events,
            pending: HashMap::new(),
            deadlines: VecDeque::new(),
            rng: StdRng::from_entropy(),
            counters: DnsCounters::default(),
            bind_error_logged: false,
        }
    }

    /// Handles a client's query: forwards it, or returns the frame of an
    /// immediate answer (SERVFAIL: no resolver, or it cannot be sent).
    pub fn query(&mut self, now: Instant, q: &Query<'_>) -> Option<Vec<u8>> {
        self.counters.queries += 1;
        let payload = q.datagram.payload;
        if payload.len() < HEADER || payload[2] & 0x80 != 0 {
            self.counters.drop_malformed += 1;
            return None;
        }
        let servfail = |this: &mut Self| {
            this.counters.servfail += 1;
            let answer = servfail(payload)?;
            Some(reply_frame(q, &answer))
        };
        if self.servers.is_empty() {
            return servfail(self);
        }
        if self.pending.len() >= MAX_IN_FLIGHT {
            self.counters.drop_table_full += 1;
            return None;
        }
        if self.socket.is_none() && !self.bind() {
            return servfail(self);
        }
        let Some(socket) = &self.socket else {
            return servfail(self);
        };
        let id = loop {
            let id: u16 = self.rng.gen();
            if !self.pending.contains_key(&id) {
                break id;
            }
        };
        let server = self.servers[self.next_server % self.servers.len()];
        self.next_server = self.next_server.wrapping_add(1);
        let mut out = payload.to_vec();
        out[..2].copy_from_slice(&id.to_be_bytes());
        if socket.send_to(&out, server).is_err() {
            self.counters.drop_send_failed += 1;
            return None;
        }
        self.counters.forwarded += 1;
        self.pending.insert(
            id,
            Pending {
                network: q.network,
                client_mac: q.datagram.mac,
                client: q.datagram.from,
                gateway_mac: q.gateway_mac,
                gateway_ip: q.gateway_ip,
                id: u16::from_be_bytes([payload[0], payload[1]]),
                server,
                mtu: q.mtu,
            },
        );
        self.deadlines.push_back((now + QUERY_TIMEOUT, id));
        None
    }

    /// A resolver answered: the frame for the client, and its network.
    pub fn answer(&mut self, from: SocketAddr, payload: &[u8]) -> Option<(ChainId, Vec<u8>)> {
        let id = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
        let matches = self.pending.get(&id).is_some_and(|p| p.server == from);
        if payload.len() < HEADER || !matches {
            self.counters.drop_unexpected_answer += 1;
            return None;
        }
        let p = self.pending.remove(&id)?;
        if 20 + 8 + payload.len() > p.mtu {
            self.counters.drop_oversize += 1;
            return None;
        }
        let mut answer = payload.to_vec();
        answer[..2].copy_from_slice(&p.id.to_be_bytes());
        self.counters.answered += 1;
        let frame = wire::udp_frame(
            p.client_mac,
            p.gateway_mac,
            SocketAddrV4::new(p.gateway_ip, DNS_PORT),
            p.client,
            &answer,
        );
        Some((p.network, frame))
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.front().map(|(at, _)| *at)
    }

    /// Forgets queries whose answer is overdue.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if self.pending.remove(&id).is_some() {
                self.counters.timeouts += 1;
            }
        }
        // Answered ids leave stale deadlines behind; bound the queue.
        if self.deadlines.len() > 2 * MAX_IN_FLIGHT {
            let pending = &self.pending;
            self.deadlines.retain(|(_, id)| pending.contains_key(id));
        }
    }

    pub fn counters_map(&self) -> BTreeMap<String, u64> {
        self.counters
            .iter()
            .map(|(name, n)| (name.to_owned(), n))
            .collect()
    }

    /// Binds the forwarding socket on first use and starts its reader.
    fn bind(&mut self) -> bool {
        let bound = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).and_then(|s| {
            s.set_nonblocking(true)?;
            let reader = UdpSocket::from_std(s.try_clone()?)?;
            Ok((s, reader))
        });
        let (socket, reader) = match bound {
            Ok(pair) => pair,
            Err(err) => {
                if !self.bind_error_logged {
                    self.bind_error_logged = true;
                    tracing::warn!(%err, "DNS forwarding socket could not be opened");
                }
                return false;
            }
        };
        let events = self.events.clone();
        self.task = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok((len, from)) = reader.recv_from(&mut buf).await else {
                    // An error for an earlier query: keep reading, gently.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let payload = buf.get(..len).unwrap_or_default().to_vec();
                if events
                    .send(IoEvent::DnsAnswer { from, payload })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
        self.socket = Some(socket);
        true
    }
}

fn reply_frame(q: &Query<'_>, answer: &[u8]) -> Vec<u8> {
    wire::udp_frame(
        q.datagram.mac,
        q.gateway_mac,
        SocketAddrV4::new(q.gateway_ip, DNS_PORT),
        q.datagram.from,
        answer,
    )
}

/// A SERVFAIL answer to `query`: its header and question, QR and RA set,
/// RCODE 2, no records.
pub fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let header = query.get(..HEADER)?;
    let qdcount = u16::from_be_bytes([header[4], header[5]]);
    let end = if qdcount == 1 {
        question_end(query).unwrap_or(HEADER)
    } else {
        HEADER
    };
    let mut out = query.get(..end)?.to_vec();
    out[2] = 0x80 | (header[2] & 0x79); // QR, keep opcode and RD
    out[3] = 0x80 | 2; // RA, SERVFAIL
    let qd = u16::from(end > HEADER);
    out[4..6].copy_from_slice(&qd.to_be_bytes());
    out[6..12].fill(0);
    Some(out)
}

/// Where the first question ends (uncompressed name, type, class).
fn question_end(msg: &[u8]) -> Option<usize> {
    let mut at = HEADER;
    loop {
        let len = usize::from(*msg.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        at += 1 + len;
    }
    let end = at + 4;
    (end <= msg.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_keeps_ipv4_nameservers() {
        let text = "# c\nsearch x\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 127.0.0.53 \n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
                "127.0.0.53:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn servfail_keeps_the_question() {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(&[4, b't', b'e', b's', b't', 0, 0, 1, 0, 1]);
        q.extend_from_slice(&[0, 0, 41, 0, 0, 0, 0, 0, 0, 0, 0]); // OPT
        let a = servfail(&q).unwrap();
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[2] & 0x80, 0x80);
        assert_eq!(a[3] & 0x0f, 2);
        assert_eq!(a.len(), 12 + 10);
        assert_eq!(&a[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert!(servfail(&q[..5]).is_none());
        for cut in 0..q.len() {
            let _ = servfail(&q[..cut]);
        }
    }
}
