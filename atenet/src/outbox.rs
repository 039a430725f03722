//! Datagrams the node core decided to send, in order, waiting for the
//! edge: the core seals straight into [`Outbox::slot`] (no allocation per
//! packet: one buffer, reused), and after every input the edge moves them
//! into the socket's GSO send lanes (`edge.rs`) or, in the simulation,
//! onto the in-memory wire. This is what keeps the core free of sockets
//! and `.await` (quinn-proto's `poll_transmit`, batched).

use std::net::SocketAddr;

use crate::state::PACKET_BUF;

/// Most datagrams one input may leave queued; more are dropped and
/// counted (one input reaches at most every port of a network, so this is
/// a bound on memory, not a limit a real burst meets).
pub(crate) const MAX_QUEUED: usize = 4096;

/// Sealed datagrams in the order they were sealed.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    items: Vec<(usize, usize, SocketAddr)>,
    /// Datagrams refused because [`MAX_QUEUED`] were waiting.
    pub(crate) dropped: u64,
}

impl Outbox {
    /// Where the next datagram is written (then [`Outbox::commit`]).
    pub(crate) fn slot(&mut self) -> &mut [u8] {
        let end = self.end();
        if self.buf.len() < end + PACKET_BUF {
            self.buf.resize(end + PACKET_BUF, 0);
        }
        &mut self.buf[end..end + PACKET_BUF]
    }

    /// Queues the `len` bytes written to the slot for `to`.
    pub(crate) fn commit(&mut self, len: usize, to: SocketAddr) {
        if self.items.len() >= MAX_QUEUED {
            self.dropped += 1;
            return;
        }
        let start = self.end();
        self.items.push((start, len.min(PACKET_BUF), to));
    }

    /// Queues a copy of `packet` for `to`.
    pub(crate) fn push(&mut self, packet: &[u8], to: SocketAddr) {
        let slot = self.slot();
        let len = packet.len().min(slot.len());
        slot[..len].copy_from_slice(&packet[..len]);
        self.commit(len, to);
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The queued datagrams, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.items
            .iter()
            .map(|&(start, len, to)| (&self.buf[start..start + len], to))
    }

    /// Forgets what was sent (the buffer is kept for the next input).
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    fn end(&self) -> usize {
        self.items.last().map_or(0, |&(start, len, _)| start + len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_bytes_and_is_bounded() {
        let a: SocketAddr = "198.18.0.1:1".parse().unwrap();
        let b: SocketAddr = "198.18.0.2:2".parse().unwrap();
        let mut out = Outbox::default();
        out.push(b"one", a);
        let slot = out.slot();
        slot[..3].copy_from_slice(b"two");
        out.commit(3, b);
        let got: Vec<(Vec<u8>, SocketAddr)> = out.iter().map(|(p, to)| (p.to_vec(), to)).collect();
        assert_eq!(got, vec![(b"one".to_vec(), a), (b"two".to_vec(), b)]);
        out.clear();
        assert_eq!(out.len(), 0);
        for _ in 0..MAX_QUEUED + 3 {
            out.push(b"x", a);
        }
        assert_eq!((out.len(), out.dropped), (MAX_QUEUED, 3));
    }
}
