//! UDP listeners: datagrams in as events, `udp_send` out, closed ports
//! answered with ICMP port unreachable.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4DstUnreachable, Icmpv4Message, Icmpv4Packet, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    UdpPacket, UdpRepr,
};
use vhost::{Config, Error, Event, Protocol, VirtualHost};

const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 33000);

fn datagram(src: SocketAddrV4, dst: SocketAddrV4, data: &[u8]) -> Vec<u8> {
    let caps = ChecksumCapabilities::default();
    let udp = UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
    };
    let ip = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        next_header: IpProtocol::Udp,
        payload_len: 8 + data.len(),
        hop_limit: 64,
    };
    let mut out = vec![0u8; 28 + data.len()];
    let mut ipp = Ipv4Packet::new_unchecked(&mut out[..]);
    ip.emit(&mut ipp, &caps);
    udp.emit(
        &mut UdpPacket::new_unchecked(ipp.payload_mut()),
        &IpAddress::Ipv4(ip.src_addr),
        &IpAddress::Ipv4(ip.dst_addr),
        data.len(),
        |b| b.copy_from_slice(data),
        &caps,
    );
    out
}

/// Parses a datagram the host sent, checking both checksums.
fn open_datagram(p: &[u8]) -> (SocketAddrV4, SocketAddrV4, Vec<u8>) {
    let caps = ChecksumCapabilities::default();
    let ipp = Ipv4Packet::new_checked(p).expect("ipv4");
    let ip = Ipv4Repr::parse(&ipp, &caps).expect("ipv4 checksum");
    assert_eq!(ip.next_header, IpProtocol::Udp);
    let d = UdpPacket::new_checked(ipp.payload()).expect("udp");
    assert_ne!(d.checksum(), 0, "IPv4 UDP checksum is filled in");
    let u =
        UdpRepr::parse(&d, &ip.src_addr.into(), &ip.dst_addr.into(), &caps).expect("udp checksum");
    (
        SocketAddrV4::new(ip.src_addr, u.src_port),
        SocketAddrV4::new(ip.dst_addr, u.dst_port),
        d.payload().to_vec(),
    )
}

#[test]
fn listener_delivers_and_udp_send_answers() {
    let mut vh = VirtualHost::new(Config::new(GW));
    vh.listen_udp(53);
    assert!(vh.is_listening(Protocol::Udp, 53));
    let now = Instant::now();
    vh.handle_packet(
        now,
        &datagram(CLIENT, SocketAddrV4::new(GW, 53), b"question"),
    );
    assert_eq!(
        vh.poll_event(),
        Some(Event::UdpDatagram {
            local_port: 53,
            peer: CLIENT,
            data: b"question".to_vec()
        })
    );
    assert_eq!(vh.poll_event(), None);
    assert_eq!(vh.poll_transmit(now), None);
    vh.udp_send(53, CLIENT, b"answer").expect("send");
    let p = vh.poll_transmit(now).expect("a datagram");
    assert_eq!(
        open_datagram(&p),
        (SocketAddrV4::new(GW, 53), CLIENT, b"answer".to_vec())
    );
    let k = vh.counters();
    assert_eq!((k.udp_received, k.udp_sent, k.dropped_total()), (1, 1, 0));
}

#[test]
fn udp_send_refuses_what_does_not_fit() {
    let mut vh = VirtualHost::new(Config::new(GW));
    let max = vh.config().mtu - 28;
    assert!(vh.udp_send(53, CLIENT, &vec![0; max]).is_ok());
    assert_eq!(
        vh.udp_send(53, CLIENT, &vec![0; max + 1]),
        Err(Error::TooLarge { len: max + 1, max })
    );
    let bcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, 68);
    assert_eq!(vh.udp_send(67, bcast, b"x"), Err(Error::BadEndpoint(bcast)));
}

#[test]
fn closed_port_answers_port_unreachable() {
    let mut vh = VirtualHost::new(Config::new(GW));
    let now = Instant::now();
    let probe = datagram(CLIENT, SocketAddrV4::new(GW, 5683), b"coap?");
    vh.handle_packet(now, &probe);
    assert_eq!(vh.poll_event(), None);
    assert_eq!(vh.counters().drop_udp_not_listening, 1);
    let p = vh.poll_transmit(now).expect("icmp");
    let caps = ChecksumCapabilities::default();
    let ipp = Ipv4Packet::new_checked(&p[..]).expect("ipv4");
    let ip = Ipv4Repr::parse(&ipp, &caps).expect("ipv4");
    assert_eq!((ip.src_addr, ip.dst_addr), (GW, *CLIENT.ip()));
    // smoltcp's `Icmpv4Repr::parse` wants the quoted packet whole; a real
    // quote is the original header (its total length kept) and 8 bytes.
    let icmp = Icmpv4Packet::new_checked(ipp.payload()).expect("icmp");
    assert!(icmp.verify_checksum());
    assert_eq!(icmp.msg_type(), Icmpv4Message::DstUnreachable);
    assert_eq!(
        Icmpv4DstUnreachable::from(icmp.msg_code()),
        Icmpv4DstUnreachable::PortUnreachable
    );
    assert_eq!(
        icmp.data(),
        &probe[..28],
        "the datagram's header and 8 bytes"
    );
}

#[test]
fn udp_queue_is_bounded() {
    let mut vh = VirtualHost::new(Config {
        max_udp_queue: 2,
        ..Config::new(GW)
    });
    vh.listen_udp(53);
    let now = Instant::now();
    for _ in 0..3 {
        vh.handle_packet(now, &datagram(CLIENT, SocketAddrV4::new(GW, 53), b"q"));
    }
    assert_eq!(vh.counters().drop_udp_queue_full, 1);
    assert!(vh.poll_event().is_some());
    vh.handle_packet(now, &datagram(CLIENT, SocketAddrV4::new(GW, 53), b"q"));
    assert_eq!(
        vh.counters().drop_udp_queue_full,
        1,
        "room again after a poll"
    );
}
