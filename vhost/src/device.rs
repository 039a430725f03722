//! A shard's smoltcp device: one IP packet in at a time (copied into a
//! reused buffer), IP packets out into a queue the host drains after each
//! poll. No I/O: a pipe between the host and smoltcp.

use std::collections::VecDeque;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Packets smoltcp may emit in one poll before it is told to wait; the host
/// drains the queue after every poll, so this only bounds one poll's burst.
const TX_BURST: usize = 256;

#[derive(Debug)]
pub(crate) struct Pipe {
    rx: Vec<u8>,
    rx_full: bool,
    pub tx: VecDeque<Vec<u8>>,
    mtu: usize,
}

impl Pipe {
    pub fn new(mtu: usize) -> Self {
        Pipe {
            rx: Vec::with_capacity(mtu),
            rx_full: false,
            tx: VecDeque::new(),
            mtu,
        }
    }

    /// Queues the one packet the next poll reads.
    pub fn put_rx(&mut self, packet: &[u8]) {
        self.rx.clear();
        self.rx.extend_from_slice(packet);
        self.rx_full = true;
    }

    /// Forgets a packet smoltcp did not read.
    pub fn clear_rx(&mut self) {
        self.rx_full = false;
    }
}

#[derive(Debug)]
pub(crate) struct RxToken<'a>(&'a [u8]);

#[derive(Debug)]
pub(crate) struct TxToken<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::Device for Pipe {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if !self.rx_full || self.tx.len() >= TX_BURST {
            return None;
        }
        self.rx_full = false;
        Some((RxToken(&self.rx), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        (self.tx.len() < TX_BURST).then_some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let r = f(&mut packet);
        self.0.push_back(packet);
        r
    }
}
