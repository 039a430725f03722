//! The DHCP servers' [`LeaseStore`]: reads are the node's folded chain
//! [`State`] (the latest the follower published), writes are events queued
//! to one writer task that appends them to the store (fsync included) on
//! the blocking pool. Nothing here waits for a disk: a full queue drops the
//! event and counts it (the DHCP client retransmits, and an unanswered claim
//! times out in the server).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chain::{ClaimId, ClaimOutcome, Event, NetworkLeases, State, Store};
use dhcp::{LeaseClaim, LeaseDecline, LeaseExpiry, LeaseRelease, LeaseStore};
use tokio::sync::mpsc;

/// Chain events waiting for the writer; beyond this they are dropped.
pub const APPEND_QUEUE: usize = 1024;
/// Events appended by one blocking call at most.
const APPEND_BATCH: usize = 64;

/// What the writer did, shared with the node for its status.
#[derive(Debug, Default)]
pub struct AppendStats {
    /// Events appended (durable).
    pub appended: AtomicU64,
    /// Appends the store refused or failed.
    pub failed: AtomicU64,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// The node's chain as the DHCP servers see it.
#[derive(Debug)]
pub struct ChainLeases {
    state: Arc<State>,
    queue: mpsc::Sender<Event>,
    stats: Arc<AppendStats>,
}

impl ChainLeases {
    /// A store over `state` whose writes go to the writer of `queue`.
    pub fn new(queue: mpsc::Sender<Event>, stats: Arc<AppendStats>) -> Self {
        Self {
            state: Arc::new(State::default()),
            queue,
            stats,
        }
    }

    /// The follower published a new state.
    pub fn set_state(&mut self, state: Arc<State>) {
        self.state = state;
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn stats(&self) -> &AppendStats {
        &self.stats
    }

    fn append(&mut self, event: Event) {
        if self.queue.try_send(event).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("chain append queue full; lease event dropped");
        }
    }
}

impl LeaseStore for ChainLeases {
    fn table(&self, network: &str) -> Option<&NetworkLeases> {
        self.state.lease_table_of(network)
    }

    fn claim_outcome(&self, id: &ClaimId) -> Option<ClaimOutcome> {
        self.state.claim_outcome(id)
    }

    fn claim(&mut self, claim: &LeaseClaim) {
        self.append(claim.to_event());
    }

    fn release(&mut self, release: &LeaseRelease) {
        self.append(release.to_event());
    }

    fn decline(&mut self, decline: &LeaseDecline) {
        self.append(decline.to_event());
    }

    fn expire(&mut self, expiry: &LeaseExpiry) {
        self.append(expiry.to_event());
    }
}

/// Appends queued events in order until every sender is gone.
pub async fn write(
    store: Arc<dyn Store>,
    mut queue: mpsc::Receiver<Event>,
    stats: Arc<AppendStats>,
) {
    let mut batch = Vec::with_capacity(APPEND_BATCH);
    while queue.recv_many(&mut batch, APPEND_BATCH).await > 0 {
        let events = std::mem::take(&mut batch);
        let (store, stats_) = (Arc::clone(&store), Arc::clone(&stats));
        let done = tokio::task::spawn_blocking(move || {
            for event in &events {
                match store.append(event) {
                    Ok(_) => {
                        stats_.appended.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        stats_.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%err, "appending a lease event to the chain failed");
                    }
                }
            }
            events
        })
        .await;
        match done {
            Ok(mut events) => {
                events.clear();
                batch = events;
            }
            Err(err) => {
                tracing::error!(%err, "chain writer task failed; lease events are no longer written");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> LeaseClaim {
        LeaseClaim {
            network: "00112233445566778899aabbccddeeff".into(),
            mac: [2, 0, 0, 0, 0, 1],
            ip: "10.0.0.5".parse().unwrap(),
            client_id: None,
            hostname: None,
            node_id: "0011223344556677".into(),
            at_ms: 1,
            expires_ms: 2,
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (tx, mut rx) = mpsc::channel(1);
        let stats = Arc::new(AppendStats::default());
        let mut store = ChainLeases::new(tx, Arc::clone(&stats));
        store.claim(&claim());
        store.claim(&claim());
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 1);
        assert!(matches!(rx.try_recv(), Ok(Event::LeaseClaimed { .. })));
        assert!(store.table("00112233445566778899aabbccddeeff").is_none());
    }

    #[tokio::test]
    async fn the_writer_appends_in_order_and_ends_with_its_senders() {
        let memory = Arc::new(chain::MemoryStore::new());
        let (tx, rx) = mpsc::channel(APPEND_QUEUE);
        let stats = Arc::new(AppendStats::default());
        let writer = tokio::spawn(write(memory.clone(), rx, Arc::clone(&stats)));
        let mut store = ChainLeases::new(tx, Arc::clone(&stats));
        // The claim is for a network the chain does not know: the fold
        // ignores it, but the log takes it (validated, appended).
        store.claim(&claim());
        drop(store);
        writer.await.unwrap();
        assert_eq!(stats.appended.load(Ordering::Relaxed), 1);
        let batch = memory.read_from(chain::Cursor::START).unwrap();
        assert_eq!(batch.events.len(), 1);
    }
}
