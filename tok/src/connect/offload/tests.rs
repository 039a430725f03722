//! Offload tests. Frames are built, and checksums checked, with etherparse:
//! an implementation independent of ours.

use etherparse::{
    IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, Ipv6Extensions, Ipv6Header, NetSlice,
    PacketBuilder, SlicedPacket, TransportSlice,
};
use proptest::prelude::*;

use super::checksum;
use super::coalesce::{CoalesceStats, Coalescer, SLOTS};
use super::segment::{prepare, segment_read, DropReason, Read, SegmentStats};
use super::*;

const MAX_FRAME: usize = 1518;
const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const SRC4: [u8; 4] = [10, 99, 0, 11];
const DST4: [u8; 4] = [10, 99, 0, 12];
const SRC6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11];
const DST6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];
/// NOP NOP timestamps, as Linux sends on every data segment.
const TS_OPTS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];

#[derive(Debug, Clone)]
struct Spec {
    v6: bool,
    sport: u16,
    seq: u32,
    id: u16,
    psh: bool,
    fin: bool,
    cwr: bool,
    syn: bool,
    opts: Vec<u8>,
}

impl Spec {
    fn v4() -> Spec {
        Spec {
            v6: false,
            sport: 40000,
            seq: 1000,
            id: 7,
            psh: false,
            fin: false,
            cwr: false,
            syn: false,
            opts: TS_OPTS.to_vec(),
        }
    }

    fn hdr_len(&self) -> usize {
        ETH_LEN + if self.v6 { 40 } else { 20 } + 20 + self.opts.len()
    }
}

/// A complete, correct Ethernet/IP/TCP frame.
fn build(s: &Spec, payload: &[u8]) -> Vec<u8> {
    let ip = if s.v6 {
        IpHeaders::Ipv6(
            Ipv6Header {
                hop_limit: 64,
                source: SRC6,
                destination: DST6,
                ..Default::default()
            },
            Ipv6Extensions::default(),
        )
    } else {
        let mut h = Ipv4Header::new(0, 64, IpNumber::TCP, SRC4, DST4).unwrap();
        h.identification = s.id;
        h.dont_fragment = true;
        IpHeaders::Ipv4(h, Ipv4Extensions::default())
    };
    let mut b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ip(ip)
        .tcp(s.sport, 5201, s.seq, 64_000)
        .ack(0x1234_5678);
    if s.psh {
        b = b.psh();
    }
    if s.fin {
        b = b.fin();
    }
    if s.cwr {
        b = b.cwr();
    }
    if s.syn {
        b = b.syn();
    }
    if !s.opts.is_empty() {
        b = b.options_raw(&s.opts).unwrap();
    }
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

/// A tap read of a TCP super-frame, as the kernel hands it with TSO on.
fn gso_read(s: &Spec, payload: &[u8], gso_size: u16) -> Vec<u8> {
    let frame = build(s, payload);
    let l4 = s.hdr_len() - 20 - s.opts.len();
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if s.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: s.hdr_len() as u16,
        gso_size,
        csum_start: l4 as u16,
        csum_offset: 16,
    };
    let mut read = hdr.to_bytes().to_vec();
    read.extend_from_slice(&frame);
    read
}

#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    seq: u32,
    fin: bool,
    psh: bool,
    cwr: bool,
    id: Option<u16>,
    payload: Vec<u8>,
}

/// Parses a frame with etherparse, asserting the IPv4 header checksum, the
/// IP length and the TCP checksum are right.
fn parse_valid(f: &[u8]) -> Parsed {
    let p = SlicedPacket::from_ethernet(f).expect("parses");
    let Some(TransportSlice::Tcp(tcp)) = p.transport else {
        panic!("not TCP");
    };
    let id = match p.net.expect("ip") {
        NetSlice::Ipv4(ip) => {
            let h = ip.header().to_header();
            assert_eq!(
                h.header_checksum,
                h.calc_header_checksum(),
                "IPv4 header checksum"
            );
            let l3 = if f[12..14] == [0x81, 0] { 18 } else { ETH_LEN };
            assert_eq!(usize::from(h.total_len), f.len() - l3);
            assert_eq!(
                tcp.checksum(),
                tcp.calc_checksum_ipv4(h.source, h.destination).unwrap(),
                "TCP checksum"
            );
            Some(h.identification)
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header();
            assert_eq!(usize::from(h.payload_length()), tcp.slice().len());
            assert_eq!(
                tcp.checksum(),
                tcp.calc_checksum_ipv6(h.source(), h.destination()).unwrap(),
                "TCP checksum"
            );
            None
        }
    };
    Parsed {
        seq: tcp.sequence_number(),
        fin: tcp.fin(),
        psh: tcp.psh(),
        cwr: tcp.cwr(),
        id,
        payload: tcp.payload().to_vec(),
    }
}

fn segment_all(read: &mut [u8], stats: &mut SegmentStats) -> Vec<Vec<u8>> {
    let mut out = vec![0; MAX_FRAME];
    let mut frames = Vec::new();
    segment_read(read, &mut out, MAX_FRAME, stats, |f| {
        frames.push(f.to_vec());
    });
    frames
}

/// Pushes every frame, flushes: what the tap would be written.
fn coalesce_all(
    frames: &[Vec<u8>],
    c: &mut Coalescer,
    stats: &mut CoalesceStats,
) -> Vec<(VnetHdr, Vec<u8>)> {
    let mut written = Vec::new();
    let mut write = |h: &[u8; VNET_HDR_LEN], f: &[u8]| {
        written.push((VnetHdr::parse(h).unwrap(), f.to_vec()));
    };
    for f in frames {
        c.push(f, stats, &mut write);
    }
    c.flush(stats, &mut write);
    assert_eq!(c.held(), 0);
    written
}

/// What the kernel sees in a tap write, as frames on a wire: a super-frame
/// is cut again (by our segmenter, checked against etherparse below).
fn rewire(written: &[(VnetHdr, Vec<u8>)]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for (h, f) in written {
        if h.gso_type == GSO_NONE {
            assert_eq!(*h, VnetHdr::default());
            frames.push(f.clone());
        } else {
            let mut read = h.to_bytes().to_vec();
            read.extend_from_slice(f);
            let mut stats = SegmentStats::default();
            let segs = segment_all(&mut read, &mut stats);
            assert_eq!(stats.drops.total(), 0);
            frames.extend(segs);
        }
    }
    frames
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn vnet_header_round_trips() {
    let h = VnetHdr {
        flags: 1,
        gso_type: 0x84,
        hdr_len: 0x1234,
        gso_size: 1328,
        csum_start: 54,
        csum_offset: 16,
    };
    let b = h.to_bytes();
    assert_eq!(b, [1, 0x84, 0x34, 0x12, 0x30, 0x05, 54, 0, 16, 0]);
    assert_eq!(VnetHdr::parse(&b), Some(h));
    assert_eq!(VnetHdr::parse(&b[..9]), None);
}

/// The kernel leaves the pseudo-header sum in the field; we finish it.
#[test]
fn needs_csum_is_completed() {
    for v6 in [false, true] {
        let s = Spec {
            v6,
            psh: true,
            ..Spec::v4()
        };
        let good = build(&s, &payload(333, 1));
        let l4 = s.hdr_len() - 32;
        let mut partial = good.clone();
        let (src, dst): (&[u8], &[u8]) = if v6 { (&SRC6, &DST6) } else { (&SRC4, &DST4) };
        let pseudo = checksum::pseudo_header(src, dst, 6, (good.len() - l4) as u32);
        put16(&mut partial, l4 + 16, checksum::fold(pseudo));
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: l4 as u16,
            csum_offset: 16,
            ..VnetHdr::default()
        };
        let mut read = hdr.to_bytes().to_vec();
        read.extend_from_slice(&partial);
        let mut stats = SegmentStats::default();
        let frames = segment_all(&mut read, &mut stats);
        assert_eq!(frames, vec![good], "v6={v6}");
        assert_eq!(stats.csum_completed, 1);
    }
}

#[test]
fn udp_needs_csum_is_completed() {
    let mut good = Vec::new();
    PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv4(SRC4, DST4, 64)
        .udp(5353, 53)
        .write(&mut good, &payload(101, 9))
        .unwrap();
    let mut partial = good.clone();
    let pseudo = checksum::pseudo_header(&SRC4, &DST4, 17, 8 + 101);
    put16(&mut partial, 34 + 6, checksum::fold(pseudo));
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 6,
        ..VnetHdr::default()
    };
    let mut read = hdr.to_bytes().to_vec();
    read.extend_from_slice(&partial);
    let frames = segment_all(&mut read, &mut SegmentStats::default());
    assert_eq!(frames, vec![good]);
}

#[test]
fn plain_frame_passes_untouched() {
    let f = build(&Spec::v4(), &payload(10, 0));
    let mut read = VnetHdr::NONE.to_vec();
    read.extend_from_slice(&f);
    let mut stats = SegmentStats::default();
    assert_eq!(
        prepare(&mut read, MAX_FRAME, &mut stats),
        Read::Frame(10..10 + f.len())
    );
    assert_eq!(stats, SegmentStats::default());
}

fn check_segments(s: &Spec, data: &[u8], gso: usize, frames: &[Vec<u8>]) {
    assert_eq!(frames.len(), data.len().div_ceil(gso));
    let mut joined = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        assert!(f.len() <= s.hdr_len() + gso);
        let p = parse_valid(f);
        let last = i + 1 == frames.len();
        assert_eq!(p.seq, s.seq.wrapping_add((i * gso) as u32));
        assert_eq!(p.fin, s.fin && last, "FIN on the last segment only");
        assert_eq!(p.psh, s.psh && last, "PSH on the last segment only");
        assert_eq!(p.cwr, s.cwr && i == 0, "CWR on the first segment only");
        if !s.v6 {
            assert_eq!(p.id, Some(s.id.wrapping_add(i as u16)));
        }
        assert_eq!(
            p.payload.len(),
            if last { data.len() - i * gso } else { gso }
        );
        assert_eq!(f[..ETH_LEN], build(s, &[])[..ETH_LEN]);
        joined.extend_from_slice(&p.payload);
    }
    assert_eq!(joined, data);
}

#[test]
fn tso_v4_and_v6() {
    for v6 in [false, true] {
        let s = Spec {
            v6,
            psh: true,
            fin: true,
            cwr: true,
            seq: u32::MAX - 5000,
            id: u16::MAX - 3,
            ..Spec::v4()
        };
        let data = payload(60_000, 3);
        let mut read = gso_read(&s, &data, 1328);
        let mut stats = SegmentStats::default();
        let frames = segment_all(&mut read, &mut stats);
        check_segments(&s, &data, 1328, &frames);
        assert_eq!(stats.gso_frames, 1);
        assert_eq!(stats.segments, frames.len() as u64);
    }
}

#[test]
fn tso_with_ecn_bit_and_no_options() {
    let s = Spec {
        opts: Vec::new(),
        cwr: true,
        ..Spec::v4()
    };
    let data = payload(5000, 4);
    let mut read = gso_read(&s, &data, 1460);
    read[1] |= GSO_ECN;
    let frames = segment_all(&mut read, &mut SegmentStats::default());
    check_segments(&s, &data, 1460, &frames);
}

#[test]
fn tso_vlan_tagged() {
    let s = Spec::v4();
    let data = payload(4000, 5);
    let plain = gso_read(&s, &data, 1000);
    // Insert an 802.1Q tag (VLAN 42) after the MAC addresses.
    let mut read = plain[..VNET_HDR_LEN + 12].to_vec();
    read.extend_from_slice(&[0x81, 0x00, 0x00, 42]);
    read.extend_from_slice(&plain[VNET_HDR_LEN + 12..]);
    let frames = segment_all(&mut read, &mut SegmentStats::default());
    assert_eq!(frames.len(), 4);
    let mut joined = Vec::new();
    for f in &frames {
        assert_eq!(f[12..16], [0x81, 0x00, 0x00, 42]);
        joined.extend(parse_valid(f).payload);
    }
    assert_eq!(joined, data);
}

#[test]
fn malformed_reads_are_dropped_and_counted() {
    let s = Spec::v4();
    let good = gso_read(&s, &payload(3000, 6), 1328);
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        ("short", vec![0; 5], DropReason::Short),
        (
            "csum offsets",
            {
                let mut r = VnetHdr {
                    flags: F_NEEDS_CSUM,
                    csum_start: 50,
                    csum_offset: 16,
                    ..VnetHdr::default()
                }
                .to_bytes()
                .to_vec();
                r.extend_from_slice(&[0; 60]);
                r
            },
            DropReason::CsumOffsets,
        ),
        (
            "udp gso",
            {
                let mut r = good.clone();
                r[1] = 5;
                r
            },
            DropReason::GsoType,
        ),
        (
            "v4 frame as tcpv6",
            {
                let mut r = good.clone();
                r[1] = GSO_TCPV6;
                r
            },
            DropReason::GsoEthernet,
        ),
        (
            "fragment",
            {
                let mut r = good.clone();
                r[VNET_HDR_LEN + 14 + 6] |= 0x20;
                r
            },
            DropReason::GsoIp,
        ),
        (
            "not tcp",
            {
                let mut r = good.clone();
                r[VNET_HDR_LEN + 14 + 9] = 17;
                r
            },
            DropReason::GsoIp,
        ),
        (
            "total length",
            {
                let mut r = good.clone();
                r.truncate(r.len() - 1);
                r
            },
            DropReason::GsoLength,
        ),
        (
            "tcp header length",
            {
                let mut r = good.clone();
                r[VNET_HDR_LEN + 34 + 12] = 0x40;
                r
            },
            DropReason::GsoTcp,
        ),
        (
            "gso size 0",
            {
                let mut r = good.clone();
                r[4] = 0;
                r[5] = 0;
                r
            },
            DropReason::GsoTcp,
        ),
        (
            "too big",
            {
                let mut r = good.clone();
                r[4..6].copy_from_slice(&9000u16.to_le_bytes());
                r
            },
            DropReason::GsoTooBig,
        ),
    ];
    for (name, mut read, reason) in cases {
        let mut stats = SegmentStats::default();
        assert_eq!(
            prepare(&mut read, MAX_FRAME, &mut stats),
            Read::Dropped(reason),
            "{name}"
        );
        assert_eq!(stats.drops.total(), 1, "{name}");
    }
}

/// Segments of one flow, as the sender's tok cuts them.
fn segments(s: &Spec, data: &[u8], gso: u16) -> Vec<Vec<u8>> {
    let mut read = gso_read(s, data, gso);
    segment_all(&mut read, &mut SegmentStats::default())
}

#[test]
fn coalesces_one_flow_into_one_super_frame() {
    for v6 in [false, true] {
        let s = Spec {
            v6,
            psh: true,
            ..Spec::v4()
        };
        let data = payload(20_000, 7);
        let segs = segments(&s, &data, 1328);
        let mut c = Coalescer::new(true);
        let mut stats = CoalesceStats::default();
        let written = coalesce_all(&segs, &mut c, &mut stats);
        assert_eq!(written.len(), 1);
        let (hdr, frame) = &written[0];
        let l4 = s.hdr_len() - 32;
        assert_eq!(
            *hdr,
            VnetHdr {
                flags: F_NEEDS_CSUM,
                gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
                hdr_len: s.hdr_len() as u16,
                gso_size: 1328,
                csum_start: l4 as u16,
                csum_offset: 16,
            }
        );
        assert_eq!(frame.len(), s.hdr_len() + data.len());
        assert_eq!(frame[s.hdr_len()..], data[..]);
        // The field holds the pseudo-header sum: completing it from
        // csum_start (what the kernel does) gives a valid TCP checksum.
        let mut done = frame.clone();
        let sum = checksum::finish(checksum::sum(&done[l4..], 0));
        put16(&mut done, l4 + 16, sum);
        let p = parse_valid(&done);
        assert!(p.psh);
        assert_eq!(p.payload, data);
        assert_eq!(stats.super_frames, 1);
        assert_eq!(stats.merged_segments, segs.len() as u64);
        // And cut again, it is what was sent.
        assert_eq!(rewire(&written), segs);
    }
}

#[test]
fn coalescing_keeps_flow_order_and_leaves_other_frames_alone() {
    let a = Spec::v4();
    let b = Spec {
        sport: 40001,
        ..Spec::v4()
    };
    let sa = segments(&a, &payload(4 * 1000, 1), 1000);
    let sb = segments(&b, &payload(2 * 1000, 2), 1000);
    let arp = {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&SRC_MAC);
        f.extend_from_slice(&[0x08, 0x06]);
        f.extend_from_slice(&[0; 28]);
        f
    };
    let mut bad = sa[2].clone();
    let n = bad.len();
    bad[n - 1] ^= 1; // payload corrupted: TCP checksum wrong
    let fin = build(
        &Spec {
            seq: a.seq + 4000,
            fin: true,
            ..a.clone()
        },
        &[],
    );

    let input = vec![
        sa[0].clone(),
        sb[0].clone(),
        sa[1].clone(),
        arp.clone(),
        sb[1].clone(),
        bad.clone(),
        sa[3].clone(),
        fin.clone(),
    ];
    let mut c = Coalescer::new(true);
    let mut stats = CoalesceStats::default();
    let written = coalesce_all(&input, &mut c, &mut stats);
    let frames: Vec<&Vec<u8>> = written.iter().map(|(_, f)| f).collect();
    // ARP overtakes the held flows; A's first two leave when the corrupted
    // segment comes, which follows them unmerged; A's 4th then waits for
    // the FIN; B leaves at the flush.
    assert_eq!(frames[0], &arp);
    assert_eq!(written[1].0.gso_type, GSO_TCPV4);
    assert_eq!(rewire(&written[1..2]), sa[..2].to_vec());
    assert_eq!(frames[2], &bad);
    assert_eq!(written[2].0, VnetHdr::default());
    assert_eq!(frames[3], &sa[3]);
    assert_eq!(frames[4], &fin);
    assert_eq!(rewire(&written[5..]), sb);
    assert_eq!(written.len(), 6);
    assert_eq!(stats.bad_checksum, 1);
    assert_eq!(stats.super_frames, 2);
}

#[test]
fn no_merge_out_of_order_or_mismatched() {
    let s = Spec::v4();
    let segs = segments(&s, &payload(3000, 3), 1000);
    let mut c = Coalescer::new(true);
    // Out of order: 2, 1, 3 -> 2 alone, then 1, which 3 does not follow...
    // 1 then 3 is not contiguous either.
    let input = vec![segs[1].clone(), segs[0].clone(), segs[2].clone()];
    let written = coalesce_all(&input, &mut c, &mut CoalesceStats::default());
    assert_eq!(
        written.iter().map(|w| w.1.clone()).collect::<Vec<_>>(),
        input
    );
    assert!(written.iter().all(|w| w.0 == VnetHdr::default()));

    // A larger segment after a smaller one, a different TTL, a SYN: never merged.
    let small = segments(&s, &payload(500, 0), 1000);
    let big_next = build(
        &Spec {
            seq: s.seq + 500,
            ..s.clone()
        },
        &payload(1000, 1),
    );
    let mut ttl = segs[1].clone();
    ttl[22] = 1;
    let syn = build(
        &Spec {
            syn: true,
            seq: s.seq + 1000,
            ..s.clone()
        },
        &payload(10, 0),
    );
    for pair in [
        vec![small[0].clone(), big_next],
        vec![segs[0].clone(), ttl],
        vec![segs[0].clone(), syn],
    ] {
        let written = coalesce_all(&pair, &mut c, &mut CoalesceStats::default());
        assert_eq!(
            written.iter().map(|w| w.1.clone()).collect::<Vec<_>>(),
            pair
        );
    }
}

#[test]
fn more_flows_than_slots() {
    let mut input = Vec::new();
    let mut want = Vec::new();
    for k in 0..SLOTS + 3 {
        let s = Spec {
            sport: 30000 + k as u16,
            ..Spec::v4()
        };
        let segs = segments(&s, &payload(2000, k as u8), 1000);
        want.push(segs.clone());
        input.extend(segs);
    }
    let mut c = Coalescer::new(true);
    let mut stats = CoalesceStats::default();
    let written = coalesce_all(&input, &mut c, &mut stats);
    assert_eq!(rewire(&written), input);
    assert_eq!(stats.super_frames, (SLOTS + 3) as u64);
}

#[test]
fn disabled_coalescer_passes_through() {
    let segs = segments(&Spec::v4(), &payload(5000, 0), 1000);
    let mut c = Coalescer::new(false);
    let written = coalesce_all(&segs, &mut c, &mut CoalesceStats::default());
    assert!(written.iter().all(|w| w.0 == VnetHdr::default()));
    assert_eq!(written.into_iter().map(|w| w.1).collect::<Vec<_>>(), segs);
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        any::<u32>(),
        any::<u16>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0..3usize,
    )
        .prop_map(|(v6, seq, id, psh, fin, cwr, opts)| Spec {
            v6,
            seq,
            id,
            psh,
            fin,
            cwr,
            opts: match opts {
                0 => Vec::new(),
                1 => TS_OPTS.to_vec(),
                _ => [TS_OPTS.as_slice(), &[1, 1, 1, 0]].concat(),
            },
            ..Spec::v4()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Segment a super-frame, coalesce the segments, cut the result again:
    /// the same frames, every one valid, the payload intact.
    #[test]
    fn segment_coalesce_round_trip(
        s in spec_strategy(),
        len in 1usize..40_000,
        gso in 200u16..1400,
        seed in any::<u8>(),
    ) {
        let data = payload(len, seed);
        let mut read = gso_read(&s, &data, gso);
        let mut stats = SegmentStats::default();
        let segs = segment_all(&mut read, &mut stats);
        check_segments(&s, &data, usize::from(gso), &segs);
        let mut c = Coalescer::new(true);
        let written = coalesce_all(&segs, &mut c, &mut CoalesceStats::default());
        let again = rewire(&written);
        prop_assert_eq!(&again, &segs);
        let joined: Vec<u8> = again.iter().flat_map(|f| parse_valid(f).payload).collect();
        prop_assert_eq!(joined, data);
    }

    /// Anything at all read from the tap: no panic, segments fit.
    #[test]
    fn arbitrary_reads_never_panic(
        flags in any::<u8>(),
        gso_type in prop_oneof![Just(0u8), Just(1), Just(4), Just(0x81), Just(0x84), any::<u8>()],
        hdr_len in any::<u16>(),
        gso_size in prop_oneof![0u16..2000, any::<u16>()],
        csum_start in prop_oneof![0u16..200, any::<u16>()],
        csum_offset in prop_oneof![0u16..40, any::<u16>()],
        body in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        let hdr = VnetHdr { flags, gso_type, hdr_len, gso_size, csum_start, csum_offset };
        let mut read = hdr.to_bytes().to_vec();
        read.extend_from_slice(&body);
        let mut out = vec![0; MAX_FRAME];
        segment_read(&mut read, &mut out, MAX_FRAME, &mut SegmentStats::default(), |f| assert!(f.len() <= MAX_FRAME.max(body.len())));
        let mut c = Coalescer::new(true);
        let mut write = |_: &[u8; VNET_HDR_LEN], _: &[u8]| {};
        c.push(&body, &mut CoalesceStats::default(), &mut write);
        c.flush(&mut CoalesceStats::default(), &mut write);
    }

    /// Valid super-frames and segments with a few bytes changed: no panic;
    /// the coalescer writes every frame it is given exactly once (merged
    /// or not), and what it merges is valid.
    #[test]
    fn mutated_frames_never_panic(
        s in spec_strategy(),
        len in 1usize..6000,
        gso in 100u16..1400,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        hdr_edits in proptest::collection::vec((0usize..VNET_HDR_LEN, any::<u8>()), 0..2),
    ) {
        let mut read = gso_read(&s, &payload(len, 0), gso);
        let n = read.len();
        for (at, v) in &edits {
            read[VNET_HDR_LEN + at % (n - VNET_HDR_LEN)] = *v;
        }
        for (at, v) in &hdr_edits {
            read[*at] = *v;
        }
        let mut read2 = read.clone();
        let mut stats = SegmentStats::default();
        let segs = segment_all(&mut read, &mut stats);
        // Mutate the segments too, and feed the coalescer both kinds.
        let clean = segment_all(&mut gso_read(&s, &payload(len, 0), gso), &mut SegmentStats::default());
        let mut input: Vec<Vec<u8>> = Vec::new();
        for (i, f) in clean.iter().enumerate() {
            let mut f = f.clone();
            if let Some((at, v)) = edits.get(i % 4) {
                let k = at % f.len();
                f[k] = *v;
            }
            input.push(f);
        }
        input.extend(segs);
        let mut c = Coalescer::new(true);
        let mut stats = CoalesceStats::default();
        let written = coalesce_all(&input, &mut c, &mut stats);
        let mut merged_in = 0;
        for (h, f) in &written {
            if h.gso_type == GSO_NONE {
                merged_in += 1;
                prop_assert!(input.contains(f));
            } else {
                let mut done = f.clone();
                let l4 = usize::from(h.csum_start);
                let c = checksum::finish(checksum::sum(&done[l4..], 0));
                put16(&mut done, l4 + 16, c);
                parse_valid(&done);
                let payload = f.len() - usize::from(h.hdr_len);
                merged_in += payload.div_ceil(usize::from(h.gso_size));
            }
        }
        prop_assert_eq!(merged_in, input.len());
        let _ = prepare(&mut read2, MAX_FRAME, &mut SegmentStats::default());
    }
}

/// An IPv6 frame longer than a slot (payload length 65535) is written as it
/// came, not held.
#[test]
fn frames_larger_than_a_slot_pass_through() {
    let s = Spec {
        v6: true,
        ..Spec::v4()
    };
    let big = build(&s, &payload(65_535 - 32, 1));
    assert!(big.len() > super::coalesce::MAX_SUPER);
    let next = build(
        &Spec {
            seq: s.seq.wrapping_add(65_535 - 32),
            ..s.clone()
        },
        &payload(100, 2),
    );
    let input = vec![big, next];
    let mut c = Coalescer::new(true);
    let written = coalesce_all(&input, &mut c, &mut CoalesceStats::default());
    assert_eq!(written.into_iter().map(|w| w.1).collect::<Vec<_>>(), input);
}
