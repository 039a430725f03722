//! A node and two clients in memory, for the steady-state frame path:
//! shared by `tests/zero_alloc.rs` and `benches/path.rs` (which includes
//! this file with `#[path]`).
//!
//! Client A and client B each hold a confirmed session to the node's
//! endpoint; the node's switch has one UDP client port per session and has
//! learned both MACs. [`Node::relay`] is the per-frame work of the node's
//! socket loop (`atenet/src/udp.rs`): open, switch decision, seal for every
//! egress port's session, all into buffers the node owns and reuses.
#![allow(dead_code)] // each includer uses its own part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vswitch::endpoint::{Endpoint, EndpointConfig, Received};
use vswitch::key::{AccessKey, ChainId, KeyId, KeyRole};
use vswitch::port::{PortId, PortKind};
use vswitch::switch::{Switch, SwitchConfig};
use vswitch::wire::{PacketKind, SessionId, MAX_PACKET};

pub const NODE: &str = "198.18.0.1:7370";
pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// An Ethernet frame of `len` bytes from `src` to `dst`.
pub fn frame(dst: [u8; 6], src: [u8; 6], len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    f
}

/// A client endpoint with a confirmed session to the node.
pub struct Client {
    pub endpoint: Endpoint,
    pub session: SessionId,
    /// The node's id of the same session.
    pub node_session: SessionId,
    /// The client's address as the node sees it.
    pub addr: SocketAddr,
    rng: ChaCha20Rng,
    scratch: [u8; 256],
}

impl Client {
    /// Seals `frame` on the client's session into `out`; returns its length.
    pub fn seal(&mut self, now: Instant, frame: &[u8], out: &mut [u8]) -> usize {
        self.endpoint
            .seal(now, self.session, PacketKind::Frame, frame, out)
            .unwrap()
    }

    /// Opens a packet from the node; returns the length of the frame in it.
    pub fn open(&mut self, now: Instant, packet: &mut [u8]) -> usize {
        let Received::Frame { frame, .. } =
            self.endpoint
                .handle(now, addr(NODE), packet, &mut self.rng, &mut self.scratch)
        else {
            panic!("client did not open the relayed frame")
        };
        frame.len()
    }
}

/// The node: its endpoint, its switch, the session <-> port maps and the
/// buffers of its socket loop.
pub struct Node {
    pub endpoint: Endpoint,
    pub switch: Switch,
    port_of: HashMap<SessionId, PortId>,
    session_of: HashMap<PortId, SessionId>,
    egress: Vec<PortId>,
    reply: [u8; 256],
    tx: [u8; MAX_PACKET],
    rng: ChaCha20Rng,
}

impl Node {
    /// One received datagram from `from`, opened in place, switched, and
    /// sealed for each egress port's session; `deliver` gets each sealed
    /// copy. Returns the number of copies.
    pub fn relay(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: &mut [u8],
        mut deliver: impl FnMut(&mut [u8]),
    ) -> usize {
        let Received::Frame { session, frame } =
            self.endpoint
                .handle(now, from, packet, &mut self.rng, &mut self.reply)
        else {
            panic!("node did not open the frame")
        };
        let ingress = self.port_of[&session];
        self.switch
            .forward(now, ingress, frame, &mut self.egress)
            .unwrap();
        for port in &self.egress {
            let n = self
                .endpoint
                .seal(
                    now,
                    self.session_of[port],
                    PacketKind::Frame,
                    frame,
                    &mut self.tx,
                )
                .unwrap();
            deliver(&mut self.tx[..n]);
        }
        self.egress.len()
    }
}

/// One frame from `from` through the node to `to`, by way of the caller's
/// `wire` buffer; returns the bytes `to` received.
pub fn carry(
    node: &mut Node,
    from: &mut Client,
    to: &mut Client,
    frame: &[u8],
    now: Instant,
    wire: &mut [u8],
) -> usize {
    let n = from.seal(now, frame, wire);
    let mut delivered = 0;
    node.relay(now, from.addr, &mut wire[..n], |packet| {
        delivered += to.open(now, packet);
    });
    delivered
}

fn connect(node: &mut Endpoint, key: &AccessKey, from: &str, now: Instant, seed: u64) -> Client {
    let from = addr(from);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut node_rng = ChaCha20Rng::seed_from_u64(!seed);
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let mut init = [0u8; 256];
    let started = endpoint
        .connect(
            now,
            addr(NODE),
            key,
            KeyRole::Client,
            b"",
            &mut rng,
            &mut init,
        )
        .unwrap();
    let mut reply = [0u8; 256];
    let Received::Accepted {
        session: node_session,
        reply_len,
    } = node.handle(
        now,
        from,
        &mut init[..started.len],
        &mut node_rng,
        &mut reply,
    )
    else {
        panic!("init not accepted")
    };
    let mut scratch = [0u8; 256];
    let established = endpoint.handle(
        now,
        addr(NODE),
        &mut reply[..reply_len],
        &mut rng,
        &mut scratch,
    );
    assert!(matches!(established, Received::Established { .. }));
    // Key confirmation: the first authenticated packet makes the node's side usable.
    let mut keepalive = [0u8; 128];
    let n = endpoint
        .seal(
            now,
            started.session,
            PacketKind::Keepalive,
            &[],
            &mut keepalive,
        )
        .unwrap();
    let confirmed = node.handle(now, from, &mut keepalive[..n], &mut node_rng, &mut scratch);
    assert!(matches!(confirmed, Received::Keepalive { .. }));
    while node.poll_event().is_some() {}
    while endpoint.poll_event().is_some() {}
    Client {
        endpoint,
        session: started.session,
        node_session,
        addr: from,
        rng,
        scratch: [0; 256],
    }
}

/// A node with clients A and B connected, each on a UDP client port of
/// the switch (default config: storm control on, which unicast never
/// meets), and both MACs learned by one 1400-byte frame each way (the
/// first one floods), so the tables are sized.
pub fn node_and_clients(now: Instant) -> (Node, Client, Client) {
    let key = AccessKey {
        chain_id: ChainId([0x5a; 16]),
        key_id: KeyId(0x0102_0304),
        secret: [0x33; 32],
    };
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    endpoint
        .add_key(key.chain_id, key.key_id, key.secret, KeyRole::Client)
        .unwrap();
    let mut a = connect(&mut endpoint, &key, "198.18.0.2:40000", now, 8);
    let mut b = connect(&mut endpoint, &key, "198.18.0.3:40000", now, 9);
    let mut switch = Switch::new(SwitchConfig::default());
    let port_a = switch.add_port(PortKind::UdpClient).unwrap();
    let port_b = switch.add_port(PortKind::UdpClient).unwrap();
    let mut node = Node {
        endpoint,
        switch,
        port_of: HashMap::from([(a.node_session, port_a), (b.node_session, port_b)]),
        session_of: HashMap::from([(port_a, a.node_session), (port_b, b.node_session)]),
        egress: Vec::with_capacity(8),
        reply: [0; 256],
        tx: [0; MAX_PACKET],
        rng: ChaCha20Rng::seed_from_u64(10),
    };
    let mut wire = [0u8; MAX_PACKET];
    let b_to_a = frame(MAC_A, MAC_B, 1400);
    let a_to_b = frame(MAC_B, MAC_A, 1400);
    assert_eq!(
        carry(&mut node, &mut b, &mut a, &b_to_a, now, &mut wire),
        1400
    );
    assert_eq!(
        carry(&mut node, &mut a, &mut b, &a_to_b, now, &mut wire),
        1400
    );
    (node, a, b)
}
