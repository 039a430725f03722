//! `tok key issue|list|revoke`.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use chain::Event;
use rand::RngCore;
use vswitch::key::{AccessKey, ChainId, KeyId};

use super::{find_network, Chain};

/// Parses KEY_ID as `tok key list` prints it (8 hex digits).
pub fn parse_key_id(text: &str) -> Result<u32> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    if t.is_empty() || t.len() > 8 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("key id `{text}` is not accepted: expected 8 hex digits as `tok key list NETWORK` shows, e.g. 0badc0de");
    }
    u32::from_str_radix(t, 16).map_err(|_| anyhow!("key id `{text}` is not 8 hex digits"))
}

/// `tok key issue NETWORK [--label TEXT]`: prints the `ate1...` key.
pub fn issue(dir: &Path, network: &str, label: Option<&str>) -> Result<()> {
    if let Some(label) = label {
        chain::validate::name("key label", label).map_err(|e| anyhow!("--label: {e}"))?;
    }
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let net = find_network(&state, network)?;
    let chain_id: ChainId = net
        .id
        .parse()
        .map_err(|e| anyhow!("network id {} in the chain is malformed: {e:?}", net.id))?;

    let mut rng = rand::rngs::OsRng;
    let key_id = loop {
        let id = rng.next_u32();
        if id != net.node_key_id && net.key(id).is_none() {
            break id;
        }
    };
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let id = net.id.clone();
    let ev = Event::KeyIssued {
        network: id.clone(),
        key_id,
        secret: hex::encode(secret),
        label: label.map(str::to_owned),
    };
    let secret_hex = hex::encode(secret);
    chain.append(&ev, |s| {
        s.network(&id)
            .and_then(|n| n.key(key_id))
            .is_some_and(|k| k.secret == secret_hex)
    })?;
    let key = AccessKey {
        chain_id,
        key_id: KeyId(key_id),
        secret,
    };
    tracing::debug!(network = %id, key_id = %KeyId(key_id), "access key issued");
    println!("{key}");
    Ok(())
}

/// `tok key list NETWORK`: ids, labels and revoked flags, never secrets.
pub fn list(dir: &Path, network: &str) -> Result<()> {
    let state = Chain::open(dir)?.state()?;
    let net = find_network(&state, network)?;
    if net.keys.is_empty() {
        println!(
            "network `{}` has no access keys (issue one with `tok key issue {}`)",
            net.name, net.name
        );
        return Ok(());
    }
    let mut rows = vec![vec![
        "KEY_ID".to_owned(),
        "STATE".to_owned(),
        "LABEL".to_owned(),
    ]];
    for (id, key) in &net.keys {
        rows.push(vec![
            KeyId(*id).to_string(),
            if key.revoked { "revoked" } else { "live" }.to_owned(),
            key.label.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    print!("{}", crate::table::render(&rows));
    Ok(())
}

/// `tok key revoke NETWORK KEY_ID`.
pub fn revoke(dir: &Path, network: &str, key_id: &str) -> Result<()> {
    let id_num = parse_key_id(key_id)?;
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let net = find_network(&state, network)?;
    let Some(key) = net.key(id_num) else {
        let live: Vec<String> = net.live_keys().map(|(k, _)| KeyId(k).to_string()).collect();
        bail!(
            "network `{}` has no key {}: expected one of its key ids ({})",
            net.name,
            KeyId(id_num),
            if live.is_empty() {
                "none live".to_owned()
            } else {
                live.join(", ")
            }
        );
    };
    if key.revoked {
        bail!(
            "key {} of network `{}` is already revoked",
            KeyId(id_num),
            net.name
        );
    }
    let id = net.id.clone();
    let name = net.name.clone();
    chain
        .append(
            &Event::KeyRevoked {
                network: id.clone(),
                key_id: id_num,
            },
            |s| {
                s.network(&id)
                    .and_then(|n| n.key(id_num))
                    .is_some_and(|k| k.revoked)
            },
        )
        .context("revoking")?;
    println!("revoked key {} of network `{name}`", KeyId(id_num));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids() {
        assert_eq!(parse_key_id("0badc0de").unwrap(), 0x0bad_c0de);
        assert_eq!(parse_key_id("0x0000002a").unwrap(), 42);
        for bad in ["", "xyz", "123456789", "-1"] {
            let e = parse_key_id(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn issue_list_revoke() {
        let dir = tempfile::tempdir().unwrap();
        super::super::network::create(dir.path(), "office", "10.1.2.0/24").unwrap();
        issue(dir.path(), "office", Some("laptop")).unwrap();
        issue(dir.path(), "office", None).unwrap();
        let state = Chain::open(dir.path()).unwrap().state().unwrap();
        let net = state.network_by_name("office").unwrap();
        assert_eq!(net.keys.len(), 2);
        let (&first, _) = net.keys.iter().next().unwrap();
        let text = KeyId(first).to_string();
        revoke(dir.path(), "office", &text).unwrap();
        let e = revoke(dir.path(), "office", &text).unwrap_err().to_string();
        assert!(e.contains("already revoked"), "{e}");
        let e = revoke(dir.path(), "office", "00000000")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no key 00000000"), "{e}");
        let state = Chain::open(dir.path()).unwrap().state().unwrap();
        let net = state.network_by_name("office").unwrap();
        assert!(net.key(first).unwrap().revoked);
        assert_eq!(net.live_keys().count(), 1);
        assert!(issue(dir.path(), "nowhere", None).is_err());
    }
}
