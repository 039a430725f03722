//! Configures the tap with iproute2's `ip` command (address, MTU, up) and
//! reads back its MAC (sysfs) and IPv4 addresses (`ip -j`). Spawning `ip`
//! keeps tok free of netlink code; it runs only at start-up and every 15 s
//! for the gratuitous ARP, never per frame.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::cidr::Cidr;

/// Runs `ip ARGS`; the error names the command and what `ip` said.
pub fn run_ip(args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("ip").args(args).output().with_context(|| {
        format!(
            "running `ip {}` (iproute2 is needed to configure the tap)",
            args.join(" ")
        )
    })?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// `ip addr add CIDR dev TAP`.
pub fn add_address(tap: &str, cidr: Cidr) -> Result<()> {
    run_ip(&["addr", "add", &cidr.to_string(), "dev", tap]).map(drop)
}

/// `ip link set dev TAP mtu MTU up`.
pub fn set_mtu_and_up(tap: &str, mtu: u16) -> Result<()> {
    run_ip(&["link", "set", "dev", tap, "mtu", &mtu.to_string(), "up"]).map(drop)
}

/// The tap's MAC, from `/sys/class/net/TAP/address`.
pub fn mac(tap: &str) -> Result<[u8; 6]> {
    let path = format!("/sys/class/net/{tap}/address");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_mac(text.trim()).with_context(|| format!("{path} holds `{}`", text.trim()))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        let part = parts
            .next()
            .context("expected 6 hex bytes separated by `:`")?;
        if part.len() != 2 {
            bail!("expected 6 hex bytes separated by `:`");
        }
        *byte = u8::from_str_radix(part, 16).context("expected 6 hex bytes separated by `:`")?;
    }
    if parts.next().is_some() {
        bail!("expected 6 hex bytes separated by `:`");
    }
    Ok(mac)
}

#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    #[serde(default)]
    family: String,
    #[serde(default)]
    local: Option<String>,
}

/// The IPv4 addresses on `tap` (`ip -j -4 addr show dev TAP`).
pub fn ipv4_addresses(tap: &str) -> Result<Vec<Ipv4Addr>> {
    let out = run_ip(&["-j", "-4", "addr", "show", "dev", tap])?;
    parse_ipv4_addresses(&out)
}

fn parse_ipv4_addresses(json: &[u8]) -> Result<Vec<Ipv4Addr>> {
    let links: Vec<Link> =
        serde_json::from_slice(json).context("parsing the JSON of `ip -j addr show`")?;
    Ok(links
        .iter()
        .flat_map(|l| &l.addr_info)
        .filter(|a| a.family == "inet")
        .filter_map(|a| a.local.as_deref()?.parse().ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:1a:ff:00:10:9c").unwrap(),
            [0x02, 0x1a, 0xff, 0x00, 0x10, 0x9c]
        );
        for bad in [
            "02:1a:ff:00:10",
            "02:1a:ff:00:10:9c:01",
            "zz:1a:ff:00:10:9c",
            "2:1a:ff:00:10:9c0",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ip_json() {
        let json = br#"[{"ifindex":5,"ifname":"tok0","addr_info":[
            {"family":"inet","local":"10.1.2.3","prefixlen":24},
            {"family":"inet6","local":"fe80::1","prefixlen":64},
            {"family":"inet","local":"10.1.3.3","prefixlen":24}]}]"#;
        assert_eq!(
            parse_ipv4_addresses(json).unwrap(),
            vec![Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(10, 1, 3, 3)]
        );
        assert!(parse_ipv4_addresses(b"[{}]").unwrap().is_empty());
        assert!(parse_ipv4_addresses(b"nope").is_err());
    }
}
