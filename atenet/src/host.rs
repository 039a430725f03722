//! What the node asks of its host: who it runs as, which IPv4 routes exist
//! (so the first network overlaps none of them), and its first non-loopback
//! IPv4 address (the default `--advertise` behind a wildcard `--listen`).

use std::net::Ipv4Addr;

use rand::Rng;

/// An IPv4 prefix, e.g. `10.42.7.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Net {
    fn mask(prefix_len: u8) -> u32 {
        if prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix_len.min(32)))
        }
    }

    /// True when the two prefixes share at least one address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let mask = Self::mask(self.prefix_len.min(other.prefix_len));
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// The IPv4 routes of the host, parsed from `/proc/net/route` text.
/// Default routes (mask 0) are left out: they overlap everything and say
/// nothing about which private prefixes are in use. Lines that do not parse
/// are skipped.
pub fn parse_proc_net_route(text: &str) -> Vec<Ipv4Net> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            // The kernel prints the big-endian words as host integers, so
            // the bytes in memory order are the address in network order.
            let addr = Ipv4Addr::from(destination.to_ne_bytes());
            let mask = u32::from_be_bytes(mask.to_ne_bytes());
            if mask == 0 {
                return None;
            }
            Some(Ipv4Net {
                addr,
                prefix_len: mask.leading_ones() as u8,
            })
        })
        .collect()
}

/// The host's IPv4 routes, or none when `/proc/net/route` cannot be read.
pub fn routes() -> Vec<Ipv4Net> {
    std::fs::read_to_string("/proc/net/route")
        .map(|text| parse_proc_net_route(&text))
        .unwrap_or_default()
}

/// A random /24 inside 10.0.0.0/8 that overlaps none of `routes`
/// (DESIGN.md, "What users type": the first network of an empty store).
pub fn pick_subnet(routes: &[Ipv4Net], rng: &mut impl Rng) -> Option<Ipv4Net> {
    for _ in 0..4096 {
        // Second octet 1..=254 keeps away from the edges people use by hand.
        let candidate = Ipv4Net {
            addr: Ipv4Addr::new(10, rng.gen_range(1..=254), rng.gen_range(0..=255), 0),
            prefix_len: 24,
        };
        if !routes.iter().any(|route| route.overlaps(&candidate)) {
            return Some(candidate);
        }
    }
    None
}

/// The effective user id of this process.
#[allow(unsafe_code)]
pub fn euid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, touches no memory of ours and
    // cannot fail.
    unsafe { libc::geteuid() }
}

/// The first IPv4 address of an interface that is up and not loopback, in
/// the order the kernel lists them.
pub fn first_non_loopback_ipv4() -> Option<Ipv4Addr> {
    interface_ipv4_addrs()
        .into_iter()
        .find(|addr| !addr.is_loopback() && !addr.is_unspecified())
}

/// Every IPv4 address on an interface that is up (getifaddrs(3)).
#[allow(unsafe_code)]
pub(crate) fn interface_ipv4_addrs() -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a pointer to a list it allocated into
    // `head` and returns 0, or returns -1 and writes nothing. We walk the
    // list read-only, reading `ifa_addr` as `sockaddr_in` only when its
    // family says AF_INET, and free it exactly once with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&raw mut head) != 0 {
            return found;
        }
        let mut cursor = head;
        while !cursor.is_null() {
            let entry = &*cursor;
            let up = entry.ifa_flags & (libc::IFF_UP as u32) != 0;
            if up
                && !entry.ifa_addr.is_null()
                && i32::from((*entry.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin: libc::sockaddr_in = std::ptr::read_unaligned(entry.ifa_addr.cast());
                found.push(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()));
            }
            cursor = entry.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const SAMPLE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
wg0\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
garbage line\n";

    #[test]
    fn parses_routes_and_skips_default_and_garbage() {
        let routes = parse_proc_net_route(SAMPLE);
        if cfg!(target_endian = "little") {
            assert_eq!(
                routes,
                vec![
                    Ipv4Net {
                        addr: Ipv4Addr::new(192, 0, 2, 0),
                        prefix_len: 24
                    },
                    Ipv4Net {
                        addr: Ipv4Addr::new(10, 0, 0, 0),
                        prefix_len: 16
                    },
                ]
            );
        }
    }

    #[test]
    fn overlap_is_symmetric_and_prefix_aware() {
        let wide = Ipv4Net {
            addr: Ipv4Addr::new(10, 0, 0, 0),
            prefix_len: 8,
        };
        let narrow = Ipv4Net {
            addr: Ipv4Addr::new(10, 9, 8, 0),
            prefix_len: 24,
        };
        let other = Ipv4Net {
            addr: Ipv4Addr::new(10, 9, 9, 0),
            prefix_len: 24,
        };
        assert!(wide.overlaps(&narrow) && narrow.overlaps(&wide));
        assert!(!narrow.overlaps(&other));
    }

    #[test]
    fn picked_subnet_avoids_every_route() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // Everything in 10.0.0.0/8 but 10.200.0.0/16 is taken.
        let mut routes = Vec::new();
        for second in 0..=255u8 {
            if second != 200 {
                routes.push(Ipv4Net {
                    addr: Ipv4Addr::new(10, second, 0, 0),
                    prefix_len: 16,
                });
            }
        }
        let subnet = pick_subnet(&routes, &mut rng).expect("one /16 is free");
        assert_eq!(subnet.addr.octets()[1], 200);
        assert_eq!(subnet.prefix_len, 24);
        routes.push(Ipv4Net {
            addr: Ipv4Addr::new(10, 0, 0, 0),
            prefix_len: 8,
        });
        assert_eq!(pick_subnet(&routes, &mut rng), None);
    }

    #[test]
    fn finds_no_loopback_address() {
        if let Some(addr) = first_non_loopback_ipv4() {
            assert!(!addr.is_loopback());
        }
    }
}
