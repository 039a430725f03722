//! Ethernet II headers and the address checks the gateway needs.

use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol};
use snooping::Mac;

/// Destination, source, ethertype.
pub(crate) const HEADER_LEN: usize = 14;
/// The largest frame the switch carries (DESIGN.md: 14..=1518 bytes).
pub(crate) const MAX_FRAME: usize = 1518;
/// The broadcast MAC.
pub(crate) const BROADCAST: Mac = [0xff; 6];

/// Clears `buf`, sizes it to a header plus `payload_len` zero bytes and
/// writes the header. Returns the payload's offset.
pub(crate) fn start(
    buf: &mut Vec<u8>,
    dst: Mac,
    src: Mac,
    ethertype: EthernetProtocol,
    payload_len: usize,
) -> usize {
    buf.clear();
    buf.resize(HEADER_LEN + payload_len, 0);
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    frame.set_dst_addr(EthernetAddress(dst));
    frame.set_src_addr(EthernetAddress(src));
    frame.set_ethertype(ethertype);
    HEADER_LEN
}

/// Rewrites the destination MAC of a frame built by [`start`].
pub(crate) fn set_dst(frame: &mut [u8], dst: Mac) {
    if let Some(d) = frame.get_mut(..6) {
        d.copy_from_slice(&dst);
    }
}

/// A group (multicast or broadcast) address: the I/G bit.
pub(crate) fn is_group(mac: Mac) -> bool {
    mac[0] & 1 == 1
}
