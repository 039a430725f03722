//! `tok key wss-url NETWORK KEY_ID --node HOST:PORT`: the URL a browser
//! (the node's page, or v86's `network_relay_url`) joins with. It carries
//! the key's wss token (vswitch WIRE.md: HKDF label "wss"), never the key.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use vswitch::key::{AccessKey, ChainId, KeyId};

use super::key::parse_key_id;
use super::{find_network, Chain};

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `wss://HOST:PORT/ws/TOKEN` (a websocket URL).
    Websocket,
    /// `https://HOST:PORT/#TOKEN` (the node's page, the token prefilled;
    /// a fragment never leaves the browser).
    Page,
}

/// Prints the URL for key KEY_ID of NETWORK at node `node` (HOST:PORT of
/// its `--wss`). `plain` for a node run with `--wss-insecure-plain-http`.
pub fn print(
    dir: &Path,
    network: &str,
    key_id: &str,
    node: &str,
    form: Form,
    plain: bool,
) -> Result<()> {
    println!("{}", url(dir, network, key_id, node, form, plain)?);
    Ok(())
}

pub fn url(
    dir: &Path,
    network: &str,
    key_id: &str,
    node: &str,
    form: Form,
    plain: bool,
) -> Result<String> {
    let node = check_host_port(node)?;
    let id = parse_key_id(key_id)?;
    let state = Chain::open(dir)?.state()?;
    let net = find_network(&state, network)?;
    let Some(key) = net.key(id).filter(|key| !key.revoked) else {
        let live: Vec<String> = net.live_keys().map(|(k, _)| KeyId(k).to_string()).collect();
        bail!(
            "network `{}` has no live key {}: expected one of ({})",
            net.name,
            KeyId(id),
            if live.is_empty() {
                "none live".to_owned()
            } else {
                live.join(", ")
            }
        );
    };
    let chain_id: ChainId = net
        .id
        .parse()
        .map_err(|e| anyhow!("network id {} in the chain is malformed: {e:?}", net.id))?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(&key.secret, &mut secret).map_err(|e| {
        anyhow!(
            "the secret of key {} in the chain is malformed: {e}",
            KeyId(id)
        )
    })?;
    let token = AccessKey {
        chain_id,
        key_id: KeyId(id),
        secret,
    }
    .wss_token();
    Ok(match (form, plain) {
        (Form::Websocket, false) => format!("wss://{node}/ws/{token}"),
        (Form::Websocket, true) => format!("ws://{node}/ws/{token}"),
        (Form::Page, false) => format!("https://{node}/#{token}"),
        (Form::Page, true) => format!("http://{node}/#{token}"),
    })
}

/// `HOST:PORT` with a non-empty host and a port number (IPv6 in brackets).
fn check_host_port(text: &str) -> Result<&str> {
    let bad = || {
        anyhow!("--node `{text}` is not accepted: expected HOST:PORT of the node's --wss, e.g. 198.18.0.1:7443 or [2001:db8::1]:443")
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && (host.starts_with('[') && host.ends_with(']')
            || !host.contains([':', '/', '#', '?', '@']));
    if !host_ok || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_a_token_url_for_live_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        super::super::network::create(dir.path(), "office", "10.1.2.0/24").unwrap();
        super::super::key::issue(dir.path(), "office", None).unwrap();
        let state = Chain::open(dir.path()).unwrap().state().unwrap();
        let net = state.network_by_name("office").unwrap();
        let (&id, key) = net.keys.iter().next().unwrap();
        let key_id = KeyId(id).to_string();
        let mut secret = [0u8; 32];
        hex::decode_to_slice(&key.secret, &mut secret).unwrap();
        let token = AccessKey {
            chain_id: net.id.parse().unwrap(),
            key_id: KeyId(id),
            secret,
        }
        .wss_token();
        let got = url(
            dir.path(),
            "office",
            &key_id,
            "198.18.0.1:7443",
            Form::Websocket,
            false,
        )
        .unwrap();
        assert_eq!(got, format!("wss://198.18.0.1:7443/ws/{token}"));
        let page = url(dir.path(), "office", &key_id, "[::1]:443", Form::Page, true).unwrap();
        assert_eq!(page, format!("http://[::1]:443/#{token}"));
        for bad in ["198.18.0.1", "198.18.0.1:0", ":443", "a/b:1", "h:port"] {
            let err = url(dir.path(), "office", &key_id, bad, Form::Websocket, false).unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
        super::super::key::revoke(dir.path(), "office", &key_id).unwrap();
        let err = url(dir.path(), "office", &key_id, "h:1", Form::Websocket, false).unwrap_err();
        assert!(err.to_string().contains("no live key"), "{err}");
    }
}
