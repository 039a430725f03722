//! DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): each message is
//! preceded by its length as two bytes, big-endian. A client may pipeline
//! many queries on one connection and take answers in any order
//! (RFC 7766 6.2.1.1); the framer yields every complete message it holds.

use crate::wire::MAX_MESSAGE_LEN;

/// Why a connection's byte stream cannot be framed; the edge closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A length prefix announces more than the framer's `max_message`.
    Oversize,
    /// More than `max_buffered` bytes would be held (messages not taken out
    /// yet plus a partial one).
    Overflow,
    /// An earlier error: the stream has lost its framing for good.
    Failed,
}

/// Reassembly of one TCP connection's stream into DNS messages, bounded:
/// at most `max_buffered` bytes are ever held, and no message longer than
/// `max_message` is accepted.
#[derive(Debug)]
pub struct TcpFramer {
    buf: Vec<u8>,
    /// Start of the first message not yet yielded.
    start: usize,
    /// End of the last length prefix checked (a frame boundary at or after `start`).
    checked: usize,
    max_message: usize,
    max_buffered: usize,
    failed: bool,
}

impl TcpFramer {
    /// `max_message` is capped at 65535; `max_buffered` is raised to fit
    /// one largest message and its prefix.
    pub fn new(max_message: usize, max_buffered: usize) -> Self {
        let max_message = max_message.min(MAX_MESSAGE_LEN);
        Self {
            buf: Vec::new(),
            start: 0,
            checked: 0,
            max_message,
            max_buffered: max_buffered.max(max_message + 2),
            failed: false,
        }
    }

    /// For a client's connection to the gateway: queries of up to 4096 bytes,
    /// 16 KiB held (a burst of pipelined queries).
    pub fn for_queries() -> Self {
        Self::new(4096, 16 * 1024)
    }

    /// For the node's connection to an upstream: any answer.
    pub fn for_answers() -> Self {
        Self::new(MAX_MESSAGE_LEN, MAX_MESSAGE_LEN + 2)
    }

    /// Bytes held: complete messages not yet taken plus a partial one.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// How many more bytes [`push`](Self::push) takes now: read at most
    /// this much from the connection (0: take the messages out first, or
    /// the stream failed).
    pub fn room(&self) -> usize {
        if self.failed {
            return 0;
        }
        self.max_buffered.saturating_sub(self.buffered())
    }

    /// Appends bytes read from the connection and yields the complete
    /// messages. Messages left in the iterator stay for the next call (or
    /// [`messages`](Self::messages)) and count against `max_buffered`.
    /// On an error nothing is yielded, ever again.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Messages<'_>, FrameError> {
        if self.failed {
            return Err(FrameError::Failed);
        }
        if self.buffered() + bytes.len() > self.max_buffered {
            return self.fail(FrameError::Overflow);
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
        // Check every length prefix now, so that the iterator cannot fail.
        while let Some(prefix) = self.buf.get(self.checked..self.checked + 2) {
            let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
            if len > self.max_message {
                return self.fail(FrameError::Oversize);
            }
            if self.buf.len() < self.checked + 2 + len {
                break;
            }
            self.checked += 2 + len;
        }
        Ok(self.messages())
    }

    /// The complete messages held.
    pub fn messages(&mut self) -> Messages<'_> {
        Messages { framer: self }
    }

    /// `msg` with its two-byte length prefix; `None` if longer than 65535.
    pub fn frame(msg: &[u8]) -> Option<Vec<u8>> {
        let len = u16::try_from(msg.len()).ok()?;
        let mut out = Vec::with_capacity(2 + msg.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(msg);
        Some(out)
    }

    fn fail<T>(&mut self, why: FrameError) -> Result<T, FrameError> {
        self.failed = true;
        self.buf = Vec::new();
        self.start = 0;
        self.checked = 0;
        Err(why)
    }

    /// Drops the bytes already yielded, so the buffer never holds more than
    /// `max_buffered` plus one push.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.checked -= self.start;
            self.start = 0;
        }
    }

    fn next_message(&mut self) -> Option<Vec<u8>> {
        if self.start >= self.checked {
            return None;
        }
        let prefix = self.buf.get(self.start..self.start + 2)?;
        let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        let msg = self.buf.get(self.start + 2..self.start + 2 + len)?.to_vec();
        self.start += 2 + len;
        Some(msg)
    }
}

/// The complete messages of a [`TcpFramer`], in stream order.
#[derive(Debug)]
pub struct Messages<'a> {
    framer: &'a mut TcpFramer,
}

impl Iterator for Messages<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        self.framer.next_message()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(msgs: &[&[u8]]) -> Vec<u8> {
        msgs.iter()
            .flat_map(|m| TcpFramer::frame(m).unwrap())
            .collect()
    }

    #[test]
    fn a_message_split_anywhere_comes_out_whole() {
        let stream = framed(&[b"hello world, dns"]);
        for cut in 0..=stream.len() {
            let mut f = TcpFramer::for_queries();
            let first: Vec<_> = f.push(&stream[..cut]).unwrap().collect();
            let second: Vec<_> = f.push(&stream[cut..]).unwrap().collect();
            let all: Vec<_> = first.into_iter().chain(second).collect();
            assert_eq!(all, vec![b"hello world, dns".to_vec()], "cut {cut}");
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn byte_by_byte() {
        let stream = framed(&[b"ab", b"", b"cde"]);
        let mut f = TcpFramer::for_queries();
        let mut out = Vec::new();
        for b in &stream {
            out.extend(f.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(out, vec![b"ab".to_vec(), Vec::new(), b"cde".to_vec()]);
    }

    #[test]
    fn pipelined_messages_in_one_read() {
        let stream = framed(&[b"one", b"two", b"three"]);
        let mut f = TcpFramer::for_queries();
        let mut it = f.push(&stream[..stream.len() - 1]).unwrap();
        assert_eq!(it.next(), Some(b"one".to_vec()));
        assert_eq!(it.next(), Some(b"two".to_vec()));
        assert_eq!(it.next(), None);
        let rest: Vec<_> = f.push(&stream[stream.len() - 1..]).unwrap().collect();
        assert_eq!(rest, vec![b"three".to_vec()]);
    }

    #[test]
    fn messages_not_taken_stay_and_count() {
        let stream = framed(&[b"one", b"two"]);
        let mut f = TcpFramer::new(16, 32);
        let _ = f.push(&stream).unwrap();
        assert_eq!(f.buffered(), stream.len());
        let later: Vec<_> = f.messages().collect();
        assert_eq!(later, vec![b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn oversize_prefix_fails_the_stream() {
        let mut f = TcpFramer::new(100, 1000);
        assert_eq!(f.push(&[0, 101]).err(), Some(FrameError::Oversize));
        assert_eq!(
            f.push(&framed(&[b"ok"])).err(),
            Some(FrameError::Failed),
            "no resync after a lost frame boundary"
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn oversize_behind_good_messages_fails_the_push() {
        let mut stream = framed(&[b"ok"]);
        stream.extend_from_slice(&[0xff, 0xff]);
        let mut f = TcpFramer::new(100, 1000);
        assert_eq!(f.push(&stream).err(), Some(FrameError::Oversize));
    }

    #[test]
    fn holding_more_than_max_buffered_fails() {
        let mut f = TcpFramer::new(10, 20);
        // A partial frame announcing 10 bytes, then a flood beyond the cap.
        f.push(&[0, 10, 1, 2, 3]).unwrap().for_each(drop);
        assert_eq!(f.push(&[0; 16]).err(), Some(FrameError::Overflow));
        assert_eq!(f.room(), 0);
        let mut f = TcpFramer::new(10, 20);
        assert_eq!(f.room(), 20);
        assert_eq!(f.push(&[0; 21]).err(), Some(FrameError::Overflow));
    }

    #[test]
    fn frame_refuses_what_a_prefix_cannot_say() {
        assert_eq!(TcpFramer::frame(b"ab"), Some(vec![0, 2, b'a', b'b']));
        assert!(TcpFramer::frame(&vec![0; 65_535]).is_some());
        assert!(TcpFramer::frame(&vec![0; 65_536]).is_none());
    }
}
