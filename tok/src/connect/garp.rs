//! The gratuitous ARP `tok connect` sends every 15 s (seed 004: "periodic ARP
//! packets every 15 seconds to ensure that it stays subscribed in the
//! vSwitch"): an ARP request from our MAC for our own IPv4 address, to the
//! broadcast MAC. Nodes learn our MAC and IP->MAC from it.

use std::net::Ipv4Addr;

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr,
};

/// Ethernet header (14) + ARP for Ethernet/IPv4 (28).
pub const GARP_LEN: usize = 42;

/// How often a gratuitous ARP is sent.
pub const GARP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Writes a gratuitous ARP request announcing `ip` at `mac` into `out`.
pub fn build(mac: [u8; 6], ip: Ipv4Addr, out: &mut [u8; GARP_LEN]) {
    let mut frame = EthernetFrame::new_unchecked(&mut out[..]);
    EthernetRepr {
        src_addr: EthernetAddress(mac),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut frame);
    let mut arp = ArpPacket::new_unchecked(frame.payload_mut());
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(mac),
        source_protocol_addr: ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: ip,
    }
    .emit(&mut arp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_back_as_gratuitous_request() {
        let mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
        let ip = Ipv4Addr::new(10, 9, 8, 7);
        let mut buf = [0xee; GARP_LEN];
        build(mac, ip, &mut buf);

        let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
        let eth = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(eth.src_addr, EthernetAddress(mac));
        assert_eq!(eth.dst_addr, EthernetAddress::BROADCAST);
        assert_eq!(eth.ethertype, EthernetProtocol::Arp);

        let arp = ArpPacket::new_checked(frame.payload()).unwrap();
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_hardware_addr,
            target_protocol_addr,
        } = ArpRepr::parse(&arp).unwrap()
        else {
            panic!("not an Ethernet/IPv4 ARP");
        };
        assert_eq!(operation, ArpOperation::Request);
        assert_eq!(source_hardware_addr, EthernetAddress(mac));
        assert_eq!(source_protocol_addr, ip);
        assert_eq!(target_protocol_addr, ip);
        assert_eq!(target_hardware_addr, EthernetAddress([0; 6]));
    }
}
