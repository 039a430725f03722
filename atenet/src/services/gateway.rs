//! What the chain tells the router (`vrouter::Router`): the routes between
//! networks, and the DHCP leases that bind client addresses to MACs (so a
//! gateway routes to a DHCP client without asking ARP first). Called on
//! every chain update, never per frame.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use chain::State;
use vrouter::{NetworkId, Outbox, Router};
use vswitch::key::ChainId;

/// The leases a network's ARP table was given: ip -> (MAC, expires_ms).
pub type LeaseView = HashMap<Ipv4Addr, ([u8; 6], u64)>;

/// The chain's routes between networks, as router ids.
pub fn set_routes(router: &mut Router, state: &State) {
    let routes = state
        .routes()
        .filter_map(|(a, b)| Some((network_id(a)?, network_id(b)?)));
    if let Err(err) = router.set_routes(routes) {
        tracing::warn!(%err, "routes not applied; the previous ones stay");
    }
}

/// Brings `network`'s leases in the router up to the chain: leases new or
/// renewed since `given` are inserted (expiry from the chain's wall-clock
/// time), leases gone (released, expired, displaced) are removed. Packets
/// waiting for a leased address go into `out`. Returns how many leases the
/// ARP table refused (a conflicting or protected binding).
pub fn sync_leases(
    router: &mut Router,
    out: &mut Outbox,
    chain: ChainId,
    state: &State,
    given: &mut LeaseView,
    now: Instant,
    now_ms: u64,
) -> u64 {
    let id = NetworkId(chain.0);
    let mut current = LeaseView::with_capacity(given.len());
    let mut refused = 0;
    for lease in state.leases(&hex::encode(chain.0)) {
        if lease.is_expired(now_ms) {
            continue;
        }
        let Some(mac) = chain::validate::parse_mac(&lease.mac) else {
            continue;
        };
        current.insert(lease.ip, (mac, lease.expires_ms));
        if given.get(&lease.ip) == Some(&(mac, lease.expires_ms)) {
            continue;
        }
        if let Some(&(old, _)) = given.get(&lease.ip).filter(|(old, _)| *old != mac) {
            router.remove_lease(id, lease.ip, old);
        }
        let expires = now + Duration::from_millis(lease.expires_ms - now_ms);
        if let Err(err) = router.insert_lease(now, id, lease.ip, mac, expires, out) {
            refused += 1;
            tracing::debug!(ip = %lease.ip, mac = %lease.mac, %err, "lease not given to the router");
        }
    }
    for (ip, (mac, _)) in given.iter() {
        if !current.contains_key(ip) {
            router.remove_lease(id, *ip, *mac);
        }
    }
    *given = current;
    refused
}

pub fn network_id(text: &str) -> Option<NetworkId> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(text, &mut id).ok()?;
    Some(NetworkId(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain::Event;
    use vrouter::RouterConfig;

    const NET: &str = "00112233445566778899aabbccddeeff";
    const OTHER: &str = "ffeeddccbbaa99887766554433221100";

    fn created(id: &str, subnet: &str, name: &str) -> Event {
        Event::NetworkCreated {
            network: id.into(),
            name: name.into(),
            subnet: subnet.into(),
            node_key_id: 1,
            node_secret: "00".repeat(32),
        }
    }

    fn claimed(ip: &str, at_ms: u64, expires_ms: u64) -> Event {
        Event::LeaseClaimed {
            network: NET.into(),
            mac: "02:00:00:00:00:01".into(),
            ip: ip.into(),
            client_id: None,
            hostname: None,
            node_id: "0011223344556677".into(),
            at_ms,
            expires_ms,
        }
    }

    #[test]
    fn leases_and_routes_follow_the_chain() {
        let mut state = State::default();
        state.apply(&created(NET, "10.1.0.0/24", "a"));
        state.apply(&created(OTHER, "10.2.0.0/24", "b"));
        state.apply(&claimed("10.1.0.5", 1_000, 10_000));
        state.apply(&Event::RouteAdded {
            network_a: NET.into(),
            network_b: OTHER.into(),
        });
        let mut router = Router::new(RouterConfig::default());
        let (a, b) = (network_id(NET).unwrap(), network_id(OTHER).unwrap());
        router
            .add_network(a, "10.1.0.0/24".parse().unwrap())
            .unwrap();
        router
            .add_network(b, "10.2.0.0/24".parse().unwrap())
            .unwrap();
        let mut out = Outbox::default();
        let mut given = LeaseView::new();
        let now = Instant::now();
        let chain = ChainId(a.0);

        set_routes(&mut router, &state);
        assert!(router.has_route(a, b));
        assert_eq!(
            sync_leases(&mut router, &mut out, chain, &state, &mut given, now, 2_000),
            0
        );
        let ip: Ipv4Addr = "10.1.0.5".parse().unwrap();
        let arp = router.arp_table(a).unwrap();
        assert_eq!(arp.lookup(now, ip), Some([2, 0, 0, 0, 0, 1]));

        // Released: gone from the router too.
        state.apply(&Event::LeaseReleased {
            network: NET.into(),
            mac: "02:00:00:00:00:01".into(),
            ip: ip.to_string(),
            at_ms: 3_000,
        });
        state.apply(&Event::RouteRemoved {
            network_a: NET.into(),
            network_b: OTHER.into(),
        });
        set_routes(&mut router, &state);
        assert!(!router.has_route(a, b));
        sync_leases(&mut router, &mut out, chain, &state, &mut given, now, 3_000);
        assert!(given.is_empty());
        assert_eq!(router.arp_table(a).unwrap().lookup(now, ip), None);
    }
}
