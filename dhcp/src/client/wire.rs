//! The DHCP client's messages on the wire: the client's frames
//! (Ethernet/IPv4/UDP 68 -> 67 around a DHCP message, built with
//! `smoltcp::wire::DhcpRepr`) and the server's replies parsed back.
//!
//! [`is_reply_for`] is the only thing that runs per frame: a few header
//! bytes compared, no parsing, no allocation.

use std::net::Ipv4Addr;

use crate::codec::{emit_frame, Path};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame,
    EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
    DHCP_CLIENT_PORT, DHCP_SERVER_PORT,
};

/// Ethernet (14) + IPv4 without options (20) + UDP (8).
const HEADERS_LEN: usize = 42;
/// Largest client frame we build: headers, the fixed BOOTP part (240) and
/// our options (well under 200 bytes with a 63-byte host name).
pub const MAX_CLIENT_FRAME: usize = 576;
/// Option 12 is cut to this many bytes (a DNS label).
pub const MAX_HOSTNAME: usize = 63;

const OPT_HOST_NAME: u8 = 12;
const OPT_INTERFACE_MTU: u8 = 26;
/// What we ask for (option 55): mask, router, DNS, domain name, MTU, lease
/// time, T1, T2.
const PARAMETER_REQUEST_LIST: &[u8] = &[1, 3, 6, 15, 26, 51, 58, 59];

/// The broadcast MAC.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// True for an IPv4/UDP frame to port 68 whose Ethernet destination is
/// `mac` or broadcast: what a DHCP server sends a client. Header bytes
/// only, nothing allocated (runs for every frame from the node).
pub fn is_reply_for(frame: &[u8], mac: [u8; 6]) -> bool {
    if frame.len() < HEADERS_LEN || frame[12..14] != [0x08, 0x00] {
        return false;
    }
    let dst = &frame[0..6];
    if dst != mac && dst != BROADCAST_MAC {
        return false;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if frame[14] >> 4 != 4 || ihl < 20 || frame[23] != 17 {
        return false;
    }
    let udp = 14 + ihl;
    frame
        .get(udp + 2..udp + 4)
        .is_some_and(|p| p == DHCP_CLIENT_PORT.to_be_bytes())
}

/// The client message kinds we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Discover,
    Request,
    Release,
}

/// One client message: everything that varies between the ones we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientMessage<'a> {
    pub kind: ClientKind,
    pub xid: u32,
    pub secs: u16,
    /// The tap's MAC: Ethernet source, `chaddr` and client id `0x01 ‖ MAC`.
    pub mac: [u8; 6],
    /// `ciaddr`, and the IPv4 source (0.0.0.0 until bound).
    pub ciaddr: Ipv4Addr,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 12.
    pub hostname: Option<&'a str>,
    /// Ethernet and IPv4 destination: broadcast, or the server when
    /// renewing and releasing.
    pub dst_mac: [u8; 6],
    pub dst_ip: Ipv4Addr,
}

/// Writes `msg` as a whole Ethernet frame into `out`; returns its length.
/// `out` must hold [`MAX_CLIENT_FRAME`] bytes.
pub fn build(msg: &ClientMessage<'_>, out: &mut [u8]) -> usize {
    let name = msg
        .hostname
        .map(|h| &h.as_bytes()[..h.len().min(MAX_HOSTNAME)]);
    let extra_buf;
    let extra: &[DhcpOption<'_>] = match name {
        Some(data) if !data.is_empty() && msg.kind != ClientKind::Release => {
            extra_buf = [DhcpOption {
                kind: OPT_HOST_NAME,
                data,
            }];
            &extra_buf
        }
        _ => &[],
    };
    let releasing = msg.kind == ClientKind::Release;
    let repr = DhcpRepr {
        message_type: match msg.kind {
            ClientKind::Discover => DhcpMessageType::Discover,
            ClientKind::Request => DhcpMessageType::Request,
            ClientKind::Release => DhcpMessageType::Release,
        },
        transaction_id: msg.xid,
        secs: msg.secs,
        client_hardware_address: EthernetAddress(msg.mac),
        client_ip: msg.ciaddr,
        your_ip: Ipv4Addr::UNSPECIFIED,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        requested_ip: msg.requested_ip,
        // Type 1 (Ethernet) ‖ MAC.
        client_identifier: Some(EthernetAddress(msg.mac)),
        server_identifier: msg.server_id,
        parameter_request_list: (!releasing).then_some(PARAMETER_REQUEST_LIST),
        dns_servers: None,
        max_size: (!releasing).then_some(MAX_CLIENT_FRAME as u16),
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: extra,
    };
    let path = Path {
        src_mac: msg.mac,
        dst_mac: msg.dst_mac,
        src_ip: msg.ciaddr,
        dst_ip: msg.dst_ip,
        src_port: DHCP_CLIENT_PORT,
        dst_port: DHCP_SERVER_PORT,
    };
    emit_frame(out, &path, &repr, repr.buffer_len())
}

/// The server message kinds a client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Offer,
    Ack,
    Nak,
}

/// A server's reply, with what the client needs from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    pub kind: ServerKind,
    pub xid: u32,
    pub chaddr: [u8; 6],
    /// Ethernet source: where a renewal is unicast to.
    pub server_mac: [u8; 6],
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    /// Option 54 (the IPv4 source when absent).
    pub server_id: Ipv4Addr,
    pub subnet_mask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    /// Option 6 (at most 3 kept).
    pub dns: Vec<Ipv4Addr>,
    /// Option 26.
    pub mtu: Option<u16>,
    /// Options 51, 58, 59 in seconds.
    pub lease_secs: Option<u32>,
    pub t1_secs: Option<u32>,
    pub t2_secs: Option<u32>,
}

/// Why a frame is not a usable server reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not IPv4/UDP to port 68, or a fragment.
    NotDhcp,
    /// Truncated, bad checksum, bad DHCP header or options.
    Malformed,
    /// A DHCP message type a client does not act on.
    Ignored,
}

/// Parses a frame from the node as a DHCP server reply. Never panics.
pub fn parse_reply(frame: &[u8]) -> Result<ServerMessage, ParseError> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| ParseError::Malformed)?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return Err(ParseError::NotDhcp);
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|_| ParseError::Malformed)?;
    let caps = ChecksumCapabilities::default();
    let ip_repr = Ipv4Repr::parse(&ip, &caps).map_err(|_| ParseError::Malformed)?;
    if ip_repr.next_header != IpProtocol::Udp || ip.more_frags() || ip.frag_offset() != 0 {
        return Err(ParseError::NotDhcp);
    }
    let udp = UdpPacket::new_checked(ip.payload()).map_err(|_| ParseError::Malformed)?;
    if udp.dst_port() != DHCP_CLIENT_PORT {
        return Err(ParseError::NotDhcp);
    }
    UdpRepr::parse(
        &udp,
        &IpAddress::Ipv4(ip_repr.src_addr),
        &IpAddress::Ipv4(ip_repr.dst_addr),
        &caps,
    )
    .map_err(|_| ParseError::Malformed)?;
    let packet = DhcpPacket::new_checked(udp.payload()).map_err(|_| ParseError::Malformed)?;
    let repr = DhcpRepr::parse(&packet).map_err(|_| ParseError::Malformed)?;
    let kind = match repr.message_type {
        DhcpMessageType::Offer => ServerKind::Offer,
        DhcpMessageType::Ack => ServerKind::Ack,
        DhcpMessageType::Nak => ServerKind::Nak,
        _ => return Err(ParseError::Ignored),
    };
    let mtu = packet
        .options()
        .find(|o| o.kind == OPT_INTERFACE_MTU)
        .and_then(|o| <[u8; 2]>::try_from(o.data).ok())
        .map(u16::from_be_bytes);
    Ok(ServerMessage {
        kind,
        xid: repr.transaction_id,
        chaddr: repr.client_hardware_address.0,
        server_mac: eth.src_addr().0,
        src_ip: ip_repr.src_addr,
        yiaddr: repr.your_ip,
        server_id: repr.server_identifier.unwrap_or(ip_repr.src_addr),
        subnet_mask: repr.subnet_mask,
        router: repr.router,
        dns: repr
            .dns_servers
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default(),
        mtu,
        lease_secs: repr.lease_duration,
        t1_secs: repr.renew_duration,
        t2_secs: repr.rebind_duration,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    pub const SERVER_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];

    /// What a canned server reply says.
    #[derive(Debug, Clone)]
    pub struct Canned {
        pub kind: DhcpMessageType,
        pub xid: u32,
        pub chaddr: [u8; 6],
        pub yiaddr: Ipv4Addr,
        pub server: Ipv4Addr,
        pub lease: Option<u32>,
        pub t1: Option<u32>,
        pub t2: Option<u32>,
        pub mtu: Option<u16>,
        pub dst_ip: Ipv4Addr,
    }

    impl Canned {
        pub fn new(kind: DhcpMessageType, xid: u32) -> Canned {
            Canned {
                kind,
                xid,
                chaddr: MAC,
                yiaddr: Ipv4Addr::new(10, 1, 2, 50),
                server: Ipv4Addr::new(10, 1, 2, 1),
                lease: Some(3600),
                t1: None,
                t2: None,
                mtu: Some(1380),
                dst_ip: Ipv4Addr::BROADCAST,
            }
        }
    }

    /// A server reply as an Ethernet frame, built with smoltcp.
    pub fn server_frame(c: &Canned) -> Vec<u8> {
        let nak = c.kind == DhcpMessageType::Nak;
        let mtu = c.mtu.map(u16::to_be_bytes);
        let t1 = c.t1.map(u32::to_be_bytes);
        let t2 = c.t2.map(u32::to_be_bytes);
        let mut extra = Vec::new();
        if let Some(m) = &mtu {
            extra.push(DhcpOption {
                kind: OPT_INTERFACE_MTU,
                data: m,
            });
        }
        if let Some(t) = &t1 {
            extra.push(DhcpOption { kind: 58, data: t });
        }
        if let Some(t) = &t2 {
            extra.push(DhcpOption { kind: 59, data: t });
        }
        let repr = DhcpRepr {
            message_type: c.kind,
            transaction_id: c.xid,
            secs: 0,
            client_hardware_address: EthernetAddress(c.chaddr),
            client_ip: Ipv4Addr::UNSPECIFIED,
            your_ip: if nak { Ipv4Addr::UNSPECIFIED } else { c.yiaddr },
            server_ip: Ipv4Addr::UNSPECIFIED,
            router: (!nak).then_some(c.server),
            subnet_mask: (!nak).then_some(Ipv4Addr::new(255, 255, 255, 0)),
            relay_agent_ip: Ipv4Addr::UNSPECIFIED,
            broadcast: false,
            requested_ip: None,
            client_identifier: None,
            server_identifier: Some(c.server),
            parameter_request_list: None,
            dns_servers: (!nak).then(|| [c.server].into_iter().collect()),
            max_size: None,
            lease_duration: if nak { None } else { c.lease },
            renew_duration: None,
            rebind_duration: None,
            additional_options: &extra,
        };
        let path = Path {
            src_mac: SERVER_MAC,
            dst_mac: if c.dst_ip == Ipv4Addr::BROADCAST {
                BROADCAST_MAC
            } else {
                c.chaddr
            },
            src_ip: c.server,
            dst_ip: c.dst_ip,
            src_port: DHCP_SERVER_PORT,
            dst_port: DHCP_CLIENT_PORT,
        };
        let dhcp_len = repr.buffer_len();
        let mut frame = vec![0u8; crate::codec::frame_len(dhcp_len)];
        emit_frame(&mut frame, &path, &repr, dhcp_len);
        frame
    }

    /// Parses a client frame back (Ethernet dst, IPv4 src/dst, DHCP repr
    /// fields the tests look at, option 12).
    pub struct Sent {
        pub dst_mac: [u8; 6],
        pub src_ip: Ipv4Addr,
        pub dst_ip: Ipv4Addr,
        pub kind: DhcpMessageType,
        pub xid: u32,
        pub secs: u16,
        pub ciaddr: Ipv4Addr,
        pub requested_ip: Option<Ipv4Addr>,
        pub server_id: Option<Ipv4Addr>,
        pub client_id: Option<[u8; 6]>,
        pub hostname: Option<Vec<u8>>,
        pub chaddr: [u8; 6],
    }

    pub fn parse_sent(frame: &[u8]) -> Sent {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        assert_eq!(eth.src_addr().0, MAC);
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        let caps = ChecksumCapabilities::default();
        let ip_repr = Ipv4Repr::parse(&ip, &caps).unwrap();
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        UdpRepr::parse(
            &udp,
            &IpAddress::Ipv4(ip_repr.src_addr),
            &IpAddress::Ipv4(ip_repr.dst_addr),
            &caps,
        )
        .unwrap();
        assert_eq!((udp.src_port(), udp.dst_port()), (68, 67));
        let packet = DhcpPacket::new_checked(udp.payload()).unwrap();
        let repr = DhcpRepr::parse(&packet).unwrap();
        let hostname = packet
            .options()
            .find(|o| o.kind == OPT_HOST_NAME)
            .map(|o| o.data.to_vec());
        Sent {
            dst_mac: eth.dst_addr().0,
            src_ip: ip_repr.src_addr,
            dst_ip: ip_repr.dst_addr,
            kind: repr.message_type,
            xid: repr.transaction_id,
            secs: repr.secs,
            ciaddr: repr.client_ip,
            requested_ip: repr.requested_ip,
            server_id: repr.server_identifier,
            client_id: repr.client_identifier.map(|m| m.0),
            hostname,
            chaddr: repr.client_hardware_address.0,
        }
    }

    #[test]
    fn client_frames_parse_back() {
        let mut buf = [0u8; MAX_CLIENT_FRAME];
        let long = "h".repeat(100);
        let n = build(
            &ClientMessage {
                kind: ClientKind::Request,
                xid: 0x1234_5678,
                secs: 3,
                mac: MAC,
                ciaddr: Ipv4Addr::UNSPECIFIED,
                requested_ip: Some(Ipv4Addr::new(10, 1, 2, 50)),
                server_id: Some(Ipv4Addr::new(10, 1, 2, 1)),
                hostname: Some(&long),
                dst_mac: BROADCAST_MAC,
                dst_ip: Ipv4Addr::BROADCAST,
            },
            &mut buf,
        );
        assert!(n <= MAX_CLIENT_FRAME);
        let s = parse_sent(&buf[..n]);
        assert_eq!(s.kind, DhcpMessageType::Request);
        assert_eq!(s.xid, 0x1234_5678);
        assert_eq!(s.secs, 3);
        assert_eq!(s.dst_mac, BROADCAST_MAC);
        assert_eq!(s.src_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(s.dst_ip, Ipv4Addr::BROADCAST);
        assert_eq!(s.requested_ip, Some(Ipv4Addr::new(10, 1, 2, 50)));
        assert_eq!(s.server_id, Some(Ipv4Addr::new(10, 1, 2, 1)));
        assert_eq!(s.client_id, Some(MAC));
        assert_eq!(s.chaddr, MAC);
        assert_eq!(s.hostname.unwrap().len(), MAX_HOSTNAME);
        // Our own frames are not replies.
        assert!(!is_reply_for(&buf[..n], MAC));

        // The node's DHCP server understands it, client id 0x01 ‖ MAC included.
        let msg = crate::codec::parse_frame(&buf[..n]).unwrap();
        assert_eq!(
            msg.client_id.as_deref(),
            Some(&[1, 2, 0x11, 0x22, 0x33, 0x44, 0x55][..])
        );
        assert_eq!(msg.hostname.unwrap().len(), MAX_HOSTNAME);
    }

    #[test]
    fn replies_parse() {
        let mut c = Canned::new(DhcpMessageType::Ack, 7);
        c.t1 = Some(100);
        c.t2 = Some(200);
        let frame = server_frame(&c);
        assert!(is_reply_for(&frame, MAC));
        assert!(is_reply_for(&frame, [2, 0, 0, 0, 0, 9]), "broadcast");
        let m = parse_reply(&frame).unwrap();
        assert_eq!(m.kind, ServerKind::Ack);
        assert_eq!(m.xid, 7);
        assert_eq!(m.yiaddr, Ipv4Addr::new(10, 1, 2, 50));
        assert_eq!(m.server_id, Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(m.server_mac, SERVER_MAC);
        assert_eq!(m.router, Some(Ipv4Addr::new(10, 1, 2, 1)));
        assert_eq!(m.dns, vec![Ipv4Addr::new(10, 1, 2, 1)]);
        assert_eq!(m.mtu, Some(1380));
        assert_eq!(
            (m.lease_secs, m.t1_secs, m.t2_secs),
            (Some(3600), Some(100), Some(200))
        );

        c.dst_ip = Ipv4Addr::new(10, 1, 2, 50);
        let unicast = server_frame(&c);
        assert!(is_reply_for(&unicast, MAC));
        assert!(
            !is_reply_for(&unicast, [2, 0, 0, 0, 0, 9]),
            "someone else's"
        );
    }

    #[test]
    fn the_nodes_server_replies_parse() {
        let reply = crate::codec::Reply {
            kind: crate::codec::ReplyKind::Offer,
            transaction_id: 9,
            broadcast: false,
            chaddr: MAC,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::new(10, 1, 2, 77),
            server_id: Ipv4Addr::new(10, 1, 2, 1),
            subnet_mask: Ipv4Addr::new(255, 255, 255, 0),
            mtu: 1380,
            lease_secs: Some(600),
            client_id: None,
            hostname: None,
            message: None,
        };
        let frame = crate::codec::emit_reply(&reply, SERVER_MAC);
        assert!(is_reply_for(&frame, MAC));
        let m = parse_reply(&frame).unwrap();
        assert_eq!(m.kind, ServerKind::Offer);
        assert_eq!(m.yiaddr, Ipv4Addr::new(10, 1, 2, 77));
        assert_eq!(m.mtu, Some(1380));
        assert_eq!(m.lease_secs, Some(600));
        assert!(m.t1_secs.is_some() && m.t2_secs.is_some());
    }

    #[test]
    fn garbage_never_panics() {
        let frame = server_frame(&Canned::new(DhcpMessageType::Offer, 1));
        for len in 0..frame.len() {
            let _ = is_reply_for(&frame[..len], MAC);
            let _ = parse_reply(&frame[..len]);
        }
        let mut flipped = frame.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = is_reply_for(&flipped, MAC);
            let _ = parse_reply(&flipped);
            flipped[i] ^= 0xff;
        }
        assert_eq!(parse_reply(&[0u8; 10]), Err(ParseError::Malformed));
    }
}
