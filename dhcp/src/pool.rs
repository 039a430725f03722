//! Choosing an address to offer.
//!
//! The scan starts at a point derived from the client's identity (FNV-1a of
//! its client id or MAC) and walks the assignable addresses of the subnet in
//! order, wrapping around. So a client tends to get the same address every
//! time, and clients of different nodes start far apart, which keeps two
//! nodes from probing and claiming the same address at once (the chain's
//! claim rule settles it when they do). The walk is bounded: a huge subnet
//! that is nearly full reports exhaustion rather than stalling the node.

use std::net::Ipv4Addr;

use chain::Ipv4Subnet;

/// The first address, from the client's starting point on, that
/// `available` accepts; `None` if none does within `scan_limit` steps.
pub fn pick(
    subnet: &Ipv4Subnet,
    client_key: &[u8],
    scan_limit: u32,
    mut available: impl FnMut(Ipv4Addr) -> bool,
) -> Option<Ipv4Addr> {
    let count = subnet.assignable_count();
    if count == 0 {
        return None;
    }
    let start = (fnv1a(client_key) % u64::from(count)) as u32;
    for step in 0..count.min(scan_limit) {
        let index = ((u64::from(start) + u64::from(step)) % u64::from(count)) as u32;
        let ip = subnet.nth_assignable(index)?;
        if available(ip) {
            return Some(ip);
        }
    }
    None
}

/// FNV-1a, 64 bit: stable across builds and platforms (unlike std's hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet() -> Ipv4Subnet {
        Ipv4Subnet::parse("10.0.0.0/24").unwrap()
    }

    #[test]
    fn same_client_same_start_and_only_assignable() {
        let a = pick(&subnet(), b"client-a", 1000, |_| true).unwrap();
        assert_eq!(pick(&subnet(), b"client-a", 1000, |_| true), Some(a));
        assert!(subnet().is_assignable(a));
        let mut seen = 0;
        assert_eq!(
            pick(&subnet(), b"x", 1000, |_| {
                seen += 1;
                false
            }),
            None
        );
        assert_eq!(seen, 253);
    }

    #[test]
    fn skips_unavailable_and_respects_the_limit() {
        let first = pick(&subnet(), b"c", 1000, |_| true).unwrap();
        let next = pick(&subnet(), b"c", 1000, |ip| ip != first).unwrap();
        assert_ne!(first, next);
        assert_eq!(pick(&subnet(), b"c", 1, |ip| ip != first), None);
        let tiny = Ipv4Subnet::parse("10.0.0.0/31").unwrap();
        assert_eq!(pick(&tiny, b"c", 10, |_| true), None);
    }
}
