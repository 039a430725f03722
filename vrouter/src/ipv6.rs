//! The gateway's IPv6 addresses, from the network's `ipv6-prefix` setting
//! (`tok network set NETWORK ipv6-prefix fd00:1::/64`): like the IPv4
//! ones, every node derives the same without talking to the others.
//!
//! - global: the first address after the prefix (`fd00:1::/64` ->
//!   `fd00:1::1`), as for IPv4;
//! - link-local: `fe80::/64` with the modified EUI-64 interface id of the
//!   gateway MAC (RFC 4291, 2.5.1 and appendix A), the address Router
//!   Advertisements come from (RFC 4861, 6.1.2).

use snooping::Mac;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// An IPv6 prefix: an address with its host bits clear and a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    network: Ipv6Addr,
    len: u8,
}

/// Why an `ipv6-prefix` setting is not a usable prefix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IPv6 prefix such as fd00:1::/64 (length 1..=126)")]
pub struct Ipv6PrefixParseError(pub String);

impl Ipv6Prefix {
    /// `addr/len` with the host bits of `addr` cleared; `None` unless
    /// `len` is 1..=126 (room for the gateway and a host).
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Self> {
        if !(1..=126).contains(&len) {
            return None;
        }
        let mask = u128::MAX << (128 - u32::from(len));
        Some(Self {
            network: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        })
    }

    /// The prefix address (host bits clear).
    pub fn network(&self) -> Ipv6Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `ip` is in the prefix.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let mask = u128::MAX << (128 - u32::from(self.len));
        u128::from(ip) & mask == u128::from(self.network)
    }
}

impl FromStr for Ipv6Prefix {
    type Err = Ipv6PrefixParseError;

    /// `ADDRESS/LENGTH`, as `tok` stores the setting (`fd00:1::/64`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || Ipv6PrefixParseError(s.to_owned());
        let (addr, len) = s.trim().split_once('/').ok_or_else(err)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| err())?;
        let len: u8 = len.parse().map_err(|_| err())?;
        Self::new(addr, len).ok_or_else(err)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// The gateway's global IPv6 address: the first address after the prefix.
pub fn gateway_ipv6(prefix: Ipv6Prefix) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(prefix.network()) + 1)
}

/// The link-local address of `mac`: `fe80::` with the modified EUI-64
/// interface id (the universal/local bit inverted, `ff:fe` in the middle).
pub fn link_local(mac: Mac) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[0] = 0xfe;
    o[1] = 0x80;
    o[8] = mac[0] ^ 0x02;
    o[9] = mac[1];
    o[10] = mac[2];
    o[11] = 0xff;
    o[12] = 0xfe;
    o[13] = mac[3];
    o[14] = mac[4];
    o[15] = mac[5];
    Ipv6Addr::from(o)
}

/// The solicited-node multicast address of `ip` (RFC 4291, 2.7.1):
/// `ff02::1:ff00:0/104` with its low 24 bits.
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet address of an IPv6 multicast group (RFC 2464, 7):
/// `33:33` and the group's low 32 bits.
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// All-nodes (RFC 4291, 2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All-routers (RFC 4291, 2.7.1).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_setting_as_tok_stores_it() {
        let p: Ipv6Prefix = "fd00:1::/64".parse().unwrap();
        assert_eq!(p.prefix_len(), 64);
        assert_eq!(gateway_ipv6(p), "fd00:1::1".parse::<Ipv6Addr>().unwrap());
        let p: Ipv6Prefix = "fd00:1::5/64".parse().unwrap();
        assert_eq!(p.network(), "fd00:1::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.to_string(), "fd00:1::/64");
        assert!(p.contains("fd00:1::abcd".parse().unwrap()));
        assert!(!p.contains("fd00:2::1".parse().unwrap()));
        for bad in [
            "",
            "fd00::",
            "fd00::/0",
            "fd00::/127",
            "10.0.0.0/8",
            "x/64",
            "fd00::/6a",
        ] {
            assert!(bad.parse::<Ipv6Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn link_local_is_modified_eui64() {
        let ll = link_local([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(ll, "fe80::11:22ff:fe33:4455".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn solicited_node_and_group_mac() {
        let ip: Ipv6Addr = "fd00:1::12:3456".parse().unwrap();
        let sn = solicited_node(ip);
        assert_eq!(sn, "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap());
        assert_eq!(multicast_mac(sn), [0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
    }
}
