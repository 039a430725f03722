//! Storm control: a token bucket per local port for broadcast and multicast
//! frames (DESIGN.md, "How a frame travels": "each local port has a
//! broadcast/multicast rate limit"). A broadcast is copied to every port of
//! every node, so one looping or hostile client would otherwise cost the
//! whole network; unicast is not limited (it costs one port).
//!
//! Integer arithmetic in nanotokens (one frame = 10^9), so the bucket is
//! exact and never drifts; time is passed in.

use std::time::{Duration, Instant};

/// One frame, in nanotokens.
const FRAME: u64 = 1_000_000_000;

/// Rate and burst of a storm-control bucket, in frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StormConfig {
    /// Sustained broadcast/multicast frames per second. 1000 by default:
    /// far above what ARP, DHCP, mDNS and friends need from one host.
    pub frames_per_second: u32,
    /// Frames a port may send at once after being quiet. 2000 by default.
    pub burst: u32,
}

impl Default for StormConfig {
    fn default() -> Self {
        Self {
            frames_per_second: 1000,
            burst: 2000,
        }
    }
}

/// A token bucket that starts full.
#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    config: StormConfig,
    /// Tokens held, in nanotokens, at `last`.
    tokens: u64,
    /// When `tokens` was last brought up to date; `None` until first use.
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(config: StormConfig) -> Self {
        Self {
            config,
            tokens: capacity(config),
            last: None,
        }
    }

    /// Takes one frame's token at `now`; `false` means drop the frame.
    /// A clock that goes backwards refills nothing.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        if self.last.is_none_or(|last| now > last) {
            self.last = Some(now);
        }
        // ns * frames/s = nanotokens; u128 so no elapsed time overflows.
        let refill = elapsed.as_nanos() * u128::from(self.config.frames_per_second);
        let cap = capacity(self.config);
        self.tokens = (u128::from(self.tokens) + refill).min(u128::from(cap)) as u64;
        if self.tokens >= FRAME {
            self.tokens -= FRAME;
            true
        } else {
            false
        }
    }
}

fn capacity(config: StormConfig) -> u64 {
    u64::from(config.burst) * FRAME
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn allowed(bucket: &mut TokenBucket, now: Instant, frames: u32) -> u32 {
        (0..frames).map(|_| u32::from(bucket.allow(now))).sum()
    }

    #[test]
    fn a_full_bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let cfg = StormConfig {
            frames_per_second: 100,
            burst: 20,
        };
        let mut b = TokenBucket::new(cfg);
        assert_eq!(allowed(&mut b, t0, 50), 20);
        assert_eq!(allowed(&mut b, t0 + ms(100), 50), 10, "100 fps for 100 ms");
        assert_eq!(allowed(&mut b, t0 + ms(105), 50), 0, "half a token");
        assert_eq!(allowed(&mut b, t0 + ms(110), 50), 1);
        assert_eq!(
            allowed(&mut b, t0 + ms(100_000), 50),
            20,
            "refill stops at burst"
        );
    }

    #[test]
    fn a_steady_flood_gets_exactly_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(StormConfig::default());
        let mut ok = 0;
        // 10 000 frames/s for 2 s, one every 100 us.
        for i in 0..20_000u64 {
            ok += u32::from(b.allow(t0 + Duration::from_micros(100 * i)));
        }
        // burst 2000 + 1000 fps * (2 s less the last 100 us)
        assert_eq!(ok, 2000 + 1999);
    }

    #[test]
    fn a_clock_going_backwards_refills_nothing() {
        let early = Instant::now();
        let t0 = early + Duration::from_secs(10);
        let mut b = TokenBucket::new(StormConfig {
            frames_per_second: 10,
            burst: 1,
        });
        assert!(b.allow(t0));
        assert!(!b.allow(early));
        assert!(!b.allow(t0 + ms(50)), "still measured from t0");
        assert!(b.allow(t0 + ms(100)));
    }

    #[test]
    fn zero_rate_is_burst_only_and_huge_gaps_do_not_overflow() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(StormConfig {
            frames_per_second: 0,
            burst: 3,
        });
        assert_eq!(allowed(&mut b, t0 + Duration::from_secs(1 << 40), 10), 3);
        let mut b = TokenBucket::new(StormConfig {
            frames_per_second: u32::MAX,
            burst: u32::MAX,
        });
        assert!(b.allow(t0));
        assert!(b.allow(t0 + Duration::from_secs(1 << 40)));
    }
}
