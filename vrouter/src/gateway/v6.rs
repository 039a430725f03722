//! The gateway's IPv6 side, present when the network has an `ipv6-prefix`
//! setting: Neighbor Discovery for its addresses (RFC 4861), echo (RFC
//! 4443), Router Advertisements answering solicitations. No IPv6 routing.
//!
//! Every ICMPv6 message is checked the way RFC 4861 (7.1, 6.1) asks before
//! it is acted on: checksum, code 0, hop limit 255 for ND, no source link-
//! layer option with an unspecified source. Claims to the gateway's
//! addresses or MAC from clients (an advertisement for them, a packet from
//! them) are dropped as `spoofed_claim`; duplicate address detection for
//! them is answered, which defends the address (RFC 4862, 5.4.3).

use super::{is_station, Gateway};
use crate::ipv6::{
    gateway_ipv6, link_local, multicast_mac, solicited_node, Ipv6Prefix, ALL_NODES, ALL_ROUTERS,
};
use crate::nd::{self, Addressing6, ND_HOP_LIMIT};
use crate::outbox::{Outbox, Target};
use crate::{ether, DropReason, Handled};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, NdiscRepr};
use snooping::Mac;
use std::net::Ipv6Addr;

/// The gateway's IPv6 addresses in a network with an `ipv6-prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct V6 {
    pub prefix: Ipv6Prefix,
    /// `prefix::1`.
    pub global: Ipv6Addr,
    /// `fe80::` + modified EUI-64 of the gateway MAC.
    pub link_local: Ipv6Addr,
}

impl V6 {
    pub fn new(prefix: Ipv6Prefix, mac: Mac) -> Self {
        Self {
            prefix,
            global: gateway_ipv6(prefix),
            link_local: link_local(mac),
        }
    }

    pub fn owns(&self, ip: Ipv6Addr) -> bool {
        ip == self.global || ip == self.link_local
    }

    /// Destinations whose ICMPv6 the gateway reads: its addresses, their
    /// solicited-node groups, all-nodes (unsolicited advertisements, which
    /// may claim its addresses) and all-routers (solicitations).
    fn listens(&self, dst: Ipv6Addr) -> bool {
        self.owns(dst)
            || dst == solicited_node(self.global)
            || dst == solicited_node(self.link_local)
            || dst == ALL_NODES
            || dst == ALL_ROUTERS
    }
}

impl Gateway {
    /// An IPv6 packet in a frame from `eth_src` to `eth_dst`.
    pub(super) fn ipv6_packet(
        &mut self,
        eth_src: Mac,
        eth_dst: Mac,
        payload: &[u8],
        out: &mut Outbox,
    ) -> Result<Handled, DropReason> {
        let Some(v6) = self.v6 else {
            return Err(DropReason::Unsupported);
        };
        if !ether::is_group(eth_dst) && eth_dst != self.mac {
            return Err(DropReason::NotForUs);
        }
        let packet = Ipv6Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
        if packet.version() != 6 {
            return Err(DropReason::Malformed);
        }
        let (src, dst) = (packet.src_addr(), packet.dst_addr());
        if !v6.listens(dst) {
            return Err(DropReason::NotForUs);
        }
        if v6.owns(src) {
            // Nobody else sends from the gateway's addresses.
            return Err(DropReason::SpoofedClaim);
        }
        if packet.next_header() != IpProtocol::Icmpv6 {
            // Extension headers (MLD's hop-by-hop) or another protocol.
            return Err(if v6.owns(dst) {
                DropReason::UnsupportedProtocol
            } else {
                DropReason::NotForUs
            });
        }
        let icmp =
            Icmpv6Packet::new_checked(packet.payload()).map_err(|_| DropReason::Malformed)?;
        let repr = Icmpv6Repr::parse(&src, &dst, &icmp, &ChecksumCapabilities::default())
            .map_err(|_| DropReason::Malformed)?;
        let hop_limit = packet.hop_limit();
        match repr {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                if !v6.owns(dst) || eth_dst != self.mac {
                    return Err(DropReason::NotForUs);
                }
                if !is_host_source(src) || !is_station(eth_src) {
                    return Err(DropReason::Martian);
                }
                let buf = out.push(Target::Reply).ok_or(DropReason::OutboxFull)?;
                let a = Addressing6 {
                    eth_dst: eth_src,
                    eth_src: self.mac,
                    ip_src: dst,
                    ip_dst: src,
                };
                nd::echo_reply(buf, a, ident, seq_no, data);
                self.counters.echo_replies += 1;
                Ok(Handled::Answered)
            }
            Icmpv6Repr::Ndisc(ndisc) => {
                if hop_limit != ND_HOP_LIMIT {
                    // RFC 4861, 7.1: not from the link.
                    return Err(DropReason::Malformed);
                }
                self.ndisc(v6, eth_src, src, dst, ndisc, out)
            }
            _ if v6.owns(dst) => Err(DropReason::UnsupportedProtocol),
            _ => Err(DropReason::NotForUs),
        }
    }

    fn ndisc(
        &mut self,
        v6: V6,
        eth_src: Mac,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ndisc: NdiscRepr,
        out: &mut Outbox,
    ) -> Result<Handled, DropReason> {
        match ndisc {
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                // Some(None): an option that is not 6 bytes long.
                let lladdr = lladdr.map(|l| Mac::try_from(l.as_bytes()).ok());
                if lladdr == Some(Some(self.mac)) {
                    return Err(DropReason::SpoofedClaim);
                }
                if target_addr.is_multicast() {
                    return Err(DropReason::Malformed); // RFC 4861, 7.1.1
                }
                if !v6.owns(target_addr) {
                    return Err(DropReason::NotForUs);
                }
                if dst != target_addr && dst != solicited_node(target_addr) {
                    return Err(DropReason::NotForUs);
                }
                if !is_station(eth_src) {
                    return Err(DropReason::Martian);
                }
                let buf;
                if src.is_unspecified() {
                    // Duplicate address detection for a gateway address:
                    // defend it (RFC 4861, 7.2.4: to all-nodes, not
                    // solicited). RFC 4861, 7.1.1: it carries no source
                    // link-layer option and goes to the solicited-node group.
                    if lladdr.is_some() || dst != solicited_node(target_addr) {
                        return Err(DropReason::Malformed);
                    }
                    buf = out.push(Target::Reply).ok_or(DropReason::OutboxFull)?;
                    let a = Addressing6 {
                        eth_dst: multicast_mac(ALL_NODES),
                        eth_src: self.mac,
                        ip_src: target_addr,
                        ip_dst: ALL_NODES,
                    };
                    nd::neighbor_advert(buf, a, target_addr, false);
                } else {
                    if !is_host_source(src) {
                        return Err(DropReason::Martian);
                    }
                    // RFC 4861, 7.2.4: to the source link-layer address if
                    // present, else the frame's source.
                    let eth_dst = lladdr
                        .flatten()
                        .filter(|m| is_station(*m))
                        .unwrap_or(eth_src);
                    buf = out.push(Target::Reply).ok_or(DropReason::OutboxFull)?;
                    let a = Addressing6 {
                        eth_dst,
                        eth_src: self.mac,
                        ip_src: target_addr,
                        ip_dst: src,
                    };
                    nd::neighbor_advert(buf, a, target_addr, true);
                }
                self.counters.neighbor_adverts += 1;
                Ok(Handled::Answered)
            }
            NdiscRepr::NeighborAdvert {
                target_addr,
                lladdr,
                ..
            } => {
                let claims_mac = lladdr.is_some_and(|l| l.as_bytes() == self.mac);
                if v6.owns(target_addr) || claims_mac {
                    return Err(DropReason::SpoofedClaim);
                }
                Err(DropReason::NotForUs)
            }
            NdiscRepr::RouterSolicit { lladdr } => {
                if dst != ALL_ROUTERS && !v6.owns(dst) {
                    return Err(DropReason::NotForUs);
                }
                if !is_station(eth_src) {
                    return Err(DropReason::Martian);
                }
                let a = if src.is_unspecified() {
                    if lladdr.is_some() {
                        return Err(DropReason::Malformed); // RFC 4861, 6.1.1
                    }
                    Addressing6 {
                        eth_dst: multicast_mac(ALL_NODES),
                        eth_src: self.mac,
                        ip_src: v6.link_local,
                        ip_dst: ALL_NODES,
                    }
                } else {
                    if !is_host_source(src) {
                        return Err(DropReason::Martian);
                    }
                    Addressing6 {
                        eth_dst: eth_src,
                        eth_src: self.mac,
                        ip_src: v6.link_local,
                        ip_dst: src,
                    }
                };
                let buf = out.push(Target::Reply).ok_or(DropReason::OutboxFull)?;
                nd::router_advert(buf, a, v6.prefix);
                self.counters.router_adverts += 1;
                Ok(Handled::Answered)
            }
            // Another router's advertisement, redirects: not the gateway's
            // business (it does not route IPv6).
            _ => Err(DropReason::NotForUs),
        }
    }
}

/// A source that names one interface: not unspecified, multicast or
/// loopback.
fn is_host_source(ip: Ipv6Addr) -> bool {
    !ip.is_unspecified() && !ip.is_multicast() && !ip.is_loopback()
}

#[cfg(test)]
mod tests;
