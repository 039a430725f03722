//! IPv6 -> MAC learning from Neighbor Discovery (RFC 4861): what a
//! Neighbor Solicitation says about its sender (7.2.3: "the recipient
//! SHOULD create or update the Neighbor Cache entry for the IP Source
//! Address of the solicitation" from its source link-layer option), and
//! what a Neighbor Advertisement says about its target (7.2.5, the target
//! link-layer option). Only messages that pass RFC 4861's validity checks
//! (7.1.1, 7.1.2: hop limit 255, code 0, checksum) teach anything.

use super::{is_station, ArpTable, Binding, Entry, Observed, Origin, Unlearned};
use crate::mac_table::Mac;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, NdiscRepr, RawHardwareAddress,
};
use std::net::Ipv6Addr;
use std::time::Instant;

/// ICMPv6 types of Neighbor Solicitation and Advertisement.
const NEIGHBOR_SOLICIT: u8 = 135;
const NEIGHBOR_ADVERT: u8 = 136;
/// RFC 4861, 7.1: ND must come with the hop limit it was sent with.
const ND_HOP_LIMIT: u8 = 255;

impl ArpTable {
    /// Learns from the IPv6 packet of an Ethernet frame from `eth_src`, if
    /// it is a Neighbor Solicitation or Advertisement (no extension
    /// headers: ND never carries any). Anything else is `NotArp`, so
    /// ordinary IPv6 traffic costs a few byte comparisons.
    pub(super) fn observe_nd(&mut self, now: Instant, eth_src: Mac, payload: &[u8]) -> Observed {
        let Ok(packet) = Ipv6Packet::new_checked(payload) else {
            return Observed::NotArp;
        };
        if packet.version() != 6 || packet.next_header() != IpProtocol::Icmpv6 {
            return Observed::NotArp;
        }
        let icmp = packet.payload();
        if !matches!(icmp.first(), Some(&(NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT))) {
            return Observed::NotArp;
        }
        let result = self
            .nd_binding(&packet, eth_src)
            .and_then(|(ip, mac)| self.learn_v6(now, ip, mac));
        match result {
            Ok((ip, mac, binding)) => Observed::LearnedV6 { ip, mac, binding },
            Err(reason) => {
                self.counters.count(reason);
                Observed::Unlearned(reason)
            }
        }
    }

    /// The binding a valid NS or NA carries, if it may be learned.
    fn nd_binding(
        &self,
        packet: &Ipv6Packet<&[u8]>,
        eth_src: Mac,
    ) -> Result<(Ipv6Addr, Mac), Unlearned> {
        let (src, dst) = (packet.src_addr(), packet.dst_addr());
        let icmp = Icmpv6Packet::new_checked(packet.payload()).map_err(|_| Unlearned::Malformed)?;
        let repr = Icmpv6Repr::parse(&src, &dst, &icmp, &ChecksumCapabilities::default())
            .map_err(|_| Unlearned::Malformed)?;
        if packet.hop_limit() != ND_HOP_LIMIT {
            return Err(Unlearned::Malformed);
        }
        let (ip, lladdr) = match repr {
            Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { lladdr, .. }) => {
                if src.is_unspecified() {
                    // Duplicate address detection (RFC 4862, 5.4.2): the
                    // sender does not hold the address yet.
                    return Err(Unlearned::Unspecified);
                }
                (src, lladdr)
            }
            Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                target_addr,
                lladdr,
                ..
            }) => (target_addr, lladdr),
            _ => return Err(Unlearned::Malformed),
        };
        if self.protected_macs.contains(&eth_src) {
            return Err(Unlearned::ProtectedMac);
        }
        check_ipv6(ip)?;
        let mac = ethernet(lladdr)?;
        if !is_station(mac) {
            return Err(Unlearned::InvalidAddress);
        }
        if self.protected_macs.contains(&mac) {
            return Err(Unlearned::ProtectedMac);
        }
        if self.protected_v6.contains(&ip) {
            return Err(Unlearned::ProtectedAddress);
        }
        Ok((ip, mac))
    }

    /// Inserts or refreshes a snooped IPv6 binding.
    fn learn_v6(
        &mut self,
        now: Instant,
        ip: Ipv6Addr,
        mac: Mac,
    ) -> Result<(Ipv6Addr, Mac, Binding), Unlearned> {
        let expires = now.checked_add(self.config.max_age).unwrap_or(now);
        let live = self
            .entries_v6
            .get(&ip)
            .filter(|e| e.expires > now)
            .copied();
        let binding = match live {
            Some(old) if old.mac == mac => Binding::Refreshed,
            Some(old) => {
                self.counters.changed += 1;
                Binding::Changed { old: old.mac }
            }
            None => {
                if !self.entries_v6.contains_key(&ip) && !self.room(now, |t| t.entries_v6.len()) {
                    return Err(Unlearned::CapReached);
                }
                Binding::New
            }
        };
        self.entries_v6.insert(
            ip,
            Entry {
                mac,
                expires,
                origin: Origin::Snooped,
            },
        );
        self.counters.learned_v6 += 1;
        Ok((ip, mac, binding))
    }
}

/// An address that names one interface: not unspecified, multicast or
/// loopback.
fn check_ipv6(ip: Ipv6Addr) -> Result<(), Unlearned> {
    if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
        Err(Unlearned::InvalidAddress)
    } else {
        Ok(())
    }
}

/// The MAC of a link-layer address option: absent is `NoLinkAddress`,
/// another length than Ethernet's is `Malformed`.
fn ethernet(lladdr: Option<RawHardwareAddress>) -> Result<Mac, Unlearned> {
    let lladdr = lladdr.ok_or(Unlearned::NoLinkAddress)?;
    lladdr
        .as_bytes()
        .try_into()
        .map_err(|_| Unlearned::Malformed)
}

#[cfg(test)]
mod tests;
