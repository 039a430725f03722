//! The ARP packets a gateway sends (RFC 826): its answer to "who has the
//! gateway address", and the probe a router sends to resolve a next hop.

use crate::ether;
use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetProtocol};
use snooping::Mac;
use std::net::Ipv4Addr;

/// Ethernet/IPv4 ARP is 28 bytes.
const ARP_LEN: usize = 28;

/// Writes the reply to a request for `gateway_ip` from `asker_mac`/
/// `asker_ip` (RFC 826, "swap the sender and target fields, put the local
/// hardware and protocol addresses in the sender fields, set the opcode to
/// reply, send it to the requester's hardware address"). An RFC 5227 probe
/// (sender 0.0.0.0) is answered too: it tells the prober the address is
/// taken.
pub(crate) fn reply(
    buf: &mut Vec<u8>,
    gateway_mac: Mac,
    gateway_ip: Ipv4Addr,
    asker_mac: Mac,
    asker_ip: Ipv4Addr,
) {
    let repr = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(gateway_mac),
        source_protocol_addr: gateway_ip,
        target_hardware_addr: EthernetAddress(asker_mac),
        target_protocol_addr: asker_ip,
    };
    emit(buf, asker_mac, gateway_mac, &repr);
}

/// Writes a broadcast "who has `target`" from `node_mac`, in the RFC 5227
/// probe form (sender protocol address 0.0.0.0).
///
/// Why not the gateway address as sender, with the node MAC? A host that
/// answers also merges the sender pair into its own cache (RFC 826), so it
/// would bind the gateway address to *this node's* MAC: its traffic to the
/// gateway would then cross to this node instead of stopping at its own
/// (DESIGN.md), and stateful NAT would break. Why not the gateway MAC? The
/// reply would be switched to the asking client's own node, not this one.
/// With 0.0.0.0 nothing is merged, and hosts answer (Linux `arp_process`,
/// RFC 5227 conflict detection) by unicast to the sender hardware address,
/// the node MAC, so the reply reaches this node's switch and ARP table.
/// Cost: a host that is itself probing `target` right then (RFC 5227 2.1.1)
/// takes it for a conflict; hosts that ignore 0.0.0.0 senders (smoltcp)
/// are only resolved from their own ARP or a lease.
pub fn probe(buf: &mut Vec<u8>, node_mac: Mac, target: Ipv4Addr) {
    let repr = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(node_mac),
        source_protocol_addr: Ipv4Addr::UNSPECIFIED,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    emit(buf, ether::BROADCAST, node_mac, &repr);
}

fn emit(buf: &mut Vec<u8>, dst: Mac, src: Mac, repr: &ArpRepr) {
    let at = ether::start(buf, dst, src, EthernetProtocol::Arp, ARP_LEN);
    repr.emit(&mut ArpPacket::new_unchecked(&mut buf[at..]));
}
