//! DHCP options the server reads raw or writes beyond what
//! `smoltcp::wire::DhcpRepr` models (RFC 2132).

use std::time::Duration;

/// Host Name, RFC 2132 3.14.
pub const HOST_NAME: u8 = 12;
/// Interface MTU, RFC 2132 5.1.
pub const INTERFACE_MTU: u8 = 26;
/// Message, RFC 2132 9.9 (the reason text of a NAK).
pub const MESSAGE: u8 = 56;
/// Renewal (T1) Time Value, RFC 2132 9.11.
pub const RENEWAL_TIME: u8 = 58;
/// Rebinding (T2) Time Value, RFC 2132 9.12.
pub const REBINDING_TIME: u8 = 59;
/// Client-identifier, RFC 2132 9.14.
pub const CLIENT_ID: u8 = 61;

/// The smallest interface MTU option 26 may carry (RFC 2132 5.1).
pub const MIN_MTU: u16 = 68;

/// T1 and T2 for a lease of `lease_secs`: 50 % and 87.5 % of it, the
/// defaults of RFC 2131 4.4.5.
pub fn renewal_times(lease_secs: u32) -> (u32, u32) {
    let t1 = lease_secs / 2;
    let t2 = (u64::from(lease_secs) * 7 / 8) as u32;
    (t1, t2)
}

/// A lease duration as option 51 carries it: whole seconds, saturating.
pub fn lease_secs(lease: Duration) -> u32 {
    u32::try_from(lease.as_secs()).unwrap_or(u32::MAX)
}

/// Option 12 as the chain records it: trailing NULs dropped (some clients
/// send them although RFC 2132 3.14 says not to), then kept only if it is a
/// valid [`chain::validate::hostname`]. Anything else is not recorded.
pub fn hostname(raw: &[u8]) -> Option<String> {
    let end = raw.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let s = std::str::from_utf8(&raw[..end]).ok()?;
    chain::validate::hostname(s).ok()?;
    Some(s.to_owned())
}

/// Option 61 as lowercase hex (the chain's spelling), if 1..=255 bytes.
pub fn client_id_hex(raw: &[u8]) -> Option<String> {
    if raw.is_empty() || raw.len() > 255 {
        return None;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(raw.len() * 2);
    for b in raw {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t1_t2_defaults() {
        assert_eq!(renewal_times(3600), (1800, 3150));
        assert_eq!(
            renewal_times(u32::MAX).1,
            (u64::from(u32::MAX) * 7 / 8) as u32
        );
    }

    #[test]
    fn hostnames_are_sanitised() {
        assert_eq!(hostname(b"alice\0\0").as_deref(), Some("alice"));
        assert_eq!(hostname(b"bad name"), None);
        assert_eq!(hostname(b""), None);
        assert_eq!(hostname(&[0xff, 0xfe]), None);
        assert_eq!(hostname(&[b'a'; 65]), None);
    }

    #[test]
    fn client_ids_are_hex() {
        assert_eq!(client_id_hex(&[1, 2, 0xab]).as_deref(), Some("0102ab"));
        assert_eq!(client_id_hex(&[]), None);
    }
}
