//! A subscriber's bookkeeping: cursor, folded state, and `reset` handling.
//!
//! Every reader of the chain (the node every [`POLL_INTERVAL`], `tok` once)
//! needs the same few lines: read from the last cursor, drop the state on
//! `reset`, fold the events, keep the new cursor. Getting `reset` wrong
//! leaves a node applying a compacted log on top of stale state, so it lives
//! here once.
//!
//! [`POLL_INTERVAL`]: crate::POLL_INTERVAL

use crate::error::Result;
use crate::event::Event;
use crate::state::State;
use crate::store::{Cursor, Store};

/// The folded chain as one reader has seen it so far.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    state: State,
    cursor: Cursor,
    skipped: u64,
}

/// What one [`Follower::poll`] brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// The state was rebuilt from the start of a compacted log: compare the
    /// new state with what you acted on, rather than relying on `events`.
    pub reset: bool,
    /// Events folded by this poll, in log order.
    pub events: Vec<Event>,
}

impl Follower {
    /// A follower at the start of the log with an empty state.
    pub fn new() -> Follower {
        Follower::default()
    }

    /// Reads what is new and folds it. On error the follower is unchanged
    /// and the next poll retries from the same cursor.
    pub fn poll(&mut self, store: &dyn Store) -> Result<Update> {
        let batch = store.read_from(self.cursor)?;
        if batch.reset {
            self.state = State::default();
        }
        for ev in &batch.events {
            self.state.apply(ev);
        }
        self.cursor = batch.next;
        self.skipped += batch.skipped;
        Ok(Update {
            reset: batch.reset,
            events: batch.events,
        })
    }

    /// Polls only if [`Store::changed_since`] says there may be news.
    pub fn poll_if_changed(&mut self, store: &dyn Store) -> Result<Update> {
        if store.changed_since(self.cursor)? {
            self.poll(store)
        } else {
            Ok(Update::default())
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Records skipped so far because this version does not know their kind.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}
