//! The one change a router makes to a forwarded IPv4 header: TTL minus
//! one, with the header checksum updated incrementally (RFC 1812, 5.3.1
//! and 5.2.2; RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).

/// Decrements the TTL of the IPv4 header at the start of `packet` and
/// updates its checksum. The caller has checked the header (at least 20
/// bytes) and that the TTL is above 1.
pub(crate) fn decrement_ttl(packet: &mut [u8]) {
    const TTL: usize = 8;
    const CHECKSUM: usize = 10;
    if packet.len() < 20 || packet[TTL] == 0 {
        return;
    }
    // The TTL is the high byte of the 16-bit word it shares with the
    // protocol.
    let old_word = u16::from_be_bytes([packet[TTL], packet[TTL + 1]]);
    packet[TTL] -= 1;
    let new_word = u16::from_be_bytes([packet[TTL], packet[TTL + 1]]);
    let old_sum = u16::from_be_bytes([packet[CHECKSUM], packet[CHECKSUM + 1]]);
    let mut sum = u32::from(!old_sum) + u32::from(!old_word) + u32::from(new_word);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let new_sum = !(sum as u16);
    packet[CHECKSUM..CHECKSUM + 2].copy_from_slice(&new_sum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use smoltcp::wire::Ipv4Packet;

    proptest! {
        #[test]
        fn the_checksum_stays_valid(header in proptest::array::uniform20(any::<u8>()), ttl in 2u8..=255) {
            let mut h = header;
            h[0] = 0x45;
            h[8] = ttl;
            let mut p = Ipv4Packet::new_unchecked(&mut h[..]);
            p.fill_checksum();
            decrement_ttl(&mut h);
            let p = Ipv4Packet::new_unchecked(&h[..]);
            prop_assert_eq!(p.hop_limit(), ttl - 1);
            prop_assert!(p.verify_checksum());
        }
    }
}
