//! A server's configuration: the network it serves and every cap and timer.

use std::net::Ipv4Addr;
use std::time::Duration;

use chain::Ipv4Subnet;

/// The `mtu` setting's default (DESIGN.md: the default tap MTU).
pub const DEFAULT_MTU: u16 = 1380;
/// The `lease-time` setting's default.
pub const DEFAULT_LEASE_TIME: Duration = Duration::from_secs(3600);
/// Shortest and longest lease a `lease-time` setting may ask for.
pub const MIN_LEASE_TIME: Duration = Duration::from_secs(60);
pub const MAX_LEASE_TIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// A configuration that cannot serve, naming the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "subnet {0:?} is not an IPv4 subnet with room for a gateway and a host (/30 or wider)"
    )]
    Subnet(String),
    #[error(
        "lease-time {0:?} is not a duration from 60s to 365d such as 3600, 90s, 30m, 1h or 1d"
    )]
    LeaseTime(String),
    #[error("mtu {0:?} is not a number from 68 to 65535")]
    Mtu(String),
}

/// What a [`Server`](crate::Server) serves and how.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The network id (32 hex).
    pub network: String,
    pub subnet: Ipv4Subnet,
    /// The gateway's address: the server identifier, router and DNS server.
    pub gateway_ip: Ipv4Addr,
    /// The gateway's MAC, the same on every node: replies come from it.
    pub gateway_mac: [u8; 6],
    /// This node's id (16 hex), written into claims.
    pub node_id: String,
    /// Option 26.
    pub mtu: u16,
    pub lease_time: Duration,
    /// How long a probed address must stay silent before it is offered
    /// (RFC 2131 3.1 step 2 suggests probing; RFC 5227 waits about this long).
    pub probe_wait: Duration,
    /// Candidates probed for one DISCOVER before giving up.
    pub max_probe_attempts: u8,
    /// How long an offer is held for the client's REQUEST.
    pub offer_hold: Duration,
    /// How long a REQUEST waits for the chain to show its claim's outcome.
    pub claim_timeout: Duration,
    /// How long a declined address is kept from everyone (RFC 2131 3.1 step 5).
    pub decline_hold: Duration,
    /// How long an address that answered a probe is not offered again.
    pub conflict_hold: Duration,
    /// A lease this node claimed is retired this long after it expired.
    pub retire_after: Duration,
    /// Any node retires another node's lease this long after it expired
    /// (that node may be gone).
    pub retire_orphans_after: Duration,
    /// How often leases are checked for retirement.
    pub sweep_interval: Duration,
    /// Most leases retired per sweep.
    pub max_retire_per_sweep: usize,
    /// Outstanding offers (probing or offered), one per client.
    pub max_offers: usize,
    /// REQUESTs waiting for the chain.
    pub max_pending: usize,
    /// Addresses remembered as answering probes.
    pub max_conflicts: usize,
    /// Addresses looked at per DISCOVER at most.
    pub pool_scan_limit: u32,
}

impl ServerConfig {
    /// Defaults for everything but the network's identity.
    pub fn new(
        network: &str,
        subnet: Ipv4Subnet,
        gateway_mac: [u8; 6],
        node_id: &str,
    ) -> Result<ServerConfig, ConfigError> {
        let gateway_ip = subnet
            .gateway()
            .ok_or_else(|| ConfigError::Subnet(subnet.to_string()))?;
        Ok(ServerConfig {
            network: network.to_owned(),
            subnet,
            gateway_ip,
            gateway_mac,
            node_id: node_id.to_owned(),
            mtu: DEFAULT_MTU,
            lease_time: DEFAULT_LEASE_TIME,
            probe_wait: Duration::from_millis(300),
            max_probe_attempts: 4,
            offer_hold: Duration::from_secs(60),
            claim_timeout: Duration::from_secs(3),
            decline_hold: Duration::from_secs(600),
            conflict_hold: Duration::from_secs(300),
            retire_after: Duration::from_secs(3600),
            retire_orphans_after: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(60),
            max_retire_per_sweep: 64,
            max_offers: 1024,
            max_pending: 1024,
            max_conflicts: 1024,
            pool_scan_limit: 65_536,
        })
    }

    /// From the chain's view of a network: its subnet and its `mtu` and
    /// `lease-time` settings.
    pub fn from_network(
        net: &chain::Network,
        gateway_mac: [u8; 6],
        node_id: &str,
    ) -> Result<ServerConfig, ConfigError> {
        let subnet = net
            .ipv4_subnet()
            .ok_or_else(|| ConfigError::Subnet(net.subnet.clone()))?;
        let mut cfg = ServerConfig::new(&net.id, subnet, gateway_mac, node_id)?;
        if let Some(v) = net.setting("mtu") {
            cfg.mtu = parse_mtu(v)?;
        }
        if let Some(v) = net.setting("lease-time") {
            cfg.lease_time = parse_lease_time(v)?;
        }
        Ok(cfg)
    }
}

/// The `mtu` setting: 68..=65535.
pub fn parse_mtu(value: &str) -> Result<u16, ConfigError> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|m| *m >= crate::options::MIN_MTU)
        .ok_or_else(|| ConfigError::Mtu(value.to_owned()))
}

/// The `lease-time` setting: seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_lease_time(value: &str) -> Result<Duration, ConfigError> {
    let bad = || ConfigError::LeaseTime(value.to_owned());
    let v = value.trim();
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let d = Duration::from_secs(n.checked_mul(scale).ok_or_else(bad)?);
    if (MIN_LEASE_TIME..=MAX_LEASE_TIME).contains(&d) {
        Ok(d)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_time_setting() {
        assert_eq!(parse_lease_time("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_lease_time("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_lease_time("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_lease_time("7200"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_lease_time("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "h", "1x", "10s", "-1h", "99999999999999999999d", "400d"] {
            let err = parse_lease_time(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn mtu_and_subnet() {
        assert_eq!(parse_mtu("1400"), Ok(1400));
        assert!(parse_mtu("67").is_err());
        let tiny = Ipv4Subnet::parse("10.0.0.0/31").unwrap();
        assert!(ServerConfig::new("n", tiny, [2; 6], "x").is_err());
    }
}
