//! Ethernet in and out of the virtual host: the host speaks IP (smoltcp's
//! IP medium, so it never answers ARP or echo: the gateway does), the
//! switch speaks Ethernet.

use std::net::Ipv4Addr;

use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet};
use vhost::Protocol;

/// A client's frame to a TCP or UDP port of the gateway address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToGateway<'a> {
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub protocol: Protocol,
    pub dst_port: u16,
    /// The IPv4 packet (Ethernet stripped, cut to its total length).
    pub packet: &'a [u8],
}

/// `frame` if it is IPv4 TCP/UDP from a client to `gateway_ip` at
/// `gateway_mac` (anything else is the router's).
pub fn to_gateway(
    frame: &[u8],
    gateway_mac: [u8; 6],
    gateway_ip: Ipv4Addr,
) -> Option<ToGateway<'_>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.dst_addr() != EthernetAddress(gateway_mac) || eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.dst_addr() != gateway_ip {
        return None;
    }
    let protocol = match ip.next_header() {
        IpProtocol::Tcp => Protocol::Tcp,
        IpProtocol::Udp => Protocol::Udp,
        _ => return None,
    };
    let header = usize::from(ip.header_len());
    let total = usize::from(ip.total_len());
    let l4 = ip.into_inner().get(..total)?;
    let ports = l4.get(header..header + 4)?;
    Some(ToGateway {
        src_mac: eth.src_addr().0,
        src_ip: Ipv4Packet::new_unchecked(l4).src_addr(),
        protocol,
        dst_port: u16::from_be_bytes([ports[2], ports[3]]),
        packet: l4,
    })
}

/// The IPv4 destination of a packet the host sent.
pub fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    Some(ip.dst_addr())
}

/// `packet` in an Ethernet frame from the gateway to `dst`.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], packet: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + packet.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    frame.extend_from_slice(packet);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 9];

    fn udp_frame(dst_mac: [u8; 6], dst: [u8; 4], port: u16, pad: usize) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&[10, 0, 0, 9]);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(&4000u16.to_be_bytes());
        ip.extend_from_slice(&port.to_be_bytes());
        ip.extend_from_slice(&[0, 12, 0, 0, b'a', b'b', b'c', b'd']);
        let len = ip.len() as u16;
        ip[2..4].copy_from_slice(&len.to_be_bytes());
        let mut frame = ethernet(dst_mac, CLIENT_MAC, &ip);
        frame.resize(frame.len() + pad, 0);
        frame
    }

    #[test]
    fn a_datagram_to_the_gateway_is_cut_to_its_ip_length() {
        let gw = Ipv4Addr::new(10, 0, 0, 1);
        let frame = udp_frame(GW_MAC, [10, 0, 0, 1], 53, 18);
        let to = to_gateway(&frame, GW_MAC, gw).expect("to the gateway");
        assert_eq!(to.protocol, Protocol::Udp);
        assert_eq!(to.dst_port, 53);
        assert_eq!(to.src_mac, CLIENT_MAC);
        assert_eq!(to.src_ip, Ipv4Addr::new(10, 0, 0, 9));
        assert_eq!(to.packet.len(), 32, "Ethernet padding is not IP");
        assert_eq!(destination(to.packet), Some(gw));
    }

    #[test]
    fn other_addresses_and_hostile_bytes_are_not_the_gateway_s() {
        let gw = Ipv4Addr::new(10, 0, 0, 1);
        assert!(to_gateway(&udp_frame(GW_MAC, [8, 8, 8, 8], 53, 0), GW_MAC, gw).is_none());
        assert!(to_gateway(&udp_frame([2; 6], [10, 0, 0, 1], 53, 0), GW_MAC, gw).is_none());
        let frame = udp_frame(GW_MAC, [10, 0, 0, 1], 53, 0);
        for cut in 0..frame.len() {
            let _ = to_gateway(&frame[..cut], GW_MAC, gw);
        }
    }
}
