//! Bounded polling for conditions that become true "soon".
//!
//! Why this exists: a gateway under test works in the background (retries,
//! reclaims, fan-out), so tests must wait for an observable effect. A bare
//! `loop { sleep }` hangs CI forever when the effect never comes; these
//! helpers always stop at a deadline, bound each individual check by the time
//! left, and say what they were waiting for when they give up.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep, timeout};

/// Polls `cond` every `poll_interval` until it returns `true` or `deadline`
/// passes. The condition is checked at least once; a single check that runs
/// past the deadline is cut short and counts as `false`.
///
/// Returns whether the condition was met.
pub async fn eventually<F, Fut>(deadline: Duration, poll_interval: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(deadline, poll_interval, || {
        let fut = cond();
        async move { fut.await.then_some(()) }
    })
    .await
    .is_some()
}

/// Like [`eventually`] for a check that produces a value: polls until `check`
/// returns `Some`, and returns it, or `None` at the deadline.
pub async fn eventually_some<T, F, Fut>(
    deadline: Duration,
    poll_interval: Duration,
    mut check: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        // A zero `left` still runs the check once (timeout(0) polls once).
        if let Ok(Some(value)) = timeout(left, check()).await {
            return Some(value);
        }
        let now = Instant::now();
        if now >= end {
            return None;
        }
        sleep(poll_interval.min(end - now)).await;
    }
}

/// [`eventually`], panicking with `what` and the deadline if the condition is
/// never met. `what` should read as a sentence fragment: "3 deliveries recorded".
pub async fn assert_eventually<F, Fut>(
    what: &str,
    deadline: Duration,
    poll_interval: Duration,
    cond: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !eventually(deadline, poll_interval, cond).await {
        panic!("timed out after {deadline:?} waiting for: {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn becomes_true() {
        let n = Arc::new(AtomicU32::new(0));
        let ok = eventually(Duration::from_secs(5), Duration::from_millis(1), || {
            let n = n.clone();
            async move { n.fetch_add(1, Ordering::SeqCst) >= 3 }
        })
        .await;
        assert!(ok);
    }

    #[tokio::test]
    async fn gives_up_even_when_the_check_hangs() {
        let start = std::time::Instant::now();
        let ok = eventually(
            Duration::from_millis(100),
            Duration::from_millis(10),
            std::future::pending::<bool>,
        )
        .await;
        assert!(!ok);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for: the impossible")]
    async fn assert_names_what_it_waited_for() {
        assert_eventually(
            "the impossible",
            Duration::from_millis(30),
            Duration::from_millis(5),
            || async { false },
        )
        .await;
    }
}
