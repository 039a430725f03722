//! Anti-spoofing checks on frames from clients (DESIGN.md, "How a frame
//! travels": "Frames from a client whose source MAC is a pinned ethereal
//! MAC, or ARP claiming the gateway address, are dropped and counted").

use smoltcp::wire::{ArpPacket, ArpRepr};
use snooping::Mac;
use std::net::Ipv4Addr;

const ETHERTYPE_ARP: u16 = 0x0806;
/// 802.1Q, 802.1ad and the pre-standard QinQ tag: ARP hidden behind any
/// number of these is still ARP to a receiver that strips them.
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];

/// The sender a frame's ARP packet claims to be: its sender hardware
/// address and sender protocol address (RFC 826), the two fields a
/// receiver's ARP cache learns from. `None` if the frame is not an
/// Ethernet/IPv4 ARP packet (behind any VLAN tags) that parses.
pub(super) fn arp_sender(frame: &[u8]) -> Option<(Mac, Ipv4Addr)> {
    let mut offset = 12;
    // Each tag moves 4 bytes on, so the frame's length bounds the loop.
    loop {
        let ethertype = u16::from_be_bytes(frame.get(offset..offset + 2)?.try_into().ok()?);
        if VLAN_TPIDS.contains(&ethertype) {
            offset += 4;
            continue;
        }
        if ethertype != ETHERTYPE_ARP {
            return None;
        }
        let packet = ArpPacket::new_checked(frame.get(offset + 2..)?).ok()?;
        return match ArpRepr::parse(&packet).ok()? {
            ArpRepr::EthernetIpv4 {
                source_hardware_addr,
                source_protocol_addr,
                ..
            } => Some((source_hardware_addr.0, source_protocol_addr)),
            #[allow(unreachable_patterns, clippy::match_wildcard_for_single_variants)]
            _ => None, // smoltcp's Repr is non_exhaustive
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ARP reply from `sha`/`spa` behind `tags` VLAN tags.
    pub(crate) fn arp(tags: usize, sha: Mac, spa: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&sha);
        for _ in 0..tags {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
        f.extend_from_slice(&sha);
        f.extend_from_slice(&spa);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&[10, 0, 0, 9]);
        f
    }

    #[test]
    fn finds_the_sender_behind_any_vlan_tags() {
        let sha = [2, 0, 0, 0, 0, 7];
        for tags in 0..4 {
            assert_eq!(
                arp_sender(&arp(tags, sha, [10, 0, 0, 1])),
                Some((sha, Ipv4Addr::new(10, 0, 0, 1))),
                "{tags} tags"
            );
        }
    }

    #[test]
    fn ignores_what_is_not_ethernet_ipv4_arp() {
        let good = arp(1, [2, 0, 0, 0, 0, 7], [10, 0, 0, 1]);
        for cut in 0..good.len() {
            assert_eq!(arp_sender(&good[..cut]), None, "truncated at {cut}");
        }
        let mut ipv4 = good.clone();
        ipv4[16..18].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(arp_sender(&ipv4), None);
        let mut other_hardware = good;
        other_hardware[19] = 6; // htype 6 (IEEE 802)
        assert_eq!(arp_sender(&other_hardware), None);
    }
}
