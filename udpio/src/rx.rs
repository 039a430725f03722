//! The receive side: buffers for one `recvmmsg`, each of which may hold
//! several GRO-glued datagrams of one sender.

use std::io::IoSliceMut;
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, BATCH_SIZE};

/// One receive buffer: GRO glues at most 64 datagrams of up to 64 KiB in
/// total (the kernel's `UDP_GRO_CNT_MAX` and the IP length limit).
const BUFFER: usize = 65_536;

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

    /// Buffer `i` of the last receive: its sender, its bytes, and the
    /// stride that cuts them into datagrams (every datagram is `stride`
    /// bytes except perhaps a shorter last one). Callers use
    /// `bytes.chunks_mut(stride)`; the stride is never 0.
    pub fn datagram(&mut self, i: usize) -> (SocketAddr, &mut [u8], usize) {
        let meta = &self.meta[i];
        let len = meta.len.min(BUFFER);
        let stride = if meta.stride == 0 {
            len.max(1)
        } else {
            meta.stride
        };
        (meta.addr, &mut self.buffers[i][..len], stride)
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
