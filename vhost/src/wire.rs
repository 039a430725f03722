//! The IPv4 packets the host reads itself (the demultiplexing header) and
//! writes itself (UDP, RST for refused connections, ICMP port unreachable),
//! with smoltcp's `wire` types.

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4DstUnreachable, Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket, UdpRepr,
};

use crate::counters::DropReason;

pub(crate) const IPV4_HEADER: usize = 20;
pub(crate) const UDP_HEADER: usize = 8;
const HOP_LIMIT: u8 = 64;

/// What an inbound packet is, once its headers and checksums checked out.
#[derive(Debug)]
pub(crate) enum Inbound<'a> {
    Tcp {
        ip: Ipv4Repr,
        tcp: TcpRepr<'a>,
    },
    Udp {
        peer: SocketAddrV4,
        local_port: u16,
        payload: &'a [u8],
    },
}

impl Inbound<'_> {
    /// A TCP segment's (peer, local port).
    pub fn tcp_tuple(ip: &Ipv4Repr, tcp: &TcpRepr<'_>) -> (SocketAddrV4, u16) {
        (SocketAddrV4::new(ip.src_addr, tcp.src_port), tcp.dst_port)
    }
}

/// Checks an inbound IPv4 packet to `address` down to its TCP/UDP header.
pub(crate) fn parse(packet: &[u8], address: Ipv4Addr) -> Result<Inbound<'_>, DropReason> {
    let caps = ChecksumCapabilities::default();
    let ipp = Ipv4Packet::new_checked(packet).map_err(|_| DropReason::Malformed)?;
    if ipp.version() == 4 && (ipp.more_frags() || ipp.frag_offset() != 0) {
        return Err(DropReason::Fragment);
    }
    let ip = Ipv4Repr::parse(&ipp, &caps).map_err(|_| DropReason::Malformed)?;
    if ip.dst_addr != address {
        return Err(DropReason::NotForUs);
    }
    let (src, dst) = (IpAddress::Ipv4(ip.src_addr), IpAddress::Ipv4(ip.dst_addr));
    // A source that is not a unicast host could make us answer a group.
    if ip.src_addr.is_broadcast() || ip.src_addr.is_multicast() || ip.src_addr.is_unspecified() {
        return Err(DropReason::Malformed);
    }
    let payload = ipp.payload();
    match ip.next_header {
        IpProtocol::Tcp => {
            let seg = TcpPacket::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            let tcp = TcpRepr::parse(&seg, &src, &dst, &caps).map_err(|_| DropReason::Malformed)?;
            Ok(Inbound::Tcp { ip, tcp })
        }
        IpProtocol::Udp => {
            let dgram = UdpPacket::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            let udp =
                UdpRepr::parse(&dgram, &src, &dst, &caps).map_err(|_| DropReason::Malformed)?;
            Ok(Inbound::Udp {
                peer: SocketAddrV4::new(ip.src_addr, udp.src_port),
                local_port: udp.dst_port,
                payload: dgram.payload(),
            })
        }
        _ => Err(DropReason::UnsupportedProtocol),
    }
}

/// The RST a closed port answers `tcp` with (RFC 9293 §3.10.7.1), or
/// nothing for a RST.
pub(crate) fn tcp_rst(ip: &Ipv4Repr, tcp: &TcpRepr<'_>) -> Option<Vec<u8>> {
    if tcp.control == TcpControl::Rst {
        return None;
    }
    let (seq_number, ack_number) = match tcp.ack_number {
        Some(ack) => (ack, None),
        None => (TcpSeqNumber(0), Some(tcp.seq_number + tcp.segment_len())),
    };
    let reply = TcpRepr {
        src_port: tcp.dst_port,
        dst_port: tcp.src_port,
        control: TcpControl::Rst,
        seq_number,
        ack_number,
        window_len: 0,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let reply_ip = Ipv4Repr {
        src_addr: ip.dst_addr,
        dst_addr: ip.src_addr,
        next_header: IpProtocol::Tcp,
        payload_len: reply.buffer_len(),
        hop_limit: HOP_LIMIT,
    };
    let caps = ChecksumCapabilities::default();
    let mut out = vec![0u8; IPV4_HEADER + reply.buffer_len()];
    let mut ipp = Ipv4Packet::new_unchecked(&mut out[..]);
    reply_ip.emit(&mut ipp, &caps);
    let mut seg = TcpPacket::new_unchecked(ipp.payload_mut());
    reply.emit(
        &mut seg,
        &IpAddress::Ipv4(reply_ip.src_addr),
        &IpAddress::Ipv4(reply_ip.dst_addr),
        &caps,
    );
    Some(out)
}

/// A UDP datagram from `src` (the host) to `dst`.
pub(crate) fn udp_datagram(src: SocketAddrV4, dst: SocketAddrV4, data: &[u8]) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
    };
    let ip = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        next_header: IpProtocol::Udp,
        payload_len: UDP_HEADER + data.len(),
        hop_limit: HOP_LIMIT,
    };
    let caps = ChecksumCapabilities::default();
    let mut out = vec![0u8; IPV4_HEADER + UDP_HEADER + data.len()];
    let mut ipp = Ipv4Packet::new_unchecked(&mut out[..]);
    ip.emit(&mut ipp, &caps);
    let mut dgram = UdpPacket::new_unchecked(ipp.payload_mut());
    udp.emit(
        &mut dgram,
        &IpAddress::Ipv4(ip.src_addr),
        &IpAddress::Ipv4(ip.dst_addr),
        data.len(),
        |buf| buf.copy_from_slice(data),
        &caps,
    );
    out
}

/// ICMP port unreachable for the UDP datagram `packet` (RFC 1122
/// §3.2.2.1): its IP header and first 8 payload bytes, so never larger
/// than 56 + options bytes and never an amplifier.
pub(crate) fn port_unreachable(packet: &[u8]) -> Option<Vec<u8>> {
    let caps = ChecksumCapabilities::default();
    let ipp = Ipv4Packet::new_checked(packet).ok()?;
    let header = Ipv4Repr::parse(&ipp, &caps).ok()?;
    let data = ipp.payload();
    let data = &data[..data.len().min(8)];
    let icmp = Icmpv4Repr::DstUnreachable {
        reason: Icmpv4DstUnreachable::PortUnreachable,
        header,
        data,
    };
    let ip = Ipv4Repr {
        src_addr: header.dst_addr,
        dst_addr: header.src_addr,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: HOP_LIMIT,
    };
    let mut out = vec![0u8; IPV4_HEADER + icmp.buffer_len()];
    let mut ipp = Ipv4Packet::new_unchecked(&mut out[..]);
    ip.emit(&mut ipp, &caps);
    let mut msg = Icmpv4Packet::new_unchecked(ipp.payload_mut());
    icmp.emit(&mut msg, &caps);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    #[test]
    fn udp_round_trip_checks_checksum() {
        let peer = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 7), 4000);
        let mut pkt = udp_datagram(peer, SocketAddrV4::new(GW, 53), b"query");
        match parse(&pkt, GW) {
            Ok(Inbound::Udp {
                peer: p,
                local_port,
                payload,
            }) => {
                assert_eq!((p, local_port, payload), (peer, 53, &b"query"[..]));
            }
            other => panic!("{other:?}"),
        }
        let last = pkt.len() - 1;
        pkt[last] ^= 1;
        assert!(matches!(parse(&pkt, GW), Err(DropReason::Malformed)));
    }

    #[test]
    fn rst_answers_syn_with_ack_of_seq_plus_one() {
        let ip = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 7),
            dst_addr: GW,
            next_header: IpProtocol::Tcp,
            payload_len: 20,
            hop_limit: 64,
        };
        let syn = TcpRepr {
            src_port: 1234,
            dst_port: 80,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(1000),
            ack_number: None,
            window_len: 100,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let rst = tcp_rst(&ip, &syn).expect("a SYN is answered");
        let caps = ChecksumCapabilities::default();
        let ipp = Ipv4Packet::new_checked(&rst[..]).expect("ip");
        let r = Ipv4Repr::parse(&ipp, &caps).expect("ip repr");
        assert_eq!((r.src_addr, r.dst_addr), (GW, ip.src_addr));
        let seg = TcpPacket::new_checked(ipp.payload()).expect("tcp");
        let t = TcpRepr::parse(&seg, &r.src_addr.into(), &r.dst_addr.into(), &caps).expect("repr");
        assert_eq!(t.control, TcpControl::Rst);
        assert_eq!(t.ack_number, Some(TcpSeqNumber(1001)));
        assert_eq!((t.src_port, t.dst_port), (80, 1234));
    }
}
