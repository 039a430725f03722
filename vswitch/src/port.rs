//! Ports of a switch: what is on the other end decides where its frames may
//! go (DESIGN.md, "How a frame travels").

use std::fmt;

/// A port of one switch. Ids are handed out by [`crate::switch::Switch::add_port`]
/// and never reused within a switch, so a stale id held by the node after
/// `remove_port` can never reach another client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u32);

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port{}", self.0)
    }
}

/// What is attached to a port.
///
/// Three families, each with its own forwarding rule:
/// - *clients* (`TapClient`, `UdpClient`, `WsClient`): local ports whose
///   frames are checked against spoofing;
/// - *ethereal* services (`Gateway`, `Dhcp`, `VirtualHost`): local ports of
///   every node, owned by the node itself, with pinned MACs;
/// - `PeerNode`: another node of the network (a node-key session); frames
///   from a peer go to local ports only (split horizon).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// A `tok connect` tap client over a UDP session.
    TapClient,
    /// Any other client speaking the UDP session protocol.
    UdpClient,
    /// A browser (v86) over `wss://`: one binary message, one frame.
    WsClient,
    /// The ethereal gateway (vRouter).
    Gateway,
    /// The ethereal DHCP server.
    Dhcp,
    /// An ethereal virtual host (IoT relay, node protocol, DTLS/CoAP edge).
    VirtualHost,
    /// Another node of the same network, reached over a node session.
    PeerNode,
}

impl PortKind {
    /// Every kind, for tests and metrics.
    pub const ALL: [PortKind; 7] = [
        PortKind::TapClient,
        PortKind::UdpClient,
        PortKind::WsClient,
        PortKind::Gateway,
        PortKind::Dhcp,
        PortKind::VirtualHost,
        PortKind::PeerNode,
    ];

    /// A port of this node (client or ethereal): everything but a peer.
    pub fn is_local(self) -> bool {
        !self.is_peer()
    }

    /// A service the node itself runs on every node (gateway, DHCP, virtual
    /// hosts): its MACs are pinned, never learned from traffic.
    pub fn is_ethereal(self) -> bool {
        matches!(
            self,
            PortKind::Gateway | PortKind::Dhcp | PortKind::VirtualHost
        )
    }

    /// Another node: split horizon applies to its frames.
    pub fn is_peer(self) -> bool {
        self == PortKind::PeerNode
    }

    /// A client of this node: the only kind whose frames are checked
    /// against spoofing (DESIGN.md: "Frames from a client whose source MAC
    /// is a pinned ethereal MAC, or ARP claiming the gateway address, are
    /// dropped").
    pub fn is_client(self) -> bool {
        !self.is_peer() && !self.is_ethereal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_in_exactly_one_family() {
        for kind in PortKind::ALL {
            let families = [kind.is_client(), kind.is_ethereal(), kind.is_peer()];
            assert_eq!(families.iter().filter(|f| **f).count(), 1, "{kind:?}");
            assert_eq!(kind.is_local(), !kind.is_peer(), "{kind:?}");
        }
        assert!(PortKind::Gateway.is_ethereal() && PortKind::Gateway.is_local());
        assert!(PortKind::WsClient.is_client());
        assert!(PortKind::PeerNode.is_peer() && !PortKind::PeerNode.is_local());
    }
}
