//! The forwarder state machine: client queries in, upstream [`Transmit`]s
//! out; upstream answers in, client [`Reply`]s out; a deadline per query.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::counters::{Counters, DropReason, Refusal};
use crate::wire::{self, Message, HEADER_LEN, MAX_MESSAGE_LEN};

/// What the caller's handles (a network id, a client) must be: small
/// values the forwarder can copy, compare and hash.
pub trait Handle: Copy + Eq + Hash + Debug {}
impl<T: Copy + Eq + Hash + Debug> Handle for T {}

/// How a message travels, between a client and the gateway or between the
/// node and an upstream. Over TCP, messages are unframed: the edge frames
/// and reassembles them with [`TcpFramer`](crate::TcpFramer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Limits and upstreams of one forwarder (all networks of a node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Resolvers, used in turn (round robin per query). Empty: every query
    /// is answered SERVFAIL.
    pub upstreams: Vec<SocketAddr>,
    /// How long a forwarded query waits for its answer (the TCP retry of a
    /// truncated answer gets a fresh `timeout`).
    pub timeout: Duration,
    /// Queries in flight at once, all networks.
    pub max_in_flight_total: usize,
    /// Queries in flight at once for one network.
    pub max_per_network: usize,
    /// Queries in flight at once for one (network, client) pair.
    pub max_per_client: usize,
    /// Longest query accepted (a query is one question and perhaps an OPT
    /// record: a few hundred bytes).
    pub max_query_len: usize,
    /// Longest answer accepted from an upstream.
    pub max_answer_len: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            upstreams: Vec::new(),
            timeout: Duration::from_secs(3),
            max_in_flight_total: 1024,
            max_per_network: 256,
            max_per_client: 32,
            max_query_len: 4096,
            max_answer_len: MAX_MESSAGE_LEN,
        }
    }
}

/// A message for an upstream resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    /// `Tcp`: open (or reuse) a TCP connection to `to`, send `bytes` framed,
    /// and feed the answer back with `handle_upstream(.., Transport::Tcp, ..)`.
    pub transport: Transport,
    pub bytes: Vec<u8>,
}

/// An answer for a client, on the transport it asked over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<N, C> {
    pub network: N,
    pub client: C,
    pub transport: Transport,
    pub bytes: Vec<u8>,
}

/// What [`Forwarder::handle_query`] did with a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryOutcome {
    /// Sent upstream (a [`Transmit`] is queued).
    Forwarded,
    /// Answered at once with SERVFAIL (NOTIMP for `NotImplemented`); a
    /// [`Reply`] is queued.
    Refused(Refusal),
    /// Nothing sent anywhere.
    Dropped(DropReason),
}

/// What [`Forwarder::handle_upstream`] did with an upstream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Relayed to its client (a [`Reply`] is queued).
    Answered,
    /// Truncated answer for a TCP client: a TCP [`Transmit`] is queued.
    RetryOverTcp,
    Dropped(DropReason),
}

/// Where a query went: the upstream and the ID it was sent under.
type UpstreamKey = (SocketAddr, u16);

#[derive(Debug)]
struct Pending<N, C> {
    network: N,
    client: C,
    client_transport: Transport,
    client_id: u16,
    /// QDCOUNT and the question section as sent, to check the answer's.
    qdcount: u16,
    question: Vec<u8>,
    /// The query as sent upstream, kept for TCP clients only (the one kind
    /// that may be retried over TCP).
    query: Option<Vec<u8>>,
    /// Transport of the query now in flight upstream.
    upstream_transport: Transport,
    deadline: (Instant, u64),
}

/// A DNS forwarder for every network of a node, Sans-IO.
///
/// `N` names a network, `C` a client within it (the node uses its chain id
/// and e.g. the client's IPv4 address and port plus, over TCP, the
/// connection). Caps count queries by `N` and by `(N, C)`, so a client that
/// opens many TCP connections under distinct `C`s is still held by the
/// network cap.
///
/// **Drain rule**: after every `handle_*` call (and `cancel_client`), call
/// [`poll_transmit`](Self::poll_transmit) and [`poll_reply`](Self::poll_reply)
/// until they return `None`, then re-arm the timer from
/// [`poll_timeout`](Self::poll_timeout). Each `handle_*` queues at most one
/// message, so an edge that drains keeps the queues at one entry.
#[derive(Debug)]
pub struct Forwarder<N: Handle, C: Handle> {
    config: Config,
    next_upstream: usize,
    pending: HashMap<UpstreamKey, Pending<N, C>>,
    per_network: HashMap<N, usize>,
    per_client: HashMap<(N, C), usize>,
    /// (deadline, sequence) -> query: the sequence keeps equal deadlines apart.
    deadlines: BTreeMap<(Instant, u64), UpstreamKey>,
    sequence: u64,
    transmits: VecDeque<Transmit>,
    replies: VecDeque<Reply<N, C>>,
    counters: Counters,
}

impl<N: Handle, C: Handle> Forwarder<N, C> {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            next_upstream: 0,
            pending: HashMap::new(),
            per_network: HashMap::new(),
            per_client: HashMap::new(),
            deadlines: BTreeMap::new(),
            sequence: 0,
            transmits: VecDeque::new(),
            replies: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Queries in flight, all networks.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Queries in flight for `network`.
    pub fn in_flight_network(&self, network: N) -> usize {
        self.per_network.get(&network).copied().unwrap_or(0)
    }

    /// A client's query to the gateway's port 53. `rng` draws the upstream ID
    /// (RFC 5452 9.2: unpredictable IDs).
    pub fn handle_query(
        &mut self,
        now: Instant,
        network: N,
        client: C,
        transport: Transport,
        query: &[u8],
        rng: &mut impl RngCore,
    ) -> QueryOutcome {
        self.counters.queries += 1;
        let outcome = self.query(now, network, client, transport, query, rng);
        match outcome {
            QueryOutcome::Forwarded => self.counters.forwarded += 1,
            QueryOutcome::Refused(why) => self.counters.refused(why),
            QueryOutcome::Dropped(why) => self.counters.dropped(why),
        }
        outcome
    }

    fn query(
        &mut self,
        now: Instant,
        network: N,
        client: C,
        transport: Transport,
        query: &[u8],
        rng: &mut impl RngCore,
    ) -> QueryOutcome {
        let Ok(msg) = Message::new_checked(query) else {
            return QueryOutcome::Dropped(DropReason::QueryShort);
        };
        if query.len() > self.config.max_query_len {
            return QueryOutcome::Dropped(DropReason::QueryOversize);
        }
        if msg.is_response() {
            return QueryOutcome::Dropped(DropReason::QueryIsResponse);
        }
        let question_end = match msg.question_end() {
            Ok(end) => end,
            Err(wire::WireError::NoQuestion) => {
                return QueryOutcome::Dropped(DropReason::QueryNoQuestion)
            }
            Err(_) => return QueryOutcome::Dropped(DropReason::QueryMalformed),
        };
        let refuse = |this: &mut Self, why: Refusal| {
            let rcode = if why == Refusal::NotImplemented {
                wire::RCODE_NOTIMP
            } else {
                wire::RCODE_SERVFAIL
            };
            this.replies.push_back(Reply {
                network,
                client,
                transport,
                bytes: wire::error_reply(&msg, question_end, rcode),
            });
            QueryOutcome::Refused(why)
        };
        if msg.opcode() != wire::OPCODE_QUERY {
            return refuse(self, Refusal::NotImplemented);
        }
        if self.config.upstreams.is_empty() {
            return refuse(self, Refusal::NoUpstream);
        }
        if self.pending.len() >= self.config.max_in_flight_total {
            return refuse(self, Refusal::TotalFull);
        }
        if self.in_flight_network(network) >= self.config.max_per_network {
            return refuse(self, Refusal::NetworkFull);
        }
        let of_client = self.per_client.get(&(network, client)).copied();
        if of_client.unwrap_or(0) >= self.config.max_per_client {
            return refuse(self, Refusal::ClientFull);
        }
        let upstream = self.config.upstreams[self.next_upstream % self.config.upstreams.len()];
        self.next_upstream = self.next_upstream.wrapping_add(1);
        let Some(id) = self.free_id(upstream, rng) else {
            return refuse(self, Refusal::NoFreeId);
        };

        let bytes = wire::with_id(query, id);
        let deadline = self.deadline(now, (upstream, id));
        self.pending.insert(
            (upstream, id),
            Pending {
                network,
                client,
                client_transport: transport,
                client_id: msg.id(),
                qdcount: msg.qdcount(),
                question: query[HEADER_LEN..question_end].to_vec(),
                query: (transport == Transport::Tcp).then(|| bytes.clone()),
                upstream_transport: Transport::Udp,
                deadline,
            },
        );
        *self.per_network.entry(network).or_insert(0) += 1;
        *self.per_client.entry((network, client)).or_insert(0) += 1;
        self.transmits.push_back(Transmit {
            to: upstream,
            transport: Transport::Udp,
            bytes,
        });
        QueryOutcome::Forwarded
    }

    /// A random ID not in flight towards `upstream`; a few draws, then a
    /// scan from a random point, so a full ID space is found out, not looped on.
    fn free_id(&self, upstream: SocketAddr, rng: &mut impl RngCore) -> Option<u16> {
        let free = |id: u16| !self.pending.contains_key(&(upstream, id));
        for _ in 0..16 {
            let id = rng.next_u32() as u16;
            if free(id) {
                return Some(id);
            }
        }
        let start = rng.next_u32() as u16;
        (0..=u16::MAX)
            .map(|i| start.wrapping_add(i))
            .find(|&id| free(id))
    }

    fn deadline(&mut self, now: Instant, key: UpstreamKey) -> (Instant, u64) {
        let at = (now + self.config.timeout, self.sequence);
        self.sequence += 1;
        self.deadlines.insert(at, key);
        at
    }

    /// A message from upstream `from`, received over `transport` (a UDP
    /// datagram, or one message reassembled from a TCP connection the edge
    /// opened for a [`Transmit`] with `Transport::Tcp`).
    pub fn handle_upstream(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        answer: &[u8],
    ) -> AnswerOutcome {
        let outcome = self.answer(now, from, transport, answer);
        match outcome {
            AnswerOutcome::Answered => self.counters.answered += 1,
            AnswerOutcome::RetryOverTcp => self.counters.tcp_retries += 1,
            AnswerOutcome::Dropped(why) => self.counters.dropped(why),
        }
        outcome
    }

    fn answer(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        answer: &[u8],
    ) -> AnswerOutcome {
        let Ok(msg) = Message::new_checked(answer) else {
            return AnswerOutcome::Dropped(DropReason::AnswerShort);
        };
        if answer.len() > self.config.max_answer_len {
            return AnswerOutcome::Dropped(DropReason::AnswerOversize);
        }
        if !msg.is_response() {
            return AnswerOutcome::Dropped(DropReason::AnswerNotResponse);
        }
        let key = (from, msg.id());
        // Nothing is removed before every check passed: a spoofed answer
        // must not cancel the query it failed to match.
        let Some(pending) = self.pending.get_mut(&key) else {
            return AnswerOutcome::Dropped(DropReason::AnswerUnmatched);
        };
        if pending.upstream_transport != transport {
            return AnswerOutcome::Dropped(DropReason::AnswerWrongTransport);
        }
        let same_question = msg.qdcount() == pending.qdcount
            && msg
                .question_section()
                .is_ok_and(|q| q == pending.question.as_slice());
        if !same_question {
            return AnswerOutcome::Dropped(DropReason::AnswerQuestionMismatch);
        }

        // RFC 7766 5: a TCP client can take what UDP truncated; ask again
        // over TCP. A UDP client gets the TC answer and retries over TCP itself.
        if msg.truncated()
            && transport == Transport::Udp
            && pending.client_transport == Transport::Tcp
        {
            if let Some(query) = pending.query.clone() {
                pending.upstream_transport = Transport::Tcp;
                let old = pending.deadline;
                self.deadlines.remove(&old);
                let deadline = self.deadline(now, key);
                if let Some(p) = self.pending.get_mut(&key) {
                    p.deadline = deadline;
                }
                self.transmits.push_back(Transmit {
                    to: from,
                    transport: Transport::Tcp,
                    bytes: query,
                });
                return AnswerOutcome::RetryOverTcp;
            }
        }

        let Some(pending) = self.forget(key) else {
            return AnswerOutcome::Dropped(DropReason::AnswerUnmatched);
        };
        self.replies.push_back(Reply {
            network: pending.network,
            client: pending.client,
            transport: pending.client_transport,
            bytes: wire::with_id(answer, pending.client_id),
        });
        AnswerOutcome::Answered
    }

    /// Removes a pending query and its share of every cap.
    fn forget(&mut self, key: UpstreamKey) -> Option<Pending<N, C>> {
        let pending = self.pending.remove(&key)?;
        self.deadlines.remove(&pending.deadline);
        decrement(&mut self.per_network, &pending.network);
        decrement(&mut self.per_client, &(pending.network, pending.client));
        Some(pending)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|&(at, _)| at)
    }

    /// Forgets queries unanswered for `timeout`, counted under `timeouts`.
    /// The client gets no reply: stub resolvers retransmit on silence
    /// (RFC 1536 1), and the retransmission goes to the next upstream (round
    /// robin), whereas a SERVFAIL would end the lookup for many of them.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            if self.forget(key).is_some() {
                self.counters.timeouts += 1;
            }
        }
    }

    /// Forgets every query in flight for one client (e.g. its TCP connection
    /// closed), freeing its slots; late answers are then dropped as unmatched.
    pub fn cancel_client(&mut self, network: N, client: C) {
        if !self.per_client.contains_key(&(network, client)) {
            return;
        }
        let keys: Vec<UpstreamKey> = self
            .pending
            .iter()
            .filter(|(_, p)| p.network == network && p.client == client)
            .map(|(&k, _)| k)
            .collect();
        for key in keys {
            if self.forget(key).is_some() {
                self.counters.cancelled += 1;
            }
        }
    }

    /// The next message for an upstream.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next answer for a client.
    pub fn poll_reply(&mut self) -> Option<Reply<N, C>> {
        self.replies.pop_front()
    }
}

fn decrement<K: Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}
