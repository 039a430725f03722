//! The few frames the node's NAT glue reads and writes itself (DNS to and
//! from the gateway address); everything else is the translator's.

use std::net::{Ipv4Addr, SocketAddrV4};

const ETH_HDR: usize = 14;
const IP_HDR: usize = 20;
const UDP_HDR: usize = 8;

/// A UDP datagram a client sent to the gateway: who sent it and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientDatagram<'a> {
    pub mac: [u8; 6],
    pub from: SocketAddrV4,
    pub payload: &'a [u8],
}

/// The UDP datagram in `frame` if it is IPv4 to `gateway_mac`,
/// `gateway_ip:port`, unfragmented and well formed; `None` otherwise
/// (never panics).
pub(crate) fn udp_to(
    frame: &[u8],
    gateway_mac: [u8; 6],
    gateway_ip: Ipv4Addr,
    port: u16,
) -> Option<ClientDatagram<'_>> {
    if frame.get(..6)? != gateway_mac || frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let mac: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let ip = frame.get(ETH_HDR..)?;
    let first = *ip.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < IP_HDR || *ip.get(9)? != 17 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    if total < ihl + UDP_HDR || total > ip.len() || frag & 0x3fff != 0 {
        return None;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(12..16)?).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(16..20)?).ok()?);
    if dst != gateway_ip {
        return None;
    }
    let udp = ip.get(ihl..total)?;
    let sport = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
    let dport = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    if dport != port || len < UDP_HDR || len > udp.len() {
        return None;
    }
    Some(ClientDatagram {
        mac,
        from: SocketAddrV4::new(src, sport),
        payload: udp.get(UDP_HDR..len)?,
    })
}

/// An Ethernet frame carrying one UDP datagram, checksums filled in.
pub(crate) fn udp_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = UDP_HDR + payload.len();
    let total = IP_HDR + udp_len;
    let mut f = Vec::with_capacity(ETH_HDR + total);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    // IPv4: no options, DF, TTL 64, protocol UDP.
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(total as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src.ip().octets());
    f.extend_from_slice(&dst.ip().octets());
    let ip_sum = checksum(0, &f[ETH_HDR..ETH_HDR + IP_HDR]);
    f[ETH_HDR + 10..ETH_HDR + 12].copy_from_slice(&ip_sum.to_be_bytes());
    let udp_start = f.len();
    f.extend_from_slice(&src.port().to_be_bytes());
    f.extend_from_slice(&dst.port().to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&src.ip().octets());
    pseudo[4..8].copy_from_slice(&dst.ip().octets());
    pseudo[9] = 17;
    pseudo[10..].copy_from_slice(&(udp_len as u16).to_be_bytes());
    let mut sum = checksum(sum_words(0, &pseudo), &f[udp_start..]);
    if sum == 0 {
        sum = 0xffff;
    }
    f[udp_start + 6..udp_start + 8].copy_from_slice(&sum.to_be_bytes());
    f
}

/// An ICMP echo request as written to a ping socket (the kernel sets the
/// identifier and the checksum; the checksum is filled in anyway).
pub(crate) fn echo_request(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&[8, 0, 0, 0, 0, 0]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    let sum = checksum(0, &p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// An echo reply read from a ping socket: (sequence, payload).
pub(crate) fn echo_reply(packet: &[u8]) -> Option<(u16, &[u8])> {
    if *packet.first()? != 0 {
        return None;
    }
    let seq = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]);
    Some((seq, packet.get(8..)?))
}

fn sum_words(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// The Internet checksum (RFC 1071) of `data`, starting from `acc`.
fn checksum(acc: u32, data: &[u8]) -> u16 {
    let mut sum = sum_words(acc, data);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_datagram_parses_back() {
        let gw_mac = [2, 0, 0, 0, 0, 1];
        let gw = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 53);
        let client = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 5), 40000);
        let frame = udp_frame(gw_mac, [2, 0, 0, 0, 0, 5], client, gw, b"query");
        let got = udp_to(&frame, gw_mac, *gw.ip(), 53).unwrap();
        assert_eq!(got.from, client);
        assert_eq!(got.payload, b"query");
        assert_eq!(got.mac, [2, 0, 0, 0, 0, 5]);
        // The IP header checksum verifies to zero.
        assert_eq!(checksum(0, &frame[14..34]), 0);
        assert!(udp_to(&frame, gw_mac, *gw.ip(), 54).is_none());
        for cut in 0..frame.len() {
            let _ = udp_to(&frame[..cut], gw_mac, *gw.ip(), 53);
        }
    }

    #[test]
    fn echo_round_trip() {
        let req = echo_request(7, b"hi");
        assert_eq!(checksum(0, &req), 0);
        let mut reply = req.clone();
        reply[0] = 0;
        assert_eq!(echo_reply(&reply), Some((7, &b"hi"[..])));
        assert_eq!(echo_reply(&req), None);
    }
}
