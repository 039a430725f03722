//! Peer nodes: every other node that joined the chain is a peer in every
//! network, reached over one node session per network however many
//! addresses it has (DESIGN.md, "How a frame travels").
//!
//! This table decides *when* to connect (as soon as a node is known, then
//! with backoff while there is no session) and remembers which session is
//! the peer's; the node moves the bytes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use vswitch::key::ChainId;
use vswitch::wire::SessionId;

/// First and longest wait between two connection attempts to one peer.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Stale node ids remembered.
const MAX_STALE: usize = 4096;
/// Addresses remembered per peer node.
const MAX_ADDRS: usize = 8;

/// A node's identity for one process lifetime (random at start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u64);

impl NodeId {
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(u64::from_be_bytes(bytes.try_into().ok()?)))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for NodeId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Self)
    }
}

#[derive(Debug)]
struct Known {
    addrs: Vec<SocketAddr>,
}

/// One peer in one network.
#[derive(Debug)]
pub struct Link {
    pub session: Option<SessionId>,
    /// Who started the handshake of `session`.
    pub initiator: Option<NodeId>,
    /// When `session` came up.
    pub since: Option<Instant>,
    /// What the last reachability check said (for logging transitions).
    pub reachable: bool,
    /// Our handshake init in flight, if any.
    pending: Option<SessionId>,
    next_attempt: Instant,
    backoff: Duration,
    cursor: usize,
}

/// A handshake init to send: connect to `node` in `network` at `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub network: ChainId,
    pub node: NodeId,
    pub addr: SocketAddr,
}

#[derive(Debug, Default)]
pub struct Peers {
    known: HashMap<NodeId, Known>,
    /// Ids whose address answers as another node now: never dialled again.
    stale: HashSet<NodeId>,
    links: HashMap<(ChainId, NodeId), Link>,
}

impl Peers {
    /// A node joined the chain at `addr` (repeated joins add addresses).
    pub fn learn(&mut self, node: NodeId, addr: SocketAddr) {
        if self.stale.contains(&node) {
            return;
        }
        let known = self
            .known
            .entry(node)
            .or_insert_with(|| Known { addrs: Vec::new() });
        if !known.addrs.contains(&addr) && known.addrs.len() < MAX_ADDRS {
            known.addrs.push(addr);
        }
    }

    pub fn is_known(&self, node: NodeId) -> bool {
        self.known.contains_key(&node)
    }

    pub fn known_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.known.keys().copied()
    }

    /// The node left: forget it; returns its sessions for the caller to end.
    /// Pending handshakes are returned too (the caller removes them).
    pub fn forget(&mut self, node: NodeId) -> Vec<SessionId> {
        self.known.remove(&node);
        let mut sessions = Vec::new();
        self.links.retain(|(_, peer), link| {
            if *peer == node {
                sessions.extend(link.session);
                sessions.extend(link.pending);
                false
            } else {
                true
            }
        });
        sessions
    }

    /// The node's address answers as another node: it died without
    /// leaving. Forget it for good; returns its sessions.
    pub fn mark_stale(&mut self, node: NodeId) -> Vec<SessionId> {
        if self.stale.len() < MAX_STALE {
            self.stale.insert(node);
        }
        self.forget(node)
    }

    /// A network is gone: forget its links; returns their sessions.
    pub fn forget_network(&mut self, network: ChainId) -> Vec<SessionId> {
        let mut sessions = Vec::new();
        self.links.retain(|(chain, _), link| {
            if *chain == network {
                sessions.extend(link.session);
                sessions.extend(link.pending);
                false
            } else {
                true
            }
        });
        sessions
    }

    /// The handshake inits due now, for every known node in every network
    /// without a session; each backs off (1 s, doubling to 30 s) and
    /// rotates through the node's addresses.
    pub fn due(&mut self, now: Instant, networks: &[ChainId]) -> Vec<Attempt> {
        let mut attempts = Vec::new();
        for (&node, known) in &self.known {
            if known.addrs.is_empty() {
                continue;
            }
            for &network in networks {
                let link = self.links.entry((network, node)).or_insert_with(|| Link {
                    session: None,
                    initiator: None,
                    since: None,
                    reachable: false,
                    pending: None,
                    next_attempt: now,
                    backoff: BACKOFF_MIN,
                    cursor: 0,
                });
                if link.session.is_some() || now < link.next_attempt {
                    continue;
                }
                let addr = known.addrs[link.cursor % known.addrs.len()];
                link.cursor = link.cursor.wrapping_add(1);
                link.next_attempt = now + link.backoff;
                link.backoff = (link.backoff * 2).min(BACKOFF_MAX);
                attempts.push(Attempt {
                    network,
                    node,
                    addr,
                });
            }
        }
        attempts
    }

    /// Our init for `attempt` is `session`; returns the init it replaces
    /// (one pending handshake per link), for the caller to remove.
    pub fn set_pending(&mut self, attempt: Attempt, session: SessionId) -> Option<SessionId> {
        let link = self.links.get_mut(&(attempt.network, attempt.node))?;
        link.pending.replace(session)
    }

    /// The link our init `session` was for, if it still is pending.
    pub fn take_pending(&mut self, session: SessionId) -> Option<(ChainId, NodeId)> {
        self.links.iter_mut().find_map(|(key, link)| {
            (link.pending == Some(session)).then(|| {
                link.pending = None;
                *key
            })
        })
    }

    pub fn link(&self, network: ChainId, node: NodeId) -> Option<&Link> {
        self.links.get(&(network, node))
    }

    pub fn links(&self) -> impl Iterator<Item = ((ChainId, NodeId), &Link)> + '_ {
        self.links.iter().map(|(key, link)| (*key, link))
    }

    pub fn links_mut(&mut self) -> impl Iterator<Item = ((ChainId, NodeId), &mut Link)> + '_ {
        self.links.iter_mut().map(|(key, link)| (*key, link))
    }

    /// The first address `node` advertised.
    pub fn first_addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.known.get(&node)?.addrs.first().copied()
    }

    /// `session` is now the peer's session in `network` (the caller has
    /// already decided any tie with a previous one).
    pub fn session_up(
        &mut self,
        network: ChainId,
        node: NodeId,
        session: SessionId,
        initiator: NodeId,
        now: Instant,
    ) {
        if let Some(link) = self.links.get_mut(&(network, node)) {
            link.session = Some(session);
            link.initiator = Some(initiator);
            link.since = Some(now);
            link.reachable = true;
            link.backoff = BACKOFF_MIN;
        } else {
            self.links.insert(
                (network, node),
                Link {
                    session: Some(session),
                    initiator: Some(initiator),
                    since: Some(now),
                    reachable: true,
                    pending: None,
                    next_attempt: now,
                    backoff: BACKOFF_MIN,
                    cursor: 0,
                },
            );
        }
    }

    /// `session` ended; try again after the current backoff.
    pub fn session_down(
        &mut self,
        network: ChainId,
        node: NodeId,
        session: SessionId,
        now: Instant,
    ) {
        if let Some(link) = self.links.get_mut(&(network, node)) {
            if link.session == Some(session) {
                link.session = None;
                link.initiator = None;
                link.since = None;
                link.reachable = false;
                link.next_attempt = now + link.backoff;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        ChainId([7; 16])
    }

    #[test]
    fn node_id_text_round_trips() {
        let id = NodeId(0x0123_4567_89ab_cdef);
        assert_eq!(id.to_string(), "0123456789abcdef");
        assert_eq!("0123456789abcdef".parse::<NodeId>().unwrap(), id);
        assert_eq!(NodeId::from_bytes(&id.to_bytes()), Some(id));
        assert_eq!(NodeId::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn connects_at_once_then_backs_off_round_robin() {
        let mut peers = Peers::default();
        let node = NodeId(2);
        let a: SocketAddr = "192.0.2.1:7370".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:7370".parse().unwrap();
        peers.learn(node, a);
        peers.learn(node, b);
        peers.learn(node, a);
        let t0 = Instant::now();
        let first = peers.due(t0, &[chain()]);
        assert_eq!(
            first,
            vec![Attempt {
                network: chain(),
                node,
                addr: a
            }]
        );
        assert!(peers
            .due(t0 + Duration::from_millis(500), &[chain()])
            .is_empty());
        let second = peers.due(t0 + Duration::from_secs(1), &[chain()]);
        assert_eq!(second[0].addr, b);
        // Backoff doubled: 2 s after the second attempt.
        assert!(peers
            .due(t0 + Duration::from_millis(2900), &[chain()])
            .is_empty());
        assert_eq!(peers.due(t0 + Duration::from_secs(3), &[chain()]).len(), 1);
        let attempt = first[0];
        assert_eq!(peers.set_pending(attempt, SessionId(1)), None);
        assert_eq!(peers.set_pending(attempt, SessionId(2)), Some(SessionId(1)));
        assert_eq!(peers.take_pending(SessionId(1)), None);
        assert_eq!(peers.take_pending(SessionId(2)), Some((chain(), node)));
        assert_eq!(peers.take_pending(SessionId(2)), None);
    }

    #[test]
    fn no_attempt_while_a_session_is_up_and_forget_returns_it() {
        let mut peers = Peers::default();
        let node = NodeId(9);
        peers.learn(node, "192.0.2.9:1".parse().unwrap());
        let now = Instant::now();
        peers.session_up(chain(), node, SessionId(5), node, now);
        assert!(peers
            .due(now + Duration::from_secs(60), &[chain()])
            .is_empty());
        peers.session_down(chain(), node, SessionId(5), now);
        assert_eq!(peers.due(now + BACKOFF_MIN, &[chain()]).len(), 1);
        peers.session_up(chain(), node, SessionId(6), NodeId(1), now);
        assert_eq!(peers.forget(node), vec![SessionId(6)]);
        assert!(!peers.is_known(node));
    }
}
