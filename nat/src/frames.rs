//! Bytes: checking a client's frame once, and building the frames that go
//! back to clients, all with `smoltcp::wire`. Frames to a client always come
//! from the gateway MAC, as a routed frame would (DESIGN.md: the gateway owns
//! MAC substitution).

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4DstUnreachable,
    Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl,
    TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket, UdpRepr,
};

use crate::counters::DropReason;

/// TTL of packets the translator originates (a host's default).
const TTL: u8 = 64;
const ETH_LEN: usize = 14;
const IPV4_LEN: usize = 20;
/// RFC 792: an ICMP error quotes the IP header and 64 bits of data.
pub(crate) const QUOTE_DATA: usize = 8;

/// A client's IPv4 packet, checked once.
#[derive(Debug)]
pub(crate) struct ClientPacket<'a> {
    pub src_mac: EthernetAddress,
    pub ip: Ipv4Repr,
    /// The IP packet without Ethernet padding.
    pub packet: &'a [u8],
    /// The IP payload (after header and options).
    pub payload: &'a [u8],
}

pub(crate) fn checksums() -> ChecksumCapabilities {
    ChecksumCapabilities::default()
}

/// Checks Ethernet and IPv4 headers. Transport headers are checked by the
/// protocol that handles them.
pub(crate) fn parse_client_frame(frame: &[u8]) -> Result<ClientPacket<'_>, DropReason> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| DropReason::Runt)?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return Err(DropReason::NotIpv4);
    }
    parse_client_ip(eth.src_addr(), &frame[ETH_LEN..])
}

/// Checks an IPv4 packet from the client at `src_mac`.
pub(crate) fn parse_client_ip(
    src_mac: EthernetAddress,
    ip_bytes: &[u8],
) -> Result<ClientPacket<'_>, DropReason> {
    let ip = Ipv4Packet::new_checked(ip_bytes).map_err(|_| DropReason::BadIpv4)?;
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(DropReason::Fragment);
    }
    let repr = Ipv4Repr::parse(&ip, &checksums()).map_err(|_| DropReason::BadIpv4)?;
    let src = repr.src_addr;
    if src.is_unspecified() || src.is_broadcast() || src.is_multicast() || !src_mac.is_unicast() {
        return Err(DropReason::BadSource);
    }
    // `new_checked` verified header_len <= total_len <= buffer length.
    let total = usize::from(ip.total_len());
    let header = usize::from(ip.header_len());
    let packet = &ip_bytes[..total];
    Ok(ClientPacket {
        src_mac,
        ip: repr,
        packet,
        payload: &packet[header..],
    })
}

fn ethernet(dst: EthernetAddress, src: EthernetAddress, ip_len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; ETH_LEN + ip_len];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut frame);
    buf
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, payload_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: proto,
        payload_len,
        hop_limit: TTL,
    }
}

/// Ethernet header around an IP packet smoltcp produced.
pub(crate) fn wrap_ip(dst: EthernetAddress, src: EthernetAddress, packet: &[u8]) -> Vec<u8> {
    let mut buf = ethernet(dst, src, packet.len());
    buf[ETH_LEN..].copy_from_slice(packet);
    buf
}

/// Length of the IP packet a UDP datagram of `payload` bytes makes.
pub(crate) fn udp_ip_len(payload: usize) -> usize {
    IPV4_LEN + 8 + payload
}

pub(crate) fn udp(
    macs: (EthernetAddress, EthernetAddress),
    from: SocketAddrV4,
    to: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let (dst_mac, src_mac) = macs;
    let udp = UdpRepr {
        src_port: from.port(),
        dst_port: to.port(),
    };
    let ip = ipv4(*from.ip(), *to.ip(), IpProtocol::Udp, 8 + payload.len());
    let mut buf = ethernet(dst_mac, src_mac, udp_ip_len(payload.len()));
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[ETH_LEN..]);
    ip.emit(&mut packet, &checksums());
    let mut datagram = UdpPacket::new_unchecked(packet.payload_mut());
    udp.emit(
        &mut datagram,
        &(*from.ip()).into(),
        &(*to.ip()).into(),
        payload.len(),
        |b| b.copy_from_slice(payload),
        &checksums(),
    );
    buf
}

/// Length of the IP packet an echo reply with `data` makes.
pub(crate) fn echo_ip_len(data: usize) -> usize {
    IPV4_LEN + 8 + data
}

pub(crate) fn echo_reply(
    macs: (EthernetAddress, EthernetAddress),
    from: Ipv4Addr,
    to: Ipv4Addr,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Vec<u8> {
    let (dst_mac, src_mac) = macs;
    let icmp = Icmpv4Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let ip = ipv4(from, to, IpProtocol::Icmp, icmp.buffer_len());
    let mut buf = ethernet(dst_mac, src_mac, echo_ip_len(data.len()));
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[ETH_LEN..]);
    ip.emit(&mut packet, &checksums());
    icmp.emit(
        &mut Icmpv4Packet::new_unchecked(packet.payload_mut()),
        &checksums(),
    );
    buf
}

/// What an ICMP error about `original` quotes: its header and first 8 data
/// bytes (RFC 792), so the client's stack can match it to its socket.
pub(crate) fn quote<'a>(original: &ClientPacket<'a>) -> &'a [u8] {
    let header_len = original.packet.len() - original.payload.len();
    &original.packet[..(header_len + QUOTE_DATA).min(original.packet.len())]
}

/// A quote for a packet the client sent on a flow but which we no longer
/// hold: rebuilt from the flow's addresses, which is all a receiving stack
/// matches on. `transport` is the first 8 bytes of the transport header.
pub(crate) fn synthetic_quote(
    client: Ipv4Addr,
    remote: Ipv4Addr,
    proto: IpProtocol,
    transport: [u8; QUOTE_DATA],
) -> Vec<u8> {
    let mut buf = vec![0u8; IPV4_LEN + QUOTE_DATA];
    let ip = ipv4(client, remote, proto, QUOTE_DATA);
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), &checksums());
    buf[IPV4_LEN..].copy_from_slice(&transport);
    buf
}

/// ICMP destination unreachable from `from` to client `to`, quoting `quote`.
pub(crate) fn unreachable(
    macs: (EthernetAddress, EthernetAddress),
    from: Ipv4Addr,
    to: Ipv4Addr,
    reason: Icmpv4DstUnreachable,
    quote: &[u8],
) -> Vec<u8> {
    let (dst_mac, src_mac) = macs;
    let quote_len = quote.len();
    let icmp_len = 8 + quote_len;
    let ip = ipv4(from, to, IpProtocol::Icmp, icmp_len);
    let mut buf = ethernet(dst_mac, src_mac, IPV4_LEN + icmp_len);
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[ETH_LEN..]);
    ip.emit(&mut packet, &checksums());
    let mut icmp = Icmpv4Packet::new_unchecked(packet.payload_mut());
    icmp.set_msg_type(Icmpv4Message::DstUnreachable);
    icmp.set_msg_code(reason.into());
    // The 4 "unused" bytes stay zero; then the quote.
    icmp.data_mut()[..quote_len].copy_from_slice(quote);
    icmp.fill_checksum();
    buf
}

/// A RST answering a client's segment that no connection will take (RFC 9293
/// 3.5.2: seq from its ACK if any, else 0 with ACK of everything it sent).
pub(crate) fn tcp_rst(
    macs: (EthernetAddress, EthernetAddress),
    original: &[u8],
) -> Option<Vec<u8>> {
    let (dst_mac, src_mac) = macs;
    let ip = Ipv4Packet::new_checked(original).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, &checksums()).ok()?;
    let (src, dst) = (ip_repr.src_addr, ip_repr.dst_addr);
    let seg = TcpPacket::new_checked(ip.payload()).ok()?;
    let seg = TcpRepr::parse(&seg, &src.into(), &dst.into(), &checksums()).ok()?;
    if seg.control == TcpControl::Rst {
        return None;
    }
    let (seq, ack) = match seg.ack_number {
        Some(ack) => (ack, None),
        None => (TcpSeqNumber(0), Some(seg.seq_number + seg.segment_len())),
    };
    let rst = TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        control: TcpControl::Rst,
        seq_number: seq,
        ack_number: ack,
        window_len: 0,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let out_ip = ipv4(dst, src, IpProtocol::Tcp, rst.buffer_len());
    let mut buf = ethernet(dst_mac, src_mac, IPV4_LEN + rst.buffer_len());
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[ETH_LEN..]);
    out_ip.emit(&mut packet, &checksums());
    rst.emit(
        &mut TcpPacket::new_unchecked(packet.payload_mut()),
        &dst.into(),
        &src.into(),
        &checksums(),
    );
    Some(buf)
}

/// The destination of an IP packet smoltcp produced.
pub(crate) fn ip_dst(packet: &[u8]) -> Option<Ipv4Addr> {
    Ipv4Packet::new_checked(packet).ok().map(|p| p.dst_addr())
}
