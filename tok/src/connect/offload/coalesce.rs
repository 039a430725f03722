//! Frames from the node to tap writes: GRO-style TCP coalescing.
//!
//! During one burst of packets from the node, the opened frames are
//! [`Coalescer::push`]ed; consecutive in-order TCP segments of one flow are
//! merged into a super-frame of up to 64 KiB, written with a GSO virtio
//! header so the kernel takes it as one large segment (as if a NIC's GRO
//! had built it). [`Coalescer::flush`] at the end of the burst writes what
//! is still held. Everything that cannot be merged is written as it came,
//! behind an all-zero virtio header.
//!
//! Merging follows the kernel's `tcp_gro_receive`: same Ethernet header,
//! same IP header apart from length/id/checksum (IPv4 without options or
//! fragments), same TCP header apart from sequence number, checksum and PSH
//! (ACK and options included), contiguous sequence numbers, only ACK set
//! (PSH allowed, and then it ends the super-frame), every segment the size
//! of the first but a smaller last one. Both checksums of every merged
//! segment are verified: a corrupted segment reaches the kernel unmerged,
//! and the kernel drops it.
//!
//! Order: frames of one flow leave in the order they came. A held flow is
//! written before any later frame of it that cannot join it; frames of
//! other flows may overtake held ones within the burst. Memory: a fixed
//! number of 64 KiB slots, allocated once.

use super::checksum;
use super::{
    be16, be32, put16, VnetHdr, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN, F_NEEDS_CSUM, GSO_TCPV4,
    GSO_TCPV6, PROTO_TCP, TCP_ACK, TCP_CSUM_OFFSET, TCP_PSH, VNET_HDR_LEN,
};

/// Largest super-frame: an IP packet of 65535 bytes behind Ethernet.
pub const MAX_SUPER: usize = ETH_LEN + 65_535;
/// Flows held at once during a burst.
pub const SLOTS: usize = 8;

/// IPv6 extension headers that may precede a TCP header.
const IPV6_EXT: [u8; 6] = [0, 43, 44, 50, 51, 60];

/// What the coalescer did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CoalesceStats {
    /// Frames pushed.
    pub frames: u64,
    /// Super-frames written (two segments or more, with a GSO header).
    pub super_frames: u64,
    /// Segments that went into them.
    pub merged_segments: u64,
    /// Merges refused because a segment's IPv4 header or TCP checksum was
    /// wrong (the segment is written as it came).
    pub bad_checksum: u64,
}

/// Holds the TCP flows of one burst; see the module doc.
#[derive(Debug)]
pub struct Coalescer {
    /// Empty when coalescing is off: every frame is written as it comes.
    slots: Vec<Slot>,
    clock: u64,
}

#[derive(Debug)]
struct Slot {
    buf: Box<[u8]>,
    /// Bytes held; 0: the slot is free.
    len: usize,
    v6: bool,
    /// TCP header offset.
    l4: usize,
    /// Ethernet + IP + TCP headers.
    hdr_len: usize,
    /// Payload of the first segment: every other one is this or smaller.
    gso_size: usize,
    segs: usize,
    next_seq: u32,
    /// PSH or a short segment was merged: nothing may follow.
    closed: bool,
    /// The first segment's checksums were checked (done at the first merge).
    verified: bool,
    /// When the flow was taken in: slots are written oldest first.
    age: u64,
}

/// A TCP segment's layout, from [`classify`].
#[derive(Debug, Clone, Copy)]
struct Seg {
    v6: bool,
    l4: usize,
    hdr_len: usize,
    payload: usize,
    seq: u32,
    flags: u8,
    /// May be merged (lengths exact, only ACK/PSH, has payload).
    candidate: bool,
}

enum Class {
    /// Not TCP: written at once.
    Other,
    /// Maybe TCP of a held flow, but not parsed (IPv4 options or fragments,
    /// IPv6 extension headers, bad lengths): every held flow is written first.
    Odd,
    Tcp(Seg),
}

impl Coalescer {
    /// `enabled: false`: a pass-through (every frame written at once with
    /// an all-zero header), holding no memory.
    pub fn new(enabled: bool) -> Coalescer {
        let slots = if enabled {
            (0..SLOTS)
                .map(|_| Slot {
                    buf: vec![0; MAX_SUPER].into_boxed_slice(),
                    len: 0,
                    v6: false,
                    l4: 0,
                    hdr_len: 0,
                    gso_size: 0,
                    segs: 0,
                    next_seq: 0,
                    closed: false,
                    verified: false,
                    age: 0,
                })
                .collect()
        } else {
            Vec::new()
        };
        Coalescer { slots, clock: 0 }
    }

    /// Frames held, waiting for [`flush`](Self::flush).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.len > 0)
            .map(|s| s.segs)
            .sum()
    }

    /// Takes one opened frame; writes whatever must leave now.
    pub fn push(
        &mut self,
        frame: &[u8],
        stats: &mut CoalesceStats,
        write: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[u8]),
    ) {
        stats.frames += 1;
        if self.slots.is_empty() {
            write(&VnetHdr::NONE, frame);
            return;
        }
        let seg = match classify(frame) {
            Class::Other => {
                write(&VnetHdr::NONE, frame);
                return;
            }
            Class::Odd => {
                self.flush(stats, write);
                write(&VnetHdr::NONE, frame);
                return;
            }
            Class::Tcp(seg) => seg,
        };
        let found = self
            .slots
            .iter()
            .position(|s| s.len > 0 && same_flow(s, frame, &seg));
        if !seg.candidate {
            if let Some(i) = found {
                self.slots[i].write_out(stats, write);
            }
            write(&VnetHdr::NONE, frame);
            return;
        }
        let i = match found {
            Some(i) => match self.slots[i].append(frame, &seg, stats) {
                Append::Done => return,
                Append::Refused => {
                    self.slots[i].write_out(stats, write);
                    i
                }
                Append::BadChecksum => {
                    self.slots[i].write_out(stats, write);
                    write(&VnetHdr::NONE, frame);
                    return;
                }
            },
            None => {
                if let Some(free) = self.slots.iter().position(|s| s.len == 0) {
                    free
                } else {
                    // All taken: the oldest flow leaves to make room.
                    let i = self.oldest().unwrap_or(0);
                    self.slots[i].write_out(stats, write);
                    i
                }
            }
        };
        self.clock += 1;
        self.slots[i].take(frame, &seg, self.clock);
    }

    /// Writes every held flow, oldest first.
    pub fn flush(
        &mut self,
        stats: &mut CoalesceStats,
        write: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[u8]),
    ) {
        while let Some(i) = self.oldest() {
            self.slots[i].write_out(stats, write);
        }
    }

    fn oldest(&self) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.len > 0)
            .min_by_key(|(_, s)| s.age)
            .map(|(i, _)| i)
    }
}

enum Append {
    Done,
    /// Not the next segment of this super-frame: write the slot, then hold
    /// the frame in its place.
    Refused,
    /// The frame's checksums are wrong: write the slot, then the frame.
    BadChecksum,
}

impl Slot {
    fn take(&mut self, frame: &[u8], seg: &Seg, age: u64) {
        self.buf[..frame.len()].copy_from_slice(frame);
        self.len = frame.len();
        self.v6 = seg.v6;
        self.l4 = seg.l4;
        self.hdr_len = seg.hdr_len;
        self.gso_size = seg.payload;
        self.segs = 1;
        self.next_seq = seg.seq.wrapping_add(seg.payload as u32);
        self.closed = seg.flags & TCP_PSH != 0;
        self.verified = false;
        self.age = age;
    }

    fn append(&mut self, frame: &[u8], seg: &Seg, stats: &mut CoalesceStats) -> Append {
        if self.closed
            || seg.hdr_len != self.hdr_len
            || seg.payload > self.gso_size
            || seg.seq != self.next_seq
            || self.len + seg.payload > self.buf.len()
            || !same_headers(&self.buf[..self.hdr_len], frame, self.v6, self.l4)
        {
            return Append::Refused;
        }
        if !self.verified {
            if !checksums_ok(&self.buf[..self.len], self.v6, self.l4) {
                stats.bad_checksum += 1;
                return Append::Refused;
            }
            self.verified = true;
        }
        if !checksums_ok(frame, seg.v6, seg.l4) {
            stats.bad_checksum += 1;
            return Append::BadChecksum;
        }
        self.buf[self.len..self.len + seg.payload].copy_from_slice(&frame[seg.hdr_len..]);
        self.len += seg.payload;
        self.segs += 1;
        self.next_seq = self.next_seq.wrapping_add(seg.payload as u32);
        if seg.flags & TCP_PSH != 0 {
            self.buf[self.l4 + 13] |= TCP_PSH;
            self.closed = true;
        }
        if seg.payload < self.gso_size {
            self.closed = true;
        }
        Append::Done
    }

    /// Writes what the slot holds (unchanged when it is one segment) and
    /// frees it.
    fn write_out(
        &mut self,
        stats: &mut CoalesceStats,
        write: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[u8]),
    ) {
        if self.len == 0 {
            return;
        }
        let len = self.len;
        self.len = 0;
        if self.segs == 1 {
            write(&VnetHdr::NONE, &self.buf[..len]);
            return;
        }
        let (l3, l4) = (ETH_LEN, self.l4);
        let b = &mut self.buf[..len];
        let (src, dst) = if self.v6 {
            put16(b, l3 + 4, (len - l4) as u16);
            (l3 + 8..l3 + 24, l3 + 24..l3 + 40)
        } else {
            put16(b, l3 + 2, (len - l3) as u16);
            put16(b, l3 + 10, 0);
            let c = checksum::finish(checksum::sum(&b[l3..l4], 0));
            put16(b, l3 + 10, c);
            (l3 + 12..l3 + 16, l3 + 16..l3 + 20)
        };
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum;
        // the kernel adds the rest from csum_start on.
        let pseudo = checksum::pseudo_header(&b[src], &b[dst], PROTO_TCP, (len - l4) as u32);
        put16(b, l4 + TCP_CSUM_OFFSET, checksum::fold(pseudo));
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if self.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
            hdr_len: self.hdr_len as u16,
            gso_size: self.gso_size as u16,
            csum_start: l4 as u16,
            csum_offset: TCP_CSUM_OFFSET as u16,
        };
        stats.super_frames += 1;
        stats.merged_segments += self.segs as u64;
        write(&hdr.to_bytes(), b);
    }
}

/// Where the frame's TCP header is, if it is TCP over untagged IPv4/IPv6.
fn classify(f: &[u8]) -> Class {
    if f.len() < ETH_LEN {
        return Class::Other;
    }
    let l3 = ETH_LEN;
    let (v6, l4, ip_end) = match be16(f, 12) {
        ETHERTYPE_IPV4 => {
            if f.len() < l3 + 20 || f[l3] >> 4 != 4 || f[l3 + 9] != PROTO_TCP {
                return Class::Other;
            }
            let total = usize::from(be16(f, l3 + 2));
            let fragment = be16(f, l3 + 6) & 0x3fff != 0;
            // Only IHL 5: IPv4 options are never merged (nor parsed).
            if f[l3] & 0x0f != 5 || fragment || total < 20 || l3 + total > f.len() {
                return Class::Odd;
            }
            (false, l3 + 20, l3 + total)
        }
        ETHERTYPE_IPV6 => {
            if f.len() < l3 + 40 || f[l3] >> 4 != 6 {
                return Class::Other;
            }
            let next = f[l3 + 6];
            if next != PROTO_TCP {
                return if IPV6_EXT.contains(&next) {
                    Class::Odd
                } else {
                    Class::Other
                };
            }
            let end = l3 + 40 + usize::from(be16(f, l3 + 4));
            if end > f.len() {
                return Class::Odd;
            }
            (true, l3 + 40, end)
        }
        _ => return Class::Other,
    };
    // Bytes past the IP packet are Ethernet padding.
    if ip_end < l4 + 20 {
        return Class::Odd;
    }
    let thl = usize::from(f[l4 + 12] >> 4) * 4;
    let hdr_len = l4 + thl;
    if thl < 20 || hdr_len > ip_end {
        return Class::Odd;
    }
    let payload = ip_end - hdr_len;
    let flags = f[l4 + 13];
    Class::Tcp(Seg {
        v6,
        l4,
        hdr_len,
        payload,
        seq: be32(f, l4 + 4),
        flags,
        candidate: ip_end == f.len()
            && f.len() <= MAX_SUPER
            && payload > 0
            && flags & !TCP_PSH == TCP_ACK,
    })
}

/// Same direction of the same connection (addresses and ports).
fn same_flow(s: &Slot, f: &[u8], seg: &Seg) -> bool {
    if s.v6 != seg.v6 || s.l4 != seg.l4 {
        return false;
    }
    let addrs = if s.v6 { 22..54 } else { 26..34 };
    s.buf[addrs.clone()] == f[addrs] && s.buf[s.l4..s.l4 + 4] == f[s.l4..s.l4 + 4]
}

/// Everything but lengths, IPv4 id, checksums, TCP sequence number and PSH
/// is equal. `h`: the held headers; `f` is at least as long.
fn same_headers(h: &[u8], f: &[u8], v6: bool, l4: usize) -> bool {
    let l3 = ETH_LEN;
    let ip_same = if v6 {
        h[..l3 + 4] == f[..l3 + 4] && h[l3 + 6..l4] == f[l3 + 6..l4]
    } else {
        h[..l3 + 2] == f[..l3 + 2]
            && h[l3 + 6..l3 + 10] == f[l3 + 6..l3 + 10]
            && h[l3 + 12..l4] == f[l3 + 12..l4]
    };
    ip_same
        && h[l4..l4 + 4] == f[l4..l4 + 4]
        && h[l4 + 8..l4 + 13] == f[l4 + 8..l4 + 13]
        && h[l4 + 13] & !TCP_PSH == f[l4 + 13] & !TCP_PSH
        && h[l4 + 14..l4 + 16] == f[l4 + 14..l4 + 16]
        && h[l4 + 18..] == f[l4 + 18..h.len()]
}

/// The IPv4 header checksum (v4) and the TCP checksum are right.
fn checksums_ok(f: &[u8], v6: bool, l4: usize) -> bool {
    let l3 = ETH_LEN;
    let (src, dst) = if v6 {
        (&f[l3 + 8..l3 + 24], &f[l3 + 24..l3 + 40])
    } else {
        if checksum::fold(checksum::sum(&f[l3..l4], 0)) != 0xffff {
            return false;
        }
        (&f[l3 + 12..l3 + 16], &f[l3 + 16..l3 + 20])
    };
    let pseudo = checksum::pseudo_header(src, dst, PROTO_TCP, (f.len() - l4) as u32);
    checksum::fold(checksum::sum(&f[l4..], pseudo)) == 0xffff
}
