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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vswitch::wire::MAX_PACKET;

mod common;

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

#[test]
fn steady_state_frame_path_allocates_nothing() {
    let now = Instant::now();
    // Connected, both MACs learned, tables sized (common::node_and_clients).
    let (mut node, mut a, mut b) = common::node_and_clients(now);
    let mut wire = [0u8; MAX_PACKET];
    let a_to_b = common::frame(common::MAC_B, common::MAC_A, 1400);
    let b_to_a = common::frame(common::MAC_A, common::MAC_B, 1400);

    let mut delivered = 0;
    let allocations = allocations_in(|| {
        for i in 0..2_000u32 {
            let t = now + Duration::from_micros(u64::from(i));
            delivered += common::carry(&mut node, &mut a, &mut b, &a_to_b, t, &mut wire);
            delivered += common::carry(&mut node, &mut b, &mut a, &b_to_a, t, &mut wire);
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
