//! The store trait: how the chain is written and read, whatever the backend.
//!
//! There is no push: a subscriber polls. It keeps the [`Cursor`] of its last
//! [`Batch`] and calls [`Store::read_from`] with it about every
//! [`POLL_INTERVAL`] (the node does so every 200 ms), first asking the cheap
//! [`Store::changed_since`] if it likes. [`Follower`](crate::Follower) does
//! exactly this bookkeeping, `reset` included.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::event::Event;

/// How often a subscriber (a node) polls the store for new events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// A position in the log. Opaque to readers: only the backend that returned
/// it gives it meaning. For the file store `epoch` is the log file's
/// generation (it changes when the log is compacted or created anew) and
/// `offset` the byte offset of the next record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: u64,
    pub offset: u64,
}

impl Cursor {
    /// The beginning of the log, whatever its generation. Reading from it
    /// never reports `reset`.
    pub const START: Cursor = Cursor {
        epoch: 0,
        offset: 0,
    };
}

/// What one read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Events after the cursor, in log order.
    pub events: Vec<Event>,
    /// Where the next read starts.
    pub next: Cursor,
    /// The log was compacted (or replaced) since the cursor was handed out:
    /// drop all state folded so far and fold `events`, which start at the
    /// beginning of the log.
    pub reset: bool,
    /// Records read but not understood (a kind written by a newer version):
    /// skipped, counted here so the caller can expose the number.
    pub skipped: u64,
}

/// An ordered, durable log of [`Event`]s shared by every node and `tok`.
pub trait Store: Send + Sync {
    /// Appends one event after validating it. When this returns `Ok` the
    /// event is durable. The cursor returned points just past the event (in
    /// the log generation current when the append finished).
    fn append(&self, ev: &Event) -> Result<Cursor>;

    /// Events from `cursor` to the current end of the log. Never fails on a
    /// torn tail (a writer that died mid-append): it stops before it.
    fn read_from(&self, cursor: Cursor) -> Result<Batch>;

    /// Whether `read_from(cursor)` could return something new. Cheap (a stat
    /// and a header read for the file store); may answer `true` when nothing
    /// changed, never `false` when something did.
    fn changed_since(&self, cursor: Cursor) -> Result<bool> {
        let _ = cursor;
        Ok(true)
    }
}
