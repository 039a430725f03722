//! The node core with no socket and no runtime: a client's handshake, ARP
//! for the gateway and a ping of it, driven in memory with a fake clock
//! and seeded RNGs, and the same seed giving the same bytes on the wire.
//! This is the first step of the multi-node simulation (issue 13 item 3);
//! the test client is written from the spec (RFC 826 ARP, RFC 792 echo),
//! not from the gateway's code.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chain::{Event, State};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use vswitch::endpoint::{Endpoint, EndpointConfig, Received};
use vswitch::key::{AccessKey, ChainId, KeyRole};
use vswitch::wire::{PacketKind, SessionId};

use crate::peers::NodeId;
use crate::services::lease_store::{AppendStats, ChainLeases};
use crate::state::{CoreParts, Node};

const NODE: &str = "198.18.0.1:7370";
const CLIENT: &str = "198.18.1.10:40000";
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 10);
/// The first host of the subnet (the product's documented gateway).
const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

/// One datagram on the in-memory wire.
type Wire = Vec<(SocketAddr, SocketAddr, Vec<u8>)>;

struct World {
    now: Instant,
    node: Node,
    client: Endpoint,
    client_rng: StdRng,
    session: SessionId,
    /// Every datagram either side sent, in order: the trace.
    trace: Wire,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A chain with one network (10.9.0.0/24), one access key, one node.
fn chain(seed: u64, node: NodeId) -> (State, AccessKey) {
    let mut rng = StdRng::seed_from_u64(seed);
    let chain_id = ChainId::generate(&mut rng);
    let key = AccessKey::generate(chain_id, &mut rng);
    let mut node_secret = [0u8; 32];
    rng.fill_bytes(&mut node_secret);
    let mut state = State::default();
    for event in [
        Event::NetworkCreated {
            network: hex::encode(chain_id.0),
            name: "sim".into(),
            subnet: "10.9.0.0/24".into(),
            node_key_id: key.key_id.0.wrapping_add(1),
            node_secret: hex::encode(node_secret),
        },
        Event::KeyIssued {
            network: hex::encode(chain_id.0),
            key_id: key.key_id.0,
            secret: hex::encode(key.secret),
            label: None,
        },
        Event::NodeJoined {
            node_id: node.to_string(),
            advertise: vec![NODE.into()],
            at_ms: 1_800_000_000_000,
        },
    ] {
        state.apply(&event);
    }
    (state, key)
}

impl World {
    fn new(seed: u64) -> World {
        let now = Instant::now();
        let id = NodeId(seed ^ 0x5eed);
        let (appends, _) = tokio::sync::mpsc::channel(16);
        let mut node = Node::new(
            CoreParts {
                id,
                listen: addr(NODE),
                advertise: addr(NODE),
                rng: StdRng::seed_from_u64(seed),
                gateway_services: Vec::new(),
                leases: ChainLeases::new(appends, Arc::new(AppendStats::default())),
                ws: crate::wss::ports::WsPorts::disabled(),
                nat_idle: None,
                data_path: "in memory".into(),
                started_ms: 1_800_000_000_000,
            },
            now,
        );
        let (state, key) = chain(seed, id);
        node.reconcile(&Arc::new(state), now);
        let mut client = Endpoint::new(EndpointConfig::default());
        let mut client_rng = StdRng::seed_from_u64(seed.wrapping_add(1));
        let mut buf = [0u8; 2048];
        let init = client
            .connect(
                now,
                addr(NODE),
                &key,
                KeyRole::Client,
                &[],
                &mut client_rng,
                &mut buf,
            )
            .unwrap();
        let mut world = World {
            now,
            node,
            client,
            client_rng,
            session: init.session,
            trace: Vec::new(),
        };
        let established = world.deliver_to_node(buf[..init.len].to_vec());
        assert!(established.is_empty(), "no frame before the handshake");
        // A first sealed packet confirms the session (tok's keepalive).
        world.now += Duration::from_millis(1);
        let len = world
            .client
            .seal(
                world.now,
                world.session,
                PacketKind::Keepalive,
                &[],
                &mut buf,
            )
            .unwrap();
        world.deliver_to_node(buf[..len].to_vec());
        world
    }

    /// Sends one datagram from the client to the node and runs the
    /// node's answers back through the client; returns the frames the
    /// client opened.
    fn deliver_to_node(&mut self, mut packet: Vec<u8>) -> Vec<Vec<u8>> {
        self.trace.push((addr(CLIENT), addr(NODE), packet.clone()));
        self.node.on_datagram(self.now, addr(CLIENT), &mut packet);
        eprintln!(
            "node out {} counters {:?}",
            self.node.out.len(),
            self.node.counters
        );
        let out: Wire = self
            .node
            .out
            .iter()
            .map(|(p, to)| (addr(NODE), to, p.to_vec()))
            .collect();
        self.node.out.clear();
        let mut frames = Vec::new();
        let mut reply = [0u8; 2048];
        for (from, to, mut packet) in out {
            assert_eq!(to, addr(CLIENT), "the node answers the client's address");
            self.trace.push((from, to, packet.clone()));
            match self.client.handle(
                self.now,
                from,
                &mut packet,
                &mut self.client_rng,
                &mut reply,
            ) {
                Received::Frame { frame, .. } => frames.push(frame.to_vec()),
                Received::Established { session } => assert_eq!(session, self.session),
                _ => {}
            }
        }
        frames
    }

    fn send_frame(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        self.now += Duration::from_millis(1);
        let mut buf = [0u8; 2048];
        let len = self
            .client
            .seal(self.now, self.session, PacketKind::Frame, frame, &mut buf)
            .unwrap();
        self.deliver_to_node(buf[..len].to_vec())
    }
}

/// An ARP request (RFC 826) from the client for `target`.
fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&CLIENT_IP.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// An ICMP echo request (RFC 792) to `dst_mac`/`dst`, with its checksums.
fn echo_request(dst_mac: &[u8], dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"atenet-sim");
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&CLIENT_IP.octets());
    ip.extend_from_slice(&dst.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&icmp);
    f
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in bytes.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        sum += hi | pair.get(1).map_or(0, |&lo| u32::from(lo));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Handshake, ARP for the gateway, three pings; returns the wire trace.
fn run(seed: u64) -> Wire {
    let mut world = World::new(seed);
    assert_eq!(
        world.node.networks.len(),
        1,
        "the chain's network is served"
    );
    let replies = world.send_frame(&arp_request(GATEWAY_IP));
    // The port comes with the first sealed packet (which confirms the
    // handshake).
    assert_eq!(
        world.node.sessions.len(),
        1,
        "the client's session is attached"
    );
    let arp = replies
        .iter()
        .find(|f| f.get(12..14) == Some(&[0x08, 0x06]) && f.get(20..22) == Some(&[0, 2]))
        .expect("an ARP reply from the gateway");
    assert_eq!(
        &arp[28..32],
        &GATEWAY_IP.octets(),
        "the reply is for the gateway IP"
    );
    assert_eq!(&arp[0..6], &CLIENT_MAC, "the reply goes to the asker");
    let gateway_mac = arp[22..28].to_vec();
    for seq in 1..=3u16 {
        let replies = world.send_frame(&echo_request(&gateway_mac, GATEWAY_IP, seq));
        let echo = replies
            .iter()
            .find(|f| f.get(12..14) == Some(&[0x08, 0x00]) && f.get(34) == Some(&0))
            .unwrap_or_else(|| panic!("an echo reply to ping {seq}"));
        assert_eq!(&echo[26..30], &GATEWAY_IP.octets(), "from the gateway");
        assert_eq!(
            &echo[40..42],
            &seq.to_be_bytes(),
            "the same sequence number"
        );
    }
    world.trace
}

#[test]
fn a_core_with_no_socket_serves_a_client_in_memory() {
    let trace = run(7);
    assert!(
        trace.len() >= 10,
        "handshake, ARP and three pings both ways: {}",
        trace.len()
    );
}

#[test]
fn same_seed_same_trace() {
    let (a, b) = (run(42), run(42));
    let strip = |w: &Wire| {
        w.iter()
            .map(|(f, t, p)| (*f, *t, p.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&b), "one seed, one trace, byte for byte");
    assert_ne!(strip(&a), strip(&run(43)), "another seed, other keys");
}
