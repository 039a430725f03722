//! Bytes in, bytes out: client messages parsed from whole Ethernet frames,
//! replies emitted as whole Ethernet frames.
//!
//! Built on `smoltcp::wire` (`EthernetFrame`, `Ipv4Packet`, `UdpPacket`,
//! `DhcpPacket`/`DhcpRepr`); the options `DhcpRepr` does not model (host
//! name 12, client identifier 61 of any type, interface MTU 26, T1/T2 58/59)
//! are read from `DhcpPacket::options` and written as additional options.
//! Nothing here panics on any input: every failure is a [`DropReason`].

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    DhcpMessageType, DhcpOpCode, DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame,
    EthernetProtocol, EthernetRepr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket,
    UdpRepr, DHCP_CLIENT_PORT, DHCP_SERVER_PORT,
};

use crate::counters::DropReason;
use crate::options;

/// The broadcast MAC.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// BOOTP's minimum message size (RFC 1542 2.1): replies are padded to it,
/// since some clients drop anything shorter.
pub const MIN_DHCP_LEN: usize = 300;

/// Ethernet + IPv4 + UDP headers in front of a DHCP message.
const HEADERS_LEN: usize = 14 + 20 + 8;

/// Where a DHCP message travels: its Ethernet and IPv4 ends and UDP ports.
/// The server and every client (ours in `tok`, the tests') frame their
/// messages the same way; [`emit_frame`] is that one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// Bytes of a frame carrying `dhcp_len` bytes of DHCP.
pub const fn frame_len(dhcp_len: usize) -> usize {
    HEADERS_LEN + dhcp_len
}

/// Writes Ethernet + IPv4 + UDP (checksums filled) around `repr`, given
/// `dhcp_len >= repr.buffer_len()` bytes (the rest zero padding), into
/// `out[..frame_len(dhcp_len)]`; returns that length. `out` must be at
/// least that long and `repr`'s options at most 255 bytes each.
pub fn emit_frame(out: &mut [u8], path: &Path, repr: &DhcpRepr<'_>, dhcp_len: usize) -> usize {
    let len = frame_len(dhcp_len);
    let out = &mut out[..len];
    out[HEADERS_LEN..].fill(0);
    let mut eth = EthernetFrame::new_unchecked(&mut out[..]);
    EthernetRepr {
        src_addr: EthernetAddress(path.src_mac),
        dst_addr: EthernetAddress(path.dst_mac),
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let caps = ChecksumCapabilities::default();
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    Ipv4Repr {
        src_addr: path.src_ip,
        dst_addr: path.dst_ip,
        next_header: IpProtocol::Udp,
        payload_len: 8 + dhcp_len,
        hop_limit: 64,
    }
    .emit(&mut ip, &caps);
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    UdpRepr {
        src_port: path.src_port,
        dst_port: path.dst_port,
    }
    .emit(
        &mut udp,
        &IpAddress::Ipv4(path.src_ip),
        &IpAddress::Ipv4(path.dst_ip),
        dhcp_len,
        |buf| {
            // Cannot fail: the buffer is at least `buffer_len` and option
            // data is at most 255 bytes.
            let _ = repr.emit(&mut DhcpPacket::new_unchecked(buf));
        },
        &caps,
    );
    len
}

/// The client message types a server acts on (RFC 2131 3.1, 3.2, 3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Discover,
    Request,
    Decline,
    Release,
    Inform,
}

/// A client's message, with what the server needs from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    pub kind: ClientKind,
    /// The Ethernet source address.
    pub src_mac: [u8; 6],
    /// The IPv4 destination (broadcast for REBINDING, the server for RENEWING).
    pub dst_ip: Ipv4Addr,
    /// `xid`.
    pub transaction_id: u32,
    pub secs: u16,
    /// The BROADCAST flag (RFC 2131 4.1).
    pub broadcast: bool,
    /// `chaddr`.
    pub chaddr: [u8; 6],
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `giaddr`.
    pub giaddr: Ipv4Addr,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 61, raw (any type, 1..=255 bytes).
    pub client_id: Option<Vec<u8>>,
    /// Option 12, raw.
    pub hostname: Option<Vec<u8>>,
}

/// Parses a frame a client sent to the DHCP server port.
pub fn parse_frame(frame: &[u8]) -> Result<ClientMessage, DropReason> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return Err(DropReason::NotDhcp);
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|_| DropReason::Malformed)?;
    let ip_repr = Ipv4Repr::parse(&ip, &ChecksumCapabilities::default())
        .map_err(|_| DropReason::Malformed)?;
    if ip_repr.next_header != IpProtocol::Udp {
        return Err(DropReason::NotDhcp);
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(DropReason::Fragment);
    }
    let udp = UdpPacket::new_checked(ip.payload()).map_err(|_| DropReason::Malformed)?;
    if udp.dst_port() != DHCP_SERVER_PORT {
        return Err(DropReason::NotDhcp);
    }
    UdpRepr::parse(
        &udp,
        &IpAddress::Ipv4(ip_repr.src_addr),
        &IpAddress::Ipv4(ip_repr.dst_addr),
        &ChecksumCapabilities::default(),
    )
    .map_err(|_| DropReason::Malformed)?;
    let mut msg = parse_dhcp(udp.payload())?;
    msg.src_mac = eth.src_addr().0;
    msg.dst_ip = ip_repr.dst_addr;
    Ok(msg)
}

/// Parses a DHCP message (the UDP payload). `src_mac` and `dst_ip` are left
/// unspecified.
pub fn parse_dhcp(bytes: &[u8]) -> Result<ClientMessage, DropReason> {
    let packet = DhcpPacket::new_checked(bytes).map_err(|_| DropReason::Malformed)?;
    if packet.opcode() != DhcpOpCode::Request {
        return Err(DropReason::NotClientMessage);
    }
    let repr = DhcpRepr::parse(&packet).map_err(|_| DropReason::Malformed)?;
    let kind = match repr.message_type {
        DhcpMessageType::Discover => ClientKind::Discover,
        DhcpMessageType::Request => ClientKind::Request,
        DhcpMessageType::Decline => ClientKind::Decline,
        DhcpMessageType::Release => ClientKind::Release,
        DhcpMessageType::Inform => ClientKind::Inform,
        _ => return Err(DropReason::NotClientMessage),
    };
    let mut client_id = None;
    let mut hostname = None;
    for opt in packet.options() {
        match opt.kind {
            options::CLIENT_ID if !opt.data.is_empty() => client_id = Some(opt.data.to_vec()),
            options::HOST_NAME if !opt.data.is_empty() => hostname = Some(opt.data.to_vec()),
            _ => {}
        }
    }
    Ok(ClientMessage {
        kind,
        src_mac: [0; 6],
        dst_ip: Ipv4Addr::UNSPECIFIED,
        transaction_id: repr.transaction_id,
        secs: repr.secs,
        broadcast: repr.broadcast,
        chaddr: repr.client_hardware_address.0,
        ciaddr: repr.client_ip,
        giaddr: repr.relay_agent_ip,
        requested_ip: repr.requested_ip,
        server_id: repr.server_identifier,
        client_id,
        hostname,
    })
}

/// The server message types (RFC 2131 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Offer,
    Ack,
    Nak,
}

/// Everything a reply says (RFC 2131 table 3). Fields that a kind must not
/// carry are left out by [`emit_reply`] (a NAK carries only the server id,
/// the client id and a message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    pub transaction_id: u32,
    pub broadcast: bool,
    pub chaddr: [u8; 6],
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`: the address given (unspecified for NAK and INFORM's ACK).
    pub yiaddr: Ipv4Addr,
    /// Option 54, and the router (3) and DNS server (6): the gateway.
    pub server_id: Ipv4Addr,
    /// Option 1.
    pub subnet_mask: Ipv4Addr,
    /// Option 26.
    pub mtu: u16,
    /// Option 51 (and T1/T2 from it); `None` for INFORM's ACK.
    pub lease_secs: Option<u32>,
    /// Option 61 echoed (RFC 6842).
    pub client_id: Option<Vec<u8>>,
    /// Option 12 echoed.
    pub hostname: Option<String>,
    /// Option 56: why a NAK.
    pub message: Option<&'static str>,
}

/// Where a reply goes: Ethernet and IPv4 destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
}

impl Reply {
    /// RFC 2131 4.1, for a client on the local link (no relay): a NAK is
    /// broadcast; if `ciaddr` is set, unicast to it; else if the BROADCAST
    /// bit is set, broadcast; else unicast to `chaddr` and `yiaddr`.
    pub fn destination(&self) -> Destination {
        let broadcast = Destination {
            mac: BROADCAST_MAC,
            ip: Ipv4Addr::BROADCAST,
        };
        if self.kind == ReplyKind::Nak {
            broadcast
        } else if !self.ciaddr.is_unspecified() {
            Destination {
                mac: self.chaddr,
                ip: self.ciaddr,
            }
        } else if self.broadcast || self.yiaddr.is_unspecified() {
            broadcast
        } else {
            Destination {
                mac: self.chaddr,
                ip: self.yiaddr,
            }
        }
    }
}

/// Emits `reply` as an Ethernet frame from the gateway (`src_mac`,
/// `reply.server_id`), UDP 67 -> 68, to [`Reply::destination`].
pub fn emit_reply(reply: &Reply, src_mac: [u8; 6]) -> Vec<u8> {
    let nak = reply.kind == ReplyKind::Nak;
    let server = reply.server_id;
    let dns = [server];
    let mtu = reply.mtu.max(options::MIN_MTU).to_be_bytes();
    let times = reply.lease_secs.map(|l| {
        let (t1, t2) = options::renewal_times(l);
        (t1.to_be_bytes(), t2.to_be_bytes())
    });
    let mut extra: Vec<DhcpOption<'_>> = Vec::with_capacity(6);
    if !nak {
        extra.push(DhcpOption {
            kind: options::INTERFACE_MTU,
            data: &mtu,
        });
        if let Some((t1, t2)) = &times {
            extra.push(DhcpOption {
                kind: options::RENEWAL_TIME,
                data: t1,
            });
            extra.push(DhcpOption {
                kind: options::REBINDING_TIME,
                data: t2,
            });
        }
        if let Some(name) = &reply.hostname {
            extra.push(DhcpOption {
                kind: options::HOST_NAME,
                data: name.as_bytes(),
            });
        }
    }
    if let Some(id) = &reply.client_id {
        extra.push(DhcpOption {
            kind: options::CLIENT_ID,
            data: id.get(..255).unwrap_or(id),
        });
    }
    if let Some(text) = reply.message {
        extra.push(DhcpOption {
            kind: options::MESSAGE,
            data: text.as_bytes(),
        });
    }
    let repr = DhcpRepr {
        message_type: match reply.kind {
            ReplyKind::Offer => DhcpMessageType::Offer,
            ReplyKind::Ack => DhcpMessageType::Ack,
            ReplyKind::Nak => DhcpMessageType::Nak,
        },
        transaction_id: reply.transaction_id,
        secs: 0,
        client_hardware_address: EthernetAddress(reply.chaddr),
        client_ip: if nak {
            Ipv4Addr::UNSPECIFIED
        } else {
            reply.ciaddr
        },
        your_ip: if nak {
            Ipv4Addr::UNSPECIFIED
        } else {
            reply.yiaddr
        },
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: (!nak).then_some(server),
        subnet_mask: (!nak).then_some(reply.subnet_mask),
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: reply.broadcast,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(server),
        parameter_request_list: None,
        dns_servers: (!nak).then(|| dns.iter().copied().collect()),
        max_size: None,
        lease_duration: if nak { None } else { reply.lease_secs },
        renew_duration: None,
        rebind_duration: None,
        additional_options: &extra,
    };
    let dhcp_len = repr.buffer_len().max(MIN_DHCP_LEN);
    let dst = reply.destination();
    let path = Path {
        src_mac,
        dst_mac: dst.mac,
        src_ip: server,
        dst_ip: dst.ip,
        src_port: DHCP_SERVER_PORT,
        dst_port: DHCP_CLIENT_PORT,
    };
    let mut frame = vec![0u8; frame_len(dhcp_len)];
    emit_frame(&mut frame, &path, &repr, dhcp_len);
    frame
}

/// Encodes what a client would send (the client side: for tests, benches
/// and a DHCP client), as an Ethernet frame from `msg.src_mac`
/// to `msg.dst_ip` (broadcast MAC unless `dst_ip` is unicast), UDP 68 -> 67.
pub fn client_frame(msg: &ClientMessage) -> Vec<u8> {
    let mut extra = Vec::new();
    if let Some(id) = &msg.client_id {
        extra.push(DhcpOption {
            kind: options::CLIENT_ID,
            data: id,
        });
    }
    if let Some(name) = &msg.hostname {
        extra.push(DhcpOption {
            kind: options::HOST_NAME,
            data: name,
        });
    }
    let repr = DhcpRepr {
        message_type: match msg.kind {
            ClientKind::Discover => DhcpMessageType::Discover,
            ClientKind::Request => DhcpMessageType::Request,
            ClientKind::Decline => DhcpMessageType::Decline,
            ClientKind::Release => DhcpMessageType::Release,
            ClientKind::Inform => DhcpMessageType::Inform,
        },
        transaction_id: msg.transaction_id,
        secs: msg.secs,
        client_hardware_address: EthernetAddress(msg.chaddr),
        client_ip: msg.ciaddr,
        your_ip: Ipv4Addr::UNSPECIFIED,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: msg.giaddr,
        broadcast: msg.broadcast,
        requested_ip: msg.requested_ip,
        client_identifier: None,
        server_identifier: msg.server_id,
        parameter_request_list: Some(&[1, 3, 6, 26, 51, 58, 59]),
        dns_servers: None,
        max_size: None,
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &extra,
    };
    let dhcp_len = repr.buffer_len();
    let dst_mac = if msg.dst_ip == Ipv4Addr::BROADCAST {
        BROADCAST_MAC
    } else {
        [0x02, 0xee, 0, 0, 0, 1]
    };
    let path = Path {
        src_mac: msg.src_mac,
        dst_mac,
        src_ip: msg.ciaddr,
        dst_ip: msg.dst_ip,
        src_port: DHCP_CLIENT_PORT,
        dst_port: DHCP_SERVER_PORT,
    };
    let mut frame = vec![0u8; frame_len(dhcp_len)];
    emit_frame(&mut frame, &path, &repr, dhcp_len);
    frame
}

#[cfg(test)]
pub(crate) mod tests;
