//! `ADDRESS/PREFIX` parsing for `--subnet`, `--address` and `ipv6-prefix`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address with a prefix length, e.g. `10.1.2.3/24` or `fd00::1/64`.
/// The host bits are kept (`--address` needs them); [`Cidr::network`] clears them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// 32 for IPv4, 128 for IPv6.
    pub fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The same prefix with the host bits cleared.
    pub fn network(self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.prefix))),
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }

    /// True when the host bits are all zero (`10.1.0.0/16`, not `10.1.0.1/16`).
    pub fn is_network(self) -> bool {
        self.network().addr == self.addr
    }

    /// True when `addr` is inside this prefix.
    pub fn contains(self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                u32::from(n) & mask32(self.prefix) == u32::from(a) & mask32(self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                u128::from(n) & mask128(self.prefix) == u128::from(a) & mask128(self.prefix)
            }
            _ => false,
        }
    }

    /// True when the two prefixes share at least one address.
    pub fn overlaps(self, other: Cidr) -> bool {
        let shorter = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let longer = if self.prefix <= other.prefix {
            other
        } else {
            self
        };
        shorter.contains(longer.addr)
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a CIDR string was refused; the message names the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').ok_or_else(|| {
            CidrError(format!(
                "`{s}` has no prefix length: expected ADDRESS/PREFIX, e.g. 10.1.2.0/24 or fd00::/64"
            ))
        })?;
        let addr: IpAddr = addr.parse().map_err(|_| {
            CidrError(format!(
                "`{addr}` in `{s}` is not an IPv4 or IPv6 address: expected e.g. 10.1.2.0/24 or fd00::/64"
            ))
        })?;
        let max = Cidr::max_prefix(addr);
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
            CidrError(format!(
                "prefix length `{prefix}` in `{s}` is not a number from 0 to {max}"
            ))
        })?;
        Ok(Cidr { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_v4_and_v6() {
        assert_eq!(c("10.1.2.3/24").to_string(), "10.1.2.3/24");
        assert_eq!(c("10.1.2.3/24").network().to_string(), "10.1.2.0/24");
        assert_eq!(c("fd00::1/64").network().to_string(), "fd00::/64");
        assert!(c("10.1.0.0/16").is_network());
        assert!(!c("10.1.0.1/16").is_network());
        assert_eq!(c("0.0.0.0/0").network(), c("0.0.0.0/0"));
    }

    #[test]
    fn errors_name_the_value() {
        let e = "10.1.2.0".parse::<Cidr>().unwrap_err().to_string();
        assert!(
            e.contains("`10.1.2.0`") && e.contains("ADDRESS/PREFIX"),
            "{e}"
        );
        let e = "10.1.2/24".parse::<Cidr>().unwrap_err().to_string();
        assert!(e.contains("`10.1.2`"), "{e}");
        let e = "10.1.2.0/33".parse::<Cidr>().unwrap_err().to_string();
        assert!(e.contains("`33`") && e.contains("0 to 32"), "{e}");
        let e = "fd00::/129".parse::<Cidr>().unwrap_err().to_string();
        assert!(e.contains("0 to 128"), "{e}");
    }

    #[test]
    fn overlap() {
        assert!(c("10.0.0.0/8").overlaps(c("10.1.2.0/24")));
        assert!(c("10.1.2.0/24").overlaps(c("10.0.0.0/8")));
        assert!(c("10.1.2.0/24").overlaps(c("10.1.2.128/25")));
        assert!(!c("10.1.2.0/24").overlaps(c("10.1.3.0/24")));
        assert!(!c("10.1.2.0/24").overlaps(c("fd00::/8")));
        assert!(c("10.1.2.7/24").contains("10.1.2.200".parse().unwrap()));
    }
}
