//! A small IPv4 CIDR type: what the chain's `subnet` field holds
//! (`10.1.2.0/24`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 subnet: a network address and a prefix length (0..=32). Host
/// bits of the address given are cleared (`10.1.2.7/24` is `10.1.2.0/24`),
/// as the chain accepts either spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Subnet {
    network: Ipv4Addr,
    prefix_len: u8,
}

/// A subnet string that is not `IPV4/PREFIX` with a prefix of 0..=32.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("subnet {0:?} is not an IPv4 CIDR such as 10.1.2.0/24")]
pub struct SubnetParseError(pub String);

impl Ipv4Subnet {
    /// The subnet of `addr` with `prefix_len` bits, or `None` if the prefix
    /// is longer than 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        (prefix_len <= 32).then(|| Self {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix_len)),
            prefix_len,
        })
    }

    /// The network address (host bits zero).
    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(self) -> u8 {
        self.prefix_len
    }

    /// The directed broadcast address (host bits one).
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix_len))
    }

    /// Whether `addr` is inside the subnet.
    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix_len) == u32::from(self.network)
    }

    /// Whether `addr` is a host of the subnet: inside it, and neither the
    /// network nor the broadcast address (for prefixes up to /30).
    pub fn is_host(self, addr: Ipv4Addr) -> bool {
        self.contains(addr)
            && (self.prefix_len > 30 || (addr != self.network && addr != self.broadcast()))
    }

    /// Whether two subnets share an address.
    pub fn overlaps(self, other: Ipv4Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }
}

fn mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

impl FromStr for Ipv4Subnet {
    type Err = SubnetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SubnetParseError(s.to_owned());
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Self::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_masks_and_displays() {
        let s: Ipv4Subnet = "10.1.2.7/24".parse().unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
        assert!(s.contains(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(!s.contains(Ipv4Addr::new(10, 1, 3, 1)));
        assert!(s.is_host(Ipv4Addr::new(10, 1, 2, 1)));
        assert!(!s.is_host(Ipv4Addr::new(10, 1, 2, 255)));
        assert!(!s.is_host(Ipv4Addr::new(10, 1, 2, 0)));
        let all: Ipv4Subnet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
        assert!(all.overlaps(s));
        for bad in [
            "10.1.2.0",
            "10.1.2.0/33",
            "10.1.2.0/+4",
            "x/24",
            "::/0",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<Ipv4Subnet>().is_err(), "{bad}");
        }
    }
}
