//! `tok network create|list|set`.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use chain::{Event, State};
use rand::RngCore;
use vswitch::key::ChainId;

use super::{find_network, settings, Chain};
use crate::cidr::Cidr;

/// Checks a new network's subnet: IPv4, host bits clear, room for a gateway
/// and clients, no overlap with another network. Returns the canonical text.
pub fn check_subnet(state: &State, subnet: &str) -> Result<String> {
    let cidr: Cidr = subnet.parse().map_err(|e| anyhow!("--subnet: {e}"))?;
    if !matches!(cidr.addr, IpAddr::V4(_)) {
        bail!("--subnet `{subnet}` is not accepted: expected an IPv4 subnet such as 10.1.2.0/24 (an IPv6 prefix is a setting: `tok network set NETWORK ipv6-prefix P`)");
    }
    if !(8..=30).contains(&cidr.prefix) {
        bail!("--subnet `{subnet}` is not accepted: expected a prefix length from /8 to /30");
    }
    if !cidr.is_network() {
        bail!(
            "--subnet `{subnet}` has host bits set: did you mean {}?",
            cidr.network()
        );
    }
    for other in state.networks() {
        let Ok(theirs) = other.subnet.parse::<Cidr>() else {
            continue;
        };
        if theirs.overlaps(cidr) {
            bail!(
                "--subnet {cidr} overlaps network `{}` ({}): pick a subnet outside it",
                other.name,
                other.subnet
            );
        }
    }
    Ok(cidr.to_string())
}

/// Checks a new network's name (chain rules, unique).
pub fn check_name(state: &State, name: &str) -> Result<()> {
    chain::validate::network_name(name).map_err(|e| anyhow!("{e}"))?;
    if let Some(existing) = state.network_by_name(name) {
        bail!(
            "a network named `{name}` exists already (id {}): pick another name",
            existing.id
        );
    }
    Ok(())
}

/// `tok network create NAME --subnet CIDR`: prints the network id.
pub fn create(dir: &Path, name: &str, subnet: &str) -> Result<()> {
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    check_name(&state, name)?;
    let subnet = check_subnet(&state, subnet)?;

    let mut rng = rand::rngs::OsRng;
    let id = loop {
        let id = ChainId::generate(&mut rng).to_string();
        if state.network(&id).is_none() {
            break id;
        }
    };
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let ev = Event::NetworkCreated {
        network: id.clone(),
        name: name.to_owned(),
        subnet: subnet.clone(),
        node_key_id: rng.next_u32(),
        node_secret: hex::encode(secret),
    };
    chain.append(&ev, |s| s.network(&id).is_some_and(|n| n.name == name))?;
    tracing::debug!(network = %id, name, subnet, "network created");
    println!("{id}");
    Ok(())
}

/// `tok network list`.
pub fn list(dir: &Path) -> Result<()> {
    let state = Chain::open(dir)?.state()?;
    print!("{}", render_list(&state));
    Ok(())
}

fn render_list(state: &State) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "NAME".to_owned(),
        "SUBNET".to_owned(),
        "KEYS".to_owned(),
        "SETTINGS".to_owned(),
    ]];
    for n in state.networks() {
        let live = n.live_keys().count();
        let settings: Vec<String> = n.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push([
            n.id.clone(),
            n.name.clone(),
            n.subnet.clone(),
            format!("{live} live, {} revoked", n.keys.len() - live),
            if settings.is_empty() {
                "-".to_owned()
            } else {
                settings.join(" ")
            },
        ]);
    }
    if rows.len() == 1 {
        return "no networks (create one with `tok network create NAME --subnet CIDR`)\n"
            .to_owned();
    }
    crate::table::render(&rows)
}

/// `tok network set NETWORK SETTING VALUE`.
pub fn set(dir: &Path, network: &str, setting: &str, value: &str) -> Result<()> {
    let (name, value) = settings::validate(setting, value)?;
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let net = find_network(&state, network)?;
    let id = net.id.clone();
    let ev = Event::SettingChanged {
        network: id.clone(),
        name: name.to_owned(),
        value: value.clone(),
    };
    chain.append(&ev, |s| {
        s.network(&id).and_then(|n| n.setting(name)) == Some(value.as_str())
    })?;
    println!("{} {name} = {value}", net_label(&state, &id));
    Ok(())
}

fn net_label(state: &State, id: &str) -> String {
    state
        .network(id)
        .map_or_else(|| id.to_owned(), |n| n.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(subnet: &str) -> State {
        State::fold([Event::NetworkCreated {
            network: "ab".repeat(16),
            name: "office".into(),
            subnet: subnet.into(),
            node_key_id: 1,
            node_secret: "cd".repeat(32),
        }])
    }

    #[test]
    fn subnet_rules() {
        let s = state_with("10.1.2.0/24");
        assert_eq!(check_subnet(&s, "10.1.3.0/24").unwrap(), "10.1.3.0/24");
        let e = check_subnet(&s, "10.1.0.0/16").unwrap_err().to_string();
        assert!(
            e.contains("overlaps network `office`") && e.contains("10.1.2.0/24"),
            "{e}"
        );
        let e = check_subnet(&s, "10.1.2.128/25").unwrap_err().to_string();
        assert!(e.contains("overlaps"), "{e}");
        let e = check_subnet(&s, "10.1.3.5/24").unwrap_err().to_string();
        assert!(e.contains("did you mean 10.1.3.0/24"), "{e}");
        let e = check_subnet(&s, "fd00::/64").unwrap_err().to_string();
        assert!(e.contains("IPv4"), "{e}");
        let e = check_subnet(&s, "10.0.0.0/31").unwrap_err().to_string();
        assert!(e.contains("/30"), "{e}");
        let e = check_subnet(&s, "10.0.0.0").unwrap_err().to_string();
        assert!(e.contains("`10.0.0.0`"), "{e}");
    }

    #[test]
    fn name_rules() {
        let s = state_with("10.1.2.0/24");
        assert!(check_name(&s, "lab").is_ok());
        let e = check_name(&s, "office").unwrap_err().to_string();
        assert!(e.contains("`office` exists already"), "{e}");
        assert!(check_name(&s, "bad name").is_err());
        assert!(check_name(&s, &"ab".repeat(16)).is_err());
    }

    #[test]
    fn create_list_set_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), "office", "10.1.2.0/24").unwrap();
        let e = create(dir.path(), "office", "10.9.0.0/24")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exists already"), "{e}");
        let e = create(dir.path(), "lab", "10.1.0.0/16")
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlaps"), "{e}");
        create(dir.path(), "lab", "10.2.0.0/16").unwrap();

        set(dir.path(), "office", "lease-time", "1h").unwrap();
        set(dir.path(), "lab", "nat", "off").unwrap();
        let e = set(dir.path(), "nowhere", "nat", "off")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`nowhere`") && e.contains("office"), "{e}");
        assert!(set(dir.path(), "office", "mtu", "99999").is_err());

        let state = Chain::open(dir.path()).unwrap().state().unwrap();
        let office = state.network_by_name("office").unwrap();
        assert_eq!(office.setting("lease-time"), Some("3600"));
        assert_eq!(office.subnet, "10.1.2.0/24");
        assert_ne!(office.node_secret, "00".repeat(32));
        let text = render_list(&state);
        assert!(
            text.contains("office") && text.contains("lab") && text.contains("nat=off"),
            "{text}"
        );
        let by_id = state.network_by_name_or_id(&office.id).unwrap();
        assert_eq!(by_id.name, "office");
    }
}
