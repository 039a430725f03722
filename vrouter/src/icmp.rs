//! The ICMP a gateway sends (RFC 792): echo replies from its own address,
//! and the errors a router owes a sender (RFC 1812, 4.3).

use crate::ether;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetProtocol, Icmpv4DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr,
    Icmpv4TimeExceeded, IpProtocol, Ipv4Packet, Ipv4Repr,
};
use snooping::Mac;
use std::net::Ipv4Addr;

/// TTL of what the gateway originates (RFC 1700's default for IP, and
/// Linux's `ip_default_ttl`).
pub(crate) const TTL: u8 = 64;
const IPV4_HEADER: usize = 20;
const ICMP_HEADER: usize = 8;
/// RFC 1812, 4.3.2.3: an error quotes "as much of the original datagram as
/// possible without the length of the ICMP datagram exceeding 576 bytes".
const MAX_QUOTE: usize = 576 - IPV4_HEADER - ICMP_HEADER;

/// An error a router sends about a packet it could not deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IcmpError {
    /// Type 11 code 0 (RFC 1812, 5.3.1).
    TtlExceeded,
    /// Type 3 code 0: no route (RFC 1812, 5.2.7.1).
    NetUnreachable,
    /// Type 3 code 1: the next hop did not answer ARP (RFC 1812, 5.2.7.1).
    HostUnreachable,
}

/// Addresses of an IP packet the gateway answers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Addressing {
    pub eth_dst: Mac,
    pub eth_src: Mac,
    pub ip_src: Ipv4Addr,
    pub ip_dst: Ipv4Addr,
}

/// Writes an echo reply carrying `ident`, `seq_no` and `data` back.
pub(crate) fn echo_reply(buf: &mut Vec<u8>, a: Addressing, ident: u16, seq_no: u16, data: &[u8]) {
    let icmp = Icmpv4Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let ip = Ipv4Repr {
        src_addr: a.ip_src,
        dst_addr: a.ip_dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: TTL,
    };
    let at = ether::start(
        buf,
        a.eth_dst,
        a.eth_src,
        EthernetProtocol::Ipv4,
        ip.buffer_len() + icmp.buffer_len(),
    );
    let caps = ChecksumCapabilities::default();
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[at..]);
    ip.emit(&mut packet, &caps);
    icmp.emit(
        &mut Icmpv4Packet::new_unchecked(packet.payload_mut()),
        &caps,
    );
}

/// Writes an ICMP error about `original` (an IPv4 packet as received,
/// trimmed to its total length), quoting its header and data verbatim up
/// to 576 bytes, so the sender can match it (traceroute, path MTU tools).
pub(crate) fn error(buf: &mut Vec<u8>, a: Addressing, kind: IcmpError, original: &[u8]) {
    let quote = &original[..original.len().min(MAX_QUOTE)];
    let icmp_len = ICMP_HEADER + quote.len();
    let ip = Ipv4Repr {
        src_addr: a.ip_src,
        dst_addr: a.ip_dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp_len,
        hop_limit: TTL,
    };
    let at = ether::start(
        buf,
        a.eth_dst,
        a.eth_src,
        EthernetProtocol::Ipv4,
        ip.buffer_len() + icmp_len,
    );
    let caps = ChecksumCapabilities::default();
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[at..]);
    ip.emit(&mut packet, &caps);
    let mut icmp = Icmpv4Packet::new_unchecked(packet.payload_mut());
    let (message, code) = match kind {
        IcmpError::TtlExceeded => (
            Icmpv4Message::TimeExceeded,
            u8::from(Icmpv4TimeExceeded::TtlExpired),
        ),
        IcmpError::NetUnreachable => (
            Icmpv4Message::DstUnreachable,
            u8::from(Icmpv4DstUnreachable::NetUnreachable),
        ),
        IcmpError::HostUnreachable => (
            Icmpv4Message::DstUnreachable,
            u8::from(Icmpv4DstUnreachable::HostUnreachable),
        ),
    };
    icmp.set_msg_type(message);
    icmp.set_msg_code(code);
    // Bytes 4..8 are "unused" and must be zero (RFC 792); `start` zeroed them.
    icmp.data_mut()[..quote.len()].copy_from_slice(quote);
    icmp.fill_checksum();
}

/// Whether a router may send an ICMP error about `packet`, received in a
/// frame to `eth_dst` (RFC 1812, 4.3.2.7): never about an ICMP error, a
/// link-layer or IP broadcast/multicast, a non-initial fragment, or a
/// source that does not name one host. This is what keeps errors from
/// causing errors, or storms.
pub(crate) fn may_send_error(eth_dst: Mac, packet: &Ipv4Packet<&[u8]>) -> bool {
    let dst = packet.dst_addr();
    if ether::is_group(eth_dst) || dst.is_broadcast() || dst.is_multicast() {
        return false;
    }
    if packet.frag_offset() != 0 || !is_host_source(packet.src_addr()) {
        return false;
    }
    if packet.next_header() == IpProtocol::Icmp {
        let data = packet.payload();
        // Only queries (echo, timestamp, information, address mask) may be
        // answered with an error; an unreadable ICMP type counts as error.
        return matches!(data.first(), Some(0 | 8 | 13 | 14 | 15 | 16 | 17 | 18));
    }
    true
}

/// A source address that names one host (RFC 1812, 5.3.7 and 4.2.2.11):
/// not 0.0.0.0/8, loopback, broadcast, multicast or class E.
pub(crate) fn is_host_source(src: Ipv4Addr) -> bool {
    let first = src.octets()[0];
    first != 0 && !src.is_loopback() && first < 224
}
