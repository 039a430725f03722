//! The few packets the node's NAT glue writes itself (ICMP echo on ping
//! sockets); everything else is the translator's.

/// An ICMP echo request as written to a ping socket (the kernel sets the
/// identifier and the checksum; the checksum is filled in anyway).
pub(crate) fn echo_request(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&[8, 0, 0, 0, 0, 0]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    let sum = checksum(0, &p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// An echo reply read from a ping socket: (sequence, payload).
pub(crate) fn echo_reply(packet: &[u8]) -> Option<(u16, &[u8])> {
    if *packet.first()? != 0 {
        return None;
    }
    let seq = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]);
    Some((seq, packet.get(8..)?))
}

fn sum_words(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// The Internet checksum (RFC 1071) of `data`, starting from `acc`.
fn checksum(acc: u32, data: &[u8]) -> u16 {
    let mut sum = sum_words(acc, data);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip() {
        let req = echo_request(7, b"hi");
        assert_eq!(checksum(0, &req), 0);
        let mut reply = req.clone();
        reply[0] = 0;
        assert_eq!(echo_reply(&reply), Some((7, &b"hi"[..])));
        assert_eq!(echo_reply(&req), None);
    }
}
