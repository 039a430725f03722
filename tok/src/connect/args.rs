//! Checking what `tok connect` was given, before anything is created.

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{anyhow, bail, Result};
use vswitch::key::AccessKey;

/// The UDP port `atenet serve` listens on by default (`--listen 0.0.0.0:7370`).
pub const DEFAULT_NODE_PORT: u16 = 7370;

/// Default tap MTU (DESIGN.md: fits an IPv6 underlay of 1500 with a VLAN tag).
pub const DEFAULT_MTU: u16 = 1380;
/// Accepted `--mtu` range: the wire carries Ethernet frames up to 1518 bytes
/// (1500 + 14 header + 4 VLAN tag).
pub const MTU_RANGE: std::ops::RangeInclusive<u16> = 576..=1500;

/// Shows enough of a secret-bearing string to recognise it, never all of it.
pub fn redact(s: &str) -> String {
    let mut shown: String = s.chars().take(8).collect();
    if s.chars().count() > 8 {
        shown.push('…');
    }
    shown
}

/// Parses `--key`; the error says what is wrong without echoing the secret.
pub fn parse_key(text: &str) -> Result<AccessKey> {
    let text = text.trim();
    text.parse::<AccessKey>().map_err(|e| {
        anyhow!(
            "--key `{}` is not an access key: {e} (expected the `ate1...` string `tok key issue NETWORK` prints)",
            redact(text)
        )
    })
}

/// Parses `--mtu` (clap value parser).
pub fn parse_mtu(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|m| MTU_RANGE.contains(m))
        .ok_or_else(|| {
            format!(
                "`{text}` is not accepted: expected a number of bytes from {} to {}",
                MTU_RANGE.start(),
                MTU_RANGE.end()
            )
        })
}

/// Resolves one `HOST[:PORT]` (port defaults to 7370; IPv6 as `[ADDR]:PORT`).
pub fn resolve_addr(text: &str) -> Result<Vec<SocketAddr>> {
    let text = text.trim();
    if text.is_empty() {
        bail!("empty node address in the list: expected HOST:PORT[,HOST:PORT...]");
    }
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(vec![sa]);
    }
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, DEFAULT_NODE_PORT)]);
    }
    let with_port = if text.rsplit_once(':').is_some_and(|(h, _)| !h.contains(':')) {
        text.to_owned()
    } else {
        format!("{text}:{DEFAULT_NODE_PORT}")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| {
            anyhow!(
                "node address `{text}` cannot be resolved ({e}): expected HOST:PORT, IP, or [IPv6]:PORT"
            )
        })?
        .collect();
    if addrs.is_empty() {
        bail!("node address `{text}` resolves to no address");
    }
    Ok(addrs)
}

/// Resolves every address of `ADDR[,ADDR...]`, in order, without duplicates.
pub fn resolve_addrs(list: &[String]) -> Result<Vec<SocketAddr>> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for text in list {
        for sa in resolve_addr(text)? {
            if sa.port() == 0 {
                bail!("node address `{text}` has port 0: expected the node's UDP port (default {DEFAULT_NODE_PORT})");
            }
            if !out.contains(&sa) {
                out.push(sa);
            }
        }
    }
    if out.is_empty() {
        bail!("no node address given: expected HOST:PORT[,HOST:PORT...]");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_errors_name_what_is_wrong_and_hide_the_secret() {
        let e = parse_key("xyz1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .unwrap_err()
            .to_string();
        assert!(e.contains("prefix") && e.contains("`xyz1AAAA…`"), "{e}");
        assert!(!e.contains("xyz1AAAAAAAAAAAAAAAAA"), "{e}");

        let e = parse_key("ate1AAAA").unwrap_err().to_string();
        assert!(e.contains("length"), "{e}");

        let bad = format!("ate1{}", "*".repeat(vswitch::key::ACCESS_KEY_TEXT_LEN - 4));
        let e = parse_key(&bad).unwrap_err().to_string();
        assert!(e.contains("character"), "{e}");
    }

    #[test]
    fn key_round_trips() {
        let key = AccessKey::generate(vswitch::key::ChainId([7; 16]), &mut rand::rngs::OsRng);
        let parsed = parse_key(&format!(" {key}\n")).unwrap();
        assert_eq!(parsed, key);
    }

    #[test]
    fn mtu() {
        assert_eq!(parse_mtu("1380"), Ok(1380));
        assert_eq!(parse_mtu("576"), Ok(576));
        assert_eq!(parse_mtu("1500"), Ok(1500));
        for bad in ["575", "1501", "9000", "x", "-5"] {
            let e = parse_mtu(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")) && e.contains("576"), "{e}");
        }
    }

    #[test]
    fn addresses() {
        let got = resolve_addrs(&[
            "198.18.0.1:9000".into(),
            "198.18.0.2".into(),
            "[2001:db8::1]:7000".into(),
            "2001:db8::2".into(),
            "198.18.0.1:9000".into(),
        ])
        .unwrap();
        let want: Vec<SocketAddr> = [
            "198.18.0.1:9000",
            "198.18.0.2:7370",
            "[2001:db8::1]:7000",
            "[2001:db8::2]:7370",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(got, want);
        assert_eq!(
            resolve_addrs(&["localhost:7001".into()]).unwrap()[0].port(),
            7001
        );
        let e = resolve_addrs(&[String::new()]).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = resolve_addrs(&["198.18.0.1:0".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("port 0"), "{e}");
        let e = resolve_addrs(&["no such host!:1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`no such host!:1`"), "{e}");
    }
}
