//! The upstreams of `/etc/resolv.conf` text (resolv.conf(5)). Reading the
//! file is the edge's business; this only parses what it read.

use std::net::{Ipv4Addr, SocketAddr};

const DNS_PORT: u16 = 53;

/// The resolvers of `resolv.conf` text: IPv4 `nameserver` lines, port 53.
/// IPv6 nameservers are skipped (the node's upstream socket is IPv4).
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            let ip: Ipv4Addr = words.next()?.parse().ok()?;
            Some(SocketAddr::from((ip, DNS_PORT)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_keeps_ipv4_nameservers() {
        let text = "# c\nsearch x\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 127.0.0.53 \n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
                "127.0.0.53:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn resolv_conf_ignores_junk() {
        let text = "nameserver\nnameserver 10.0.0.300\n  nameserver 10.1.2.3 # comment\nnameservers 1.1.1.1\n;nameserver 9.9.9.9\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec!["10.1.2.3:53".parse::<SocketAddr>().unwrap()]
        );
        assert!(parse_resolv_conf("").is_empty());
    }
}
