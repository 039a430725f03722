//! The Internet checksum (RFC 1071): one's-complement sums kept in a `u64`
//! and folded to 16 bits at the end.

/// Adds `data` (taken as big-endian 16-bit words, an odd last byte padded
/// with zero) to the running sum `acc`. Pieces summed separately must start
/// at even offsets of the checksummed range.
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    // One's-complement addition of 64-bit words folds to the same 16-bit
    // sum as adding 16-bit words (2^16 - 1 divides 2^64 - 1).
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let (s, carry) = acc.overflowing_add(w);
        acc = s + u64::from(carry);
    }
    let mut rest = words.remainder().chunks_exact(2);
    for w in &mut rest {
        acc = add(acc, u64::from(u16::from_be_bytes([w[0], w[1]])));
    }
    if let [b] = rest.remainder() {
        acc = add(acc, u64::from(*b) << 8);
    }
    acc
}

fn add(acc: u64, v: u64) -> u64 {
    let (s, carry) = acc.overflowing_add(v);
    s + u64::from(carry)
}

/// Folds a running sum to 16 bits (not complemented).
pub fn fold(acc: u64) -> u16 {
    let mut s = (acc & 0xffff_ffff) + (acc >> 32);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The IPv4/IPv6 pseudo-header of a TCP/UDP checksum (`src` and `dst` both
/// 4 or 16 bytes), not folded.
pub fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, len: u32) -> u64 {
    let acc = sum(src, 0);
    let acc = sum(dst, acc);
    add(add(acc, u64::from(proto)), u64::from(len))
}

/// The value to store in a checksum field: the complemented fold.
pub fn finish(acc: u64) -> u16 {
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook 16-bit loop, as a reference.
    fn reference(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for w in data.chunks(2) {
            let v = if w.len() == 2 {
                u16::from_be_bytes([w[0], w[1]])
            } else {
                u16::from(w[0]) << 8
            };
            s += u32::from(v);
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    #[test]
    fn matches_the_16_bit_loop() {
        let data: Vec<u8> = (0..1500u32).map(|i| (i * 7 + 13) as u8).collect();
        for len in [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 20, 1499, 1500] {
            assert_eq!(fold(sum(&data[..len], 0)), reference(&data[..len]), "{len}");
        }
        let ff = vec![0xffu8; 4096];
        assert_eq!(fold(sum(&ff, 0)), reference(&ff));
        assert_eq!(fold(sum(&ff, u64::MAX)), 0xffff);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data, 0)), 0xddf2);
        assert_eq!(finish(sum(&data, 0)), !0xddf2);
    }
}
