//! A source's fan-out loop: stored events become deliveries on every route
//! whose subscription wants their type.
//!
//! Ingest only stores an event on its source's fan-out queue; this loop,
//! one per source, is what turns it into one delivery per interested
//! route, once (the store's commit takes the event off the queue and
//! creates its deliveries in one step), and wakes those routes' drivers
//! (`route.rs`). It is apart from the drivers because it runs per source,
//! not per route, and reads a different queue.

use crate::pool::{STORE_BACKOFF, Settings, idle};
use crate::route::Route;
use hookgate_core::EventId;
use hookgate_core::shutdown::Drain;
use hookgate_store::{FanoutFeed, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events fanned out per store round trip, at most.
const FANOUT_BATCH: usize = 256;
/// The fan-out scan leaves events younger than this to the in-process feed
/// of the gateway that stored them (see `hookgate_store::FanoutFeed`).
const FANOUT_GRACE: Duration = Duration::from_secs(2);

/// The source's fan-out loop.
///
/// Events this process stored arrive through the source's feed with their
/// types and are committed at once. Every `poll_interval` (and when the feed
/// overflowed) the loop also scans the durable fan-out queue for events the
/// feed did not bring: stored by an instance that died, or whose commit
/// failed. The scan skips events younger than `FANOUT_GRACE`, which the
/// feed of the gateway that stored them is about to bring; an event read
/// twice is still fanned out once (the commit that takes it off the queue
/// creates its deliveries). The first scan after start skips nothing: what
/// is queued then was stored before this process ran (a process that died
/// left it, and no feed will bring it), so a restart resumes at once.
pub(crate) async fn fan_out(
    store: Store,
    source: String,
    routes: Vec<Arc<Route>>,
    settings: Settings,
    drain: Drain,
) {
    let feed = store.fanout_feed(&source);
    let mut scan = Scan {
        next: Instant::now(),
        started: true,
    };
    while !drain.is_cancelled() {
        let mut batch = feed.take(FANOUT_BATCH);
        let missed = feed.take_missed();
        scan.read(&store, &source, &feed, missed, settings, &mut batch)
            .await;
        if batch.is_empty() {
            idle(scan.next, feed.signal(), &drain).await;
            continue;
        }
        let items = match_routes(&batch, &routes);
        match store.fanout_commit(&source, &items).await {
            Ok(_) => wake_routes(&routes, &items),
            Err(err) => {
                // The events stay queued; the scan reads them again once
                // past the grace period, and each is fanned out once, by
                // the commit that takes it.
                tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), source = %source, error = %err, "fan-out commit failed");
                idle(Instant::now() + STORE_BACKOFF, feed.signal(), &drain).await;
            }
        }
    }
}

/// When the loop scans the durable fan-out queue.
struct Scan {
    /// The next scan is due then.
    next: Instant,
    /// No scan has succeeded yet: the next one skips nothing.
    started: bool,
}

impl Scan {
    /// Scans the queue into `batch` if a scan is due or the feed `missed`
    /// hints, and sets when the next one is due.
    async fn read(
        &mut self,
        store: &Store,
        source: &str,
        feed: &FanoutFeed,
        missed: bool,
        settings: Settings,
        batch: &mut Vec<(EventId, String)>,
    ) {
        let now = Instant::now();
        if !missed && now < self.next {
            return;
        }
        let min_age = if missed || self.started {
            Duration::ZERO
        } else {
            FANOUT_GRACE
        };
        match store.fanout_due_older(source, FANOUT_BATCH, min_age).await {
            Ok(found) => {
                self.started = false;
                // A full read may leave more: scan again at once.
                self.next = if found.len() < FANOUT_BATCH {
                    now + settings.poll_interval
                } else {
                    now
                };
                batch.extend(found);
            }
            Err(err) => {
                tracing::warn!(request_id = %hookgate_core::trace::new_request_id(), source = %source, error = %err, "fan-out read failed");
                if missed {
                    feed.mark_missed();
                }
                self.next = now + STORE_BACKOFF;
            }
        }
    }
}

/// Each event of `batch` paired with the subscriptions (of `routes`) that
/// want its type.
fn match_routes<'r>(
    batch: &[(EventId, String)],
    routes: &'r [Arc<Route>],
) -> Vec<(EventId, Vec<&'r str>)> {
    batch
        .iter()
        .map(|(id, ty)| {
            let subs: Vec<&str> = routes
                .iter()
                .filter(|r| r.sub.wants(ty))
                .map(|r| r.sub.id.as_str())
                .collect();
            (id.clone(), subs)
        })
        .collect()
}

/// Wakes the driver of every route that was given a delivery.
fn wake_routes(routes: &[Arc<Route>], items: &[(EventId, Vec<&str>)]) {
    for route in routes {
        if items
            .iter()
            .any(|(_, subs)| subs.contains(&route.sub.id.as_str()))
        {
            route.wake.notify_one();
        }
    }
}
