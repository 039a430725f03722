//! Which node `tok connect` talks to, and when to move on: a pure state
//! machine driven by `now`, so the rotation is tested with a fake clock.
//!
//! - Start with the first address: send a handshake init, again every
//!   `retry` (1 s) while unanswered (a lost init, or a node that has not yet
//!   read a freshly issued key from the chain).
//! - No answer within `silence` (3 s): report "no answer" for that address
//!   and handshake with the next one, round robin.
//! - Established, then nothing heard for `silence`: report the silence and
//!   handshake with the next address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long a node may be silent before `tok` tries the next address.
pub const SILENCE: Duration = Duration::from_secs(3);
/// How often an unanswered init is sent again to the same address.
pub const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The first init to the current address went out at `since` (`None`:
    /// not yet), the latest at `last`.
    Handshaking {
        since: Option<Instant>,
        last: Option<Instant>,
    },
    /// The session with the current address is up; last authenticated packet.
    Established { last_heard: Instant },
    /// The node said it is leaving: move on at the next poll.
    Left,
}

/// Why `tok` gave up on an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// The handshake init got no answer.
    NoAnswer(SocketAddr),
    /// The established session went silent.
    Silent(SocketAddr),
    /// The node closed the session (it is shutting down).
    Left(SocketAddr),
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Send a handshake init to this address.
    pub handshake: SocketAddr,
    /// Set when this step abandons the previous address.
    pub gave_up: Option<GaveUp>,
}

/// The address rotation.
#[derive(Debug)]
pub struct Failover {
    addrs: Vec<SocketAddr>,
    current: usize,
    phase: Phase,
    silence: Duration,
    retry: Duration,
}

impl Failover {
    /// `addrs` must not be empty; `retry` should be shorter than `silence`.
    pub fn new(addrs: Vec<SocketAddr>, silence: Duration, retry: Duration) -> Self {
        assert!(!addrs.is_empty(), "Failover needs at least one address");
        Failover {
            addrs,
            current: 0,
            phase: Phase::Handshaking {
                since: None,
                last: None,
            },
            silence,
            retry,
        }
    }

    /// The node currently tried or talked to.
    pub fn current(&self) -> SocketAddr {
        self.addrs[self.current]
    }

    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Established { .. })
    }

    /// The handshake with the current address completed.
    pub fn established(&mut self, now: Instant) {
        self.phase = Phase::Established { last_heard: now };
    }

    /// An authenticated packet arrived on the current session.
    pub fn heard(&mut self, now: Instant) {
        if let Phase::Established { last_heard } = &mut self.phase {
            if now > *last_heard {
                *last_heard = now;
            }
        }
    }

    /// The node closed our session: the next poll moves to the next address.
    pub fn node_left(&mut self) {
        if self.is_established() {
            self.phase = Phase::Left;
        }
    }

    /// When [`Failover::poll`] has something to do next.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Handshaking { since: None, .. } | Phase::Left => None,
            Phase::Handshaking {
                since: Some(since),
                last,
            } => {
                let give_up = since + self.silence;
                Some(last.map_or(give_up, |l| give_up.min(l + self.retry)))
            }
            Phase::Established { last_heard } => Some(last_heard + self.silence),
        }
    }

    /// Returns the handshake to start now, if any.
    pub fn poll(&mut self, now: Instant) -> Option<Step> {
        let gave_up = match self.phase {
            Phase::Handshaking { since: None, .. } => None,
            Phase::Left => Some(GaveUp::Left(self.current())),
            Phase::Handshaking {
                since: Some(since),
                last,
            } => {
                if now.saturating_duration_since(since) >= self.silence {
                    Some(GaveUp::NoAnswer(self.current()))
                } else if last.is_none_or(|l| now.saturating_duration_since(l) >= self.retry) {
                    self.phase = Phase::Handshaking {
                        since: Some(since),
                        last: Some(now),
                    };
                    return Some(Step {
                        handshake: self.current(),
                        gave_up: None,
                    });
                } else {
                    return None;
                }
            }
            Phase::Established { last_heard } => {
                if now.saturating_duration_since(last_heard) >= self.silence {
                    Some(GaveUp::Silent(self.current()))
                } else {
                    return None;
                }
            }
        };
        if gave_up.is_some() {
            self.current = (self.current + 1) % self.addrs.len();
        }
        self.phase = Phase::Handshaking {
            since: Some(now),
            last: Some(now),
        };
        Some(Step {
            handshake: self.current(),
            gave_up,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<SocketAddr> {
        vec![
            "198.18.0.1:4790".parse().unwrap(),
            "198.18.0.2:4790".parse().unwrap(),
            "[2001:db8::3]:4790".parse().unwrap(),
        ]
    }

    #[test]
    fn starts_with_first_and_rotates_round_robin_on_no_answer() {
        let a = addrs();
        let t0 = Instant::now();
        let mut f = Failover::new(a.clone(), SILENCE, RETRY);
        assert_eq!(f.deadline(), None);
        assert_eq!(
            f.poll(t0),
            Some(Step {
                handshake: a[0],
                gave_up: None
            })
        );
        assert_eq!(f.deadline(), Some(t0 + RETRY));
        assert_eq!(f.poll(t0 + Duration::from_millis(999)), None);
        let mut t = t0;
        for i in 1..=7 {
            // retries to the same address, without giving up on it
            for r in 1..3 {
                let step = f.poll(t + RETRY * r).unwrap();
                assert_eq!(
                    step,
                    Step {
                        handshake: a[(i - 1) % 3],
                        gave_up: None
                    }
                );
                assert_eq!(f.poll(t + RETRY * r), None);
            }
            assert_eq!(f.deadline(), Some(t + SILENCE));
            t += SILENCE;
            let step = f.poll(t).unwrap();
            assert_eq!(step.handshake, a[i % 3]);
            assert_eq!(step.gave_up, Some(GaveUp::NoAnswer(a[(i - 1) % 3])));
        }
    }

    #[test]
    fn established_session_kept_while_heard_and_left_when_silent() {
        let a = addrs();
        let t0 = Instant::now();
        let mut f = Failover::new(a.clone(), SILENCE, RETRY);
        f.poll(t0).unwrap();
        f.established(t0 + Duration::from_millis(10));
        assert!(f.is_established());
        // heard every second for a minute: never moves
        for s in 1..60 {
            let now = t0 + Duration::from_secs(s);
            f.heard(now);
            assert_eq!(f.poll(now), None);
        }
        let last = t0 + Duration::from_secs(59);
        assert_eq!(f.poll(last + Duration::from_millis(2999)), None);
        let step = f.poll(last + SILENCE).unwrap();
        assert_eq!(step.gave_up, Some(GaveUp::Silent(a[0])));
        assert_eq!(step.handshake, a[1]);
        assert!(!f.is_established());
        assert_eq!(f.current(), a[1]);
    }

    #[test]
    fn heard_is_ignored_while_handshaking() {
        let a = addrs();
        let t0 = Instant::now();
        let mut f = Failover::new(a.clone(), SILENCE, RETRY);
        f.poll(t0);
        f.heard(t0 + Duration::from_secs(2));
        f.poll(t0 + Duration::from_secs(2)); // a retry
        assert_eq!(f.poll(t0 + SILENCE).unwrap().handshake, a[1]);
    }

    #[test]
    fn leave_moves_on_at_once() {
        let a = addrs();
        let t0 = Instant::now();
        let mut f = Failover::new(a.clone(), SILENCE, RETRY);
        f.poll(t0);
        f.node_left(); // ignored while handshaking
        assert_eq!(f.poll(t0), None);
        f.established(t0);
        f.node_left();
        let step = f.poll(t0).unwrap();
        assert_eq!(step.gave_up, Some(GaveUp::Left(a[0])));
        assert_eq!(step.handshake, a[1]);
    }

    #[test]
    fn single_address_retries_itself() {
        let one: SocketAddr = "198.18.0.1:4790".parse().unwrap();
        let t0 = Instant::now();
        let mut f = Failover::new(vec![one], SILENCE, RETRY);
        f.poll(t0);
        let step = f.poll(t0 + SILENCE).unwrap();
        assert_eq!(step.handshake, one);
        assert_eq!(step.gave_up, Some(GaveUp::NoAnswer(one)));
    }
}
