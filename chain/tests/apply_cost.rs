//! Applying an event costs the event, not the state: no copy of the state is
//! made to validate on or to roll back to.
//!
//! Measured by counting heap allocations (and bytes) on the test's own
//! thread with a counting global allocator: a clone of a state holding
//! thousands of networks would show as thousands of allocations and
//! megabytes; the bounds below are a few allocations and a few KiB per event.
//! Deterministic, unlike timing on a shared machine.

// The only unsafe: the `GlobalAlloc` impl, delegating to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use chain::{Applied, Event, State};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(size: usize) {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|c| c.set(c.get() + size as u64));
}

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, bytes) made on this thread while `f` runs.
fn measure<R>(f: impl FnOnce() -> R) -> (u64, u64, R) {
    let (a0, b0) = (ALLOCS.with(Cell::get), BYTES.with(Cell::get));
    let r = f();
    let (a1, b1) = (ALLOCS.with(Cell::get), BYTES.with(Cell::get));
    (a1 - a0, b1 - b0, r)
}

fn net_id(i: u32) -> String {
    format!("{i:032x}")
}

fn network(i: u32) -> Event {
    Event::NetworkCreated {
        network: net_id(i),
        name: format!("net-{i}"),
        subnet: format!("10.{}.{}.0/24", i / 256, i % 256),
        node_key_id: 1,
        node_secret: "aa".repeat(32),
    }
}

fn key(i: u32, key_id: u32) -> Event {
    Event::KeyIssued {
        network: net_id(i),
        key_id,
        secret: "bb".repeat(32),
        label: Some(format!("device {key_id}")),
    }
}

fn claim(i: u32, host: u8, at_ms: u64) -> Event {
    Event::LeaseClaimed {
        network: net_id(i),
        mac: format!("02:00:00:00:00:{host:02x}"),
        ip: format!("10.{}.{}.{host}", i / 256, i % 256),
        client_id: None,
        hostname: Some("h".into()),
        node_id: "00000000000000aa".into(),
        at_ms,
        expires_ms: at_ms + 60_000,
    }
}

/// The events of a chain with `n` networks, keys, presence and leases.
fn chain(n: u32) -> Vec<Event> {
    let mut evs = Vec::new();
    for i in 0..n {
        evs.push(network(i));
        for k in 2..6 {
            evs.push(key(i, k));
        }
        evs.push(claim(i, 10, u64::from(i)));
        evs.push(Event::NodeJoined {
            node_id: format!("{:016x}", i + 1),
            advertise: vec!["198.18.0.1:7370".into()],
            at_ms: u64::from(i),
        });
    }
    evs
}

#[test]
fn one_event_allocates_the_same_on_a_small_and_a_big_state() {
    let per_event = |n: u32| {
        let mut state = State::fold(chain(n));
        let probes = [
            (key(0, 100), true),
            (claim(1, 20, 1_000_000), true),
            (network(2), false),     // id taken: ignored
            (key(3, 2), false),      // key id taken: ignored
            (claim(4, 1, 5), false), // the gateway address: lost
            (
                Event::SettingChanged {
                    network: net_id(5),
                    name: "mtu".into(),
                    value: "1380".into(),
                },
                true,
            ),
        ];
        probes
            .iter()
            .map(|(ev, changes)| {
                let (allocs, bytes, applied) = measure(|| state.apply(ev));
                assert_eq!(applied == Applied::Changed, *changes, "{ev:?}: {applied:?}");
                (allocs, bytes)
            })
            .collect::<Vec<_>>()
    };
    let small = per_event(8);
    let big = per_event(4000);
    for ((sa, sb), (ba, bb)) in small.iter().zip(&big) {
        // A clone of the big state would be ~28,000 events' worth of strings.
        assert!(
            *ba <= 40 && *bb <= 8 * 1024,
            "big state: {ba} allocations, {bb} bytes"
        );
        // Same work whatever the size, bar a B-tree node split or two.
        assert!(ba.abs_diff(*sa) <= 8, "small {sa} vs big {ba} allocations");
        assert!(bb.abs_diff(*sb) <= 4 * 1024, "small {sb} vs big {bb} bytes");
    }
}

#[test]
fn folding_is_linear_in_the_number_of_events() {
    let fold_allocs = |n: u32| {
        let evs = chain(n);
        let len = evs.len() as u64;
        let (allocs, _, state) = measure(|| State::fold(&evs));
        assert_eq!(state.networks().count(), n as usize);
        (allocs, len)
    };
    let (a1, n1) = fold_allocs(500);
    let (a4, n4) = fold_allocs(2000);
    assert_eq!(n4, 4 * n1);
    // Quadratic (a clone per event) would be 16x; linear is 4x.
    assert!(
        a4 * 10 <= a1 * 45,
        "500 networks: {a1} allocations, 2000: {a4} (expected about 4x)"
    );
}
