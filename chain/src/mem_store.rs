//! An in-memory [`Store`] for tests of the crates that read the chain.
//!
//! Same contract as the file store (validation, cursors, `reset`) without a
//! file system; not durable, not shared between processes.

use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::event::Event;
use crate::store::{Batch, Cursor, Store};

/// A log held in memory. `epoch` is 1; `offset` counts events.
#[derive(Debug, Default)]
pub struct MemoryStore {
    events: Mutex<Vec<Event>>,
}

const EPOCH: u64 = 1;

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl Store for MemoryStore {
    fn append(&self, ev: &Event) -> Result<Cursor> {
        ev.validate().map_err(Error::Invalid)?;
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.push(ev.clone());
        Ok(Cursor {
            epoch: EPOCH,
            offset: events.len() as u64,
        })
    }

    fn read_from(&self, cursor: Cursor) -> Result<Batch> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let len = events.len() as u64;
        let (from, reset) = if cursor == Cursor::START {
            (0, false)
        } else if cursor.epoch != EPOCH || cursor.offset > len {
            (0, true)
        } else {
            (cursor.offset, false)
        };
        Ok(Batch {
            events: events[from as usize..].to_vec(),
            next: Cursor {
                epoch: EPOCH,
                offset: len,
            },
            reset,
            skipped: 0,
        })
    }

    fn changed_since(&self, cursor: Cursor) -> Result<bool> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(cursor.epoch != EPOCH || cursor.offset != events.len() as u64)
    }
}
