//! The smoltcp device of the translator's TCP stack: IP packets in one at a
//! time from client frames, IP packets out into a bounded queue that the
//! translator drains into frames. No I/O: a pipe between two queues.

use std::collections::VecDeque;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

#[derive(Debug)]
pub(crate) struct Pipe {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
    /// When `tx` holds this many packets smoltcp is told the device is
    /// busy and keeps its segments for a later poll (its own backpressure).
    pub tx_cap: usize,
    pub mtu: usize,
}

impl Pipe {
    pub fn new(mtu: usize, tx_cap: usize) -> Self {
        Pipe {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            tx_cap,
            mtu,
        }
    }
}

#[derive(Debug)]
pub(crate) struct RxToken(Vec<u8>);

#[derive(Debug)]
pub(crate) struct TxToken<'a>(&'a mut Pipe);

impl phy::Device for Pipe {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.tx.len() >= self.tx_cap {
            return None;
        }
        let packet = self.rx.pop_front()?;
        Some((RxToken(packet), TxToken(self)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        (self.tx.len() < self.tx_cap).then_some(TxToken(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let r = f(&mut packet);
        self.0.tx.push_back(packet);
        r
    }
}
