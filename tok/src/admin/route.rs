//! `tok route add|del|list`: routes between two networks, which every
//! node's gateways then route IPv4 between (chain `RouteAdded`/`RouteRemoved`,
//! an unordered pair).

use std::path::Path;

use anyhow::{bail, Result};
use chain::{Event, Network, State};

use super::{find_network, Chain};
use crate::cidr::Cidr;

/// Looks both networks up and checks that a route between them makes sense:
/// two different networks whose subnets do not overlap (a gateway could not
/// tell which side an address is on). Returns their ids, in the given order.
pub fn check_pair(state: &State, network: &str, other: &str) -> Result<(String, String)> {
    let a = find_network(state, network)?;
    let b = find_network(state, other)?;
    if a.id == b.id {
        bail!(
            "`{network}` and `{other}` are the same network (`{}`): a route joins two different networks",
            a.name
        );
    }
    if let (Ok(sa), Ok(sb)) = (a.subnet.parse::<Cidr>(), b.subnet.parse::<Cidr>()) {
        if sa.overlaps(sb) {
            bail!(
                "networks `{}` ({}) and `{}` ({}) have overlapping subnets: a gateway cannot route between them",
                a.name,
                a.subnet,
                b.name,
                b.subnet
            );
        }
    }
    Ok((a.id.clone(), b.id.clone()))
}

fn name_of<'a>(state: &'a State, id: &'a str) -> &'a str {
    state.network(id).map_or(id, |n: &Network| n.name.as_str())
}

/// `tok route add NETWORK OTHER_NETWORK`.
pub fn add(dir: &Path, network: &str, other: &str) -> Result<()> {
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let (a, b) = check_pair(&state, network, other)?;
    let (na, nb) = (name_of(&state, &a), name_of(&state, &b));
    if state.has_route(&a, &b) {
        bail!("a route between `{na}` and `{nb}` exists already (see `tok route list`)");
    }
    chain.append(
        &Event::RouteAdded {
            network_a: a.clone(),
            network_b: b.clone(),
        },
        |s| s.has_route(&a, &b),
    )?;
    println!("route added between `{na}` and `{nb}`");
    Ok(())
}

/// `tok route del NETWORK OTHER_NETWORK`.
pub fn del(dir: &Path, network: &str, other: &str) -> Result<()> {
    let chain = Chain::open(dir)?;
    let state = chain.state()?;
    let a = find_network(&state, network)?.id.clone();
    let b = find_network(&state, other)?.id.clone();
    let (na, nb) = (name_of(&state, &a), name_of(&state, &b));
    if !state.has_route(&a, &b) {
        let routes = route_names(&state);
        bail!(
            "there is no route between `{na}` and `{nb}`: expected one of the routes in the chain ({})",
            if routes.is_empty() {
                "none yet".to_owned()
            } else {
                routes.join(", ")
            }
        );
    }
    chain.append(
        &Event::RouteRemoved {
            network_a: a.clone(),
            network_b: b.clone(),
        },
        |s| !s.has_route(&a, &b),
    )?;
    println!("route removed between `{na}` and `{nb}`");
    Ok(())
}

fn route_names(state: &State) -> Vec<String> {
    state
        .routes()
        .map(|(a, b)| format!("{} <-> {}", name_of(state, a), name_of(state, b)))
        .collect()
}

/// `tok route list`.
pub fn list(dir: &Path) -> Result<()> {
    let state = Chain::open(dir)?.state()?;
    print!("{}", render_list(&state));
    Ok(())
}

fn render_list(state: &State) -> String {
    let mut rows = vec![[
        "NETWORK".to_owned(),
        "SUBNET".to_owned(),
        "OTHER_NETWORK".to_owned(),
        "SUBNET".to_owned(),
    ]];
    let subnet = |id: &str| {
        state
            .network(id)
            .map_or("?".to_owned(), |n| n.subnet.clone())
    };
    for (a, b) in state.routes() {
        rows.push([
            name_of(state, a).to_owned(),
            subnet(a),
            name_of(state, b).to_owned(),
            subnet(b),
        ]);
    }
    if rows.len() == 1 {
        return "no routes (add one with `tok route add NETWORK OTHER_NETWORK`)\n".to_owned();
    }
    crate::table::render(&rows)
}

#[cfg(test)]
mod tests {
    use super::super::network;
    use super::*;

    #[test]
    fn add_list_del() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        network::create(d, "office", "10.1.2.0/24").unwrap();
        network::create(d, "lab", "10.7.0.0/16").unwrap();
        network::create(d, "dmz", "10.8.0.0/24").unwrap();

        let e = add(d, "office", "office").unwrap_err().to_string();
        assert!(e.contains("same network"), "{e}");
        let e = add(d, "office", "nowhere").unwrap_err().to_string();
        assert!(e.contains("`nowhere`") && e.contains("office"), "{e}");

        add(d, "office", "lab").unwrap();
        let e = add(d, "lab", "office").unwrap_err().to_string();
        assert!(e.contains("exists already"), "{e}");
        let lab_id = Chain::open(d)
            .unwrap()
            .state()
            .unwrap()
            .network_by_name("lab")
            .unwrap()
            .id
            .clone();
        // By id works as well as by name.
        add(d, &lab_id, "dmz").unwrap();

        let state = Chain::open(d).unwrap().state().unwrap();
        assert_eq!(state.routes().count(), 2);
        let text = render_list(&state);
        assert!(
            text.contains("office") && text.contains("10.7.0.0/16") && text.contains("dmz"),
            "{text}"
        );

        let e = del(d, "office", "dmz").unwrap_err().to_string();
        assert!(e.contains("no route") && e.contains("<->"), "{e}");
        del(d, "dmz", "lab").unwrap();
        del(d, "office", "lab").unwrap();
        let state = Chain::open(d).unwrap().state().unwrap();
        assert_eq!(state.routes().count(), 0);
        assert!(render_list(&state).contains("no routes"));
        let e = del(d, "office", "lab").unwrap_err().to_string();
        assert!(e.contains("none yet"), "{e}");
    }

    #[test]
    fn overlapping_subnets_are_refused() {
        // Two overlapping networks cannot be created through tok; fold them
        // directly (another writer, or an older version, may have).
        let state = State::fold([
            Event::NetworkCreated {
                network: "ab".repeat(16),
                name: "a".into(),
                subnet: "10.1.0.0/16".into(),
                node_key_id: 1,
                node_secret: "cd".repeat(32),
            },
            Event::NetworkCreated {
                network: "ef".repeat(16),
                name: "b".into(),
                subnet: "10.1.2.0/24".into(),
                node_key_id: 2,
                node_secret: "cd".repeat(32),
            },
        ]);
        let e = check_pair(&state, "a", "b").unwrap_err().to_string();
        assert!(
            e.contains("overlapping") && e.contains("10.1.0.0/16") && e.contains("10.1.2.0/24"),
            "{e}"
        );
    }
}
