//! The receive side: buffers for one `recvmmsg`, each of which may hold
//! several GRO-glued datagrams of one sender.

use std::io::IoSliceMut;
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, BATCH_SIZE};

/// One receive buffer: GRO glues at most 64 datagrams of up to 64 KiB in
/// total (the kernel's `UDP_GRO_CNT_MAX` and the IP length limit).
const BUFFER: usize = 65_536;

/// The datagrams of one receive buffer, cut at `stride`. An empty datagram
/// (a legal UDP packet, and a runt to the caller) is yielded once, as an
/// empty slice, so callers count it like any other bad input.
fn datagrams(bytes: &mut [u8], stride: usize) -> impl Iterator<Item = &mut [u8]> {
    let empty = bytes.is_empty();
    let chunks = bytes.chunks_mut(stride.max(1));
    std::iter::once(&mut [][..])
        .filter(move |_| empty)
        .chain(chunks)
}

/// Buffers for one batched receive, allocated once and reused.
pub struct RxBatch {
    buffers: Vec<Box<[u8]>>,
    meta: Vec<RecvMeta>,
    filled: usize,
}

impl std::fmt::Debug for RxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxBatch")
            .field("buffers", &self.buffers.len())
            .field("filled", &self.filled)
            .finish_non_exhaustive()
    }
}

impl Default for RxBatch {
    fn default() -> Self {
        RxBatch::new()
    }
}

impl RxBatch {
    /// `BATCH_SIZE` (32 on Linux) buffers of 64 KiB: 2 MiB per socket.
    pub fn new() -> RxBatch {
        RxBatch {
            buffers: (0..BATCH_SIZE)
                .map(|_| vec![0; BUFFER].into_boxed_slice())
                .collect(),
            meta: vec![RecvMeta::default(); BATCH_SIZE],
            filled: 0,
        }
    }

    /// How many buffers the last receive filled.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// True when the last receive filled nothing.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Every datagram of the last receive with its sender, in arrival
    /// order: each filled buffer cut at its GRO stride (every datagram is
    /// `stride` bytes except perhaps a shorter last one; without GRO the
    /// stride is the whole buffer).
    pub fn datagrams(&mut self) -> impl Iterator<Item = (SocketAddr, &mut [u8])> {
        self.meta[..self.filled]
            .iter()
            .zip(self.buffers.iter_mut())
            .flat_map(|(meta, buffer)| {
                let len = meta.len.min(BUFFER);
                let stride = if meta.stride == 0 { len } else { meta.stride };
                datagrams(&mut buffer[..len], stride).map(move |d| (meta.addr, d))
            })
    }

    /// Hands the buffers to `recv` and records how many it filled.
    pub(crate) fn fill(
        &mut self,
        recv: impl FnOnce(&mut [IoSliceMut<'_>], &mut [RecvMeta]) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        self.filled = 0;
        let mut slices: [IoSliceMut<'_>; BATCH_SIZE] =
            std::array::from_fn(|_| IoSliceMut::new(&mut []));
        for (slice, buffer) in slices.iter_mut().zip(self.buffers.iter_mut()) {
            *slice = IoSliceMut::new(buffer);
        }
        let n = recv(&mut slices, &mut self.meta)?;
        self.filled = n.min(self.meta.len());
        Ok(self.filled)
    }
}

#[cfg(test)]
mod tests {
    use super::datagrams;

    #[test]
    fn cuts_at_the_stride_and_keeps_a_short_last_one() {
        let mut bytes: Vec<u8> = (0..10).collect();
        let got: Vec<Vec<u8>> = datagrams(&mut bytes, 4).map(|d| d.to_vec()).collect();
        assert_eq!(got, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    }

    #[test]
    fn an_empty_datagram_is_yielded_once() {
        let mut bytes: Vec<u8> = Vec::new();
        let got: Vec<usize> = datagrams(&mut bytes, 1).map(|d| d.len()).collect();
        assert_eq!(got, vec![0]);
    }
}
