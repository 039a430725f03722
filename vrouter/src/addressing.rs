//! The gateway's addresses, derived so that every node computes the same
//! ones without talking to the others (DESIGN.md, "How a frame travels":
//! ethereal MACs are "pinned to the local ethereal port on every node"),
//! and the node-unique MAC a node's own ARP probes use ("ARP probes a node
//! sends use the node's own unique MAC so the reply returns to that node").

use crate::subnet::Ipv4Subnet;
use crate::NetworkId;
use sha2::{Digest, Sha256};
use snooping::Mac;
use std::net::Ipv4Addr;

/// Fixed labels, so a gateway MAC and a node MAC never come from the same
/// hash input.
const GATEWAY_LABEL: &[u8] = b"atenet vrouter gateway mac v1";
const NODE_LABEL: &[u8] = b"atenet vrouter node mac v1";

/// The gateway MAC of a network: the same on every node.
pub fn gateway_mac(network: NetworkId) -> Mac {
    derive(&[GATEWAY_LABEL, &network.0])
}

/// The MAC this node's ARP probes into `network` are sent from: unique per
/// node (and per network), so the client's unicast reply is switched back
/// to this node, and distinct from the gateway MAC.
pub fn node_mac(network: NetworkId, node_id: u64) -> Mac {
    let mac = derive(&[NODE_LABEL, &network.0, &node_id.to_be_bytes()]);
    if mac == gateway_mac(network) {
        // 2^-46: unreachable in practice, but cheap to make impossible.
        let mut other = mac;
        other[5] ^= 1;
        return other;
    }
    mac
}

/// The gateway's IPv4 address: the first host address of the subnet, or
/// `None` when the subnet has no room for a gateway and a client (a /31 or
/// /32).
pub fn gateway_ipv4(subnet: Ipv4Subnet) -> Option<Ipv4Addr> {
    if subnet.prefix_len() > 30 {
        return None;
    }
    Some(Ipv4Addr::from(u32::from(subnet.network()) + 1))
}

/// The first six bytes of SHA-256 over the parts, made a locally
/// administered (bit 1) unicast (bit 0 clear) address (IEEE 802, 8.2): it
/// cannot collide with a vendor's globally unique MAC.
fn derive(parts: &[&[u8]]) -> Mac {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut mac = [0; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] & !0x01) | 0x02;
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: NetworkId = NetworkId([7; 16]);

    #[test]
    fn gateway_mac_is_stable_local_unicast_and_per_network() {
        let mac = gateway_mac(NET);
        assert_eq!(mac, gateway_mac(NET));
        assert_eq!(mac[0] & 0x03, 0x02);
        assert_ne!(mac, gateway_mac(NetworkId([8; 16])));
    }

    #[test]
    fn node_macs_differ_per_node_and_from_the_gateway() {
        let a = node_mac(NET, 1);
        let b = node_mac(NET, 2);
        assert_ne!(a, b);
        assert_ne!(a, gateway_mac(NET));
        assert_eq!(a[0] & 0x03, 0x02);
        assert_eq!(a, node_mac(NET, 1));
    }

    #[test]
    fn gateway_ip_is_the_first_host() {
        let s: Ipv4Subnet = "10.1.2.0/24".parse().unwrap();
        assert_eq!(gateway_ipv4(s), Some(Ipv4Addr::new(10, 1, 2, 1)));
        let s: Ipv4Subnet = "10.1.2.0/30".parse().unwrap();
        assert_eq!(gateway_ipv4(s), Some(Ipv4Addr::new(10, 1, 2, 1)));
        for tiny in ["10.1.2.0/31", "10.1.2.0/32"] {
            assert_eq!(gateway_ipv4(tiny.parse().unwrap()), None);
        }
    }
}
