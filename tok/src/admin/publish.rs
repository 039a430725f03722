//! `tok publish add|del|list`: inbound NAT. TCP or UDP to a host port of
//! the node a client is attached to reaches `CLIENT_IP:PORT` (chain
//! `PortPublished`/`PortUnpublished`). A host port is a port of every node
//! host, so a protocol's host port is published at most once in the whole
//! chain, whatever the network.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use chain::{Event, Network, Proto, Published, State};

use super::{find_network, Chain};

/// `tcp` or `udp` (either case).
pub fn parse_proto(text: &str) -> Result<Proto> {
    Proto::parse(&text.to_ascii_lowercase())
        .ok_or_else(|| anyhow!("protocol `{text}` is not accepted: expected tcp or udp"))
}

/// A port number 1..=65535; `what` names it in the error.
pub fn parse_port(what: &str, text: &str) -> Result<u16> {
    text.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
        anyhow!("{what} `{text}` is not accepted: expected a port number from 1 to 65535")
    })
}

/// `CLIENT_IP:PORT`, the address an assignable address of the network's
/// subnet (not its network, broadcast or gateway address).
pub fn parse_client(net: &Network, text: &str) -> Result<(Ipv4Addr, u16)> {
    let subnet = net.ipv4_subnet().ok_or_else(|| {
        anyhow!(
            "network `{}` has no IPv4 subnet ({}): publishing needs one",
            net.name,
            net.subnet
        )
    })?;
    let example = subnet
        .gateway()
        .map_or_else(|| subnet.network(), |g| Ipv4Addr::from(u32::from(g) + 1));
    let (ip, port) = text.rsplit_once(':').ok_or_else(|| {
        anyhow!("client `{text}` is not accepted: expected CLIENT_IP:PORT such as {example}:80")
    })?;
    let addr: Ipv4Addr = ip.parse().map_err(|_| {
        anyhow!("client address `{ip}` is not an IPv4 address: expected one inside {subnet} such as {example}")
    })?;
    let port = parse_port("client port", port)?;
    if !subnet.contains(addr) {
        bail!(
            "client address {addr} is outside network `{}` ({subnet}): expected one such as {example}",
            net.name
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
            "client address {addr} is {what} of network `{}` ({subnet}): expected a client's address such as {example}",
            net.name
        );
    }
    if !subnet.is_assignable(addr) {
        bail!(
            "client address {addr} cannot be a client's in network `{}` ({subnet})",
            net.name
        );
    }
    Ok((addr, port))
}

fn name_of<'a>(state: &'a State, id: &'a str) -> &'a str {
    state.network(id).map_or(id, |n| n.name.as_str())
}

fn describe(p: &Published) -> String {
    format!(
        "{} host port {} -> {}:{}",
        p.proto, p.host_port, p.client_ip, p.client_port
    )
}

/// `tok publish add NETWORK tcp|udp HOST_PORT CLIENT_IP:PORT`.
pub fn add(dir: &Path, network: &str, proto: &str, host_port: &str, client: &str) -> Result<()> {
    let proto = parse_proto(proto)?;
    let host_port = parse_port("host port", host_port)?;
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let net = find_network(&state, network)?;
    let (ip, port) = parse_client(net, client)?;
    if let Some(p) = state.published_port(proto, host_port) {
        if p.network == net.id && p.client_ip == ip && p.client_port == port {
            bail!(
                "{} is published already in `{}` (see `tok publish list {}`)",
                describe(p),
                net.name,
                net.name
            );
        }
        bail!(
            "{proto} host port {host_port} is taken: network `{}` publishes it to {}:{} (a host port is published once, for one network; `tok publish del` it first, or pick another port)",
            name_of(&state, &p.network),
            p.client_ip,
            p.client_port
        );
    }
    let id = net.id.clone();
    let name = net.name.clone();
    chain.append(
        &Event::PortPublished {
            network: id.clone(),
            proto: proto.as_str().to_owned(),
            host_port,
            client_ip: ip.to_string(),
            client_port: port,
        },
        |s| {
            s.published_port(proto, host_port)
                .is_some_and(|p| p.network == id && p.client_ip == ip && p.client_port == port)
        },
    )?;
    println!("published in `{name}`: {proto} host port {host_port} -> {ip}:{port}");
    Ok(())
}

/// `tok publish del NETWORK tcp|udp HOST_PORT [CLIENT_IP:PORT]` (the client
/// is accepted and ignored: protocol and host port name a publication).
pub fn del(dir: &Path, network: &str, proto: &str, host_port: &str) -> Result<()> {
    let proto = parse_proto(proto)?;
    let host_port = parse_port("host port", host_port)?;
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let net = find_network(&state, network)?;
    let here = state
        .published_port(proto, host_port)
        .filter(|p| p.network == net.id);
    if here.is_none() {
        let ours: Vec<String> = state.published(&net.id).map(describe).collect();
        bail!(
            "{proto} host port {host_port} is not published in `{}`: expected one of its published ports ({})",
            net.name,
            if ours.is_empty() {
                "none yet".to_owned()
            } else {
                ours.join(", ")
            }
        );
    }
    let id = net.id.clone();
    let name = net.name.clone();
    chain.append(
        &Event::PortUnpublished {
            network: id.clone(),
            proto: proto.as_str().to_owned(),
            host_port,
        },
        |s| {
            s.published_port(proto, host_port)
                .is_none_or(|p| p.network != id)
        },
    )?;
    println!("unpublished in `{name}`: {proto} host port {host_port}");
    Ok(())
}

/// `tok publish list NETWORK`.
pub fn list(dir: &Path, network: &str) -> Result<()> {
    let state = Chain::open(dir)?.state()?;
    let net = find_network(&state, network)?;
    print!("{}", render_list(&state, net));
    Ok(())
}

fn render_list(state: &State, net: &Network) -> String {
    let mut rows = vec![[
        "PROTO".to_owned(),
        "HOST_PORT".to_owned(),
        "CLIENT".to_owned(),
    ]];
    for p in state.published(&net.id) {
        rows.push([
            p.proto.to_string(),
            p.host_port.to_string(),
            format!("{}:{}", p.client_ip, p.client_port),
        ]);
    }
    if rows.len() == 1 {
        return format!(
            "no published ports in `{}` (add one with `tok publish add {} tcp|udp HOST_PORT CLIENT_IP:PORT`)\n",
            net.name, net.name
        );
    }
    crate::table::render(&rows)
}

#[cfg(test)]
mod tests {
    use super::super::network;
    use super::*;

    #[test]
    fn argument_errors_name_the_value() {
        let e = parse_proto("sctp").unwrap_err().to_string();
        assert!(e.contains("`sctp`") && e.contains("tcp or udp"), "{e}");
        assert_eq!(parse_proto("TCP").unwrap(), Proto::Tcp);
        for bad in ["0", "65536", "-1", "http", ""] {
            let e = parse_port("host port", bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{bad}`")) && e.contains("65535"),
                "{e}"
            );
        }
        assert_eq!(parse_port("host port", "65535").unwrap(), 65535);
    }

    #[test]
    fn client_address_rules() {
        let s = State::fold([Event::NetworkCreated {
            network: "ab".repeat(16),
            name: "office".into(),
            subnet: "10.1.2.0/24".into(),
            node_key_id: 1,
            node_secret: "cd".repeat(32),
        }]);
        let net = s.network_by_name("office").unwrap();
        assert_eq!(
            parse_client(net, "10.1.2.9:80").unwrap(),
            (Ipv4Addr::new(10, 1, 2, 9), 80)
        );
        for (bad, says) in [
            ("10.1.2.1:80", "gateway"),
            ("10.1.2.0:80", "network address"),
            ("10.1.2.255:80", "broadcast"),
            ("10.9.0.5:80", "outside"),
            ("10.1.2.9", "CLIENT_IP:PORT"),
            ("10.1.2.9:0", "`0`"),
            ("ten:80", "`ten`"),
        ] {
            let e = parse_client(net, bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn add_list_del() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        network::create(d, "office", "10.1.2.0/24").unwrap();
        network::create(d, "lab", "10.7.0.0/16").unwrap();

        add(d, "office", "tcp", "8080", "10.1.2.9:80").unwrap();
        let e = add(d, "office", "tcp", "8080", "10.1.2.9:80")
            .unwrap_err()
            .to_string();
        assert!(e.contains("published already"), "{e}");
        // Taken by another network: the error names the holder.
        let e = add(d, "lab", "tcp", "8080", "10.7.0.5:80")
            .unwrap_err()
            .to_string();
        assert!(e.contains("taken") && e.contains("`office`"), "{e}");
        add(d, "lab", "udp", "8080", "10.7.0.5:5353").unwrap();
        let e = add(d, "nowhere", "tcp", "1", "10.1.2.9:80")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`nowhere`"), "{e}");

        let state = Chain::open(d).unwrap().state().unwrap();
        let office = state.network_by_name("office").unwrap();
        let text = render_list(&state, office);
        assert!(
            text.contains("tcp") && text.contains("8080") && text.contains("10.1.2.9:80"),
            "{text}"
        );
        assert!(!text.contains("5353"), "{text}");

        // del of another network's port, or a missing one, is an error.
        let e = del(d, "office", "udp", "8080").unwrap_err().to_string();
        assert!(e.contains("not published in `office`"), "{e}");
        del(d, "office", "tcp", "8080").unwrap();
        let state = Chain::open(d).unwrap().state().unwrap();
        let office = state.network_by_name("office").unwrap();
        assert!(render_list(&state, office).contains("no published ports"));
        assert_eq!(state.published_all().count(), 1);
        let e = del(d, "office", "tcp", "8080").unwrap_err().to_string();
        assert!(e.contains("none yet"), "{e}");
        // The port is free again for anyone.
        add(d, "lab", "tcp", "8080", "10.7.0.5:80").unwrap();
    }
}
