use proptest::prelude::*;

use super::*;

const A: u64 = 0xa;
const B: u64 = 0xb;

fn small() -> Limits {
    Limits {
        max_entries: 8,
        max_per_origin: 5,
        max_key_len: 16,
        max_value_len: 8,
        max_ttl_ms: 10_000,
        tombstone_ttl_ms: 500,
        max_delta_len: 4096,
    }
}

/// (key, value, origin, version) of every entry: what replicas agree on.
fn contents(e: &Ephemeral) -> Vec<(String, Option<Vec<u8>>, u64, u64)> {
    e.entries()
        .map(|(k, e)| (k.to_owned(), e.value.clone(), e.origin, e.version))
        .collect()
}

/// One round of a node asking a peer for what it lacks.
fn pull(now: u64, to: &mut Ephemeral, from: &Ephemeral) -> DeltaApplied {
    let vv = VersionVector::decode(&to.version_vector().encode()).unwrap();
    to.apply_delta(now, &from.delta_since(now, &vv)).unwrap()
}

#[test]
fn ttl_expiry_on_a_fake_clock() {
    let mut e = Ephemeral::new(Limits::default());
    e.put(1000, A, "presence/mac1", b"node-a", 100).unwrap();
    e.put(1000, A, "diag/a", b"ok", 5000).unwrap();
    assert_eq!(e.get(1099, "presence/mac1"), Some(&b"node-a"[..]));
    assert_eq!(
        e.get(1100, "presence/mac1"),
        None,
        "expired at now >= expiry"
    );
    assert_eq!(e.expire(1099), Vec::<String>::new());
    assert_eq!(e.expire(1100), ["presence/mac1"]);
    assert_eq!(e.len(), 1);
    assert_eq!(e.stats().expired, 1);
    // A renewal pushes the expiry out.
    e.put(2000, A, "diag/a", b"ok", 5000).unwrap();
    assert_eq!(e.expire(6500), Vec::<String>::new());
    assert_eq!(e.get(6500, "diag/a"), Some(&b"ok"[..]));
    // TTLs are capped.
    let mut c = Ephemeral::new(small());
    c.put(0, A, "k", b"v", u64::MAX).unwrap();
    assert_eq!(c.entry("k").unwrap().expires_ms, 10_000);
    assert_eq!(c.put(0, A, "k", b"v", 0), Err(Refused::ZeroTtl));
}

#[test]
fn remove_and_scan_prefix() {
    let mut e = Ephemeral::new(small());
    for k in ["p/1", "p/2", "p/3", "q/1"] {
        e.put(0, A, k, k.as_bytes(), 1000).unwrap();
    }
    assert!(e.remove(10, B, "p/2"));
    assert!(!e.remove(10, B, "p/2"), "already gone");
    assert!(!e.remove(10, B, "nope"));
    let keys: Vec<&str> = e.scan_prefix(10, "p/").map(|(k, _)| k).collect();
    assert_eq!(keys, ["p/1", "p/3"]);
    assert_eq!(e.get(10, "p/2"), None);
    // The tombstone expires after tombstone_ttl_ms and is not reported.
    assert_eq!(e.expire(510), Vec::<String>::new());
    assert!(e.entry("p/2").is_none());
    assert_eq!(e.scan_prefix(2000, "p/").count(), 0, "all expired");
}

#[test]
fn caps_are_enforced() {
    let mut e = Ephemeral::new(small());
    assert_eq!(e.put(0, A, "", b"", 10), Err(Refused::Key(16)));
    assert_eq!(e.put(0, A, &"k".repeat(17), b"", 10), Err(Refused::Key(16)));
    assert_eq!(
        e.put(0, A, "k", &[0; 9], 10),
        Err(Refused::ValueTooLarge(8))
    );
    for i in 0..5 {
        e.put(0, A, &format!("a{i}"), b"v", 10).unwrap();
    }
    assert_eq!(
        e.put(0, A, "a5", b"v", 10),
        Err(Refused::TooManyForOrigin(5))
    );
    e.put(0, A, "a0", b"again", 10).unwrap(); // an overwrite is no new entry
    for i in 0..3 {
        e.put(0, B, &format!("b{i}"), b"v", 10).unwrap();
    }
    assert_eq!(e.put(0, B, "b3", b"v", 10), Err(Refused::TooManyEntries(8)));
    // Taking over another origin's key moves the count.
    e.put(0, B, "a0", b"mine", 10).unwrap();
    assert_eq!(e.put(0, A, "a5", b"v", 10), Err(Refused::TooManyEntries(8)));
    e.put(0, A, "b0", b"back", 10).unwrap(); // A holds 5 again
    assert_eq!(
        e.put(0, A, "b1", b"v", 10),
        Err(Refused::TooManyForOrigin(5))
    );
    assert_eq!(e.len(), 8);
    // Capped entries of a delta are dropped and counted, the rest applied.
    let mut big = Ephemeral::new(Limits::default());
    for i in 0..10 {
        big.put(0, 0xc, &format!("c{i}"), b"v", 10).unwrap();
    }
    big.put(0, 0xd, "long-value", &[1; 100], 10).unwrap();
    let mut f = Ephemeral::new(small());
    let done = f
        .apply_delta(0, &big.delta_since(0, &VersionVector::default()))
        .unwrap();
    assert_eq!(done.accepted, 5);
    assert_eq!(done.rejected, 6);
    assert_eq!(f.stats().rejected_entries, 6);
}

#[test]
fn last_writer_wins_by_version_then_origin() {
    let mut a = Ephemeral::new(Limits::default());
    let mut b = Ephemeral::new(Limits::default());
    // Concurrent writes of one key at the same version: the larger origin wins.
    assert_eq!(a.put(0, A, "k", b"from a", 1000).unwrap(), 1);
    assert_eq!(b.put(0, B, "k", b"from b", 1000).unwrap(), 1);
    pull(0, &mut a, &b);
    pull(0, &mut b, &a);
    assert_eq!(a.get(0, "k"), Some(&b"from b"[..]));
    assert_eq!(contents(&a), contents(&b));
    // A write made after seeing the other's wins, whatever the origin id.
    a.put(1, A, "k", b"a later", 1000).unwrap();
    pull(1, &mut b, &a);
    assert_eq!(b.get(1, "k"), Some(&b"a later"[..]));
    // Nothing new: an empty delta.
    assert_eq!(pull(1, &mut b, &a), DeltaApplied::default());
    // A removal travels like a write.
    assert!(b.remove(2, B, "k"));
    pull(2, &mut a, &b);
    assert_eq!(a.get(2, "k"), None);
}

#[test]
fn ttl_travels_as_time_left() {
    let mut a = Ephemeral::new(Limits::default());
    a.put(1_000, A, "k", b"v", 300).unwrap();
    let delta = a.delta_since(1_100, &VersionVector::default());
    // The peer's clock is far off; the entry lives 200 ms more there.
    let mut b = Ephemeral::new(Limits::default());
    b.apply_delta(50_000, &delta).unwrap();
    assert_eq!(b.entry("k").unwrap().expires_ms, 50_200);
    // Expired entries are not sent.
    assert_eq!(a.delta_since(1_300, &VersionVector::default()).len(), 10);
}

#[test]
fn malformed_deltas_are_dropped_and_counted() {
    let mut a = Ephemeral::new(Limits::default());
    a.put(0, A, "k", b"v", 1000).unwrap();
    let good = a.delta_since(0, &VersionVector::default());
    let mut b = Ephemeral::new(Limits::default());
    assert_eq!(b.apply_delta(0, b"junk"), Err(Malformed::Magic));
    let mut future = good.clone();
    future[5] = 2;
    assert_eq!(b.apply_delta(0, &future), Err(Malformed::Format(2)));
    assert_eq!(
        b.apply_delta(0, &good[..good.len() - 1]),
        Err(Malformed::Truncated)
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(b.apply_delta(0, &trailing), Err(Malformed::Trailing));
    // A huge count with no bytes behind it allocates nothing.
    let mut lying = good[..6].to_vec();
    lying.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(b.apply_delta(0, &lying), Err(Malformed::Truncated));
    assert_eq!(b.stats().malformed_deltas, 5);
    assert!(b.is_empty(), "nothing applied from a malformed delta");
    assert_eq!(
        VersionVector::decode(b"ATEVV\x01\0\0\0\x01"),
        Err(Malformed::Truncated)
    );
}

/// A write one of two replicas makes: (replica, key index, value, ttl, remove).
fn op() -> impl Strategy<Value = (bool, u8, u8, u64, bool)> {
    (
        any::<bool>(),
        0..6u8,
        any::<u8>(),
        1..5000u64,
        any::<bool>(),
    )
}

proptest! {
    /// Two replicas writing the same keys, exchanging deltas at random
    /// moments and in any order (old deltas delivered late, some twice),
    /// hold the same entries once each has pulled from the other.
    #[test]
    fn replicas_converge_whatever_the_delivery_order(
        ops in prop::collection::vec(op(), 1..40),
        deliveries in prop::collection::vec((any::<bool>(), any::<prop::sample::Index>()), 0..30),
    ) {
        let mut r = [Ephemeral::new(Limits::default()), Ephemeral::new(Limits::default())];
        let mut sent: Vec<(usize, Vec<u8>)> = Vec::new();
        let now = 10;
        for (i, (on_b, key, value, ttl, remove)) in ops.iter().enumerate() {
            let (me, origin) = if *on_b { (1, B) } else { (0, A) };
            let key = format!("k{key}");
            if *remove {
                r[me].remove(now, origin, &key);
            } else {
                r[me].put(now, origin, &key, &[*value], 10_000 + ttl).unwrap();
            }
            // Snapshot a delta towards the other replica now, deliver later.
            let other = 1 - me;
            sent.push((other, r[me].delta_since(now, r[other].version_vector())));
            if let Some((late, idx)) = deliveries.get(i) {
                if *late && !sent.is_empty() {
                    let (to, d) = sent[idx.index(sent.len())].clone();
                    r[to].apply_delta(now, &d).unwrap();
                }
            }
        }
        for (to, d) in sent.iter().rev() {
            r[*to].apply_delta(now, d).unwrap();
        }
        let [mut a, mut b] = r;
        pull(now, &mut a, &b);
        pull(now, &mut b, &a);
        prop_assert_eq!(contents(&a), contents(&b));
        prop_assert_eq!(a.version_vector(), b.version_vector());
    }

    #[test]
    fn hostile_bytes_never_panic_and_are_counted(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut e = Ephemeral::new(small());
        let before = contents(&e);
        if e.apply_delta(0, &bytes).is_err() {
            prop_assert_eq!(e.stats().malformed_deltas, 1);
            prop_assert_eq!(contents(&e), before);
        }
        let _ = VersionVector::decode(&bytes);
    }

    #[test]
    fn damaged_deltas_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut a = Ephemeral::new(Limits::default());
        for i in 0..4u8 {
            a.put(0, A, &format!("key{i}"), &[i; 3], 1000).unwrap();
        }
        let mut d = a.delta_since(0, &VersionVector::default());
        for (at, x) in flips {
            let i = at.index(d.len());
            d[i] ^= x;
        }
        d.truncate(cut.index(d.len() + 1));
        let mut e = Ephemeral::new(small());
        if let Ok(done) = e.apply_delta(0, &d) {
            prop_assert!(done.accepted + done.stale + done.rejected <= 4);
        } else {
            prop_assert_eq!(e.stats().malformed_deltas, 1);
            prop_assert!(e.is_empty());
        }
    }
}
