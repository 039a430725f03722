//! The settings `tok network set NETWORK SETTING VALUE` accepts, their
//! validation, and the canonical value written to the chain.
//!
//! Canonical values (what a node reads from `SettingChanged`):
//! - `mtu`: decimal bytes, 576..=9000 (`"1380"`)
//! - `lease-time`: decimal seconds, 60 s ..= 365 days (`"3600"` for `1h`)
//! - `nat`: `"on"` or `"off"`
//! - `ipv6-prefix`: `ADDRESS/PREFIX` with host bits cleared, prefix 1..=128 (`"fd00:1::/64"`)
//! - `nat-allow`: IPv4 CIDRs joined by `,` without spaces, host bits clear,
//!   duplicates dropped, in the order given (`"198.18.1.0/24,10.9.0.5/32"`),
//!   or `"none"`. A new value replaces the whole list.

use anyhow::{bail, Result};

use crate::cidr::Cidr;

/// Every setting name with a short description of its values, in the order
/// error messages list them.
pub const ACCEPTED: &[(&str, &str)] = &[
    ("mtu", "576..=9000 bytes"),
    (
        "lease-time",
        "a duration such as 30m, 1h, 1d12h (60s..=365d)",
    ),
    ("nat", "on|off"),
    ("ipv6-prefix", "an IPv6 prefix such as fd00:1::/64"),
    (
        "nat-allow",
        "IPv4 CIDRs such as 198.18.1.0/24,10.9.0.5/32 (replaces the list), or none",
    ),
];

const MTU_RANGE: std::ops::RangeInclusive<u32> = 576..=9000;
const LEASE_MIN_SECS: u64 = 60;
const LEASE_MAX_SECS: u64 = 365 * 24 * 3600;

fn accepted_list() -> String {
    ACCEPTED
        .iter()
        .map(|(name, what)| format!("  {name}: {what}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Validates `name value` and returns `(name, canonical value)`.
pub fn validate(name: &str, value: &str) -> Result<(&'static str, String)> {
    match name {
        "mtu" => {
            let mtu: u32 = value
                .parse()
                .ok()
                .filter(|m| MTU_RANGE.contains(m))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "mtu `{value}` is not accepted: expected a number of bytes from {} to {}",
                        MTU_RANGE.start(),
                        MTU_RANGE.end()
                    )
                })?;
            Ok(("mtu", mtu.to_string()))
        }
        "lease-time" => {
            let secs = parse_duration_secs(value).map_err(|why| {
                anyhow::anyhow!(
                    "lease-time `{value}` is not accepted ({why}): expected a duration such as 30m, 1h, 1d12h"
                )
            })?;
            if !(LEASE_MIN_SECS..=LEASE_MAX_SECS).contains(&secs) {
                bail!(
                    "lease-time `{value}` is not accepted: expected from 1m ({LEASE_MIN_SECS}s) to 365d"
                );
            }
            Ok(("lease-time", secs.to_string()))
        }
        "nat" => match value {
            "on" => Ok(("nat", "on".to_owned())),
            "off" => Ok(("nat", "off".to_owned())),
            _ => bail!("nat `{value}` is not accepted: expected `on` or `off`"),
        },
        "ipv6-prefix" => {
            let cidr: Cidr = value
                .parse()
                .map_err(|e| anyhow::anyhow!("ipv6-prefix: {e}"))?;
            if !cidr.addr.is_ipv6() || cidr.prefix == 0 {
                bail!(
                    "ipv6-prefix `{value}` is not accepted: expected an IPv6 prefix with a length from 1 to 128, e.g. fd00:1::/64"
                );
            }
            Ok(("ipv6-prefix", cidr.network().to_string()))
        }
        "nat-allow" => Ok(("nat-allow", nat_allow(value)?)),
        _ => bail!(
            "unknown setting `{name}`; accepted settings:\n{}",
            accepted_list()
        ),
    }
}

/// `nat-allow`: `none`, or IPv4 CIDRs separated by commas (spaces around
/// them are ignored; a bare address means /32). Host bits must be clear.
/// Returns the canonical list (or `none`).
fn nat_allow(value: &str) -> Result<String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("none") {
        return Ok("none".to_owned());
    }
    let expected =
        "expected IPv4 CIDRs separated by commas such as 198.18.1.0/24,10.9.0.5/32, or `none`";
    if value.is_empty() {
        bail!("nat-allow `{value}` is empty: {expected}");
    }
    let mut out: Vec<String> = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        if item.is_empty() {
            bail!("nat-allow `{value}` has an empty entry: {expected}");
        }
        let text = if item.contains('/') {
            item.to_owned()
        } else {
            format!("{item}/32")
        };
        let cidr: Cidr = text
            .parse()
            .map_err(|_| anyhow::anyhow!("nat-allow entry `{item}` is not accepted: {expected}"))?;
        if !cidr.addr.is_ipv4() {
            bail!("nat-allow entry `{item}` is not IPv4 (NAT translates IPv4 only): {expected}");
        }
        if !cidr.is_network() {
            bail!(
                "nat-allow entry `{item}` has host bits set: did you mean {}?",
                cidr.network()
            );
        }
        let canonical = cidr.to_string();
        if !out.contains(&canonical) {
            out.push(canonical);
        }
    }
    let joined = out.join(",");
    if joined.len() > chain::validate::MAX_VALUE_LEN {
        bail!(
            "nat-allow: {} entries are {} bytes, more than the {} a setting holds: use fewer, wider CIDRs",
            out.len(),
            joined.len(),
            chain::validate::MAX_VALUE_LEN
        );
    }
    Ok(joined)
}

/// Parses `90s`, `30m`, `1h`, `2d`, `1h30m` into seconds.
/// Every number needs a unit (s, m, h, d).
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    if s.is_empty() {
        return Err("empty".to_owned());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit: u64 = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("unknown unit `{ch}`, use s, m, h or d")),
        };
        if digits.is_empty() {
            return Err(format!("unit `{ch}` without a number"));
        }
        let n: u64 = digits.parse().map_err(|_| "number too large".to_owned())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "too large".to_owned())?;
    }
    if !digits.is_empty() {
        return Err(format!("`{digits}` has no unit, use s, m, h or d"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_range() {
        assert_eq!(validate("mtu", "1380").unwrap(), ("mtu", "1380".into()));
        assert_eq!(validate("mtu", "576").unwrap().1, "576");
        assert_eq!(validate("mtu", "9000").unwrap().1, "9000");
        for bad in ["575", "9001", "abc", "-1", ""] {
            let e = validate("mtu", bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")) && e.contains("576"), "{e}");
        }
    }

    #[test]
    fn lease_time() {
        assert_eq!(validate("lease-time", "1h").unwrap().1, "3600");
        assert_eq!(validate("lease-time", "30m").unwrap().1, "1800");
        assert_eq!(validate("lease-time", "1d12h").unwrap().1, "129600");
        assert_eq!(validate("lease-time", "90s").unwrap().1, "90");
        for bad in ["1", "h", "1x", "", "30s", "400d", "99999999999999999999d"] {
            let e = validate("lease-time", bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn nat() {
        assert_eq!(validate("nat", "on").unwrap().1, "on");
        assert_eq!(validate("nat", "off").unwrap().1, "off");
        let e = validate("nat", "yes").unwrap_err().to_string();
        assert!(e.contains("`yes`") && e.contains("`on` or `off`"), "{e}");
    }

    #[test]
    fn ipv6_prefix() {
        assert_eq!(
            validate("ipv6-prefix", "fd00:1::5/64").unwrap().1,
            "fd00:1::/64"
        );
        assert!(validate("ipv6-prefix", "10.0.0.0/8").is_err());
        assert!(validate("ipv6-prefix", "::/0").is_err());
        let e = validate("ipv6-prefix", "fd00::").unwrap_err().to_string();
        assert!(e.contains("`fd00::`"), "{e}");
    }

    #[test]
    fn nat_allow_list() {
        assert_eq!(
            validate("nat-allow", "198.18.1.0/24").unwrap(),
            ("nat-allow", "198.18.1.0/24".into())
        );
        assert_eq!(
            validate(
                "nat-allow",
                " 198.18.1.0/24 , 10.9.0.5,127.0.0.0/8,10.9.0.5/32"
            )
            .unwrap()
            .1,
            "198.18.1.0/24,10.9.0.5/32,127.0.0.0/8"
        );
        assert_eq!(validate("nat-allow", "none").unwrap().1, "none");
        assert_eq!(validate("nat-allow", "NONE").unwrap().1, "none");
        let e = validate("nat-allow", "198.18.1.5/24,10.0.0.0/8")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`198.18.1.5/24`") && e.contains("198.18.1.0/24"),
            "{e}"
        );
        for bad in ["", "10.0.0.0/8,", "fd00::/64", "10.0.0.0/33", "nonsense"] {
            let e = validate("nat-allow", bad).unwrap_err().to_string();
            assert!(e.contains("nat-allow"), "{bad}: {e}");
        }
        let e = validate("nat-allow", "x,10.0.0.0/8")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`x`"), "{e}");
        let many: Vec<String> = (0..100).map(|i| format!("10.{i}.0.0/16")).collect();
        assert!(validate("nat-allow", &many.join(",")).is_err());
    }

    #[test]
    fn unknown_lists_accepted() {
        let e = validate("colour", "red").unwrap_err().to_string();
        assert!(e.contains("`colour`"), "{e}");
        for (name, _) in ACCEPTED {
            assert!(e.contains(name), "{e}");
        }
    }
}
