//! Tap reads to network frames: checksum completion and TCP segmentation
//! (TSO in tok).
//!
//! [`prepare`] checks one read (virtio header + frame). A frame that only
//! needs its checksum has it completed in place; a TCP super-frame becomes a
//! [`Gso`] plan, whose segments [`Gso::segment`] writes one at a time into a
//! caller's buffer. The plan holds offsets only (no borrow), so an async
//! caller can send each segment before cutting the next. [`segment_read`]
//! wraps both behind a callback.

use std::ops::Range;

use super::checksum;
use super::{
    be16, be32, put16, put32, VnetHdr, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ,
    ETHERTYPE_VLAN, ETH_LEN, F_NEEDS_CSUM, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, PROTO_TCP,
    TCP_CSUM_OFFSET, TCP_CWR, TCP_FIN, TCP_PSH, VNET_HDR_LEN,
};

/// Why a tap read was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than the virtio header.
    Short,
    /// `F_NEEDS_CSUM` with `csum_start`/`csum_offset` outside the frame.
    CsumOffsets,
    /// A GSO type other than TCPv4/TCPv6 (UDP, or unknown).
    GsoType,
    /// GSO on a frame with more than one VLAN tag, or whose Ethernet type
    /// does not match the GSO type.
    GsoEthernet,
    /// GSO with a malformed or unsupported IP header (IPv4 options are
    /// fine; fragments, IPv6 extension headers, not TCP are not).
    GsoIp,
    /// GSO with a malformed TCP header, a zero `gso_size`, or no payload.
    GsoTcp,
    /// GSO whose IP length fields disagree with the frame's length.
    GsoLength,
    /// GSO whose segments would not fit the largest frame carried.
    GsoTooBig,
}

/// Counts of [`DropReason`]s.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drops {
    pub short: u64,
    pub csum_offsets: u64,
    pub gso_type: u64,
    pub gso_ethernet: u64,
    pub gso_ip: u64,
    pub gso_tcp: u64,
    pub gso_length: u64,
    pub gso_too_big: u64,
}

impl Drops {
    pub fn count(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Short => &mut self.short,
            DropReason::CsumOffsets => &mut self.csum_offsets,
            DropReason::GsoType => &mut self.gso_type,
            DropReason::GsoEthernet => &mut self.gso_ethernet,
            DropReason::GsoIp => &mut self.gso_ip,
            DropReason::GsoTcp => &mut self.gso_tcp,
            DropReason::GsoLength => &mut self.gso_length,
            DropReason::GsoTooBig => &mut self.gso_too_big,
        };
        *c += 1;
    }

    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.short
            + self.csum_offsets
            + self.gso_type
            + self.gso_ethernet
            + self.gso_ip
            + self.gso_tcp
            + self.gso_length
            + self.gso_too_big
    }
}

/// What the read side of the offload did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStats {
    /// TCP super-frames read.
    pub gso_frames: u64,
    /// Frames cut from them.
    pub segments: u64,
    /// Frames whose checksum tok completed (`F_NEEDS_CSUM`, no GSO).
    pub csum_completed: u64,
    pub drops: Drops,
}

/// One tap read, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// One complete frame at this range of the read buffer (after the
    /// virtio header).
    Frame(Range<usize>),
    /// A TCP super-frame to cut with [`Gso::segment`].
    Gso(Gso),
    Dropped(DropReason),
}

/// A TCP super-frame's segmentation plan. Offsets count from the start of
/// the Ethernet frame (the read buffer after its virtio header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gso {
    /// The frame: `buf[VNET_HDR_LEN..VNET_HDR_LEN + frame_len]`.
    frame_len: usize,
    /// IP header offset.
    l3: usize,
    /// TCP header offset.
    l4: usize,
    /// End of the TCP header: where the payload starts.
    hdr_len: usize,
    v6: bool,
    seg_size: usize,
    count: usize,
}

impl Gso {
    /// How many segments the super-frame makes.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The longest segment, in bytes: what `out` must hold.
    pub fn max_segment(&self) -> usize {
        self.hdr_len + self.seg_size.min(self.frame_len - self.hdr_len)
    }

    /// Writes segment `i` (< [`count`](Self::count)) of the super-frame in
    /// `read` (the whole tap read, virtio header included) into `out`, and
    /// returns its length. `out` must hold [`max_segment`](Self::max_segment)
    /// bytes.
    pub fn segment(&self, i: usize, read: &[u8], out: &mut [u8]) -> usize {
        let frame = &read[VNET_HDR_LEN..VNET_HDR_LEN + self.frame_len];
        let (h, l3, l4) = (self.hdr_len, self.l3, self.l4);
        let start = h + i * self.seg_size;
        let end = (start + self.seg_size).min(frame.len());
        let len = h + (end - start);
        out[..h].copy_from_slice(&frame[..h]);
        out[h..len].copy_from_slice(&frame[start..end]);
        let out = &mut out[..len];

        if self.v6 {
            put16(out, l3 + 4, (len - l3 - 40) as u16);
        } else {
            put16(out, l3 + 2, (len - l3) as u16);
            let id = be16(frame, l3 + 4).wrapping_add(i as u16);
            put16(out, l3 + 4, id);
            put16(out, l3 + 10, 0);
            let c = checksum::finish(checksum::sum(&out[l3..l4], 0));
            put16(out, l3 + 10, c);
        }

        let seq = be32(frame, l4 + 4).wrapping_add((i * self.seg_size) as u32);
        put32(out, l4 + 4, seq);
        let mut flags = out[l4 + 13];
        if i + 1 != self.count {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if i != 0 {
            flags &= !TCP_CWR;
        }
        out[l4 + 13] = flags;

        let (src, dst) = if self.v6 {
            (&frame[l3 + 8..l3 + 24], &frame[l3 + 24..l3 + 40])
        } else {
            (&frame[l3 + 12..l3 + 16], &frame[l3 + 16..l3 + 20])
        };
        let pseudo = checksum::pseudo_header(src, dst, PROTO_TCP, (len - l4) as u32);
        put16(out, l4 + TCP_CSUM_OFFSET, 0);
        let c = checksum::finish(checksum::sum(&out[l4..], pseudo));
        put16(out, l4 + TCP_CSUM_OFFSET, c);
        len
    }
}

/// Checks one tap read (`read`: virtio header then frame). A frame that
/// needs its checksum gets it here, in place. `max_frame`: the largest
/// segment the caller can carry.
pub fn prepare(read: &mut [u8], max_frame: usize, stats: &mut SegmentStats) -> Read {
    let r = classify(read, max_frame, stats);
    match &r {
        Read::Dropped(reason) => stats.drops.count(*reason),
        Read::Gso(g) => {
            stats.gso_frames += 1;
            stats.segments += g.count as u64;
        }
        Read::Frame(_) => {}
    }
    r
}

fn classify(read: &mut [u8], max_frame: usize, stats: &mut SegmentStats) -> Read {
    let Some(hdr) = VnetHdr::parse(read) else {
        return Read::Dropped(DropReason::Short);
    };
    let frame = &mut read[VNET_HDR_LEN..];
    match hdr.gso_type & !GSO_ECN {
        GSO_NONE => {
            if hdr.flags & F_NEEDS_CSUM != 0 {
                if let Err(reason) = complete_checksum(frame, &hdr) {
                    return Read::Dropped(reason);
                }
                stats.csum_completed += 1;
            }
            Read::Frame(VNET_HDR_LEN..VNET_HDR_LEN + frame.len())
        }
        t @ (GSO_TCPV4 | GSO_TCPV6) => match plan(frame, t == GSO_TCPV6, &hdr, max_frame) {
            Ok(g) => Read::Gso(g),
            Err(reason) => Read::Dropped(reason),
        },
        _ => Read::Dropped(DropReason::GsoType),
    }
}

/// `F_NEEDS_CSUM` without GSO: the field at `csum_start + csum_offset`
/// holds the pseudo-header sum; fold in everything from `csum_start` on.
fn complete_checksum(frame: &mut [u8], hdr: &VnetHdr) -> Result<(), DropReason> {
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if start >= frame.len() || at + 2 > frame.len() {
        return Err(DropReason::CsumOffsets);
    }
    // As the kernel's skb_checksum_help: a zero result is sent as 0xffff
    // (the same value for TCP; "no checksum" would be wrong for UDP).
    let c = match checksum::finish(checksum::sum(&frame[start..], 0)) {
        0 => 0xffff,
        c => c,
    };
    put16(frame, at, c);
    Ok(())
}

/// Checks a TCP super-frame's headers and plans its segments. The kernel's
/// `hdr_len`/`csum_start` are not trusted: the headers are parsed instead.
fn plan(frame: &[u8], v6: bool, hdr: &VnetHdr, max_frame: usize) -> Result<Gso, DropReason> {
    if frame.len() < ETH_LEN {
        return Err(DropReason::GsoEthernet);
    }
    let mut l3 = ETH_LEN;
    let mut ethertype = be16(frame, 12);
    if matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ) {
        // One 802.1Q tag (a VLAN device on the tap): the IP header follows it.
        if frame.len() < ETH_LEN + 4 {
            return Err(DropReason::GsoEthernet);
        }
        l3 += 4;
        ethertype = be16(frame, 16);
    }
    if ethertype != if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 } {
        return Err(DropReason::GsoEthernet);
    }
    let l4 = if v6 {
        if frame.len() < l3 + 40 || frame[l3] >> 4 != 6 || frame[l3 + 6] != PROTO_TCP {
            return Err(DropReason::GsoIp);
        }
        if usize::from(be16(frame, l3 + 4)) != frame.len() - l3 - 40 {
            return Err(DropReason::GsoLength);
        }
        l3 + 40
    } else {
        if frame.len() < l3 + 20 || frame[l3] >> 4 != 4 {
            return Err(DropReason::GsoIp);
        }
        let ihl = usize::from(frame[l3] & 0x0f) * 4;
        let fragment = be16(frame, l3 + 6) & 0x3fff != 0; // MF or an offset
        if ihl < 20 || frame.len() < l3 + ihl || frame[l3 + 9] != PROTO_TCP || fragment {
            return Err(DropReason::GsoIp);
        }
        if usize::from(be16(frame, l3 + 2)) != frame.len() - l3 {
            return Err(DropReason::GsoLength);
        }
        l3 + ihl
    };
    if frame.len() < l4 + 20 {
        return Err(DropReason::GsoTcp);
    }
    let thl = usize::from(frame[l4 + 12] >> 4) * 4;
    let hdr_len = l4 + thl;
    let gso_size = usize::from(hdr.gso_size);
    if thl < 20 || frame.len() <= hdr_len || gso_size == 0 {
        return Err(DropReason::GsoTcp);
    }
    let payload = frame.len() - hdr_len;
    let g = Gso {
        frame_len: frame.len(),
        l3,
        l4,
        hdr_len,
        v6,
        seg_size: gso_size,
        count: payload.div_ceil(gso_size),
    };
    if g.max_segment() > max_frame {
        return Err(DropReason::GsoTooBig);
    }
    Ok(g)
}

/// [`prepare`] then every frame to `emit`: segments are built in `out`
/// (which must hold `max_frame` bytes), a plain frame is passed in place.
/// The callback form; the session uses the plan directly, to await each
/// send.
#[cfg(test)]
pub fn segment_read(
    read: &mut [u8],
    out: &mut [u8],
    max_frame: usize,
    stats: &mut SegmentStats,
    mut emit: impl FnMut(&[u8]),
) {
    match prepare(read, max_frame, stats) {
        Read::Frame(r) => emit(&read[r]),
        Read::Gso(g) => {
            for i in 0..g.count() {
                let n = g.segment(i, read, out);
                emit(&out[..n]);
            }
        }
        Read::Dropped(_) => {}
    }
}
