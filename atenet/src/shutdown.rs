//! Clean shutdown: one `watch` turned true (mini-redis style) that every
//! task of the node waits on beside its work.

use tokio::sync::watch;

/// Completes once `shutdown` is true (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}
