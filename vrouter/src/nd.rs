//! The ICMPv6 a gateway sends (RFC 4443, RFC 4861): echo replies, Neighbor
//! Advertisements for its addresses, Router Advertisements answering
//! solicitations. Emitted with smoltcp, checksums included.

use crate::ether;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Duration;
use smoltcp::wire::{
    EthernetAddress, EthernetProtocol, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr,
    NdiscNeighborFlags, NdiscPrefixInfoFlags, NdiscPrefixInformation, NdiscRepr, NdiscRouterFlags,
    RawHardwareAddress,
};
use snooping::Mac;
use std::net::Ipv6Addr;

use crate::ipv6::Ipv6Prefix;

/// Hop limit of echo replies (Linux's default).
pub(crate) const HOP_LIMIT: u8 = 64;
/// Hop limit of every ND message (RFC 4861, 7.1: receivers drop others).
pub(crate) const ND_HOP_LIMIT: u8 = 255;
/// A lifetime of all ones is infinity (RFC 4861, 4.6.2).
const INFINITE: u64 = 0xffff_ffff;

/// Addresses of an IPv6 packet the gateway sends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Addressing6 {
    pub eth_dst: Mac,
    pub eth_src: Mac,
    pub ip_src: Ipv6Addr,
    pub ip_dst: Ipv6Addr,
}

/// Writes an echo reply carrying `ident`, `seq_no` and `data` back.
pub(crate) fn echo_reply(buf: &mut Vec<u8>, a: Addressing6, ident: u16, seq_no: u16, data: &[u8]) {
    let repr = Icmpv6Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    emit(buf, a, HOP_LIMIT, &repr);
}

/// Writes a Neighbor Advertisement for `target` with the gateway MAC as
/// its target link-layer address (RFC 4861, 7.2.4). `solicited` is false
/// for the answer to duplicate address detection (sent to all-nodes).
pub(crate) fn neighbor_advert(
    buf: &mut Vec<u8>,
    a: Addressing6,
    target: Ipv6Addr,
    solicited: bool,
) {
    let mut flags = NdiscNeighborFlags::OVERRIDE;
    if solicited {
        flags |= NdiscNeighborFlags::SOLICITED;
    }
    let repr = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags,
        target_addr: target,
        lladdr: Some(RawHardwareAddress::from(EthernetAddress(a.eth_src))),
    });
    emit(buf, a, ND_HOP_LIMIT, &repr);
}

/// Writes a Router Advertisement (RFC 4861, 4.2 and 6.2.3) that makes the
/// prefix on-link and, for a /64, usable for SLAAC (RFC 4862). Router
/// lifetime 0: the gateway does not route IPv6, so hosts must not make it
/// their default router (6.2.3: "a value of zero indicates that the
/// router is not to be used as a default router"). Lifetimes are infinite:
/// nothing re-announces the prefix periodically.
pub(crate) fn router_advert(buf: &mut Vec<u8>, a: Addressing6, prefix: Ipv6Prefix) {
    let mut flags = NdiscPrefixInfoFlags::ON_LINK;
    if prefix.prefix_len() == 64 {
        flags |= NdiscPrefixInfoFlags::ADDRCONF;
    }
    let repr = Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
        hop_limit: HOP_LIMIT,
        flags: NdiscRouterFlags::empty(),
        router_lifetime: Duration::ZERO,
        reachable_time: Duration::ZERO,
        retrans_time: Duration::ZERO,
        lladdr: Some(RawHardwareAddress::from(EthernetAddress(a.eth_src))),
        mtu: None,
        prefix_info: Some(NdiscPrefixInformation {
            prefix_len: prefix.prefix_len(),
            flags,
            valid_lifetime: Duration::from_secs(INFINITE),
            preferred_lifetime: Duration::from_secs(INFINITE),
            prefix: prefix.network(),
        }),
    });
    emit(buf, a, ND_HOP_LIMIT, &repr);
}

fn emit(buf: &mut Vec<u8>, a: Addressing6, hop_limit: u8, icmp: &Icmpv6Repr) {
    let ip = Ipv6Repr {
        src_addr: a.ip_src,
        dst_addr: a.ip_dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit,
    };
    let at = ether::start(
        buf,
        a.eth_dst,
        a.eth_src,
        EthernetProtocol::Ipv6,
        ip.buffer_len() + icmp.buffer_len(),
    );
    let mut packet = Ipv6Packet::new_unchecked(&mut buf[at..]);
    ip.emit(&mut packet);
    icmp.emit(
        &a.ip_src,
        &a.ip_dst,
        &mut Icmpv6Packet::new_unchecked(packet.payload_mut()),
        &ChecksumCapabilities::default(),
    );
}
