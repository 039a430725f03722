//! Anti-replay window per session and direction (RFC 6479 style).
//!
//! A bitmap of [`BLOCKS`] 64-bit words; the word that holds the newest
//! counter rotates through the ring, and moving forward clears only the
//! words that are skipped, so both check and update are O(1) in the common
//! case. The usable window is `(BLOCKS - 1) * 64` = 4032 counters (DESIGN.md
//! asks for at least 2048): a packet that far behind the newest is dropped
//! as too old, a counter seen before is dropped as a duplicate, anything
//! else inside the window is accepted once, in any order.
//!
//! Use: check only after the tag verified (a forged counter must not move
//! the window), then decrypt, then [`ReplayWindow::update`].

/// Number of 64-bit words in the ring.
pub const BLOCKS: usize = 64;
const BITS: u64 = 64;
/// How far behind the newest counter a packet may be and still be accepted.
pub const WINDOW: u64 = (BLOCKS as u64 - 1) * BITS;

/// The receive-side replay state of one session direction.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// Highest counter accepted so far (valid when `seen_any`).
    top: u64,
    seen_any: bool,
    ring: [u64; BLOCKS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// An empty window: every counter is new.
    pub const fn new() -> Self {
        ReplayWindow {
            top: 0,
            seen_any: false,
            ring: [0; BLOCKS],
        }
    }

    fn slot(counter: u64) -> (usize, u64) {
        (
            ((counter / BITS) % BLOCKS as u64) as usize,
            1u64 << (counter % BITS),
        )
    }

    /// Whether `counter` would be accepted (new and not too old). Does not
    /// change the window.
    pub fn check(&self, counter: u64) -> bool {
        if !self.seen_any || counter > self.top {
            return true;
        }
        if self.top - counter >= WINDOW {
            return false;
        }
        let (block, bit) = Self::slot(counter);
        self.ring[block] & bit == 0
    }

    /// Marks `counter` as seen. Returns false (and changes nothing) when it
    /// would not pass [`ReplayWindow::check`].
    pub fn update(&mut self, counter: u64) -> bool {
        if !self.check(counter) {
            return false;
        }
        if !self.seen_any {
            self.ring = [0; BLOCKS];
            self.top = counter;
            self.seen_any = true;
        } else if counter > self.top {
            // Clear the words between the old top's and the new top's, at
            // most the whole ring (RFC 6479 §2.2).
            let old_block = self.top / BITS;
            let skipped = (counter / BITS - old_block).min(BLOCKS as u64);
            for i in 1..=skipped {
                self.ring[((old_block + i) % BLOCKS as u64) as usize] = 0;
            }
            self.top = counter;
        }
        let (block, bit) = Self::slot(counter);
        self.ring[block] |= bit;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_duplicates_and_reorder() {
        let mut w = ReplayWindow::new();
        assert!(w.update(0));
        assert!(!w.update(0));
        assert!(w.update(5));
        assert!(w.update(3));
        assert!(!w.update(3));
        assert!(w.update(4));
        assert!(!w.check(5));
    }

    #[test]
    fn too_old_is_dropped_and_window_is_at_least_2048() {
        let mut w = ReplayWindow::new();
        assert!(w.update(10_000));
        assert!(w.check(10_000 - 2048));
        assert!(w.check(10_000 - WINDOW + 1));
        assert!(!w.check(10_000 - WINDOW));
        assert!(!w.update(1));
        const { assert!(WINDOW >= 2048) };
    }

    #[test]
    fn big_jump_clears_old_bits() {
        let mut w = ReplayWindow::new();
        for c in 0..200 {
            assert!(w.update(c));
        }
        assert!(w.update(200 + 64 * 64 * 3));
        // Counters that map to the same ring slots as old ones are new.
        let c = 200 + 64 * 64 * 3 - 64;
        assert!(w.update(c));
        assert!(!w.update(c));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The window agrees with a naive model: a set of seen counters
        /// and the "older than top - WINDOW" rule.
        #[test]
        fn matches_model(counters in proptest::collection::vec(0u64..20_000, 1..400)) {
            let mut w = ReplayWindow::new();
            let mut seen = std::collections::HashSet::new();
            let mut top: Option<u64> = None;
            for c in counters {
                let expect = !seen.contains(&c) && top.is_none_or(|t| c > t || t - c < WINDOW);
                prop_assert_eq!(w.update(c), expect, "counter {}", c);
                if expect {
                    seen.insert(c);
                    top = Some(top.map_or(c, |t| t.max(c)));
                }
            }
        }
    }
}
