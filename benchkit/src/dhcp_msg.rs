//! DHCPv4 client messages (RFC 2131 section 2, options RFC 2132) as whole
//! Ethernet frames, for the load generator. Written from the RFCs: nothing
//! here comes from atenet's server (`dhcp/`) or tok's client, so a bug
//! shared with the code under test cannot hide. Ethernet, IPv4 and UDP
//! (with their checksums) are etherparse's; the BOOTP body is ours.

use std::net::Ipv4Addr;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

/// BOOTP fixed part: op .. file (RFC 2131 figure 1), then the magic cookie.
const FIXED: usize = 236;
const COOKIE: [u8; 4] = [99, 130, 83, 99];
/// BOOTP messages are padded to at least this (RFC 1542 3.1's 300 octets).
const MIN_BOOTP: usize = 300;
pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

/// Option 53 values (RFC 2132 9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }
}

/// The BOOTP body of a client message (no Ethernet/IP/UDP).
fn bootp(mac: [u8; 6], xid: u32, options: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; FIXED];
    b[0] = 1; // op BOOTREQUEST
    b[1] = 1; // htype Ethernet
    b[2] = 6; // hlen
    b[4..8].copy_from_slice(&xid.to_be_bytes());
    // secs 0, flags 0 (unicast replies: the node sends them to our MAC),
    // ciaddr, yiaddr, siaddr, giaddr 0
    b[28..34].copy_from_slice(&mac);
    b.extend_from_slice(&COOKIE);
    b.extend_from_slice(options);
    b.push(255); // end
    if b.len() < MIN_BOOTP {
        b.resize(MIN_BOOTP, 0);
    }
    b
}

/// Parameter request list (55): mask, router, DNS, MTU, lease time, server id.
const PARAMS: [u8; 8] = [55, 6, 1, 3, 6, 26, 51, 54];

/// DHCPDISCOVER body (RFC 2131 4.4.1).
pub fn discover_bootp(mac: [u8; 6], xid: u32) -> Vec<u8> {
    let mut o = vec![53, 1, MessageType::Discover as u8];
    o.extend_from_slice(&PARAMS);
    bootp(mac, xid, &o)
}

/// DHCPREQUEST body in SELECTING state (RFC 2131 4.3.2): server id (54)
/// and requested address (50) from the OFFER, ciaddr 0.
pub fn request_bootp(mac: [u8; 6], xid: u32, addr: Ipv4Addr, server: Ipv4Addr) -> Vec<u8> {
    let mut o = vec![53, 1, MessageType::Request as u8, 50, 4];
    o.extend_from_slice(&addr.octets());
    o.extend_from_slice(&[54, 4]);
    o.extend_from_slice(&server.octets());
    o.extend_from_slice(&PARAMS);
    bootp(mac, xid, &o)
}

/// A client message as the whole frame a client on the wire sends:
/// broadcast from `mac`, 0.0.0.0:68 -> 255.255.255.255:67.
pub fn frame(mac: [u8; 6], body: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(mac, [0xff; 6])
        .ipv4([0, 0, 0, 0], [255, 255, 255, 255], 64)
        .udp(CLIENT_PORT, SERVER_PORT);
    let mut out = Vec::with_capacity(builder.size(body.len()));
    builder
        .write(&mut out, body)
        .expect("writing into a Vec does not fail");
    out
}

/// What the client needs of a server's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub kind: MessageType,
    pub xid: u32,
    pub chaddr: [u8; 6],
    /// `yiaddr`: the address offered or acknowledged.
    pub yiaddr: Ipv4Addr,
    /// Option 54, if present.
    pub server: Option<Ipv4Addr>,
    /// Option 51 (seconds), if present.
    pub lease_secs: Option<u32>,
}

/// A server reply (BOOTREPLY to UDP port 68) in an Ethernet frame, or
/// `None` for anything else (ARP, other traffic, malformed bytes).
pub fn parse_reply_frame(frame: &[u8]) -> Option<Reply> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    if !matches!(p.net, Some(NetSlice::Ipv4(_))) {
        return None;
    }
    let Some(TransportSlice::Udp(udp)) = p.transport else {
        return None;
    };
    if udp.destination_port() != CLIENT_PORT || udp.source_port() != SERVER_PORT {
        return None;
    }
    parse_reply(udp.payload())
}

/// A BOOTREPLY body.
pub fn parse_reply(b: &[u8]) -> Option<Reply> {
    if b.len() < FIXED + 4 || b[0] != 2 || b[1] != 1 || b[2] != 6 || b[FIXED..FIXED + 4] != COOKIE {
        return None;
    }
    let xid = u32::from_be_bytes(b[4..8].try_into().ok()?);
    let yiaddr = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    let chaddr: [u8; 6] = b[28..34].try_into().ok()?;
    let (mut kind, mut server, mut lease_secs) = (None, None, None);
    let mut o = &b[FIXED + 4..];
    while let Some((&code, rest)) = o.split_first() {
        match code {
            0 => {
                o = rest;
                continue;
            }
            255 => break,
            _ => {}
        }
        let (&len, rest) = rest.split_first()?;
        let len = len as usize;
        if rest.len() < len {
            return None;
        }
        let (val, rest) = rest.split_at(len);
        match (code, len) {
            (53, 1) => kind = MessageType::from_u8(val[0]),
            (54, 4) => server = Some(Ipv4Addr::new(val[0], val[1], val[2], val[3])),
            (51, 4) => lease_secs = Some(u32::from_be_bytes(val.try_into().ok()?)),
            _ => {}
        }
        o = rest;
    }
    Some(Reply {
        kind: kind?,
        xid,
        chaddr,
        yiaddr,
        server,
        lease_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0xbb, 0x00, 0x00, 0x00, 0x01];

    /// RFC 2131 figure 1, written out by hand for one DISCOVER.
    #[test]
    fn discover_matches_hand_written_bytes() {
        let mut want = vec![
            0x01, 0x01, 0x06, 0x00, // op, htype, hlen, hops
            0x12, 0x34, 0x56, 0x78, // xid
            0x00, 0x00, 0x00, 0x00, // secs, flags
        ];
        want.extend_from_slice(&[0; 16]); // ciaddr yiaddr siaddr giaddr
        want.extend_from_slice(&MAC);
        want.extend_from_slice(&[0; 10]); // rest of chaddr
        want.extend_from_slice(&[0; 64 + 128]); // sname, file
        want.extend_from_slice(&[0x63, 0x82, 0x53, 0x63]); // magic cookie
        want.extend_from_slice(&[53, 1, 1]); // DHCPDISCOVER
        want.extend_from_slice(&[55, 6, 1, 3, 6, 26, 51, 54]);
        want.push(255);
        want.resize(300, 0);
        assert_eq!(discover_bootp(MAC, 0x1234_5678), want);
    }

    #[test]
    fn discover_frame_is_a_broadcast_udp_67() {
        let f = frame(MAC, &discover_bootp(MAC, 7));
        assert_eq!(f.len(), 14 + 20 + 8 + 300);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(f[23], 17); // UDP
        assert_eq!(&f[26..34], &[0, 0, 0, 0, 255, 255, 255, 255]);
        assert_eq!(&f[34..38], &[0, 68, 0, 67]);
        // IPv4 header checksum: the one's complement sum of the header is 0xffff
        let sum: u32 = f[14..34]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        let folded = (sum & 0xffff) + (sum >> 16);
        assert_eq!(folded, 0xffff);
    }

    #[test]
    fn request_carries_server_id_and_requested_address() {
        let b = request_bootp(
            MAC,
            9,
            Ipv4Addr::new(10, 1, 2, 3),
            Ipv4Addr::new(10, 1, 0, 1),
        );
        assert_eq!(
            &b[240..255],
            &[53, 1, 3, 50, 4, 10, 1, 2, 3, 54, 4, 10, 1, 0, 1]
        );
    }

    /// An OFFER as RFC 2131 4.3.1 describes it, by hand, with a pad option.
    #[test]
    fn parses_a_hand_written_offer() {
        let mut b = vec![2, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0];
        b.extend_from_slice(&[0, 0, 0, 0]); // ciaddr
        b.extend_from_slice(&[10, 9, 0, 42]); // yiaddr
        b.extend_from_slice(&[0; 8]); // siaddr giaddr
        b.extend_from_slice(&MAC);
        b.extend_from_slice(&[0; 10 + 192]);
        b.extend_from_slice(&[99, 130, 83, 99]);
        b.extend_from_slice(&[
            53, 1, 2, 0, 54, 4, 10, 9, 0, 1, 51, 4, 0, 0, 0x0e, 0x10, 255,
        ]);
        let r = parse_reply(&b).unwrap();
        assert_eq!(
            r,
            Reply {
                kind: MessageType::Offer,
                xid: 0xdead_beef,
                chaddr: MAC,
                yiaddr: Ipv4Addr::new(10, 9, 0, 42),
                server: Some(Ipv4Addr::new(10, 9, 0, 1)),
                lease_secs: Some(3600),
            }
        );
        // in a frame from the server
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], MAC)
            .ipv4([10, 9, 0, 1], [10, 9, 0, 42], 64)
            .udp(SERVER_PORT, CLIENT_PORT);
        let mut f = Vec::new();
        builder.write(&mut f, &b).unwrap();
        assert_eq!(parse_reply_frame(&f), Some(r));
        // a client message or a truncated one is no reply
        assert_eq!(parse_reply(&discover_bootp(MAC, 1)), None);
        assert_eq!(parse_reply(&b[..245]), None);
        assert_eq!(parse_reply_frame(&frame(MAC, &b)), None);
    }
}
