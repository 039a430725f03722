//! The few bytes of a DNS message (RFC 1035 4.1) a forwarder reads: the
//! 12-byte header and the extent of the question section.
//!
//! Hand-written rather than smoltcp's `wire::dns` or `hickory-proto`: the
//! forwarder never interprets names or records, it needs the question
//! section as a *byte range* (to echo it in SERVFAIL and to compare it with
//! the answer's, RFC 5452 9.1), and a full parser would decode (and
//! allocate for) everything an attacker sends. Every read here is bounds
//! checked; nothing panics on any input.

/// Length of the fixed header (RFC 1035 4.1.1).
pub const HEADER_LEN: usize = 12;
/// The largest DNS message: the TCP length prefix is 16 bits (RFC 1035 4.2.2).
pub const MAX_MESSAGE_LEN: usize = 65_535;
/// Longest encoded name, length octets included (RFC 1035 2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// OPCODE of a standard query.
pub const OPCODE_QUERY: u8 = 0;
/// RCODE "server failure".
pub const RCODE_SERVFAIL: u8 = 2;
/// RCODE "not implemented".
pub const RCODE_NOTIMP: u8 = 4;

const FLAG_QR: u8 = 0x80;
const FLAG_TC: u8 = 0x02;
const FLAG_RD: u8 = 0x01;
const FLAG_RA: u8 = 0x80;
const OPCODE_MASK: u8 = 0x78;

/// Why bytes are not a message the forwarder can handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the 12-byte header.
    Short,
    /// QDCOUNT is 0: nothing to forward or to match an answer against.
    NoQuestion,
    /// A question name has a reserved label type, or is longer than 255 bytes.
    BadName,
    /// The message ends inside its question section.
    TruncatedQuestion,
}

/// A view of a DNS message whose header is known to be present.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Checks that the header is there; fields are then read without checks.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Short);
        }
        Ok(Self { bytes })
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// ID (RFC 1035 4.1.1).
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.bytes[0], self.bytes[1]])
    }

    /// QR: a response, not a query.
    pub fn is_response(&self) -> bool {
        self.bytes[2] & FLAG_QR != 0
    }

    /// OPCODE (0 = QUERY).
    pub fn opcode(&self) -> u8 {
        (self.bytes[2] & OPCODE_MASK) >> 3
    }

    /// TC: the answer was truncated to fit a UDP datagram.
    pub fn truncated(&self) -> bool {
        self.bytes[2] & FLAG_TC != 0
    }

    /// RD: recursion desired.
    pub fn recursion_desired(&self) -> bool {
        self.bytes[2] & FLAG_RD != 0
    }

    /// RCODE.
    pub fn rcode(&self) -> u8 {
        self.bytes[3] & 0x0f
    }

    /// QDCOUNT.
    pub fn qdcount(&self) -> u16 {
        u16::from_be_bytes([self.bytes[4], self.bytes[5]])
    }

    /// Where the question section ends (an offset into the message): after
    /// QDCOUNT entries of QNAME, QTYPE, QCLASS. Compression pointers in
    /// QNAME end the name and are not followed (nothing here reads names).
    pub fn question_end(&self) -> Result<usize, WireError> {
        let count = self.qdcount();
        if count == 0 {
            return Err(WireError::NoQuestion);
        }
        let mut at = HEADER_LEN;
        for _ in 0..count {
            at = name_end(self.bytes, at)? + 4;
            if at > self.bytes.len() {
                return Err(WireError::TruncatedQuestion);
            }
        }
        Ok(at)
    }

    /// The question section's bytes, QDCOUNT excluded.
    pub fn question_section(&self) -> Result<&'a [u8], WireError> {
        let end = self.question_end()?;
        Ok(&self.bytes[HEADER_LEN..end])
    }
}

/// Where the encoded name starting at `at` ends.
fn name_end(msg: &[u8], mut at: usize) -> Result<usize, WireError> {
    let start = at;
    loop {
        let len = *msg.get(at).ok_or(WireError::TruncatedQuestion)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => at += 1 + usize::from(len),
            // A pointer (RFC 1035 4.1.4) is two bytes and ends the name.
            0xc0 => {
                msg.get(at + 1).ok_or(WireError::TruncatedQuestion)?;
                return Ok(at + 2);
            }
            // 0x40 (EDNS0 extended label, deprecated by RFC 6891) and 0x80.
            _ => return Err(WireError::BadName),
        }
        if at - start > MAX_NAME_LEN {
            return Err(WireError::BadName);
        }
    }
}

/// `msg` with its ID replaced by `id`.
pub fn with_id(msg: &[u8], id: u16) -> Vec<u8> {
    let mut out = msg.to_vec();
    if let Some(head) = out.get_mut(..2) {
        head.copy_from_slice(&id.to_be_bytes());
    }
    out
}

/// An error answer to `query` built from the query itself: same ID, QR and
/// RA set, OPCODE and RD kept (RFC 1035 4.1.1), `rcode`, the question
/// section echoed (bytes up to `question_end`), no records. Never longer than
/// the query, so it amplifies nothing.
pub fn error_reply(query: &Message<'_>, question_end: usize, rcode: u8) -> Vec<u8> {
    let end = question_end.clamp(HEADER_LEN, query.bytes.len());
    let mut out = query.bytes[..end].to_vec();
    out[2] = FLAG_QR | (query.bytes[2] & (OPCODE_MASK | FLAG_RD));
    out[3] = FLAG_RA | (rcode & 0x0f);
    if end == HEADER_LEN {
        out[4..6].fill(0);
    }
    out[6..12].fill(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `id`, RD, one question `test. A IN`, then an OPT record.
    fn query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(&[4, b't', b'e', b's', b't', 0, 0, 1, 0, 1]);
        q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        q
    }

    #[test]
    fn header_fields() {
        let q = query();
        let m = Message::new_checked(&q).unwrap();
        assert_eq!(m.id(), 0x1234);
        assert!(!m.is_response());
        assert_eq!(m.opcode(), 0);
        assert!(m.recursion_desired());
        assert!(!m.truncated());
        assert_eq!(m.qdcount(), 1);
        assert_eq!(m.question_end(), Ok(22));
        assert_eq!(m.question_section().unwrap(), &q[12..22]);
    }

    #[test]
    fn servfail_keeps_the_question() {
        let q = query();
        let m = Message::new_checked(&q).unwrap();
        let a = error_reply(&m, m.question_end().unwrap(), RCODE_SERVFAIL);
        let r = Message::new_checked(&a).unwrap();
        assert_eq!(r.id(), 0x1234);
        assert!(r.is_response());
        assert!(r.recursion_desired());
        assert_eq!(r.rcode(), RCODE_SERVFAIL);
        assert_eq!(a.len(), 12 + 10);
        assert_eq!(&a[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(r.question_section().unwrap(), m.question_section().unwrap());
    }

    #[test]
    fn every_cut_of_a_query_is_an_error_not_a_panic() {
        let q = query();
        for cut in 0..22 {
            let r = Message::new_checked(&q[..cut]).and_then(|m| m.question_end());
            assert!(r.is_err(), "cut {cut}");
        }
        assert!(Message::new_checked(&q[..5]).is_err());
    }

    #[test]
    fn names_with_bad_labels_or_too_long_are_refused() {
        let mut q = query();
        q[12] = 0x40;
        assert_eq!(
            Message::new_checked(&q).unwrap().question_end(),
            Err(WireError::BadName)
        );
        let mut long = query()[..12].to_vec();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(
            Message::new_checked(&long).unwrap().question_end(),
            Err(WireError::BadName)
        );
    }

    #[test]
    fn a_pointer_ends_a_name() {
        let mut q = query()[..22].to_vec();
        q[5] = 2;
        q.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1]);
        assert_eq!(Message::new_checked(&q).unwrap().question_end(), Ok(28));
    }

    #[test]
    fn no_question() {
        let mut q = query();
        q[5] = 0;
        assert_eq!(
            Message::new_checked(&q).unwrap().question_end(),
            Err(WireError::NoQuestion)
        );
    }
}
