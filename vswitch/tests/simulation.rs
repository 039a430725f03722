//! Simulation: several switches (one per node) fully meshed by in-memory
//! links, clients with random MACs, random traffic from a seeded RNG, a
//! fake clock. No sockets. Checks the rules of DESIGN.md, "How a frame
//! travels", across nodes (issue 3, acceptance: "Simulation in vswitch/").
//!
//! The oracle is a model of what each switch has learned, written from the
//! rules as DESIGN.md states them; every frame's deliveries are compared to
//! it exactly.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use vswitch::port::{PortId, PortKind};
use vswitch::storm::StormConfig;
use vswitch::switch::{FrameDrop, Switch, SwitchConfig, SwitchEvent};

type Mac = [u8; 6];

const BROADCAST: Mac = [0xff; 6];
const GATEWAY: Mac = [0x02, 0xa7, 0, 0, 0, 1];
const GATEWAY_IP: [u8; 4] = [10, 0, 0, 1];
/// A frame from a client crosses at most one link: its node, then a peer.
const MAX_HOPS: usize = 2;

struct Node {
    sw: Switch,
    gateway: PortId,
    /// The port of this node's switch that leads to node `j`.
    to: HashMap<usize, PortId>,
    /// Which node a peer port leads to.
    peer_of: HashMap<PortId, usize>,
    /// What the model says this switch has learned.
    model: HashMap<Mac, PortId>,
}

impl Node {
    fn locals(&self) -> Vec<PortId> {
        self.sw
            .ports()
            .filter(|(_, k)| k.is_local())
            .map(|(p, _)| p)
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
struct Client {
    node: usize,
    port: PortId,
    mac: Mac,
}

/// Where a frame was delivered: a local port of one node.
type Delivery = (usize, PortId);

struct Net {
    nodes: Vec<Node>,
    clients: Vec<Client>,
    rng: ChaCha8Rng,
    t0: Instant,
    now: Duration,
    out: Vec<PortId>,
}

impl Net {
    /// `n` nodes, each with a gateway and `clients` tap clients, all
    /// fully meshed.
    fn new(n: usize, clients: usize, seed: u64, config: SwitchConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut nodes = Vec::new();
        for _ in 0..n {
            let mut sw = Switch::new(config);
            let gateway = sw.add_port(PortKind::Gateway).unwrap();
            sw.pin_mac(GATEWAY, gateway).unwrap();
            sw.protect_ip(GATEWAY_IP.into()).unwrap();
            nodes.push(Node {
                sw,
                gateway,
                to: HashMap::new(),
                peer_of: HashMap::new(),
                model: HashMap::new(),
            });
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            for j in (0..n).filter(|j| *j != i) {
                let p = node.sw.add_port(PortKind::PeerNode).unwrap();
                node.to.insert(j, p);
                node.peer_of.insert(p, j);
            }
        }
        let mut net = Self {
            nodes,
            clients: Vec::new(),
            rng,
            t0: Instant::now(),
            now: Duration::ZERO,
            out: Vec::new(),
        };
        for node in 0..n {
            for _ in 0..clients {
                let mac = net.random_mac();
                net.add_client(node, mac);
            }
        }
        rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        net.rng = rng;
        net
    }

    fn random_mac(&mut self) -> Mac {
        let mut mac = [0u8; 6];
        self.rng.fill_bytes(&mut mac);
        mac[0] = (mac[0] & 0xfc) | 0x02; // locally administered unicast
        mac
    }

    fn add_client(&mut self, node: usize, mac: Mac) -> Client {
        let port = self.nodes[node].sw.add_port(PortKind::TapClient).unwrap();
        let client = Client { node, port, mac };
        self.clients.push(client);
        client
    }

    /// Sends `frame` in at `(node, port)` and carries it over the links
    /// until it settles. Returns the first switch's verdict and every
    /// local port it reached. Asserts loop freedom on the way.
    fn send(
        &mut self,
        node: usize,
        port: PortId,
        frame: &[u8],
    ) -> (Result<(), FrameDrop>, Vec<Delivery>) {
        let now = self.t0 + self.now;
        let mut queue = vec![(node, port, 1usize)];
        let mut delivered = Vec::new();
        let mut first = None;
        let mut steps = 0;
        while let Some((at, ingress, hops)) = queue.pop() {
            steps += 1;
            assert!(
                steps <= self.nodes.len(),
                "a frame visited more switches than exist"
            );
            let verdict = self.nodes[at]
                .sw
                .forward(now, ingress, frame, &mut self.out);
            first.get_or_insert(verdict.map(|_| ()));
            for &egress in &self.out {
                match self.nodes[at].peer_of.get(&egress) {
                    Some(&next) => {
                        assert!(hops < MAX_HOPS, "peer to peer: a loop could start");
                        let back = self.nodes[next].to[&at];
                        queue.push((next, back, hops + 1));
                    }
                    None => delivered.push((at, egress)),
                }
            }
        }
        (first.unwrap(), delivered)
    }

    /// The model's prediction for a frame from `(s, p)`; also applies the
    /// learning it implies. `Err` names the first switch's drop, if any.
    fn expect(
        &mut self,
        s: usize,
        p: PortId,
        src: Mac,
        dst: Mac,
    ) -> (Result<(), FrameDrop>, Vec<Delivery>) {
        let all_locals = |net: &Net, j: usize| -> Vec<Delivery> {
            net.nodes[j].locals().into_iter().map(|q| (j, q)).collect()
        };
        let mut reached = vec![(s, p)];
        let mut exp = Vec::new();
        let mut verdict = Ok(());
        if dst[0] & 1 == 1 {
            // "otherwise to every other local port and every peer node",
            // and from a peer "to local ports only".
            for j in 0..self.nodes.len() {
                exp.extend(all_locals(self, j).into_iter().filter(|d| *d != (s, p)));
                if j != s {
                    reached.push((j, self.nodes[j].to[&s]));
                }
            }
        } else if dst == GATEWAY {
            // Pinned: "a client's frames to the gateway MAC stop at the
            // client's own node".
            exp.push((s, self.nodes[s].gateway));
        } else {
            let at_peer = |net: &Net, j: usize| -> Vec<Delivery> {
                match net.nodes[j].model.get(&dst) {
                    Some(q) if net.nodes[j].peer_of.contains_key(q) => vec![], // split horizon
                    Some(q) => vec![(j, *q)],
                    None => all_locals(net, j),
                }
            };
            match self.nodes[s].model.get(&dst).copied() {
                Some(q) if q == p => verdict = Err(FrameDrop::Hairpin),
                Some(q) => match self.nodes[s].peer_of.get(&q).copied() {
                    Some(j) => {
                        exp = at_peer(self, j);
                        reached.push((j, self.nodes[j].to[&s]));
                    }
                    None => exp.push((s, q)),
                },
                None => {
                    exp.extend(all_locals(self, s).into_iter().filter(|d| *d != (s, p)));
                    for j in 0..self.nodes.len() {
                        if j != s {
                            exp.extend(at_peer(self, j));
                            reached.push((j, self.nodes[j].to[&s]));
                        }
                    }
                }
            }
        }
        // "Learning: source MAC learned on ingress unless pinned".
        if src != GATEWAY {
            for (j, ingress) in reached {
                self.nodes[j].model.insert(src, ingress);
            }
        }
        (verdict, exp)
    }

    /// Sends and checks against the model: exactly the expected ports,
    /// each exactly once.
    fn send_checked(&mut self, s: usize, p: PortId, src: Mac, dst: Mac) -> Vec<Delivery> {
        let f = frame(dst, src);
        let (want_verdict, mut want) = self.expect(s, p, src, dst);
        let (verdict, got) = self.send(s, p, &f);
        assert_eq!(
            verdict, want_verdict,
            "frame {src:02x?} -> {dst:02x?} from node {s}"
        );
        let mut sorted = got.clone();
        sorted.sort_unstable();
        let before = sorted.len();
        sorted.dedup();
        assert_eq!(before, sorted.len(), "a port got the frame twice: {got:?}");
        want.sort_unstable();
        assert_eq!(sorted, want, "frame {src:02x?} -> {dst:02x?} from node {s}");
        got
    }

    fn flooded(&self) -> u64 {
        self.nodes.iter().map(|n| n.sw.counters().flooded).sum()
    }
}

/// An IPv4-typed frame of minimum size.
fn frame(dst: Mac, src: Mac) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(60, 0);
    f
}

/// A gratuitous ARP reply from `src` claiming `spa`.
fn arp_claim(src: Mac, spa: [u8; 4]) -> Vec<u8> {
    let mut f = BROADCAST.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&spa);
    f
}

/// Random traffic: broadcasts, unicast between clients (some to MACs no
/// one has), frames to the gateway, and frames the gateway originates
/// (routed frames carry its pinned MAC across nodes).
fn random_traffic(n: usize, seed: u64) {
    let mut net = Net::new(n, 4, seed, SwitchConfig::default());
    let ghost = net.random_mac(); // a destination that never speaks
    for _ in 0..1500 {
        net.now += Duration::from_millis(3);
        let roll = net.rng.next_u32() % 100;
        let c = net.clients[net.rng.next_u32() as usize % net.clients.len()];
        let d = net.clients[net.rng.next_u32() as usize % net.clients.len()];
        match roll {
            0..=19 => {
                net.send_checked(c.node, c.port, c.mac, BROADCAST);
            }
            20..=24 => {
                net.send_checked(c.node, c.port, c.mac, [0x01, 0x00, 0x5e, 0, 0, 0xfb]);
            }
            25..=29 => {
                net.send_checked(c.node, c.port, c.mac, GATEWAY);
            }
            30..=34 => {
                let gw = net.nodes[c.node].gateway;
                net.send_checked(c.node, gw, GATEWAY, d.mac);
            }
            35..=37 => {
                net.send_checked(c.node, c.port, c.mac, ghost);
            }
            _ if c.mac != d.mac => {
                let got = net.send_checked(c.node, c.port, c.mac, d.mac);
                assert_eq!(got.iter().filter(|x| **x == (d.node, d.port)).count(), 1);
            }
            _ => {}
        }
    }
    // The only drops: a flooded unicast reaching a peer that knows the
    // destination is behind another peer (split horizon; the model
    // predicted each, as an empty delivery there).
    for node in &net.nodes {
        let c = node.sw.counters();
        assert_eq!(c.total_drops(), c.drops(FrameDrop::SplitHorizon));
    }
}

#[test]
fn random_traffic_between_3_nodes_reaches_exactly_the_right_ports() {
    for seed in 0..3 {
        random_traffic(3, seed);
    }
}

#[test]
fn random_traffic_between_5_nodes_reaches_exactly_the_right_ports() {
    for seed in 10..13 {
        random_traffic(5, seed);
    }
}

#[test]
fn after_learning_unicast_goes_to_one_port() {
    for n in [3, 5] {
        let mut net = Net::new(n, 3, 7, SwitchConfig::default());
        let clients = net.clients.clone();
        for c in &clients {
            // `tok` sends a gratuitous ARP when it connects.
            net.send_checked(c.node, c.port, c.mac, BROADCAST);
        }
        let floods = net.flooded();
        for c in &clients {
            for d in &clients {
                if c.port == d.port && c.node == d.node {
                    continue;
                }
                let got = net.send_checked(c.node, c.port, c.mac, d.mac);
                assert_eq!(got, vec![(d.node, d.port)]);
            }
        }
        assert_eq!(net.flooded(), floods, "nothing flooded once learned");
    }
}

#[test]
fn a_client_with_the_gateway_mac_is_dropped() {
    let mut net = Net::new(3, 2, 1, SwitchConfig::default());
    let c = net.clients[0];
    let (verdict, got) = net.send(c.node, c.port, &frame(BROADCAST, GATEWAY));
    assert_eq!((verdict, got), (Err(FrameDrop::SpoofedSource), vec![]));
    let (verdict, got) = net.send(c.node, c.port, &frame(net.clients[3].mac, GATEWAY));
    assert_eq!((verdict, got), (Err(FrameDrop::SpoofedSource), vec![]));
    let (verdict, got) = net.send(c.node, c.port, &arp_claim(c.mac, GATEWAY_IP));
    assert_eq!((verdict, got), (Err(FrameDrop::SpoofedArp), vec![]));
    let counters = net.nodes[c.node].sw.counters();
    assert_eq!(counters.drops(FrameDrop::SpoofedSource), 2);
    assert_eq!(counters.drops(FrameDrop::SpoofedArp), 1);
    // The gateway is still each node's own.
    for c in net.clients.clone() {
        let got = net.send_checked(c.node, c.port, c.mac, GATEWAY);
        assert_eq!(got, vec![(c.node, net.nodes[c.node].gateway)]);
    }
}

#[test]
fn a_broadcast_storm_is_cut_at_its_limit_while_others_keep_flowing() {
    let storm = StormConfig {
        frames_per_second: 100,
        burst: 50,
    };
    let config = SwitchConfig {
        storm: Some(storm),
        ..SwitchConfig::default()
    };
    let mut net = Net::new(3, 3, 3, config);
    let stormer = net.clients[0];
    let others: Vec<Client> = net.clients[1..].to_vec();
    let mut passed = 0u32;
    // 1000 broadcasts per second for 2 s from one client; every other
    // client sends a broadcast and a unicast every 50 ms.
    for ms in 0..2000u32 {
        net.now = Duration::from_millis(u64::from(ms));
        let (verdict, mut got) =
            net.send(stormer.node, stormer.port, &frame(BROADCAST, stormer.mac));
        match verdict {
            Ok(()) => {
                passed += 1;
                // What passes is a broadcast like any other (and is learned).
                let (_, mut want) = net.expect(stormer.node, stormer.port, stormer.mac, BROADCAST);
                got.sort_unstable();
                want.sort_unstable();
                assert_eq!(got, want);
            }
            Err(reason) => {
                assert_eq!(reason, FrameDrop::StormLimited);
                assert!(got.is_empty());
            }
        }
        if ms % 50 == 0 {
            for (i, c) in others.iter().enumerate() {
                net.send_checked(c.node, c.port, c.mac, BROADCAST);
                let d = others[(i + 1) % others.len()];
                let got = net.send_checked(c.node, c.port, c.mac, d.mac);
                assert!(got.contains(&(d.node, d.port)));
            }
        }
    }
    // burst + rate * 1.999 s
    assert_eq!(passed, 50 + 199);
    let limited = net.nodes[stormer.node]
        .sw
        .counters()
        .drops(FrameDrop::StormLimited);
    assert_eq!(limited, 2000 - u64::from(passed));
    for (i, node) in net.nodes.iter().enumerate() {
        if i != stormer.node {
            assert_eq!(node.sw.counters().total_drops(), 0, "node {i}");
        }
    }
}

#[test]
fn a_mac_that_moves_to_another_node_raises_mac_moved_on_the_old_one() {
    let mut net = Net::new(3, 2, 5, SwitchConfig::default());
    for c in net.clients.clone() {
        net.send_checked(c.node, c.port, c.mac, BROADCAST);
    }
    let x = net.clients[0];
    assert_eq!(x.node, 0);
    // x reconnects to node 1 (a new session, a new port there) while node 0
    // still holds its old session.
    net.now += Duration::from_secs(1);
    let moved = net.add_client(1, x.mac);
    net.send_checked(moved.node, moved.port, moved.mac, BROADCAST);
    let event = net.nodes[0].sw.poll_event();
    assert_eq!(
        event,
        Some(SwitchEvent::MacMoved {
            mac: x.mac,
            from: x.port,
            to: net.nodes[0].to[&1],
        })
    );
    assert_eq!(net.nodes[0].sw.poll_event(), None);
    for j in 1..3 {
        assert_eq!(net.nodes[j].sw.poll_event(), None, "node {j}");
    }
    // Node 0 drops the old session, as the event asks.
    net.nodes[0].sw.remove_port(x.port);
    net.clients.remove(0);
    // Everyone now reaches x on node 1 only.
    for c in net.clients.clone() {
        if c.port == moved.port && c.node == moved.node {
            continue;
        }
        let got = net.send_checked(c.node, c.port, c.mac, x.mac);
        assert_eq!(got, vec![(1, moved.port)], "from node {}", c.node);
    }
}
