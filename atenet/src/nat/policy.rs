//! A network's NAT settings (`nat on|off`, `nat-allow CIDR,...`) and the
//! addresses denied by default, as a [`nat::Policy`].

use std::net::Ipv4Addr;

use nat::{Ipv4Cidr, Policy};

/// The `nat` setting: on unless `off` (default on).
pub fn enabled(value: Option<&str>) -> bool {
    !value.is_some_and(|v| v.trim().eq_ignore_ascii_case("off"))
}

/// The `nat-allow` setting: comma-separated IPv4 CIDRs (a bare address is
/// a /32), `none` or empty for none. Returns the entries and the ones that
/// did not parse (tok validates the setting; these are skipped).
pub fn parse_allow(value: Option<&str>) -> (Vec<Ipv4Cidr>, Vec<String>) {
    let mut allow = Vec::new();
    let mut bad = Vec::new();
    let Some(value) = value else {
        return (allow, bad);
    };
    if value.trim().eq_ignore_ascii_case("none") {
        return (allow, bad);
    }
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match parse_cidr(entry) {
            Some(cidr) => allow.push(cidr),
            None => bad.push(entry.to_owned()),
        }
    }
    (allow, bad)
}

fn parse_cidr(entry: &str) -> Option<Ipv4Cidr> {
    let (addr, len) = match entry.split_once('/') {
        Some((addr, len)) => (addr, len.parse::<u8>().ok()?),
        None => (entry, 32),
    };
    let addr: Ipv4Addr = addr.parse().ok()?;
    (len <= 32).then(|| Ipv4Cidr::new(addr, len))
}

/// The policy of a network with these settings on a host with these
/// addresses. `store_addrs`: the chain store's endpoint addresses (none for
/// the embedded store).
pub fn policy(
    net: &chain::Network,
    host_addrs: &[Ipv4Addr],
    store_addrs: &[Ipv4Addr],
) -> (Policy, Vec<String>) {
    let (allow, bad) = parse_allow(net.setting("nat-allow"));
    let policy = Policy {
        enabled: enabled(net.setting("nat")),
        host_addrs: host_addrs.to_vec(),
        store_addrs: store_addrs.to_vec(),
        allow,
    };
    (policy, bad)
}

/// Whether two policies decide the same (Policy has no `PartialEq`).
pub fn same(a: &Policy, b: &Policy) -> bool {
    a.enabled == b.enabled
        && a.host_addrs == b.host_addrs
        && a.store_addrs == b.store_addrs
        && a.allow == b.allow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse() {
        assert!(enabled(None));
        assert!(enabled(Some("on")));
        assert!(!enabled(Some("off")));
        let (allow, bad) = parse_allow(Some("127.0.0.0/8, 192.0.2.7,bogus,10.0.0.0/33"));
        assert_eq!(
            allow,
            vec![
                Ipv4Cidr::new(Ipv4Addr::new(127, 0, 0, 0), 8),
                Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 7), 32)
            ]
        );
        assert_eq!(bad, vec!["bogus".to_owned(), "10.0.0.0/33".to_owned()]);
        assert!(parse_allow(Some("none")).0.is_empty());
        assert!(parse_allow(None).0.is_empty());
    }
}
