//! Checks on the plain strings events carry.
//!
//! The chain does not depend on `vswitch`, so ids and secrets travel as
//! strings. These checks keep them canonical (lowercase hex of a fixed length)
//! so that two writers spelling the same id differently cannot create two
//! networks, and so that a hand-edited or foreign log cannot put garbage into
//! the state every node folds. `tok` uses the same helpers to reject bad input
//! before it reaches the log.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Hex digits of a network (chain) id: 16 bytes.
pub const NETWORK_ID_HEX: usize = 32;
/// Hex digits of a node id: a `u64`.
pub const NODE_ID_HEX: usize = 16;
/// Hex digits of a key or node secret: 32 bytes.
pub const SECRET_HEX: usize = 64;
/// Longest network name, setting name and key label.
pub const MAX_NAME_LEN: usize = 64;
/// Longest setting value.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most advertised addresses one node may list.
pub const MAX_ADVERTISE: usize = 16;
/// Longest DHCP client identifier (option 61 holds at most 255 bytes), in hex digits.
pub const MAX_CLIENT_ID_HEX: usize = 510;
/// Longest host name a lease records (one DNS label is 63; a client's
/// option 12 may hold a dotted name).
pub const MAX_HOSTNAME_LEN: usize = 64;

/// Why an event (or a value meant for one) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    /// `field` must be exactly `len` lowercase hex digits.
    #[error("{field} {value:?} is not {len} lowercase hex digits")]
    Hex {
        field: &'static str,
        value: String,
        len: usize,
    },
    /// A name must be 1..=64 characters of `A-Z a-z 0-9 . _ -`.
    #[error("{field} {value:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    Name { field: &'static str, value: String },
    /// A network name must not be a 32-hex string: it would shadow an id.
    #[error("network name {0:?} looks like a network id (32 hex digits)")]
    NameLooksLikeId(String),
    /// A subnet must be `ADDRESS/PREFIX` with the prefix in range.
    #[error("subnet {0:?} is not an IPv4 or IPv6 CIDR such as 10.1.2.0/24")]
    Subnet(String),
    /// An advertised address must be `IP:PORT`.
    #[error("advertised address {0:?} is not IP:PORT")]
    Advertise(String),
    /// Too many advertised addresses.
    #[error("{0} advertised addresses; at most {MAX_ADVERTISE} are accepted")]
    TooManyAdvertise(usize),
    /// A key label must be 1..=64 characters, none of them control characters.
    #[error("key label {0:?} must be 1 to 64 characters without control characters")]
    Label(String),
    /// A setting value is longer than [`MAX_VALUE_LEN`].
    #[error("setting value of {0} bytes; at most {MAX_VALUE_LEN} are accepted")]
    ValueTooLong(usize),
    /// A MAC address must be six lowercase hex pairs joined by `:`, unicast
    /// and not all zeros (`02:00:00:00:00:01`).
    #[error("MAC address {0:?} is not a unicast address such as 02:00:00:00:00:01 (lowercase)")]
    Mac(String),
    /// An IPv4 address must be dotted-decimal without leading zeros.
    #[error("IPv4 address {0:?} is not dotted decimal such as 10.0.0.2")]
    Ipv4(String),
    /// A DHCP client identifier must be 1..=255 bytes as lowercase hex.
    #[error("client id {0:?} is not 2 to 510 lowercase hex digits (an even number)")]
    ClientId(String),
    /// A host name must be 1..=64 characters of `A-Z a-z 0-9 . _ -`.
    #[error("host name {0:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    Hostname(String),
    /// A route joins two different networks.
    #[error("a route joins two different networks; both ends are {0}")]
    RouteToItself(String),
    /// A published port's protocol is `tcp` or `udp`.
    #[error("protocol {0:?} is not tcp or udp")]
    Proto(String),
    /// A port number must be 1..=65535.
    #[error("{field} {value} is not a port number from 1 to 65535")]
    Port { field: &'static str, value: u16 },
    /// A time span ends before it starts.
    #[error("{field} {end} is before at_ms {start}")]
    TimeOrder {
        field: &'static str,
        start: u64,
        end: u64,
    },
}

/// `value` is exactly `len` lowercase hex digits.
pub fn hex_id(field: &'static str, value: &str, len: usize) -> Result<(), InvalidEvent> {
    let ok = value.len() == len
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(InvalidEvent::Hex {
            field,
            value: value.to_owned(),
            len,
        })
    }
}

/// A network id: 32 lowercase hex digits (the 16-byte chain id).
pub fn network_id(value: &str) -> Result<(), InvalidEvent> {
    hex_id("network id", value, NETWORK_ID_HEX)
}

/// A node id: 16 lowercase hex digits (a `u64`, as `format!("{:016x}")`).
pub fn node_id(value: &str) -> Result<(), InvalidEvent> {
    hex_id("node id", value, NODE_ID_HEX)
}

/// A 32-byte secret: 64 lowercase hex digits.
pub fn secret(field: &'static str, value: &str) -> Result<(), InvalidEvent> {
    hex_id(field, value, SECRET_HEX)
}

/// A name (network, setting, key label): 1..=64 of `A-Z a-z 0-9 . _ -`.
pub fn name(field: &'static str, value: &str) -> Result<(), InvalidEvent> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidEvent::Name {
            field,
            value: value.to_owned(),
        })
    }
}

/// A network name: a [`name`] that is not also a valid network id, so that
/// "name or id" lookups are never ambiguous.
pub fn network_name(value: &str) -> Result<(), InvalidEvent> {
    name("network name", value)?;
    if network_id(value).is_ok() {
        return Err(InvalidEvent::NameLooksLikeId(value.to_owned()));
    }
    Ok(())
}

/// A key label, shown by `tok key list`: 1..=64 characters (not bytes),
/// no control characters (it is printed to terminals).
pub fn label(value: &str) -> Result<(), InvalidEvent> {
    let n = value.chars().count();
    if (1..=MAX_NAME_LEN).contains(&n) && !value.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(InvalidEvent::Label(value.to_owned()))
    }
}

/// A CIDR: `ADDRESS/PREFIX`, prefix at most 32 (IPv4) or 128 (IPv6).
pub fn subnet(value: &str) -> Result<(), InvalidEvent> {
    let bad = || InvalidEvent::Subnet(value.to_owned());
    let (addr, prefix) = value.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    // Reject "+24" and "024": one spelling per subnet.
    if prefix.is_empty() || prefix.len() > 3 || prefix.starts_with(['+', '0']) && prefix != "0" {
        return Err(bad());
    }
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok(())
}

/// Advertised addresses: at most [`MAX_ADVERTISE`], each `IP:PORT`.
pub fn advertise(addrs: &[String]) -> Result<(), InvalidEvent> {
    if addrs.len() > MAX_ADVERTISE {
        return Err(InvalidEvent::TooManyAdvertise(addrs.len()));
    }
    for a in addrs {
        a.parse::<SocketAddr>()
            .map_err(|_| InvalidEvent::Advertise(a.clone()))?;
    }
    Ok(())
}

/// A setting value: at most [`MAX_VALUE_LEN`] bytes (its meaning is checked
/// by whoever reads the setting).
pub fn setting_value(value: &str) -> Result<(), InvalidEvent> {
    if value.len() > MAX_VALUE_LEN {
        return Err(InvalidEvent::ValueTooLong(value.len()));
    }
    Ok(())
}

/// A MAC address in canonical form: `02:00:00:00:00:01` (lowercase,
/// unicast, not all zeros). One spelling per address, so that two writers
/// cannot hold two leases for one client.
pub fn mac(value: &str) -> Result<(), InvalidEvent> {
    parse_mac(value)
        .filter(|m| m[0] & 1 == 0 && *m != [0; 6] && format_mac(*m) == value)
        .map(|_| ())
        .ok_or_else(|| InvalidEvent::Mac(value.to_owned()))
}

/// Parses `aa:bb:cc:dd:ee:ff` (either case). See [`mac`] for the canonical form.
pub fn parse_mac(value: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = value.split(':');
    for byte in &mut out {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The canonical spelling of a MAC address: lowercase, colon separated.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An IPv4 address in canonical dotted-decimal form.
pub fn ipv4(value: &str) -> Result<Ipv4Addr, InvalidEvent> {
    value
        .parse::<Ipv4Addr>()
        .ok()
        .filter(|ip| ip.to_string() == value)
        .ok_or_else(|| InvalidEvent::Ipv4(value.to_owned()))
}

/// A DHCP client identifier (RFC 2132 9.14): its bytes as lowercase hex.
pub fn client_id(value: &str) -> Result<(), InvalidEvent> {
    let ok = !value.is_empty()
        && value.len().is_multiple_of(2)
        && value.len() <= MAX_CLIENT_ID_HEX
        && hex_id("client id", value, value.len()).is_ok();
    if ok {
        Ok(())
    } else {
        Err(InvalidEvent::ClientId(value.to_owned()))
    }
}

/// A host name a client asked for (DHCP option 12), as a lease records it.
pub fn hostname(value: &str) -> Result<(), InvalidEvent> {
    let ok = !value.is_empty()
        && value.len() <= MAX_HOSTNAME_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidEvent::Hostname(value.to_owned()))
    }
}

/// A published port's protocol: `tcp` or `udp` (lowercase).
pub fn proto(value: &str) -> Result<(), InvalidEvent> {
    match value {
        "tcp" | "udp" => Ok(()),
        _ => Err(InvalidEvent::Proto(value.to_owned())),
    }
}

/// A port number other than 0.
pub fn port(field: &'static str, value: u16) -> Result<(), InvalidEvent> {
    if value == 0 {
        return Err(InvalidEvent::Port { field, value });
    }
    Ok(())
}

/// `end` (an expiry) is not before `start`.
pub fn time_order(field: &'static str, start: u64, end: u64) -> Result<(), InvalidEvent> {
    if end < start {
        return Err(InvalidEvent::TimeOrder { field, start, end });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_are_canonical() {
        assert!(network_id(&"ab".repeat(16)).is_ok());
        assert!(network_id(&"AB".repeat(16)).is_err());
        assert!(network_id(&"ab".repeat(15)).is_err());
        assert!(node_id("00000000000000ff").is_ok());
        assert!(node_id("ff").is_err());
        assert!(secret("secret", &"0f".repeat(32)).is_ok());
        assert!(secret("secret", &"0g".repeat(32)).is_err());
    }

    #[test]
    fn names() {
        assert!(network_name("default").is_ok());
        assert!(network_name("lab-2.b_c").is_ok());
        assert!(network_name("").is_err());
        assert!(network_name("has space").is_err());
        assert!(network_name(&"x".repeat(65)).is_err());
        assert!(label("alice's laptop").is_ok());
        assert!(label("bad\u{1b}[2J").is_err());
        assert!(label("").is_err());
        assert!(matches!(
            network_name(&"a".repeat(32)),
            Err(InvalidEvent::NameLooksLikeId(_))
        ));
    }

    #[test]
    fn subnets() {
        for ok in ["10.0.0.0/24", "0.0.0.0/0", "fd00::/64", "10.1.2.3/32"] {
            assert!(subnet(ok).is_ok(), "{ok}");
        }
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "x/24",
            "10.0.0.0/024",
            "10.0.0.0/+8",
            "10.0.0.0/",
        ] {
            assert!(subnet(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lease_fields() {
        assert!(mac("02:00:00:00:00:01").is_ok());
        for bad in [
            "02:00:00:00:00:0A",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "020:00:00:00:00:1",
        ] {
            assert!(mac(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_mac("02:00:00:00:00:0A"), Some([2, 0, 0, 0, 0, 10]));
        assert_eq!(format_mac([2, 0, 0, 0, 0, 10]), "02:00:00:00:00:0a");
        assert_eq!(ipv4("10.0.0.2").unwrap(), Ipv4Addr::new(10, 0, 0, 2));
        assert!(ipv4("10.0.0.02").is_err());
        assert!(ipv4("fd00::1").is_err());
        assert!(client_id("01020000000001").is_ok());
        assert!(client_id("010").is_err());
        assert!(client_id("").is_err());
        assert!(client_id(&"ab".repeat(256)).is_err());
        assert!(hostname("alice-laptop").is_ok());
        assert!(hostname("bad name").is_err());
        assert!(time_order("expires_ms", 5, 4).is_err());
        assert!(time_order("expires_ms", 5, 5).is_ok());
    }

    #[test]
    fn advertised_addresses() {
        assert!(advertise(&["198.18.0.1:4789".into(), "[fd00::1]:4789".into()]).is_ok());
        assert!(advertise(&["198.18.0.1".into()]).is_err());
        assert!(advertise(&vec!["1.2.3.4:5".to_owned(); 17]).is_err());
    }
}
