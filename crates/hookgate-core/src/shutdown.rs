//! Shutdown plumbing: every long-lived task is spawned through a [`Drain`],
//! which pairs a cancellation token (stop taking new work) with a task
//! tracker (wait, up to a deadline, for work already taken).

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cancellation plus tracking, cheap to clone.
#[derive(Clone, Default)]
pub struct Drain {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Drain {
    /// A fresh drain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns a tracked task.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(fut)
    }

    /// The token that tasks watch to stop taking new work.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Completes when shutdown has begun.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Whether shutdown has begun.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Begins shutdown and waits for tracked tasks up to `deadline`.
    /// Returns false when the deadline cut the drain short.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}
