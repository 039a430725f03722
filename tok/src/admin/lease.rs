//! `tok lease reserve|unreserve|list`: DHCP reservations (a MAC always gets
//! its address, nobody else does) and the leases the nodes' DHCP servers
//! wrote to the chain.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use chain::{Event, Ipv4Subnet, Network, State};

use super::{find_network, Chain};

/// Parses a MAC as `02:00:00:00:00:01` or `02-00-00-00-00-01` (either case)
/// and returns the canonical spelling the chain stores. A group (multicast)
/// or all-zero MAC is refused: no DHCP client has one.
pub fn parse_mac(text: &str) -> Result<String> {
    let expected = "expected 6 hex bytes separated by `:`, e.g. 02:00:00:00:00:01";
    let mac = chain::validate::parse_mac(&text.trim().replace('-', ":"))
        .ok_or_else(|| anyhow!("MAC `{text}` is not accepted: {expected}"))?;
    if mac == [0; 6] {
        bail!("MAC `{text}` is all zeros: expected a client's unicast MAC");
    }
    if mac[0] & 1 == 1 {
        bail!("MAC `{text}` is a group (multicast) address: expected a client's unicast MAC (lowest bit of the first byte clear)");
    }
    Ok(chain::validate::format_mac(mac))
}

/// Checks that `ip` may be reserved in `net`; returns the address. The
/// subnet's network, broadcast and gateway (first host) addresses are
/// refused, as is an address reserved for another MAC.
pub fn check_reservation(net: &Network, state: &State, mac: &str, ip: &str) -> Result<Ipv4Addr> {
    let subnet = net.ipv4_subnet().ok_or_else(|| {
        anyhow!(
            "network `{}` has no IPv4 subnet ({}): reservations need one",
            net.name,
            net.subnet
        )
    })?;
    let addr: Ipv4Addr = ip.trim().parse().map_err(|_| {
        anyhow!(
            "address `{ip}` is not an IPv4 address: expected one inside {} such as {}",
            subnet,
            example(subnet)
        )
    })?;
    if !subnet.contains(addr) {
        bail!(
            "address {addr} is outside network `{}` ({subnet}): expected one such as {}",
            net.name,
            example(subnet)
        );
    }
    let what = if addr == subnet.network() {
        Some("the network address")
    } else if addr == subnet.broadcast() {
        Some("the broadcast address")
    } else if Some(addr) == subnet.gateway() {
        Some("the gateway address")
    } else {
        None
    };
    if let Some(what) = what {
        bail!(
            "address {addr} is {what} of network `{}` ({subnet}): expected a host address from {} on",
            net.name,
            example(subnet)
        );
    }
    if !subnet.is_assignable(addr) {
        bail!(
            "address {addr} cannot be handed out in network `{}` ({subnet})",
            net.name
        );
    }
    if let Some(table) = state.lease_table_of(&net.id) {
        if let Some(holder) = table.reserved_for(addr) {
            if holder == mac {
                bail!(
                    "{mac} already has the reservation {addr} in network `{}`",
                    net.name
                );
            }
            bail!(
                "address {addr} is reserved for {holder} in network `{}`: pick another address, or `tok lease unreserve {} {holder}` first",
                net.name,
                net.name
            );
        }
    }
    Ok(addr)
}

fn example(subnet: Ipv4Subnet) -> String {
    subnet
        .nth_assignable(0)
        .map_or_else(|| "a host address".to_owned(), |a| a.to_string())
}

/// `tok lease reserve NETWORK MAC IP`.
pub fn reserve(dir: &Path, network: &str, mac: &str, ip: &str) -> Result<()> {
    let mac = parse_mac(mac)?;
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let net = find_network(&state, network)?;
    let addr = check_reservation(net, &state, &mac, ip)?;
    let id = net.id.clone();
    let name = net.name.clone();
    let previous = state
        .lease_table_of(&id)
        .and_then(|t| t.reservation_for(&mac));
    let holder = state
        .lease_by_ip(&id, addr)
        .filter(|l| l.mac != mac)
        .map(|l| l.mac.clone());
    let ev = Event::ReservationAdded {
        network: id.clone(),
        mac: mac.clone(),
        ip: addr.to_string(),
    };
    chain.append(&ev, |s| {
        s.lease_table_of(&id).and_then(|t| t.reservation_for(&mac)) == Some(addr)
    })?;
    match previous {
        Some(old) => println!("reserved {addr} for {mac} in network `{name}` (replaces {old})"),
        None => println!("reserved {addr} for {mac} in network `{name}`"),
    }
    if let Some(other) = holder {
        eprintln!(
            "note: {addr} is currently leased to {other}; {mac} gets it once that lease ends or is released"
        );
    }
    Ok(())
}

/// `tok lease unreserve NETWORK MAC`.
pub fn unreserve(dir: &Path, network: &str, mac: &str) -> Result<()> {
    let mac = parse_mac(mac)?;
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let net = find_network(&state, network)?;
    let id = net.id.clone();
    let name = net.name.clone();
    let Some(addr) = state
        .lease_table_of(&id)
        .and_then(|t| t.reservation_for(&mac))
    else {
        let macs: Vec<&str> = state.reservations(&id).map(|(m, _)| m).collect();
        bail!(
            "{mac} has no reservation in network `{name}`: expected one of its reserved MACs ({})",
            if macs.is_empty() {
                "none".to_owned()
            } else {
                macs.join(", ")
            }
        );
    };
    chain.append(
        &Event::ReservationRemoved {
            network: id.clone(),
            mac: mac.clone(),
        },
        |s| {
            s.lease_table_of(&id)
                .and_then(|t| t.reservation_for(&mac))
                .is_none()
        },
    )?;
    println!("removed the reservation {addr} of {mac} in network `{name}`");
    Ok(())
}

/// `tok lease list NETWORK`.
pub fn list(dir: &Path, network: &str) -> Result<()> {
    let state = Chain::open(dir)?.state()?;
    let net = find_network(&state, network)?;
    print!("{}", render_list(&state, net, now_ms()));
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// "in 59m58s" / "expired 3s ago", from wall-clock ms.
pub fn expires_in(expires_ms: u64, now_ms: u64) -> String {
    if expires_ms > now_ms {
        format!("in {}", human((expires_ms - now_ms).div_ceil(1000)))
    } else {
        format!("expired {} ago", human((now_ms - expires_ms) / 1000))
    }
}

fn human(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= len {
            let _ = write!(out, "{}{unit}", secs / len);
            secs %= len;
        }
    }
    out
}

fn render_list(state: &State, net: &Network, now_ms: u64) -> String {
    let mut out = String::new();
    let mut leases = vec![[
        "IP".to_owned(),
        "MAC".to_owned(),
        "HOSTNAME".to_owned(),
        "NODE".to_owned(),
        "EXPIRES".to_owned(),
    ]];
    for l in state.leases(&net.id) {
        leases.push([
            l.ip.to_string(),
            l.mac.clone(),
            l.hostname.clone().unwrap_or_else(|| "-".to_owned()),
            l.node_id.clone(),
            expires_in(l.expires_ms, now_ms),
        ]);
    }
    if leases.len() == 1 {
        let _ = writeln!(out, "network `{}` has no leases", net.name);
    } else {
        out.push_str(&crate::table::render(&leases));
    }
    let mut reservations = vec![[
        "RESERVED_IP".to_owned(),
        "MAC".to_owned(),
        "LEASED".to_owned(),
    ]];
    for (mac, ip) in state.reservations(&net.id) {
        let leased = state
            .lease_by_ip(&net.id, ip)
            .is_some_and(|l| l.mac == mac && !l.is_expired(now_ms));
        reservations.push([
            ip.to_string(),
            mac.to_owned(),
            if leased { "yes" } else { "no" }.to_owned(),
        ]);
    }
    out.push('\n');
    if reservations.len() == 1 {
        let _ = writeln!(
            out,
            "network `{}` has no reservations (add one with `tok lease reserve {} MAC IP`)",
            net.name, net.name
        );
    } else {
        out.push_str(&crate::table::render(&reservations));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::network;
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:AB:00:00:00:01").unwrap(), "02:ab:00:00:00:01");
        assert_eq!(parse_mac("02-ab-00-00-00-01").unwrap(), "02:ab:00:00:00:01");
        for bad in [
            "02:ab:00:00:00",
            "02:ab:00:00:00:01:02",
            "zz:00:00:00:00:00",
            "",
        ] {
            let e = parse_mac(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{bad}`")) && e.contains("expected"),
                "{e}"
            );
        }
        let e = parse_mac("01:00:5e:00:00:01").unwrap_err().to_string();
        assert!(e.contains("multicast"), "{e}");
        let e = parse_mac("00:00:00:00:00:00").unwrap_err().to_string();
        assert!(e.contains("zeros"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(expires_in(3_600_000, 1_000), "in 59m59s");
        assert_eq!(expires_in(90_500, 0), "in 1m31s");
        assert_eq!(expires_in(1_000, 4_000), "expired 3s ago");
        assert_eq!(expires_in(5_000, 5_000), "expired 0s ago");
        assert_eq!(expires_in(90_000_000, 0), "in 1d1h");
    }

    #[test]
    fn reserve_rules_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        network::create(d, "office", "10.1.2.0/24").unwrap();
        let mac = "02:00:00:00:00:01";
        let other = "02:00:00:00:00:02";

        for (ip, want) in [
            ("10.1.2.0", "the network address"),
            ("10.1.2.255", "the broadcast address"),
            ("10.1.2.1", "the gateway address"),
            ("10.1.3.5", "outside network `office` (10.1.2.0/24)"),
            ("10.1.2", "`10.1.2` is not an IPv4 address"),
        ] {
            let e = reserve(d, "office", mac, ip).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("10.1.2.2"), "{ip}: {e}");
        }
        let e = reserve(d, "office", "nope", "10.1.2.9")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`nope`"), "{e}");
        let e = reserve(d, "elsewhere", mac, "10.1.2.9")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`elsewhere`"), "{e}");

        reserve(d, "office", mac, "10.1.2.9").unwrap();
        let e = reserve(d, "office", mac, "10.1.2.9")
            .unwrap_err()
            .to_string();
        assert!(e.contains("already has"), "{e}");
        let e = reserve(d, "office", other, "10.1.2.9")
            .unwrap_err()
            .to_string();
        assert!(e.contains("reserved for 02:00:00:00:00:01"), "{e}");
        // A new address for the same MAC replaces the old reservation.
        reserve(d, "office", "02:00:00:00:00:01", "10.1.2.10").unwrap();
        reserve(d, "office", other, "10.1.2.9").unwrap();

        let chain = Chain::open(d).unwrap();
        let state = chain.state().unwrap();
        let net = state.network_by_name("office").unwrap().clone();
        let table = state.lease_table_of(&net.id).unwrap();
        assert_eq!(
            table.reservation_for(mac),
            Some(Ipv4Addr::new(10, 1, 2, 10))
        );
        assert_eq!(table.reserved_for(Ipv4Addr::new(10, 1, 2, 9)), Some(other));

        // A lease written by a node shows up in the list.
        chain
            .append(
                &Event::LeaseClaimed {
                    network: net.id.clone(),
                    mac: mac.into(),
                    ip: "10.1.2.10".into(),
                    client_id: None,
                    hostname: Some("laptop".into()),
                    node_id: "00000000000000aa".into(),
                    at_ms: 1_000,
                    expires_ms: 3_601_000,
                },
                |_| true,
            )
            .unwrap();
        let state = chain.state().unwrap();
        let text = render_list(&state, &net, 1_000);
        assert!(
            text.contains("10.1.2.10")
                && text.contains("laptop")
                && text.contains("00000000000000aa")
                && text.contains("in 1h"),
            "{text}"
        );
        assert!(
            text.contains("RESERVED_IP") && text.contains("yes"),
            "{text}"
        );

        unreserve(d, "office", mac).unwrap();
        let e = unreserve(d, "office", mac).unwrap_err().to_string();
        assert!(e.contains("no reservation") && e.contains(other), "{e}");
        let state = Chain::open(d).unwrap().state().unwrap();
        assert_eq!(state.reservations(&net.id).count(), 1);
    }

    #[test]
    fn empty_list() {
        let state = State::fold([Event::NetworkCreated {
            network: "ab".repeat(16),
            name: "office".into(),
            subnet: "10.1.2.0/24".into(),
            node_key_id: 1,
            node_secret: "cd".repeat(32),
        }]);
        let net = state.network_by_name("office").unwrap();
        let text = render_list(&state, net, 0);
        assert!(
            text.contains("no leases") && text.contains("no reservations"),
            "{text}"
        );
    }
}
