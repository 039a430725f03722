//! What a gateway or router asks the node to send: a bounded set of frame
//! buffers, reused between calls, so steady state allocates nothing and a
//! burst cannot grow memory past `capacity` frames.

use crate::NetworkId;

/// Where a frame in the [`Outbox`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// To the port the handled frame came in on, only (ARP replies, echo
    /// replies, ICMP errors for the frame just handled): DESIGN.md, "What an
    /// ethereal service *answers* goes to the asking local port only".
    Reply(&'a [u8]),
    /// Into `network`'s switch with the gateway port as ingress, switched
    /// like any frame (routed frames, ARP probes, late ICMP errors).
    Originate {
        /// The network whose switch carries it.
        network: NetworkId,
        /// An Ethernet frame.
        frame: &'a [u8],
    },
    /// An IPv4 packet (no Ethernet header, TTL untouched) for a destination
    /// outside every network this router serves, arriving from `network`:
    /// the hand-off to NAT (a later issue). Emitted only when
    /// [`crate::RouterConfig::nat_handoff`] is on.
    ToNat {
        /// The network the packet came from.
        network: NetworkId,
        /// The IPv4 packet.
        packet: &'a [u8],
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Reply,
    Originate(NetworkId),
    ToNat(NetworkId),
}

/// Frames to send, filled by `handle_*` calls and drained by the node.
///
/// Drain rule: after any `handle_*`/`observe_*`/`insert_lease` call, send
/// every [`Outbox::iter`] item, then [`Outbox::clear`]. Items accumulate
/// until cleared; when `capacity` items are waiting, more are dropped and
/// counted ([`crate::DropReason::OutboxFull`]).
#[derive(Debug)]
pub struct Outbox {
    slots: Vec<(Target, Vec<u8>)>,
    len: usize,
    capacity: usize,
}

impl Default for Outbox {
    /// Room for 256 frames: the router's default pending-queue total, so a
    /// timeout of every queued packet fits.
    fn default() -> Self {
        Self::new(256)
    }
}

impl Outbox {
    /// An outbox holding at most `capacity` frames at once.
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
            capacity,
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the waiting frames, keeping their buffers for reuse.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The waiting frames, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Output<'_>> + '_ {
        self.slots[..self.len]
            .iter()
            .map(|(target, buf)| match *target {
                Target::Reply => Output::Reply(buf),
                Target::Originate(network) => Output::Originate {
                    network,
                    frame: buf,
                },
                Target::ToNat(network) => Output::ToNat {
                    network,
                    packet: buf,
                },
            })
    }

    /// An empty buffer for one more frame to `target`, or `None` if full.
    pub(crate) fn push(&mut self, target: Target) -> Option<&mut Vec<u8>> {
        if self.len >= self.capacity {
            return None;
        }
        if self.len == self.slots.len() {
            self.slots.push((target, Vec::new()));
        }
        let slot = &mut self.slots[self.len];
        self.len += 1;
        slot.0 = target;
        slot.1.clear();
        Some(&mut slot.1)
    }
}
