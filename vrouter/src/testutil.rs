//! Frames for tests, built with smoltcp.

use crate::{NetworkId, Outbox, Output};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr,
};
use snooping::Mac;
use std::net::Ipv4Addr;

pub(crate) const NET_A: NetworkId = NetworkId([0xa; 16]);
pub(crate) const NET_B: NetworkId = NetworkId([0xb; 16]);
pub(crate) const CLIENT_A: Mac = [2, 0, 0, 0, 0xa, 1];
pub(crate) const CLIENT_B: Mac = [2, 0, 0, 0, 0xb, 1];

pub(crate) fn arp_frame(
    op: ArpOperation,
    eth_dst: Mac,
    sha: Mac,
    spa: Ipv4Addr,
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: EthernetAddress(sha),
        source_protocol_addr: spa,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: tpa,
    };
    let mut f = vec![0; 14 + repr.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(EthernetAddress(eth_dst));
    eth.set_src_addr(EthernetAddress(sha));
    eth.set_ethertype(EthernetProtocol::Arp);
    repr.emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    f
}

/// An Ethernet frame with an IPv4 ICMP echo request.
pub(crate) fn ping(eth_src: Mac, eth_dst: Mac, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data: b"atenet ping payload",
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: ttl,
    };
    let mut f = vec![0; 14 + ip.buffer_len() + icmp.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(EthernetAddress(eth_dst));
    eth.set_src_addr(EthernetAddress(eth_src));
    eth.set_ethertype(EthernetProtocol::Ipv4);
    let caps = ChecksumCapabilities::default();
    let mut p = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip.emit(&mut p, &caps);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(p.payload_mut()), &caps);
    f
}

/// The only item in the outbox, as (target network or None for Reply, bytes).
pub(crate) fn only(out: &Outbox) -> (Option<NetworkId>, Vec<u8>) {
    let items: Vec<_> = out.iter().collect();
    assert_eq!(items.len(), 1, "{items:?}");
    match items[0] {
        Output::Reply(f) => (None, f.to_vec()),
        Output::Originate { network, frame } => (Some(network), frame.to_vec()),
        Output::ToNat { network, packet } => (Some(network), packet.to_vec()),
    }
}

/// An Ethernet frame with an IPv6 ICMPv6 message (checksum filled).
pub(crate) fn icmpv6_frame(
    eth_src: Mac,
    eth_dst: Mac,
    src: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
    hop_limit: u8,
    icmp: &smoltcp::wire::Icmpv6Repr,
) -> Vec<u8> {
    use smoltcp::wire::{Icmpv6Packet, Ipv6Packet, Ipv6Repr};
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit,
    };
    let mut f = vec![0; 14 + ip.buffer_len() + icmp.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(EthernetAddress(eth_dst));
    eth.set_src_addr(EthernetAddress(eth_src));
    eth.set_ethertype(EthernetProtocol::Ipv6);
    let mut p = Ipv6Packet::new_unchecked(eth.payload_mut());
    ip.emit(&mut p);
    icmp.emit(
        &src,
        &dst,
        &mut Icmpv6Packet::new_unchecked(p.payload_mut()),
        &ChecksumCapabilities::default(),
    );
    f
}

/// A Neighbor Solicitation for `target` from `src` (with a source
/// link-layer option unless `src` is unspecified), to `target`'s
/// solicited-node group.
pub(crate) fn neighbor_solicit(
    eth_src: Mac,
    src: std::net::Ipv6Addr,
    target: std::net::Ipv6Addr,
) -> Vec<u8> {
    use crate::ipv6::{multicast_mac, solicited_node};
    use smoltcp::wire::{Icmpv6Repr, NdiscRepr, RawHardwareAddress};
    let lladdr =
        (!src.is_unspecified()).then(|| RawHardwareAddress::from(EthernetAddress(eth_src)));
    let group = solicited_node(target);
    let repr = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr,
    });
    icmpv6_frame(eth_src, multicast_mac(group), src, group, 255, &repr)
}
