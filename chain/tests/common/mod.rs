//! Event builders shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use chain::Event;

pub fn net_id(i: u8) -> String {
    format!("{i:02x}").repeat(16)
}

pub fn network(i: u8, name: &str) -> Event {
    Event::NetworkCreated {
        network: net_id(i),
        name: name.into(),
        subnet: format!("10.{i}.0.0/24"),
        node_key_id: 0xffff_ffff,
        node_secret: "aa".repeat(32),
    }
}

pub fn key(net: u8, key_id: u32) -> Event {
    Event::KeyIssued {
        network: net_id(net),
        key_id,
        secret: format!("{key_id:064x}"),
        label: Some(format!("k{key_id}")),
    }
}

pub fn revoke(net: u8, key_id: u32) -> Event {
    Event::KeyRevoked {
        network: net_id(net),
        key_id,
    }
}

pub fn node_id(i: u64) -> String {
    format!("{i:016x}")
}

pub fn join(node: u64, at_ms: u64) -> Event {
    Event::NodeJoined {
        node_id: node_id(node),
        advertise: vec![format!("198.18.0.{node}:4789")],
        at_ms,
    }
}

pub fn leave(node: u64) -> Event {
    Event::NodeLeft {
        node_id: node_id(node),
    }
}

pub fn setting(net: u8, name: &str, value: &str) -> Event {
    Event::SettingChanged {
        network: net_id(net),
        name: name.into(),
        value: value.into(),
    }
}
