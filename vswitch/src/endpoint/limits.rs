//! Small bounded structures that keep handshake floods cheap: a GCRA token
//! bucket per source address and one global, and a FIFO memory of recent
//! init ephemerals (boringtun's `rate_limiter.rs` plays the same role).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A rate: `burst` events at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed back to back.
    pub burst: u32,
    /// Sustained events per second (>= 1).
    pub per_second: u32,
}

impl Rate {
    fn interval(self) -> Duration {
        Duration::from_secs(1) / self.per_second.max(1)
    }

    fn tolerance(self) -> Duration {
        self.interval() * self.burst.saturating_sub(1)
    }
}

/// GCRA (a token bucket as one timestamp): `tat` is the theoretical
/// arrival time of the next event; an event is allowed if it is no more
/// than the burst tolerance ahead of `now`.
fn gcra(tat: &mut Option<Instant>, rate: Rate, now: Instant) -> bool {
    let t = tat.map_or(now, |t| t.max(now));
    if t.saturating_duration_since(now) > rate.tolerance() {
        return false;
    }
    *tat = Some(t + rate.interval());
    true
}

/// Per-source and global limit on handshake answers (each costs a DH).
#[derive(Debug)]
pub struct InitLimiter {
    per_source: Rate,
    global: Rate,
    max_sources: usize,
    sources: HashMap<IpAddr, Instant>,
    global_tat: Option<Instant>,
}

impl InitLimiter {
    /// A limiter remembering at most `max_sources` busy sources.
    pub fn new(per_source: Rate, global: Rate, max_sources: usize) -> Self {
        InitLimiter {
            per_source,
            global,
            max_sources,
            sources: HashMap::new(),
            global_tat: None,
        }
    }

    /// Takes a token from `source`'s bucket and the global one, or neither.
    pub fn allow(&mut self, now: Instant, source: IpAddr) -> bool {
        if !self.sources.contains_key(&source) && self.sources.len() >= self.max_sources {
            // A source whose bucket is full again is the same as absent.
            self.sources.retain(|_, tat| *tat > now);
            if self.sources.len() >= self.max_sources {
                return false;
            }
        }
        let mut tat = self.sources.get(&source).copied();
        let mut probe = tat;
        if !gcra(&mut probe, self.per_source, now) {
            return false;
        }
        if !gcra(&mut self.global_tat, self.global, now) {
            return false;
        }
        gcra(&mut tat, self.per_source, now);
        if let Some(t) = tat {
            self.sources.insert(source, t);
        }
        true
    }
}

/// The ephemeral public keys of the last `cap` authenticated inits: a
/// replay of one of them is recognised and answered with nothing.
#[derive(Debug)]
pub struct RecentInits {
    cap: usize,
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl RecentInits {
    /// Remembers at most `cap` ephemerals.
    pub fn new(cap: usize) -> Self {
        RecentInits {
            cap,
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `e` was seen recently.
    pub fn contains(&self, e: &[u8; 32]) -> bool {
        self.set.contains(e)
    }

    /// Remembers `e`, forgetting the oldest beyond the cap.
    pub fn insert(&mut self, e: [u8; 32]) {
        if self.cap == 0 || !self.set.insert(e) {
            return;
        }
        self.order.push_back(e);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let ip = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let mut l = InitLimiter::new(
            Rate {
                burst: 3,
                per_second: 2,
            },
            Rate {
                burst: 100,
                per_second: 100,
            },
            16,
        );
        assert!((0..3).all(|_| l.allow(t0, ip)));
        assert!(!l.allow(t0, ip));
        assert!(!l.allow(t0 + Duration::from_millis(400), ip));
        assert!(l.allow(t0 + Duration::from_millis(500), ip));
        // Another source is not affected.
        assert!(l.allow(t0, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))));
    }

    #[test]
    fn source_table_cap_and_purge() {
        let t0 = Instant::now();
        let wide = Rate {
            burst: 100,
            per_second: 100,
        };
        let mut l = InitLimiter::new(
            Rate {
                burst: 1,
                per_second: 1,
            },
            wide,
            1,
        );
        let a = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
        assert!(l.allow(t0, a));
        assert!(!l.allow(t0, b), "source table full");
        assert!(
            l.allow(t0 + Duration::from_secs(1), b),
            "a refilled and was purged"
        );
    }

    #[test]
    fn global_bucket_limits_all_sources() {
        let t0 = Instant::now();
        let wide = Rate {
            burst: 100,
            per_second: 100,
        };
        let mut l = InitLimiter::new(
            wide,
            Rate {
                burst: 2,
                per_second: 1,
            },
            16,
        );
        let ip = |n| IpAddr::V4(Ipv4Addr::new(198, 18, 0, n));
        assert!(l.allow(t0, ip(1)));
        assert!(l.allow(t0, ip(2)));
        assert!(!l.allow(t0, ip(3)));
        assert!(l.allow(t0 + Duration::from_secs(1), ip(3)));
    }

    #[test]
    fn recent_inits_forget_oldest() {
        let mut r = RecentInits::new(2);
        r.insert([1; 32]);
        r.insert([2; 32]);
        r.insert([3; 32]);
        assert!(!r.contains(&[1; 32]));
        assert!(r.contains(&[2; 32]) && r.contains(&[3; 32]));
    }
}
