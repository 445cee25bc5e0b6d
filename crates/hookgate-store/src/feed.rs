//! The in-process fan-out feed: what a gateway's ingest side tells its own
//! fan-out loops about the events it has just stored.
//!
//! Why: the fan-out queue in Redis is the durable record of what still has
//! to be fanned out, but reading it back costs a scan and one `HGET` per
//! event for its type, which the process that stored the event already
//! knows. So each stored event is also handed to the source's feed as
//! (id, type); the fan-out loop commits those straight away and scans the
//! queue only for events older than a grace period (left by an instance
//! that died, a commit that failed, or a feed that overflowed). The feed is
//! a hint, never the record: losing it (a crash, an overflow) only delays
//! a fan-out until the next scan.

use hookgate_core::EventId;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// Hints held per source at most; beyond, they are dropped and the next
/// scan takes every due event, whatever its age.
pub const FEED_CAPACITY: usize = 65_536;

/// One source's feed, shared by the ingest and delivery handles of a
/// process (see [`crate::Store::open_beside`]).
#[derive(Default)]
pub struct FanoutFeed {
    signal: Notify,
    fresh: Mutex<VecDeque<(EventId, String)>>,
    missed: AtomicBool,
}

impl FanoutFeed {
    /// Poked on every push: the fan-out loop waits on it between scans.
    pub fn signal(&self) -> &Notify {
        &self.signal
    }

    /// Takes up to `max` hints, oldest first.
    pub fn take(&self, max: usize) -> Vec<(EventId, String)> {
        let mut fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        let n = fresh.len().min(max);
        fresh.drain(..n).collect()
    }

    /// Whether hints were dropped since the last call (the caller should
    /// then scan without the grace period).
    pub fn take_missed(&self) -> bool {
        self.missed.swap(false, Ordering::Relaxed)
    }

    /// Asks the next scan to take every due event (a scan that was to do
    /// so failed).
    pub fn mark_missed(&self) {
        self.missed.store(true, Ordering::Relaxed);
    }

    /// Hands stored events to the fan-out loop and wakes it.
    pub(crate) fn push<'a>(&self, events: impl Iterator<Item = (&'a EventId, &'a str)>) {
        {
            let mut fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
            for (id, ty) in events {
                if fresh.len() < FEED_CAPACITY {
                    fresh.push_back((id.clone(), ty.to_owned()));
                } else {
                    self.missed.store(true, Ordering::Relaxed);
                }
            }
        }
        self.signal.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> EventId {
        EventId::derive(&format!("s:{n}"))
    }

    #[test]
    fn takes_hints_oldest_first_in_bounded_batches() {
        let feed = FanoutFeed::default();
        let ids: Vec<_> = (0..5).map(id).collect();
        feed.push(ids.iter().map(|i| (i, "t")));
        let first = feed.take(3);
        assert_eq!(
            first.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(),
            ids[..3]
        );
        assert_eq!(feed.take(10).len(), 2);
        assert!(feed.take(10).is_empty());
        assert!(!feed.take_missed());
    }

    #[test]
    fn an_overflow_drops_hints_and_says_so_once() {
        let feed = FanoutFeed::default();
        let ids: Vec<_> = (0..(FEED_CAPACITY as u32 + 3)).map(id).collect();
        feed.push(ids.iter().map(|i| (i, "t")));
        assert_eq!(feed.take(usize::MAX).len(), FEED_CAPACITY);
        assert!(feed.take_missed());
        assert!(!feed.take_missed());
    }
}
