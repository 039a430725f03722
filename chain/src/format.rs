//! The embedded log's bytes: file header and record framing. Pure functions
//! over byte slices, so every rule here is tested without a file system.
//!
//! ```text
//! header (24 bytes): "ATECHAIN" | format version u32 BE (1) | epoch u64 BE | CRC32 of the 20 bytes before, u32 BE
//! record:            body length u32 BE (1..=65536) | CRC32 of body u32 BE | body (JSON of one event)
//! ```
//!
//! Records follow the header back to back. A scan stops at the first record
//! that is not intact (short, over the size cap, empty, or failing its CRC)
//! and classifies it:
//! - a **torn tail**: what a writer that died mid-append leaves (at most one
//!   record's worth of bytes, with no intact record after it). Readers stop
//!   before it; the next writer truncates it.
//! - **corruption**: anything else (more bytes after it than one record could
//!   hold, or an intact record after it). Truncating would drop valid events,
//!   so it is reported, never repaired silently.

/// First bytes of every chain log.
pub const MAGIC: [u8; 8] = *b"ATECHAIN";
/// Format version in the header; a reader refuses any other.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the first record.
pub const HEADER_LEN: u64 = 24;
/// Framing bytes before each record body.
pub const RECORD_OVERHEAD: usize = 8;
/// Largest record body. Caps what a corrupt length field can make a reader
/// allocate or wait for.
pub const MAX_RECORD_LEN: usize = 64 * 1024;

/// The header of a log of generation `epoch`.
pub fn encode_header(epoch: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h[12..20].copy_from_slice(&epoch.to_be_bytes());
    let crc = crc32fast::hash(&h[..20]);
    h[20..24].copy_from_slice(&crc.to_be_bytes());
    h
}

/// The epoch of a header, or why these bytes are not one.
pub fn decode_header(bytes: &[u8]) -> Result<u64, &'static str> {
    let Some(h) = bytes.get(..HEADER_LEN as usize) else {
        return Err("shorter than its header");
    };
    if h[..8] != MAGIC {
        return Err("wrong magic");
    }
    if crc32fast::hash(&h[..20]).to_be_bytes() != h[20..24] {
        return Err("header checksum mismatch");
    }
    if be_u32(&h[8..12]) != FORMAT_VERSION {
        return Err("unsupported format version");
    }
    Ok(u64::from_be_bytes(h[12..20].try_into().unwrap_or_default()))
}

/// Appends the framed record for `body` to `out`. `body` must be
/// 1..=[`MAX_RECORD_LEN`] bytes (the caller checks).
pub fn encode_record(body: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!body.is_empty() && body.len() <= MAX_RECORD_LEN);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
    out.extend_from_slice(body);
}

/// One intact record found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// File offset of the record's first framing byte.
    pub offset: u64,
    /// The record's bytes, framing included (what compaction copies).
    pub framed: &'a [u8],
    /// The body (JSON).
    pub body: &'a [u8],
}

/// Why a [`scan`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// At the end of the bytes, after an intact record (or none).
    End,
    /// At a torn tail starting at `offset`: safe to truncate there.
    Torn { offset: u64, reason: &'static str },
    /// At damage starting at `offset` that is not a torn tail.
    Corrupt { offset: u64, reason: &'static str },
}

/// The intact records at the start of some bytes, and why the scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan<'a> {
    pub records: Vec<Record<'a>>,
    /// File offset just past the last intact record.
    pub end: u64,
    pub stop: Stop,
}

/// Scans `buf`, whose first byte is at file offset `base` (a record boundary).
pub fn scan(buf: &[u8], base: u64) -> Scan<'_> {
    let mut records = Vec::new();
    let mut pos = 0usize;
    let stop = loop {
        if pos == buf.len() {
            break Stop::End;
        }
        match check_record(&buf[pos..]) {
            Ok(framed_len) => {
                let framed = &buf[pos..pos + framed_len];
                records.push(Record {
                    offset: base + pos as u64,
                    framed,
                    body: &framed[RECORD_OVERHEAD..],
                });
                pos += framed_len;
            }
            Err(reason) => {
                let offset = base + pos as u64;
                let rest = &buf[pos..];
                break if rest.len() > RECORD_OVERHEAD + MAX_RECORD_LEN {
                    Stop::Corrupt {
                        offset,
                        reason: "damaged record followed by more than one record's worth of bytes",
                    }
                } else if intact_record_after(rest) {
                    Stop::Corrupt {
                        offset,
                        reason: "damaged record followed by an intact record",
                    }
                } else {
                    Stop::Torn { offset, reason }
                };
            }
        }
    };
    Scan {
        records,
        end: base + pos as u64,
        stop,
    }
}

/// The framed length of the intact record at the start of `buf`, or why
/// there is none.
fn check_record(buf: &[u8]) -> Result<usize, &'static str> {
    if buf.len() < RECORD_OVERHEAD {
        return Err("short record header");
    }
    let len = be_u32(&buf[..4]) as usize;
    if len == 0 {
        return Err("empty record");
    }
    if len > MAX_RECORD_LEN {
        return Err("record length over the limit");
    }
    let Some(body) = buf.get(RECORD_OVERHEAD..RECORD_OVERHEAD + len) else {
        return Err("short record body");
    };
    if crc32fast::hash(body) != be_u32(&buf[4..8]) {
        return Err("record checksum mismatch");
    }
    Ok(RECORD_OVERHEAD + len)
}

/// Whether an intact record starts anywhere after the first byte of `rest`.
/// A torn tail (a prefix of one record) never contains one: bodies are JSON,
/// which has no raw NUL bytes, so a record's length field cannot hide inside
/// another record's body. Only bodies starting with `{` are considered: that
/// is what writers write, and it spares most CRC computations.
fn intact_record_after(rest: &[u8]) -> bool {
    (1..rest.len()).any(|i| {
        let tail = &rest[i..];
        tail.get(RECORD_OVERHEAD) == Some(&b'{') && check_record(tail).is_ok()
    })
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_record(body, &mut v);
        v
    }

    #[test]
    fn header_round_trip_and_damage() {
        let h = encode_header(0x0102_0304_0506_0708);
        assert_eq!(decode_header(&h), Ok(0x0102_0304_0506_0708));
        assert_eq!(decode_header(&h[..10]), Err("shorter than its header"));
        for i in 0..h.len() {
            let mut bad = h;
            bad[i] ^= 0x40;
            assert!(decode_header(&bad).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn scans_intact_records() {
        let mut buf = framed(b"{\"a\":1}");
        buf.extend(framed(b"{\"b\":2}"));
        let s = scan(&buf, 24);
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.records[1].offset, 24 + 15);
        assert_eq!(s.records[1].body, b"{\"b\":2}");
        assert_eq!(s.end, 24 + buf.len() as u64);
        assert_eq!(s.stop, Stop::End);
    }

    #[test]
    fn every_prefix_of_a_record_is_a_torn_tail() {
        let first = framed(b"{\"a\":1}");
        let second = framed(br#"{"type":"node_left","node_id":"00000000000000aa"}"#);
        for cut in 1..second.len() {
            let mut buf = first.clone();
            buf.extend_from_slice(&second[..cut]);
            let s = scan(&buf, 0);
            assert_eq!(s.records.len(), 1, "cut {cut}");
            assert_eq!(s.end, first.len() as u64);
            assert!(
                matches!(s.stop, Stop::Torn { offset, .. } if offset == first.len() as u64),
                "cut {cut}: {:?}",
                s.stop
            );
        }
    }

    #[test]
    fn bad_checksum_or_zeros_at_the_end_are_torn() {
        let mut rec = framed(b"{\"a\":1}");
        let n = rec.len();
        rec[n - 1] ^= 1;
        assert!(matches!(
            scan(&rec, 0).stop,
            Stop::Torn {
                offset: 0,
                reason: "record checksum mismatch"
            }
        ));
        assert!(matches!(
            scan(&[0u8; 100], 0).stop,
            Stop::Torn {
                offset: 0,
                reason: "empty record"
            }
        ));
        assert!(matches!(
            scan(&[0xffu8; 100], 0).stop,
            Stop::Torn { offset: 0, .. }
        ));
    }

    #[test]
    fn damage_before_intact_records_is_corruption() {
        let mut buf = framed(b"{\"a\":1}");
        buf[9] ^= 1; // body of the first record
        buf.extend(framed(b"{\"b\":2}"));
        let s = scan(&buf, 0);
        assert!(s.records.is_empty());
        assert!(
            matches!(s.stop, Stop::Corrupt { offset: 0, .. }),
            "{:?}",
            s.stop
        );

        let mut big = vec![0xffu8; RECORD_OVERHEAD + MAX_RECORD_LEN + 1];
        big[0] = 0;
        assert!(matches!(
            scan(&big, 0).stop,
            Stop::Corrupt { offset: 0, .. }
        ));
    }
}
