//! Hostile frames from a client port, built with `pnet_packet` (a builder
//! independent of smoltcp, which the switch's ARP guard parses with): a
//! rogue DHCP server on a spoofed MAC, ARP claiming the gateway (plain and
//! behind VLAN tags), group source MACs, runts, oversize frames and
//! bridge-reserved destinations. Each is dropped and counted under the
//! reason its first failed check names; the same builder's honest frames
//! are forwarded, so a failure means the checks became lax.

use std::net::Ipv4Addr;
use std::time::Instant;

use pnet_base::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::dhcp::{DhcpHardwareTypes, DhcpOperations, MutableDhcpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::udp::{self, MutableUdpPacket};
use pnet_packet::vlan::MutableVlanPacket;
use snooping::Mac;
use vswitch::port::{PortId, PortKind};
use vswitch::switch::{FrameDrop, Switch, SwitchConfig};

const HOST: Mac = [0x02, 0, 0, 0, 0, 0x10];
const GATEWAY: Mac = [0x02, 0xa7, 0, 0, 0, 1];
const DHCP_SERVER: Mac = [0x02, 0xa7, 0, 0, 0, 2];
const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 16);

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

/// An ARP reply `sha`/`spa` in an Ethernet frame from `src`, behind
/// `tags` 802.1Q tags.
fn arp(src: Mac, sha: Mac, spa: Ipv4Addr, tags: usize) -> Vec<u8> {
    let mut body = vec![0u8; 28];
    {
        let mut a = MutableArpPacket::new(&mut body).unwrap();
        a.set_hardware_type(ArpHardwareTypes::Ethernet);
        a.set_protocol_type(EtherTypes::Ipv4);
        a.set_hw_addr_len(6);
        a.set_proto_addr_len(4);
        a.set_operation(ArpOperations::Reply);
        a.set_sender_hw_addr(mac(sha));
        a.set_sender_proto_addr(spa);
        a.set_target_hw_addr(MacAddr::broadcast());
        a.set_target_proto_addr(spa);
    }
    let mut inner = EtherTypes::Arp;
    for _ in 0..tags {
        let mut tagged = vec![0u8; 4 + body.len()];
        let mut v = MutableVlanPacket::new(&mut tagged).unwrap();
        v.set_vlan_identifier(7);
        v.set_ethertype(inner);
        v.set_payload(&body);
        body = tagged;
        inner = EtherTypes::Vlan;
    }
    ethernet([0xff; 6], src, inner, &body)
}

/// A DHCP message (`op`) in UDP/IPv4 from `src`, checksums correct.
fn dhcp(src: Mac, op: pnet_packet::dhcp::DhcpOperation, message: u8) -> Vec<u8> {
    let mut d = vec![0u8; 244];
    {
        let mut p = MutableDhcpPacket::new(&mut d).unwrap();
        p.set_op(op);
        p.set_htype(DhcpHardwareTypes::Ethernet);
        p.set_hlen(6);
        p.set_xid(0x0bad_cafe);
        p.set_yiaddr(HOST_IP);
        p.set_chaddr(mac(HOST));
    }
    d[236..240].copy_from_slice(&[99, 130, 83, 99]);
    d[240..].copy_from_slice(&[53, 1, message, 255]);
    let (sip, dip) = (GATEWAY_IP, Ipv4Addr::BROADCAST);
    let mut seg = vec![0u8; 8 + d.len()];
    {
        let mut u = MutableUdpPacket::new(&mut seg).unwrap();
        u.set_source(67);
        u.set_destination(68);
        u.set_length(u16::try_from(8 + d.len()).unwrap());
        u.set_payload(&d);
        let sum = udp::ipv4_checksum(&u.to_immutable(), &sip, &dip);
        u.set_checksum(sum);
    }
    let mut ip = vec![0u8; 20 + seg.len()];
    {
        let mut p = MutableIpv4Packet::new(&mut ip).unwrap();
        p.set_version(4);
        p.set_header_length(5);
        p.set_total_length(u16::try_from(20 + seg.len()).unwrap());
        p.set_ttl(64);
        p.set_next_level_protocol(IpNextHeaderProtocols::Udp);
        p.set_source(sip);
        p.set_destination(dip);
        p.set_payload(&seg);
        let sum = ipv4::checksum(&p.to_immutable());
        p.set_checksum(sum);
    }
    ethernet([0xff; 6], src, EtherTypes::Ipv4, &ip)
}

struct Bench {
    sw: Switch,
    client: PortId,
    out: Vec<PortId>,
    now: Instant,
}

impl Bench {
    fn new() -> Bench {
        let mut sw = Switch::new(SwitchConfig::default());
        let client = sw.add_port(PortKind::TapClient).unwrap();
        sw.add_port(PortKind::UdpClient).unwrap();
        let gw = sw.add_port(PortKind::Gateway).unwrap();
        let dhcp = sw.add_port(PortKind::Dhcp).unwrap();
        sw.add_port(PortKind::PeerNode).unwrap();
        sw.pin_mac(GATEWAY, gw).unwrap();
        sw.pin_mac(DHCP_SERVER, dhcp).unwrap();
        sw.protect_ip(GATEWAY_IP).unwrap();
        Bench {
            sw,
            client,
            out: Vec::new(),
            now: Instant::now(),
        }
    }

    #[track_caller]
    fn dropped(&mut self, frame: &[u8], reason: FrameDrop, what: &str) {
        let before = self.sw.counters().drops(reason);
        let total = self.sw.counters().total_drops();
        assert_eq!(
            self.sw.forward(self.now, self.client, frame, &mut self.out),
            Err(reason),
            "{what}"
        );
        assert!(self.out.is_empty(), "{what}: sent somewhere");
        assert_eq!(self.sw.counters().drops(reason), before + 1, "{what}");
        assert_eq!(self.sw.counters().total_drops(), total + 1, "{what}");
    }

    #[track_caller]
    fn forwarded(&mut self, frame: &[u8], what: &str) {
        assert!(
            self.sw
                .forward(self.now, self.client, frame, &mut self.out)
                .is_ok(),
            "{what}"
        );
        assert!(!self.out.is_empty(), "{what}");
    }
}

#[test]
fn honest_frames_from_the_builder_are_forwarded() {
    let mut b = Bench::new();
    b.forwarded(
        &arp(HOST, HOST, HOST_IP, 0),
        "ARP for the host's own address",
    );
    b.forwarded(&arp(HOST, HOST, HOST_IP, 2), "the same behind two tags");
    b.forwarded(
        &dhcp(HOST, DhcpOperations::Request, 1),
        "a client's DHCPDISCOVER",
    );
    assert_eq!(b.sw.counters().total_drops(), 0);
}

#[test]
fn rogue_dhcp_server_on_a_spoofed_mac_is_dropped_and_counted() {
    let mut b = Bench::new();
    // A DHCPOFFER from the ethereal DHCP server's pinned MAC, and one from
    // the gateway's, sent by a client.
    b.dropped(
        &dhcp(DHCP_SERVER, DhcpOperations::Reply, 2),
        FrameDrop::SpoofedSource,
        "DHCPOFFER from the DHCP server's MAC",
    );
    b.dropped(
        &dhcp(GATEWAY, DhcpOperations::Reply, 5),
        FrameDrop::SpoofedSource,
        "DHCPACK from the gateway's MAC",
    );
    // Any frame at all from a pinned MAC, even a broken one.
    let mut broken = dhcp(GATEWAY, DhcpOperations::Reply, 2);
    broken.truncate(20);
    b.dropped(
        &broken,
        FrameDrop::SpoofedSource,
        "truncated IPv4 from the gateway's MAC",
    );
    assert_eq!(b.sw.lookup(b.now, HOST), None, "nothing learned");
}

#[test]
fn arp_claiming_the_gateway_is_dropped_and_counted() {
    let mut b = Bench::new();
    for tags in 0..3 {
        b.dropped(
            &arp(HOST, HOST, GATEWAY_IP, tags),
            FrameDrop::SpoofedArp,
            &format!("claims the gateway's address behind {tags} tags"),
        );
        b.dropped(
            &arp(HOST, GATEWAY, HOST_IP, tags),
            FrameDrop::SpoofedArp,
            &format!("sender hardware address is the gateway's, {tags} tags"),
        );
    }
    assert_eq!(b.sw.counters().drops(FrameDrop::SpoofedArp), 6);
}

#[test]
fn broken_ethernet_is_dropped_and_counted() {
    let mut b = Bench::new();
    let good = dhcp(HOST, DhcpOperations::Request, 1);
    for cut in 0..14 {
        b.dropped(&good[..cut], FrameDrop::Runt, &format!("cut at {cut}"));
    }
    let big = ethernet([0xff; 6], HOST, EtherTypes::Ipv4, &[0u8; 1505]);
    assert_eq!(big.len(), 1519);
    b.dropped(&big, FrameDrop::Oversize, "1519 bytes");
    b.dropped(
        &ethernet(
            [0xff; 6],
            [0x01, 0, 0x5e, 0, 0, 1],
            EtherTypes::Ipv4,
            &[0; 46],
        ),
        FrameDrop::InvalidSource,
        "multicast source MAC",
    );
    b.dropped(
        &ethernet([0xff; 6], [0; 6], EtherTypes::Arp, &[0; 46]),
        FrameDrop::InvalidSource,
        "all-zero source MAC",
    );
    b.dropped(
        &ethernet(
            [0x01, 0x80, 0xc2, 0, 0, 0],
            HOST,
            EtherType::new(0x0026),
            &[0; 46],
        ),
        FrameDrop::ReservedGroup,
        "to the STP group",
    );
}
