//! Addresses found in use by an ARP probe.
//!
//! Before offering an address nobody holds in the chain, the server has the
//! node ARP-probe it (RFC 2131 3.1 step 2: "the server SHOULD probe the
//! reused address before allocating"). A client configured statically
//! (`tok connect --address`) is in no lease table: its ARP reply is what
//! keeps the server from offering its address. Such an address is not
//! offered again for a while. The table is capped: when full, the entry
//! closest to its end makes room.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

#[derive(Debug, Clone)]
pub(crate) struct Conflicts {
    until: BTreeMap<Ipv4Addr, Instant>,
    cap: usize,
}

impl Conflicts {
    pub fn new(cap: usize) -> Conflicts {
        Conflicts {
            until: BTreeMap::new(),
            cap: cap.max(1),
        }
    }

    /// `ip` answered: keep it from offers until `until`.
    pub fn mark(&mut self, ip: Ipv4Addr, until: Instant) {
        if !self.until.contains_key(&ip) && self.until.len() >= self.cap {
            if let Some(first) = self
                .until
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(ip, _)| *ip)
            {
                self.until.remove(&first);
            }
        }
        self.until.insert(ip, until);
    }

    pub fn in_use(&self, ip: Ipv4Addr, now: Instant) -> bool {
        self.until.get(&ip).is_some_and(|t| now < *t)
    }

    pub fn expire(&mut self, now: Instant) {
        self.until.retain(|_, t| now < *t);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn marks_expire_and_are_capped() {
        let t0 = Instant::now();
        let mut c = Conflicts::new(2);
        let ip = |i| Ipv4Addr::new(10, 0, 0, i);
        c.mark(ip(2), t0 + Duration::from_secs(1));
        c.mark(ip(3), t0 + Duration::from_secs(5));
        c.mark(ip(4), t0 + Duration::from_secs(9));
        assert_eq!(c.len(), 2);
        assert!(!c.in_use(ip(2), t0));
        assert!(c.in_use(ip(3), t0) && c.in_use(ip(4), t0));
        assert!(!c.in_use(ip(3), t0 + Duration::from_secs(5)));
        c.expire(t0 + Duration::from_secs(6));
        assert_eq!(c.len(), 1);
    }
}
