//! The send side: lanes that glue packets for one destination into GSO
//! sends.
//!
//! A lane holds packets of one size to one destination, plus at most one
//! shorter packet at its end (the shape `UDP_SEGMENT` allows). A packet that
//! does not fit its lane's shape makes the lane leave first, so packets to
//! one destination always leave in the order they were committed. Lanes of
//! different destinations are independent: a TCP flow's data and its ACKs
//! (two destinations at a node) no longer break each other's batches.

use std::net::SocketAddr;

/// What a flush did, for the caller's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Datagrams the kernel accepted.
    pub packets: u64,
    /// Datagrams lost to a send error (logged at debug by the caller).
    pub errors: u64,
    /// `sendmsg` calls made.
    pub calls: u64,
}

impl std::ops::AddAssign for Sent {
    fn add_assign(&mut self, other: Sent) {
        self.packets += other.packets;
        self.errors += other.errors;
        self.calls += other.calls;
    }
}

/// Lanes per socket: enough for the destinations one burst of a node's
/// receive batch usually reaches; more cost a flush, never a drop.
pub(crate) const LANES: usize = 4;

/// Bytes one GSO send may carry: the UDP length field's limit minus the
/// headers, rounded down.
pub(crate) const LANE_BYTES: usize = 65_000;

/// Largest packet a lane takes: what fits one 1500-byte IPv6 (or IPv4)
/// packet. The kernel refuses a GSO send whose segments exceed the path
/// MTU (and quinn-udp then turns GSO off for good), while a lone larger
/// datagram is simply fragmented; so larger packets (jumbo `--mtu`) leave
/// one by one, still in order.
pub(crate) const MAX_SEGMENT: usize = 1452;

/// Most segments per GSO send (the kernel's `UDP_MAX_SEGMENTS` is 64, or
/// 128 on newer kernels).
pub(crate) const MAX_SEGMENTS: usize = 64;

/// Packets queued for one destination.
pub(crate) struct Lane {
    pub(crate) buf: Box<[u8]>,
    pub(crate) len: usize,
    pub(crate) segment: usize,
    pub(crate) count: usize,
    /// The last packet is shorter than `segment`: nothing may follow it.
    pub(crate) closed: bool,
    pub(crate) to: Option<SocketAddr>,
    /// Commit order of the lane's first packet (which lane to flush when
    /// all are busy).
    pub(crate) since: u64,
}

impl Lane {
    pub(crate) fn new() -> Lane {
        Lane {
            buf: vec![0; LANE_BYTES].into_boxed_slice(),
            len: 0,
            segment: 0,
            count: 0,
            closed: false,
            to: None,
            since: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `packet_len` more bytes may join this lane.
    pub(crate) fn accepts(&self, packet_len: usize, max_segments: usize) -> bool {
        !self.closed
            && packet_len <= self.segment
            && self.count < max_segments
            && self.len + packet_len <= LANE_BYTES
    }

    /// Appends a packet (the caller checked `accepts`, or the lane is empty).
    pub(crate) fn push(&mut self, packet: &[u8], to: SocketAddr, order: u64) {
        if self.is_empty() {
            self.segment = packet.len();
            self.to = Some(to);
            self.since = order;
        } else if packet.len() < self.segment {
            self.closed = true;
        }
        self.buf[self.len..self.len + packet.len()].copy_from_slice(packet);
        self.len += packet.len();
        self.count += 1;
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.count = 0;
        self.segment = 0;
        self.closed = false;
        self.to = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to() -> SocketAddr {
        "198.18.0.1:7370".parse().unwrap()
    }

    #[test]
    fn same_size_packets_share_a_lane_and_a_short_one_closes_it() {
        let mut lane = Lane::new();
        lane.push(&[1; 100], to(), 0);
        assert!(lane.accepts(100, 64));
        lane.push(&[2; 100], to(), 1);
        assert!(lane.accepts(40, 64));
        lane.push(&[3; 40], to(), 2);
        assert!(lane.closed);
        assert!(!lane.accepts(40, 64), "nothing may follow a short packet");
        assert_eq!((lane.count, lane.len, lane.segment), (3, 240, 100));
        assert_eq!(&lane.buf[..240][200..], &[3; 40][..]);
    }

    #[test]
    fn a_longer_packet_or_a_full_lane_is_refused() {
        let mut lane = Lane::new();
        lane.push(&[0; 100], to(), 0);
        assert!(!lane.accepts(101, 64));
        assert!(!lane.accepts(100, 1));
        let mut big = Lane::new();
        big.push(&[0; 1500], to(), 0);
        for _ in 1..43 {
            assert!(big.accepts(1500, 64));
            big.push(&[0; 1500], to(), 0);
        }
        assert!(!big.accepts(1500, 64), "65 000 bytes is the limit");
        big.clear();
        assert!(big.is_empty() && big.to.is_none() && !big.closed);
    }
}
