//! Unit and property tests of the MAC table, on a fake clock (a base
//! `Instant` plus `Duration`s).

use super::*;
use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

const A: Mac = [0x02, 0, 0, 0, 0, 0x0a];
const B: Mac = [0x02, 0, 0, 0, 0, 0x0b];
const C: Mac = [0x02, 0, 0, 0, 0, 0x0c];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn small(max_entries: usize, max_per_port: usize) -> MacTableConfig {
    MacTableConfig {
        max_age: secs(10),
        max_entries,
        max_per_port,
        sweep_interval: secs(1),
    }
}

fn mac(n: u32) -> Mac {
    let b = n.to_be_bytes();
    [0x02, 0x42, b[0], b[1], b[2], b[3]]
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = MacTableConfig::default();
    assert_eq!(c.max_age, secs(300));
    assert_eq!(c.max_entries, 65_536);
    assert_eq!(c.max_per_port, 4096);
}

#[test]
fn learns_then_refreshes() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(8, 8));
    assert_eq!(t.learn(t0, A, 1u32), Learned::New);
    assert_eq!(t.lookup(t0, A), Some(1));
    assert_eq!(t.lookup(t0, B), None);
    assert_eq!(t.learn(t0 + secs(1), A, 1), Learned::Refreshed);
    assert_eq!((t.len(), t.port_len(1)), (1, 1));
}

#[test]
fn an_entry_ages_out_at_max_age_and_a_refresh_resets_it() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(8, 8));
    t.learn(t0, A, 1u32);
    t.learn(t0, B, 1u32);
    assert_eq!(
        t.lookup(t0 + Duration::from_nanos(9_999_999_999), A),
        Some(1)
    );
    assert_eq!(t.lookup(t0 + secs(10), A), None, "expired is a miss");
    // B refreshed at 8 s lives until 18 s.
    assert_eq!(t.learn(t0 + secs(8), B, 1), Learned::Refreshed);
    assert_eq!(t.lookup(t0 + secs(17), B), Some(1));
    assert_eq!(t.lookup(t0 + secs(18), B), None);
}

#[test]
fn an_expired_mac_is_learned_anew_not_moved() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(8, 8));
    t.learn(t0, A, 1u32);
    assert_eq!(t.learn(t0 + secs(11), A, 2), Learned::New);
    assert_eq!((t.port_len(1), t.port_len(2), t.len()), (0, 1, 1));
    assert_eq!(t.learn(t0 + secs(30), A, 2), Learned::New);
}

#[test]
fn a_move_relearns_without_counting_twice() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(2, 2));
    t.learn(t0, A, 1u32);
    t.learn(t0, B, 1u32);
    // The table is globally full, yet a move needs no extra room.
    assert_eq!(t.learn(t0, A, 2), Learned::Moved { from: 1 });
    assert_eq!(t.lookup(t0, A), Some(2));
    assert_eq!((t.len(), t.port_len(1), t.port_len(2)), (2, 1, 1));
    assert_eq!(t.learn(t0, A, 1), Learned::Moved { from: 2 });
    assert_eq!((t.len(), t.port_len(1), t.port_len(2)), (2, 2, 0));
}

#[test]
fn a_move_into_a_full_port_forgets_the_stale_entry() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(8, 1));
    t.learn(t0, A, 1u32);
    t.learn(t0, B, 2u32);
    assert_eq!(t.learn(t0, A, 2), Learned::CapReached);
    assert_eq!(t.lookup(t0, A), None, "frames to A flood, not to port 1");
    assert_eq!((t.len(), t.port_len(1)), (1, 0));
    assert_eq!(t.cap_reached(), 1);
}

#[test]
fn global_cap_refuses_new_macs_and_counts_them() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(4, 100));
    for n in 0..10 {
        let expect = if n < 4 {
            Learned::New
        } else {
            Learned::CapReached
        };
        assert_eq!(t.learn(t0, mac(n), n % 3), expect, "mac {n}");
    }
    assert_eq!((t.len(), t.cap_reached()), (4, 6));
    // Known MACs still refresh at the cap.
    assert_eq!(t.learn(t0, mac(0), 0), Learned::Refreshed);
}

#[test]
fn per_port_cap_leaves_room_for_other_ports() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(100, 3));
    for n in 0..50 {
        t.learn(t0, mac(n), 7u32);
    }
    assert_eq!(t.port_len(7), 3);
    assert_eq!(t.learn(t0, A, 1), Learned::New);
    assert_eq!(t.cap_reached(), 47);
}

#[test]
fn set_port_cap_overrides_until_the_port_is_forgotten() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(100, 2));
    t.set_port_cap(9u32, 5);
    for n in 0..10 {
        t.learn(t0, mac(n), 9);
    }
    assert_eq!(t.port_len(9), 5);
    assert_eq!(t.forget_port(9), 5);
    assert!(t.is_empty());
    for n in 0..10 {
        t.learn(t0, mac(n), 9);
    }
    assert_eq!(t.port_len(9), 2, "back to the config's cap");
}

#[test]
fn forget_port_removes_only_that_port() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(8, 8));
    t.learn(t0, A, 1u32);
    t.learn(t0, B, 2u32);
    t.learn(t0, C, 1u32);
    assert_eq!(t.forget_port(1), 2);
    assert_eq!(t.forget_port(1), 0);
    assert_eq!((t.lookup(t0, A), t.lookup(t0, B)), (None, Some(2)));
    assert_eq!(t.len(), 1);
}

#[test]
fn remove_forgets_one_mac() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(8, 8));
    t.learn(t0, A, 1u32);
    assert_eq!(t.remove(A), Some(1));
    assert_eq!(t.remove(A), None);
    assert_eq!((t.len(), t.port_len(1)), (0, 0));
}

#[test]
fn expire_reclaims_expired_entries() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(8, 8));
    t.learn(t0, A, 1u32);
    t.learn(t0 + secs(5), B, 1u32);
    assert_eq!(t.expire(t0 + secs(12)), 1);
    assert_eq!((t.len(), t.port_len(1)), (1, 1));
    assert_eq!(t.expire(t0 + secs(15)), 1);
    assert!(t.is_empty());
}

#[test]
fn at_the_cap_expired_entries_make_room_but_sweeps_are_rate_limited() {
    let t0 = Instant::now();
    let mut t = MacTable::new(small(2, 8));
    t.learn(t0, A, 1u32);
    t.learn(t0 + secs(5), B, 1u32);
    // Full, nothing expired: this sweep finds nothing.
    assert_eq!(
        t.learn(t0 + Duration::from_millis(9_900), C, 1),
        Learned::CapReached
    );
    // A expired at 10 s, but the last sweep was 0.3 s ago.
    assert_eq!(
        t.learn(t0 + Duration::from_millis(10_200), C, 1),
        Learned::CapReached
    );
    // A sweep is due again: A's room goes to C.
    assert_eq!(
        t.learn(t0 + Duration::from_millis(10_950), C, 1),
        Learned::New
    );
    assert_eq!(t.lookup(t0 + secs(11), B), Some(1));
}

#[test]
fn a_clock_that_goes_backwards_does_not_panic_or_expire() {
    let early = Instant::now();
    let t0 = early + secs(100);
    let mut t = MacTable::new(small(8, 8));
    t.learn(t0, A, 1u32);
    assert_eq!(t.lookup(early, A), Some(1));
    assert_eq!(t.learn(early, A, 1), Learned::Refreshed);
    assert_eq!(t.expire(early), 0);
}

/// One step of the model test.
#[derive(Clone, Debug)]
enum Op {
    Learn { mac: u8, port: u8 },
    Advance(u16),
    ForgetPort(u8),
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..24, 0u8..4).prop_map(|(mac, port)| Op::Learn { mac, port }),
        2 => (0u16..4000).prop_map(Op::Advance),
        1 => (0u8..4).prop_map(Op::ForgetPort),
        1 => Just(Op::Expire),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The table against a plain model (MAC -> port and time of the last
    /// successful learn): lookups agree, learn answers what the model
    /// predicts, and CapReached only when a cap is really full.
    #[test]
    fn agrees_with_a_model(ops in proptest::collection::vec(op(), 1..200)) {
        let cfg = small(12, 5);
        let mut t = MacTable::new(cfg);
        let mut model: HashMap<Mac, (u8, Instant)> = HashMap::new();
        let mut now = Instant::now();
        for op in ops {
            match op {
                Op::Learn { mac: m, port } => {
                    let m = mac(u32::from(m));
                    let live = model.get(&m).filter(|(_, at)| now.duration_since(*at) < cfg.max_age);
                    let (held_total, held_port) = {
                        // Room as the table sees it once m's own entry left.
                        let own = t.entries.get(&m).map(|e| e.port);
                        let total = t.len() - usize::from(own.is_some());
                        let port_held = t.port_len(port) - usize::from(own == Some(port));
                        (total, port_held)
                    };
                    let got = t.learn(now, m, port);
                    match (live, got) {
                        (Some((p, _)), Learned::Refreshed) => prop_assert_eq!(*p, port),
                        (Some((p, _)), Learned::Moved { from }) => {
                            prop_assert_eq!(*p, from);
                            prop_assert_ne!(from, port);
                        }
                        (None, Learned::New) | (_, Learned::CapReached) => {}
                        (live, got) => prop_assert!(false, "model {:?}, table {:?}", live, got),
                    }
                    if got == Learned::CapReached {
                        prop_assert!(held_total >= cfg.max_entries || held_port >= cfg.max_per_port);
                        model.remove(&m);
                    } else {
                        model.insert(m, (port, now));
                    }
                }
                Op::Advance(ms) => now += Duration::from_millis(u64::from(ms)),
                Op::ForgetPort(p) => {
                    t.forget_port(p);
                    model.retain(|_, (port, _)| *port != p);
                }
                Op::Expire => {
                    t.expire(now);
                }
            }
            prop_assert!(t.len() <= cfg.max_entries);
            let mut sum = 0;
            for p in 0..4 {
                prop_assert!(t.port_len(p) <= cfg.max_per_port);
                sum += t.port_len(p);
            }
            prop_assert_eq!(sum, t.len());
            prop_assert!(t.ports.len() <= t.len(), "no port record without entries");
            for (m, (p, at)) in &model {
                let want = (now.duration_since(*at) < cfg.max_age).then_some(*p);
                prop_assert_eq!(t.lookup(now, *m), want);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A flood of random source MACs never grows the table past its caps:
    /// from three hostile ports the per-port cap leaves the honest ports
    /// room to learn; from sixteen, the global cap holds.
    #[test]
    fn a_flood_of_random_sources_stays_within_the_caps(seed in any::<u64>()) {
        let cfg = small(256, 64);
        let mut t = MacTable::new(cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let t0 = Instant::now();
        let mut refused = 0u64;
        for i in 0..3000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            let mut m = [0u8; 6];
            rng.fill_bytes(&mut m);
            // Phase 1: ports 10..13 (192 entries at most); phase 2: 10..26.
            let hostile = 10 + rng.next_u32() % if i < 1500 { 3 } else { 16 };
            if t.learn(now, m, hostile) == Learned::CapReached {
                refused += 1;
            }
            // Three honest ports with 8 hosts each, speaking now and then.
            if i < 1500 && i % 10 == 0 {
                let honest = (i / 10) % 3;
                let host = mac(honest * 100 + (i / 30) % 8);
                let got = t.learn(now, host, honest);
                prop_assert!(
                    matches!(got, Learned::New | Learned::Refreshed),
                    "honest port {} refused: {:?} (len {})", honest, got, t.len()
                );
            }
            prop_assert!(t.len() <= cfg.max_entries);
            for p in 10..26 {
                prop_assert!(t.port_len(p) <= cfg.max_per_port);
            }
        }
        prop_assert_eq!(t.len(), cfg.max_entries, "the flood filled the table");
        prop_assert_eq!(t.cap_reached(), refused);
        prop_assert!(refused >= 3000 - 256);
    }
}
