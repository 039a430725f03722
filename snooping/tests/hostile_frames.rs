//! Hostile ARP, IPv6 ND and IPv4/DHCP frames built with `pnet_packet` (a
//! packet builder independent of smoltcp, the parser under test): each must
//! teach the ARP table nothing, and every ARP/ND one is counted under the
//! reason its first failed check names. A valid frame from the same
//! builder is learned first, so a failure here means the parser became lax,
//! not that the builder is wrong.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use pnet_base::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperation, ArpOperations, MutableArpPacket};
use pnet_packet::dhcp::{DhcpHardwareTypes, DhcpOperations, MutableDhcpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{MutableNeighborSolicitPacket, NdpOption, NdpOptionTypes};
use pnet_packet::icmpv6::{self, Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::udp::{self, MutableUdpPacket};
use snooping::{ArpTable, ArpTableConfig, Mac, Observed, Unlearned};

const HOST: Mac = [0x02, 0, 0, 0, 0, 0x10];
const GATEWAY: Mac = [0x02, 0xa7, 0, 0, 0, 1];
const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 16);
const HOST_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x10);

fn mac(m: Mac) -> MacAddr {
    MacAddr::new(m[0], m[1], m[2], m[3], m[4], m[5])
}

fn ethernet(dst: Mac, src: Mac, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + payload.len()];
    let mut eth = MutableEthernetPacket::new(&mut buf).unwrap();
    eth.set_destination(mac(dst));
    eth.set_source(mac(src));
    eth.set_ethertype(ethertype);
    eth.set_payload(payload);
    buf
}

/// The knobs of one ARP packet; `Default` is a valid gratuitous reply from
/// HOST claiming HOST_IP.
struct Arp {
    eth_src: Mac,
    sha: Mac,
    spa: Ipv4Addr,
    op: ArpOperation,
    hw_len: u8,
    proto_len: u8,
    proto: EtherType,
}

impl Default for Arp {
    fn default() -> Self {
        Arp {
            eth_src: HOST,
            sha: HOST,
            spa: HOST_IP,
            op: ArpOperations::Reply,
            hw_len: 6,
            proto_len: 4,
            proto: EtherTypes::Ipv4,
        }
    }
}

impl Arp {
    fn frame(&self) -> Vec<u8> {
        let mut buf = [0u8; 28];
        let mut arp = MutableArpPacket::new(&mut buf).unwrap();
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(self.proto);
        arp.set_hw_addr_len(self.hw_len);
        arp.set_proto_addr_len(self.proto_len);
        arp.set_operation(self.op);
        arp.set_sender_hw_addr(mac(self.sha));
        arp.set_sender_proto_addr(self.spa);
        arp.set_target_hw_addr(MacAddr::broadcast());
        arp.set_target_proto_addr(self.spa);
        ethernet([0xff; 6], self.eth_src, EtherTypes::Arp, &buf)
    }
}

/// A Neighbor Solicitation from `src` (source link-layer option `lladdr`)
/// in an IPv6 packet; `fix` may spoil any byte after the checksum is set.
fn neighbor_solicit(hop_limit: u8, lladdr: &[u8], fix: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let dst: Ipv6Addr = "ff02::1:ff00:10".parse().unwrap();
    let option_len = 2 + lladdr.len();
    let mut icmp = vec![0u8; 24 + option_len.div_ceil(8) * 8];
    {
        let mut ns = MutableNeighborSolicitPacket::new(&mut icmp).unwrap();
        ns.set_icmpv6_type(Icmpv6Types::NeighborSolicit);
        ns.set_icmpv6_code(Icmpv6Code(0));
        ns.set_target_addr("fe80::99".parse().unwrap());
        ns.set_options(&[NdpOption {
            option_type: NdpOptionTypes::SourceLLAddr,
            length: option_len.div_ceil(8) as u8,
            data: lladdr.to_vec(),
        }]);
    }
    let sum = icmpv6::checksum(&Icmpv6Packet::new(&icmp).unwrap(), &HOST_V6, &dst);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    fix(&mut icmp);
    let mut ip = vec![0u8; 40 + icmp.len()];
    {
        let mut p = MutableIpv6Packet::new(&mut ip).unwrap();
        p.set_version(6);
        p.set_payload_length(icmp.len() as u16);
        p.set_next_header(IpNextHeaderProtocols::Icmpv6);
        p.set_hop_limit(hop_limit);
        p.set_source(HOST_V6);
        p.set_destination(dst);
        p.set_payload(&icmp);
    }
    ethernet([0x33, 0x33, 0xff, 0, 0, 0x10], HOST, EtherTypes::Ipv6, &ip)
}

/// A DHCPDISCOVER in UDP in IPv4, with correct checksums.
fn dhcp_discover(eth_src: Mac, chaddr: Mac) -> Vec<u8> {
    let mut dhcp = vec![0u8; 240 + 4];
    {
        let mut d = MutableDhcpPacket::new(&mut dhcp).unwrap();
        d.set_op(DhcpOperations::Request);
        d.set_htype(DhcpHardwareTypes::Ethernet);
        d.set_hlen(6);
        d.set_xid(0x1234_5678);
        d.set_chaddr(mac(chaddr));
    }
    dhcp[236..240].copy_from_slice(&[99, 130, 83, 99]); // magic cookie
    dhcp[240..].copy_from_slice(&[53, 1, 1, 255]); // DHCPDISCOVER, end
    let (src, dst) = (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST);
    let mut seg = vec![0u8; 8 + dhcp.len()];
    {
        let mut u = MutableUdpPacket::new(&mut seg).unwrap();
        u.set_source(68);
        u.set_destination(67);
        u.set_length(seg_len(8 + dhcp.len()));
        u.set_payload(&dhcp);
        let sum = udp::ipv4_checksum(&u.to_immutable(), &src, &dst);
        u.set_checksum(sum);
    }
    let mut ip = vec![0u8; 20 + seg.len()];
    {
        let mut p = MutableIpv4Packet::new(&mut ip).unwrap();
        p.set_version(4);
        p.set_header_length(5);
        p.set_total_length(seg_len(20 + seg.len()));
        p.set_ttl(64);
        p.set_next_level_protocol(IpNextHeaderProtocols::Udp);
        p.set_source(src);
        p.set_destination(dst);
        p.set_payload(&seg);
        let sum = ipv4::checksum(&p.to_immutable());
        p.set_checksum(sum);
    }
    ethernet([0xff; 6], eth_src, EtherTypes::Ipv4, &ip)
}

fn seg_len(n: usize) -> u16 {
    u16::try_from(n).unwrap()
}

fn table() -> ArpTable {
    let mut t = ArpTable::new(ArpTableConfig::default());
    t.protect_ip(GATEWAY_IP).unwrap();
    t.protect_mac(GATEWAY).unwrap();
    t
}

/// Feeds `frame` and checks it was refused for `reason` and counted once.
#[track_caller]
fn refused(t: &mut ArpTable, frame: &[u8], reason: Unlearned, what: &str) {
    let before = t.counters().unlearned(reason);
    let learned = (t.counters().learned, t.counters().learned_v6);
    assert_eq!(
        t.observe_frame(Instant::now(), frame),
        Observed::Unlearned(reason),
        "{what}"
    );
    assert_eq!(
        t.counters().unlearned(reason),
        before + 1,
        "{what}: not counted"
    );
    assert_eq!(
        (t.counters().learned, t.counters().learned_v6),
        learned,
        "{what}: learned something"
    );
}

#[test]
fn the_builder_makes_frames_the_table_accepts() {
    let mut t = table();
    let now = Instant::now();
    assert!(matches!(
        t.observe_frame(now, &Arp::default().frame()),
        Observed::Learned {
            ip: HOST_IP,
            mac: HOST,
            ..
        }
    ));
    assert!(matches!(
        t.observe_frame(now, &neighbor_solicit(255, &HOST, |_| {})),
        Observed::LearnedV6 {
            ip: HOST_V6,
            mac: HOST,
            ..
        }
    ));
    assert_eq!(t.lookup(now, HOST_IP), Some(HOST));
    assert_eq!(t.lookup_v6(now, HOST_V6), Some(HOST));
}

#[test]
fn malformed_arp_is_refused_and_counted() {
    let mut t = table();
    let good = Arp::default().frame();
    // Truncated anywhere inside the ARP header (Ethernet header intact).
    for cut in 14..good.len() {
        refused(
            &mut t,
            &good[..cut],
            Unlearned::Malformed,
            &format!("cut at {cut}"),
        );
    }
    let cases = [
        (
            "hardware length 8",
            Arp {
                hw_len: 8,
                ..Arp::default()
            },
        ),
        (
            "protocol length 16",
            Arp {
                proto_len: 16,
                ..Arp::default()
            },
        ),
        (
            "protocol IPv6",
            Arp {
                proto: EtherTypes::Ipv6,
                ..Arp::default()
            },
        ),
        (
            "RARP request",
            Arp {
                op: ArpOperation::new(3),
                ..Arp::default()
            },
        ),
    ];
    for (what, arp) in cases {
        refused(&mut t, &arp.frame(), Unlearned::Malformed, what);
    }
    assert_eq!(
        t.counters().unlearned(Unlearned::Malformed),
        (good.len() - 14 + 4) as u64
    );
    assert!(t.is_empty());
}

#[test]
fn spoofed_arp_is_refused_and_counted() {
    let mut t = table();
    let cases = [
        (
            "frame from the gateway's MAC",
            Arp {
                eth_src: GATEWAY,
                ..Arp::default()
            },
            Unlearned::ProtectedMac,
        ),
        (
            "sender hardware address is the gateway's",
            Arp {
                sha: GATEWAY,
                ..Arp::default()
            },
            Unlearned::ProtectedMac,
        ),
        (
            "claims the gateway's address",
            Arp {
                spa: GATEWAY_IP,
                ..Arp::default()
            },
            Unlearned::ProtectedAddress,
        ),
        (
            "multicast sender MAC",
            Arp {
                sha: [0x01, 0, 0x5e, 0, 0, 1],
                ..Arp::default()
            },
            Unlearned::InvalidAddress,
        ),
        (
            "broadcast sender address",
            Arp {
                spa: Ipv4Addr::BROADCAST,
                ..Arp::default()
            },
            Unlearned::InvalidAddress,
        ),
        (
            "probe from 0.0.0.0",
            Arp {
                spa: Ipv4Addr::UNSPECIFIED,
                ..Arp::default()
            },
            Unlearned::Unspecified,
        ),
    ];
    for (what, arp, reason) in cases {
        refused(&mut t, &arp.frame(), reason, what);
    }
    assert_eq!(t.lookup(Instant::now(), GATEWAY_IP), None);
    assert!(t.is_empty());
}

#[test]
fn malformed_neighbor_discovery_is_refused_and_counted() {
    let mut t = table();
    refused(
        &mut t,
        &neighbor_solicit(255, &HOST, |icmp| icmp[2] ^= 0xff),
        Unlearned::Malformed,
        "wrong ICMPv6 checksum",
    );
    refused(
        &mut t,
        &neighbor_solicit(64, &HOST, |_| {}),
        Unlearned::Malformed,
        "hop limit 64: routed from off-link",
    );
    refused(
        &mut t,
        &neighbor_solicit(255, &HOST, |icmp| icmp[1] = 1),
        Unlearned::Malformed,
        "code 1",
    );
    refused(
        &mut t,
        &neighbor_solicit(255, &GATEWAY, |_| {}),
        Unlearned::ProtectedMac,
        "claims the gateway's MAC",
    );
    // Cut inside the ICMPv6 message, with the IPv6 length field kept
    // truthful: a message too short to be a solicitation.
    let good = neighbor_solicit(255, &HOST, |_| {});
    for cut in (14 + 40 + 4)..(14 + 40 + 24) {
        let mut f = good[..cut].to_vec();
        let len = (cut - 14 - 40) as u16;
        f[14 + 4..14 + 6].copy_from_slice(&len.to_be_bytes());
        refused(
            &mut t,
            &f,
            Unlearned::Malformed,
            &format!("ND cut at {cut}"),
        );
    }
    assert_eq!(t.len_v6(), 0);
}

/// Known gap: a source link-layer option of length 2 (an 8-byte address)
/// is learned as its first 6 bytes. smoltcp 0.12's
/// `NdiscOption::link_layer_addr` cuts the data to
/// `MAX_HARDWARE_ADDRESS_LEN` (6 with only `medium-ethernet`), so the
/// "not 6 bytes" check in `snooping/src/arp_table/nd.rs` (`ethernet()`)
/// never sees another length. RFC 2464 says the option is length 1 on
/// Ethernet; the fix is to check the option's length byte in snooping.
#[test]
#[ignore = "known gap: snooping learns an 8-byte ND link-layer address (see doc comment)"]
fn neighbor_solicit_with_an_8_byte_link_layer_address_is_refused() {
    let mut t = table();
    refused(
        &mut t,
        &neighbor_solicit(255, &[0x02, 0, 0, 0, 0, 0x10, 0xaa, 0xbb], |_| {}),
        Unlearned::Malformed,
        "an 8-byte link-layer address",
    );
}

#[test]
fn truncated_or_lying_ipv6_headers_teach_nothing() {
    // Not parseable as IPv6 at all: nothing to learn, and not an ND
    // message, so not an ND drop either (the switch still carries it).
    let mut t = table();
    let good = neighbor_solicit(255, &HOST, |_| {});
    for cut in 14..(14 + 40) {
        assert_eq!(
            t.observe_frame(Instant::now(), &good[..cut]),
            Observed::NotArp,
            "cut at {cut}"
        );
    }
    let mut lying = good.clone();
    lying[14 + 4..14 + 6].copy_from_slice(&1000u16.to_be_bytes());
    assert_eq!(t.observe_frame(Instant::now(), &lying), Observed::NotArp);
    assert_eq!(t.len_v6(), 0);
    assert_eq!(t.counters().learned_v6, 0);
}

#[test]
fn dhcp_and_ipv4_frames_teach_the_table_nothing() {
    // Bindings from DHCP come from leases in the chain, never from
    // snooping a client's packets: a DHCPDISCOVER with a spoofed source
    // MAC and chaddr, or a broken IPv4 header, binds nothing.
    let mut t = table();
    let now = Instant::now();
    let mut frames = vec![dhcp_discover(HOST, HOST), dhcp_discover(GATEWAY, GATEWAY)];
    let mut bad_checksum = dhcp_discover(HOST, HOST);
    bad_checksum[14 + 10] ^= 0xff;
    frames.push(bad_checksum);
    let mut bad_ihl = dhcp_discover(HOST, HOST);
    bad_ihl[14] = 0x4f;
    frames.push(bad_ihl);
    let d = dhcp_discover(HOST, HOST);
    frames.push(d[..14 + 12].to_vec());
    for f in &frames {
        assert_eq!(t.observe_frame(now, f), Observed::NotArp);
    }
    assert!(t.is_empty());
    assert_eq!(
        t.counters()
            .unlearned_by_reason()
            .map(|(_, n)| n)
            .sum::<u64>(),
        0
    );
}
