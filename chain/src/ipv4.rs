//! IPv4 subnet arithmetic the lease rules need: which addresses of a
//! network's subnet a DHCP server may hand out.
//!
//! The gateway is the first host address of the subnet (issue 5 item 1: the
//! same on every node), so the assignable hosts are the subnet minus its
//! network address, its broadcast address and the gateway. Subnets narrower
//! than /30 have none.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 subnet, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Subnet {
    base: u32,
    prefix: u8,
}

impl Ipv4Subnet {
    /// `10.1.2.0/24` (host bits are cleared: `10.1.2.7/24` is `10.1.2.0/24`).
    /// `None` for IPv6, a missing or out-of-range prefix, or a bad address.
    pub fn parse(cidr: &str) -> Option<Ipv4Subnet> {
        let (addr, prefix) = cidr.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        Ipv4Subnet::new(addr, prefix)
    }

    /// The subnet of `addr` with `prefix` bits (at most 32).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Subnet> {
        if prefix > 32 {
            return None;
        }
        let base = u32::from(addr) & mask_bits(prefix);
        Some(Ipv4Subnet { base, prefix })
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The network address (all host bits zero).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    /// The subnet mask, as DHCP option 1 carries it.
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask_bits(self.prefix))
    }

    /// The directed broadcast address (all host bits one).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base | !mask_bits(self.prefix))
    }

    /// The gateway: the first host address. `None` when the subnet has no
    /// room for a gateway and a host (prefix above 30).
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        (self.prefix <= 30).then(|| Ipv4Addr::from(self.base + 1))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask_bits(self.prefix) == self.base
    }

    /// Inside the subnet and neither its network, broadcast nor gateway
    /// address: what a lease or reservation may name.
    pub fn is_assignable(&self, ip: Ipv4Addr) -> bool {
        let first = self.base + 2;
        let v = u32::from(ip);
        self.prefix <= 30 && self.contains(ip) && v >= first && v < u32::from(self.broadcast())
    }

    /// How many addresses [`Self::is_assignable`] accepts.
    pub fn assignable_count(&self) -> u32 {
        if self.prefix > 30 {
            0
        } else {
            // 2^(32-prefix) - 3 without overflowing at /0.
            (!mask_bits(self.prefix)) - 2
        }
    }

    /// The `i`-th assignable address (`i < assignable_count()`), in address
    /// order: `network + 2 + i`.
    pub fn nth_assignable(&self, i: u32) -> Option<Ipv4Addr> {
        (i < self.assignable_count()).then(|| Ipv4Addr::from(self.base + 2 + i))
    }

    /// Inverse of [`Self::nth_assignable`].
    pub fn assignable_index(&self, ip: Ipv4Addr) -> Option<u32> {
        self.is_assignable(ip)
            .then(|| u32::from(ip) - self.base - 2)
    }
}

impl fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

fn mask_bits(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_24() {
        let s = Ipv4Subnet::parse("10.1.2.7/24").unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert_eq!(s.mask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(s.gateway(), Some(Ipv4Addr::new(10, 1, 2, 1)));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
        assert_eq!(s.assignable_count(), 253);
        assert_eq!(s.nth_assignable(0), Some(Ipv4Addr::new(10, 1, 2, 2)));
        assert_eq!(s.nth_assignable(252), Some(Ipv4Addr::new(10, 1, 2, 254)));
        assert_eq!(s.nth_assignable(253), None);
        for bad in [[10, 1, 2, 0], [10, 1, 2, 1], [10, 1, 2, 255], [10, 1, 3, 5]] {
            assert!(!s.is_assignable(Ipv4Addr::from(bad)), "{bad:?}");
        }
        assert!(s.is_assignable(Ipv4Addr::new(10, 1, 2, 2)));
        assert_eq!(s.assignable_index(Ipv4Addr::new(10, 1, 2, 9)), Some(7));
    }

    #[test]
    fn edges() {
        let s30 = Ipv4Subnet::parse("10.0.0.4/30").unwrap();
        assert_eq!(s30.assignable_count(), 1);
        assert!(s30.is_assignable(Ipv4Addr::new(10, 0, 0, 6)));
        for p in [31, 32] {
            let s = Ipv4Subnet::parse(&format!("10.0.0.0/{p}")).unwrap();
            assert_eq!(s.assignable_count(), 0);
            assert_eq!(s.gateway(), None);
            assert!(!s.is_assignable(Ipv4Addr::new(10, 0, 0, 0)));
        }
        let all = Ipv4Subnet::parse("0.0.0.0/0").unwrap();
        assert_eq!(all.assignable_count(), u32::MAX - 2);
        assert!(Ipv4Subnet::parse("fd00::/64").is_none());
        assert!(Ipv4Subnet::parse("10.0.0.0/33").is_none());
    }
}
