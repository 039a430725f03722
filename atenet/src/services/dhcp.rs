//! The DHCP server of one network on this node (`dhcp::Server`), and the
//! two header peeks the node needs to move its frames: which frames are
//! requests for a server (UDP to port 67), and which client a reply is for.
//!
//! Where requests come from: the switch floods broadcasts (DISCOVER,
//! REQUEST in SELECTING/INIT-REBOOT, INFORM) to every local port, so they
//! reach the `PortKind::Dhcp` port; unicasts to the gateway (RENEW,
//! RELEASE, INFORM to the server identifier = the gateway address) reach
//! the gateway port, because the gateway MAC is pinned there. A frame that
//! reaches either port and is UDP to port 67 goes to the DHCP server once;
//! everything else at the gateway port goes to the router. Only frames from
//! this node's own client ports are answered (ethereal services serve
//! local clients; a peer's broadcast is its own node's to answer).

use std::time::Duration;

use dhcp::{Server, ServerConfig};

/// DHCP server port (RFC 2131).
const SERVER_PORT: u16 = 67;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const IPPROTO_UDP: u8 = 17;
/// Ethernet header length.
const ETH: usize = 14;
/// `chaddr` offset in a BOOTP message (RFC 2131, figure 1).
const CHADDR_AT: usize = 28;

/// The server of one network, with what it was made from.
#[derive(Debug)]
pub struct DhcpService {
    pub server: Server,
    mtu: u16,
    lease_time: Duration,
}

impl DhcpService {
    pub fn new(cfg: ServerConfig, now: std::time::Instant) -> Self {
        Self {
            mtu: cfg.mtu,
            lease_time: cfg.lease_time,
            server: Server::new(cfg, now),
        }
    }

    /// Whether a server made from `cfg` would answer differently (the
    /// network's `mtu` or `lease-time` changed).
    pub fn differs(&self, cfg: &ServerConfig) -> bool {
        self.mtu != cfg.mtu || self.lease_time != cfg.lease_time
    }
}

/// Whether `frame` is IPv4/UDP to port 67: a message for a DHCP server.
/// (Validity is the server's to judge; this only routes the frame.)
pub fn is_request(frame: &[u8]) -> bool {
    let Some(udp) = udp_offset(frame) else {
        return false;
    };
    frame.get(udp + 2..udp + 4) == Some(&SERVER_PORT.to_be_bytes())
}

/// The client a server reply is for: its Ethernet destination when that is
/// unicast, else (a broadcast reply) the BOOTP `chaddr`.
pub fn reply_client(frame: &[u8]) -> Option<[u8; 6]> {
    let dst: [u8; 6] = frame.get(..6)?.try_into().ok()?;
    if dst[0] & 1 == 0 {
        return Some(dst);
    }
    let bootp = udp_offset(frame)? + 8;
    frame
        .get(bootp + CHADDR_AT..bootp + CHADDR_AT + 6)?
        .try_into()
        .ok()
}

/// Where the UDP header of an IPv4/UDP frame starts.
fn udp_offset(frame: &[u8]) -> Option<usize> {
    if frame.get(12..14)? != ETHERTYPE_IPV4 {
        return None;
    }
    let version_ihl = *frame.get(ETH)?;
    let ihl = usize::from(version_ihl & 0x0f) * 4;
    if version_ihl >> 4 != 4 || ihl < 20 || *frame.get(ETH + 9)? != IPPROTO_UDP {
        return None;
    }
    Some(ETH + ihl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_frame(dst_mac: [u8; 6], dst_port: u16, chaddr: [u8; 6]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst_mac);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&ETHERTYPE_IPV4);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[9] = IPPROTO_UDP;
        f.extend_from_slice(&ip);
        f.extend_from_slice(&68u16.to_be_bytes());
        f.extend_from_slice(&dst_port.to_be_bytes());
        f.extend_from_slice(&[0; 4]);
        let mut bootp = [0u8; 240];
        bootp[CHADDR_AT..CHADDR_AT + 6].copy_from_slice(&chaddr);
        f.extend_from_slice(&bootp);
        f
    }

    #[test]
    fn requests_are_udp_to_port_67() {
        let client = [2, 0, 0, 0, 0, 1];
        assert!(is_request(&udp_frame([0xff; 6], 67, client)));
        assert!(!is_request(&udp_frame([0xff; 6], 68, client)));
        let mut arp = udp_frame([0xff; 6], 67, client);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(!is_request(&arp));
        let mut tcp = udp_frame([0xff; 6], 67, client);
        tcp[ETH + 9] = 6;
        assert!(!is_request(&tcp));
        // Cut before the destination port: not recognisable.
        for len in 0..38 {
            assert!(!is_request(&udp_frame([0xff; 6], 67, client)[..len]));
        }
    }

    #[test]
    fn replies_name_their_client() {
        let client = [2, 0, 0, 0, 0, 1];
        assert_eq!(reply_client(&udp_frame(client, 68, [0; 6])), Some(client));
        assert_eq!(
            reply_client(&udp_frame([0xff; 6], 68, client)),
            Some(client)
        );
        assert_eq!(reply_client(&udp_frame([0xff; 6], 68, client)[..50]), None);
        assert_eq!(reply_client(&[]), None);
    }
}
