//! Client sessions: a client is its session, one `UdpClient` port in its
//! network's switch (DESIGN.md, "Sessions and wire format").

use vswitch::key::{ChainId, KeyId};
use vswitch::port::PortId;

/// Source MACs remembered per client for `tok status`; more are not shown.
const MACS_SHOWN: usize = 4;

/// What the node keeps about one client session.
#[derive(Debug, Clone)]
pub struct Client {
    pub network: ChainId,
    pub port: PortId,
    pub key_id: KeyId,
    macs: [[u8; 6]; MACS_SHOWN],
    mac_count: usize,
}

impl Client {
    pub fn new(network: ChainId, port: PortId, key_id: KeyId) -> Self {
        Self {
            network,
            port,
            key_id,
            macs: [[0; 6]; MACS_SHOWN],
            mac_count: 0,
        }
    }

    /// Remembers the source MAC of a frame from this client (no allocation:
    /// called per frame).
    pub fn note_source(&mut self, frame: &[u8]) {
        let Some(src) = frame.get(6..12).and_then(|s| <[u8; 6]>::try_from(s).ok()) else {
            return;
        };
        if self.macs[..self.mac_count].contains(&src) || self.mac_count == MACS_SHOWN {
            return;
        }
        self.macs[self.mac_count] = src;
        self.mac_count += 1;
    }

    pub fn macs(&self) -> impl Iterator<Item = String> + '_ {
        self.macs[..self.mac_count].iter().map(|mac| {
            mac.iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
    }
}
