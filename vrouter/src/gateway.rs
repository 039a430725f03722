//! The ethereal gateway of one network on one node (seed 004, "vRouter":
//! "an ethereal interface ... holds a real IP4/IP6 address ... acts as a
//! default router"). The node attaches it as a `PortKind::Gateway` port
//! with [`Gateway::mac`] pinned and [`Gateway::ipv4`] protected, and feeds
//! it every frame the switch delivers to that port.
//!
//! It answers what is addressed to it: ARP for its address (RFC 826) and
//! ICMP echo (RFC 792), both back to the asking port only. When the
//! network has an `ipv6-prefix` ([`Gateway::set_ipv6_prefix`]) it also
//! answers Neighbor Solicitations for its IPv6 addresses, ICMPv6 echo and
//! Router Solicitations (`gateway/v6.rs`). IPv4 packets
//! sent to its MAC for another address are transit: the [`crate::Router`]
//! routes them. Everything else is dropped and counted by reason.

use crate::addressing::{gateway_ipv4, gateway_mac, node_mac};
use crate::icmp::{self, Addressing};
use crate::ipv6::Ipv6Prefix;
use crate::outbox::{Outbox, Target};
use crate::subnet::Ipv4Subnet;
use crate::{arp, ether, Counters, DropReason, NetworkId};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol, Icmpv4Packet, Icmpv4Repr,
    IpProtocol, Ipv4Packet,
};
use snooping::Mac;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

mod v6;

/// What [`Gateway::handle_frame`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Answered: the reply is in the outbox.
    Answered,
    /// An IPv4 packet to route: give the same frame to the router
    /// ([`crate::Router::handle_frame`] does this itself).
    Transit,
    /// Routed: the frame is in the outbox for the egress network
    /// (returned by [`crate::Router::handle_frame`] only).
    Routed,
    /// Waiting for the next hop's MAC; an ARP probe may be in the outbox
    /// (router only).
    Queued,
    /// Handed to NAT (router only, with `nat_handoff`).
    ToNat,
    /// Dropped and counted.
    Dropped(DropReason),
}

/// A subnet with no room for a gateway and a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("subnet {0} has no first host address for the gateway (use /30 or shorter)")]
pub struct NoGatewayAddress(pub Ipv4Subnet);

/// The gateway of one network on one node.
#[derive(Debug)]
pub struct Gateway {
    network: NetworkId,
    subnet: Ipv4Subnet,
    ipv4: Ipv4Addr,
    mac: Mac,
    node_mac: Mac,
    /// IPv6 addresses, with an `ipv6-prefix`.
    v6: Option<v6::V6>,
    counters: Counters,
}

impl Gateway {
    /// The gateway of `network` on the node `node_id`.
    pub fn new(
        network: NetworkId,
        subnet: Ipv4Subnet,
        node_id: u64,
    ) -> Result<Self, NoGatewayAddress> {
        let ipv4 = gateway_ipv4(subnet).ok_or(NoGatewayAddress(subnet))?;
        Ok(Self {
            network,
            subnet,
            ipv4,
            mac: gateway_mac(network),
            node_mac: node_mac(network, node_id),
            v6: None,
            counters: Counters::default(),
        })
    }

    /// The network it serves.
    pub fn network(&self) -> NetworkId {
        self.network
    }

    /// The network's subnet.
    pub fn subnet(&self) -> Ipv4Subnet {
        self.subnet
    }

    /// Its IPv4 address: protect it in the switch and ARP table.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ipv4
    }

    /// Its MAC, the same on every node: pin it to the gateway port.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// This node's probe MAC in this network: pin it to the gateway port
    /// too, so probe replies reach it and no client can use it.
    pub fn node_mac(&self) -> Mac {
        self.node_mac
    }

    /// Gives the gateway IPv6 addresses in `prefix` (the network's
    /// `ipv6-prefix` setting), or takes them away (`None`): without a
    /// prefix it answers no IPv6 at all.
    pub fn set_ipv6_prefix(&mut self, prefix: Option<Ipv6Prefix>) {
        self.v6 = prefix.map(|p| v6::V6::new(p, self.mac));
    }

    /// The network's IPv6 prefix, if it has one.
    pub fn ipv6_prefix(&self) -> Option<Ipv6Prefix> {
        self.v6.map(|v| v.prefix)
    }

    /// Its global IPv6 address (`prefix::1`), with a prefix: protect it
    /// in the ARP table.
    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        self.v6.map(|v| v.global)
    }

    /// Its link-local IPv6 address (`fe80::` + the modified EUI-64 of its
    /// MAC, the same on every node), with a prefix.
    pub fn ipv6_link_local(&self) -> Option<Ipv6Addr> {
        self.v6.map(|v| v.link_local)
    }

    /// What it answered and dropped.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Handles a frame the switch delivered to the gateway port at `now`.
    /// Replies go into `out` as [`crate::Output::Reply`]. Never panics,
    /// whatever the bytes.
    pub fn handle_frame(&mut self, _now: Instant, frame: &[u8], out: &mut Outbox) -> Handled {
        match self.decide(frame, out) {
            Ok(handled) => handled,
            Err(reason) => {
                self.counters.count_drop(reason);
                Handled::Dropped(reason)
            }
        }
    }

    fn decide(&mut self, frame: &[u8], out: &mut Outbox) -> Result<Handled, DropReason> {
        if frame.len() > ether::MAX_FRAME {
            return Err(DropReason::Malformed);
        }
        let eth = EthernetFrame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
        match eth.ethertype() {
            EthernetProtocol::Arp => self.arp(eth.payload(), out),
            EthernetProtocol::Ipv4 => {
                if eth.dst_addr().0 != self.mac {
                    return Err(DropReason::NotForUs);
                }
                self.ip_packet(eth.src_addr().0, eth.payload(), out)
            }
            EthernetProtocol::Ipv6 => {
                self.ipv6_packet(eth.src_addr().0, eth.dst_addr().0, eth.payload(), out)
            }
            EthernetProtocol::Unknown(_) => Err(DropReason::Unsupported),
        }
    }

    fn arp(&mut self, payload: &[u8], out: &mut Outbox) -> Result<Handled, DropReason> {
        let repr = ArpPacket::new_checked(payload)
            .and_then(|p| ArpRepr::parse(&p))
            .map_err(|_| DropReason::Malformed)?;
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_protocol_addr: tpa,
            ..
        } = repr
        else {
            return Err(DropReason::Malformed);
        };
        // Nobody else ever sends with the gateway's MAC or address: the
        // router's own probes use the node MAC and 0.0.0.0 (`arp::probe`).
        let claims_us = sha.0 == self.mac || spa == self.ipv4;
        if claims_us {
            return Err(DropReason::SpoofedClaim);
        }
        if operation != ArpOperation::Request || tpa != self.ipv4 {
            return Err(DropReason::NotForUs);
        }
        if !is_station(sha.0) {
            return Err(DropReason::Martian);
        }
        let buf = out.push(Target::Reply).ok_or(DropReason::OutboxFull)?;
        arp::reply(buf, self.mac, self.ipv4, sha.0, spa);
        self.counters.arp_replies += 1;
        Ok(Handled::Answered)
    }

    fn ip_packet(
        &mut self,
        eth_src: Mac,
        payload: &[u8],
        out: &mut Outbox,
    ) -> Result<Handled, DropReason> {
        let packet = valid_ipv4(payload)?;
        if packet.dst_addr() != self.ipv4 {
            return Ok(Handled::Transit);
        }
        if !icmp::is_host_source(packet.src_addr()) || !is_station(eth_src) {
            return Err(DropReason::Martian);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(DropReason::Fragmented);
        }
        if packet.next_header() != IpProtocol::Icmp {
            return Err(DropReason::UnsupportedProtocol);
        }
        let icmp =
            Icmpv4Packet::new_checked(packet.payload()).map_err(|_| DropReason::Malformed)?;
        let repr = Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::default())
            .map_err(|_| DropReason::Malformed)?;
        let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = repr
        else {
            return Err(DropReason::UnsupportedProtocol);
        };
        let buf = out.push(Target::Reply).ok_or(DropReason::OutboxFull)?;
        let addressing = Addressing {
            eth_dst: eth_src,
            eth_src: self.mac,
            ip_src: self.ipv4,
            ip_dst: packet.src_addr(),
        };
        icmp::echo_reply(buf, addressing, ident, seq_no, data);
        self.counters.echo_replies += 1;
        Ok(Handled::Answered)
    }
}

/// An IPv4 header that a router may act on (RFC 1812, 5.2.2): version 4,
/// a header length of at least 20 bytes, a total length that fits the
/// frame, and a correct checksum. The view is trimmed to the total length
/// (dropping Ethernet padding).
pub(crate) fn valid_ipv4(payload: &[u8]) -> Result<Ipv4Packet<&[u8]>, DropReason> {
    let packet = Ipv4Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
    if packet.version() != 4 || !packet.verify_checksum() {
        return Err(DropReason::Malformed);
    }
    let total = usize::from(packet.total_len());
    Ipv4Packet::new_checked(&payload[..total]).map_err(|_| DropReason::Malformed)
}

/// Not a group address and not all zeros.
fn is_station(mac: Mac) -> bool {
    !ether::is_group(mac) && mac != [0; 6]
}

#[cfg(test)]
mod tests;
