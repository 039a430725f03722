//! The per-frame path allocates nothing in steady state (issue 8, item 3):
//! a client seals a frame, the node opens it, the switch decides, the node
//! seals it for the destination's session and that client opens it. A
//! counting global allocator, armed on this thread only, counts every
//! allocation made while frames flow.
//!
//! The allocator is global but counts only on a thread that armed it, so
//! tests running beside each other do not see one another's allocations.
#![allow(unsafe_code)] // a global allocator can only be written with `unsafe impl`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vswitch::endpoint::{Endpoint, EndpointConfig, Received};
use vswitch::key::{AccessKey, ChainId, KeyId, KeyRole};
use vswitch::port::{PortId, PortKind};
use vswitch::switch::{Switch, SwitchConfig};
use vswitch::wire::{PacketKind, SessionId, MAX_PACKET};

/// Allocations made on a thread while it has counting switched on.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds `GlobalAlloc`'s contract; counting touches only an atomic and a
// const-initialised thread-local (neither allocates).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` was allocated by `System` with `layout` (all our
        // allocations are), as the caller guarantees for us.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const NODE: &str = "198.18.0.1:7370";
const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// A client endpoint with a confirmed session to the node.
struct Client {
    endpoint: Endpoint,
    session: SessionId,
    node_session: SessionId,
    from: SocketAddr,
}

fn connect(
    node: &mut Endpoint,
    key: &AccessKey,
    from: &str,
    now: Instant,
    rng: &mut ChaCha20Rng,
) -> Client {
    let from = addr(from);
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let mut init = [0u8; 256];
    let started = endpoint
        .connect(now, addr(NODE), key, KeyRole::Client, b"", rng, &mut init)
        .unwrap();
    let mut reply = [0u8; 256];
    let Received::Accepted {
        session: node_session,
        reply_len,
    } = node.handle(now, from, &mut init[..started.len], rng, &mut reply)
    else {
        panic!("init not accepted")
    };
    let mut scratch = [0u8; 256];
    let established = endpoint.handle(now, addr(NODE), &mut reply[..reply_len], rng, &mut scratch);
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
    let confirmed = node.handle(now, from, &mut keepalive[..n], rng, &mut scratch);
    assert!(matches!(confirmed, Received::Keepalive { .. }));
    while node.poll_event().is_some() {}
    while endpoint.poll_event().is_some() {}
    Client {
        endpoint,
        session: started.session,
        node_session,
        from,
    }
}

fn frame(dst: [u8; 6], src: [u8; 6], len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    f
}

/// Buffers the caller owns and reuses, as the node's socket loop does.
struct Buffers {
    wire: [u8; MAX_PACKET],
    relay: [u8; MAX_PACKET],
    reply: [u8; 256],
    egress: Vec<PortId>,
}

/// One frame from `from` through the node to `to`; returns the bytes `to`
/// received.
#[allow(clippy::too_many_arguments)] // the whole path, spelled out
fn carry(
    node: &mut Endpoint,
    switch: &mut Switch,
    ports: &[(SessionId, PortId)],
    from: &mut Client,
    to: &mut Client,
    payload: &[u8],
    now: Instant,
    rng: &mut ChaCha20Rng,
    buf: &mut Buffers,
) -> usize {
    let n = from
        .endpoint
        .seal(now, from.session, PacketKind::Frame, payload, &mut buf.wire)
        .unwrap();
    let Received::Frame { session, frame } =
        node.handle(now, from.from, &mut buf.wire[..n], rng, &mut buf.reply)
    else {
        panic!("node did not open the frame")
    };
    let ingress = ports.iter().find(|(s, _)| *s == session).unwrap().1;
    switch
        .forward(now, ingress, frame, &mut buf.egress)
        .unwrap();
    let mut delivered = 0;
    for &port in &buf.egress {
        let (egress_session, _) = *ports.iter().find(|(_, p)| *p == port).unwrap();
        let m = node
            .seal(
                now,
                egress_session,
                PacketKind::Frame,
                frame,
                &mut buf.relay,
            )
            .unwrap();
        let Received::Frame { frame: got, .. } =
            to.endpoint
                .handle(now, addr(NODE), &mut buf.relay[..m], rng, &mut buf.reply)
        else {
            panic!("client did not open the relayed frame")
        };
        delivered += got.len();
    }
    delivered
}

#[test]
fn steady_state_frame_path_allocates_nothing() {
    let now = Instant::now();
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let key = AccessKey {
        chain_id: ChainId([0x5a; 16]),
        key_id: KeyId(0x0102_0304),
        secret: [0x33; 32],
    };
    let mut node = Endpoint::new(EndpointConfig::default());
    node.add_key(key.chain_id, key.key_id, key.secret, KeyRole::Client)
        .unwrap();
    let mut a = connect(&mut node, &key, "198.18.0.2:40000", now, &mut rng);
    let mut b = connect(&mut node, &key, "198.18.0.3:40000", now, &mut rng);
    let mut switch = Switch::new(SwitchConfig::default());
    let port_a = switch.add_port(PortKind::UdpClient).unwrap();
    let port_b = switch.add_port(PortKind::UdpClient).unwrap();
    let ports = [(a.node_session, port_a), (b.node_session, port_b)];
    let mut buf = Buffers {
        wire: [0; MAX_PACKET],
        relay: [0; MAX_PACKET],
        reply: [0; 256],
        egress: Vec::with_capacity(8),
    };

    // Warm-up: both MACs learned (the first frame floods), tables sized.
    let a_to_b = frame(MAC_B, MAC_A, 1400);
    let b_to_a = frame(MAC_A, MAC_B, 1400);
    carry(
        &mut node,
        &mut switch,
        &ports,
        &mut b,
        &mut a,
        &b_to_a,
        now,
        &mut rng,
        &mut buf,
    );
    carry(
        &mut node,
        &mut switch,
        &ports,
        &mut a,
        &mut b,
        &a_to_b,
        now,
        &mut rng,
        &mut buf,
    );

    let mut delivered = 0;
    let allocations = allocations_in(|| {
        for i in 0..2_000u32 {
            let t = now + Duration::from_micros(u64::from(i));
            delivered += carry(
                &mut node,
                &mut switch,
                &ports,
                &mut a,
                &mut b,
                &a_to_b,
                t,
                &mut rng,
                &mut buf,
            );
            delivered += carry(
                &mut node,
                &mut switch,
                &ports,
                &mut b,
                &mut a,
                &b_to_a,
                t,
                &mut rng,
                &mut buf,
            );
        }
    });
    assert_eq!(
        delivered,
        4_000 * 1400,
        "every frame reached exactly its one destination"
    );
    assert_eq!(allocations, 0, "allocations on the steady-state frame path");
}

#[test]
fn the_counter_sees_allocations() {
    // The instrument itself: an allocation on this thread is counted.
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert!(n >= 1, "a Vec allocation was not counted");
}
