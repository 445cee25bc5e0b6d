//! Fills a SQLite store file with N Stripe events through the store API
//! (the gateway's own write path, 50 events to an ingest batch, 16 batches
//! in flight so group commit folds them into few fsyncs), for benchmarks
//! that need a large store behind a running gateway, such as the console's
//! first paint (`benches/console_paint.sh`).
//!
//! ```sh
//! cargo run --release -p hookgate-benches --example fill_events -- /tmp/hg.db 1000000 [max_seconds]
//! ```
//!
//! The events are then taken off the fan-out queue with no subscription
//! (what the gateway's fan-out does for events nobody subscribes to), so
//! a gateway started on the file has no backlog to work through while it
//! is measured.
//!
//! Bounded: it stops after `max_seconds` (default 600) whatever the count
//! reached, and prints `filled N events in T` either way.

use futures::future::join_all;
use hookgate_config::{SqliteStoreConfig, StoreBackend, StoreConfig};
use hookgate_core::{EventId, idempotency_key};
use hookgate_store::{NewEvent, Settings, Store};
use std::time::{Duration, Instant};

const SOURCE: &str = "stripe";
const DEDUP: Duration = Duration::from_secs(7 * 24 * 3600);
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const BATCH: usize = 50;
const TYPES: &[&str] = &[
    "stripe.charge.succeeded",
    "stripe.payment_intent.created",
    "stripe.customer.updated",
    "stripe.invoice.paid",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: fill_events PATH COUNT [MAX_SECONDS]");
    let total: usize = args
        .next()
        .and_then(|v| v.parse().ok())
        .expect("COUNT: a number of events");
    let max = Duration::from_secs(args.next().and_then(|v| v.parse().ok()).unwrap_or(600));
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let cfg = StoreConfig {
        timeout: Duration::from_secs(30),
        backend: StoreBackend::Sqlite(SqliteStoreConfig { path: path.into() }),
    };
    rt.block_on(async {
        let store = Store::open(&cfg, Settings::default()).expect("open store");
        store.check().await.expect("store check");
        fill(&store, total, max).await;
        drain(&store).await;
    });
}

/// The event's CloudEvent as the gateway stores it (subject = the Stripe
/// object id).
fn cloudevent(i: usize, id: &EventId, ty: &str) -> Vec<u8> {
    serde_json::json!({
        "specversion": "1.0", "id": id.to_string(), "source": "/hookgate/stripe",
        "type": ty, "subject": format!("ch_{i}"), "time": "2026-12-07T00:00:00Z",
        "datacontenttype": "application/json",
        "data": {"id": format!("evt_{i}"), "object": "event", "type": ty,
                 "data": {"object": {"id": format!("ch_{i}"), "amount": 2000 + i % 997}}},
    })
    .to_string()
    .into_bytes()
}

async fn fill(store: &Store, total: usize, max: Duration) {
    let started = Instant::now();
    let mut next = 0usize;
    while next < total && started.elapsed() < max {
        let rounds: Vec<Vec<(EventId, &str, Vec<u8>)>> = (0..16)
            .map(|_| {
                let batch: Vec<_> = (next..(next + BATCH).min(total))
                    .map(|i| {
                        let id = EventId::derive(&idempotency_key(SOURCE, &format!("evt_{i}")));
                        let ty = TYPES[i % TYPES.len()];
                        let ce = cloudevent(i, &id, ty);
                        (id, ty, ce)
                    })
                    .collect();
                next += batch.len();
                batch
            })
            .filter(|b| !b.is_empty())
            .collect();
        let calls = rounds.iter().map(|events| {
            let batch: Vec<NewEvent<'_>> = events
                .iter()
                .map(|(id, ty, ce)| NewEvent {
                    id,
                    ty,
                    cloudevent: ce,
                    traceparent: TRACEPARENT,
                    order: &[],
                })
                .collect();
            async move { store.ingest(SOURCE, DEDUP, &batch).await }
        });
        for r in join_all(calls).await {
            r.expect("ingest");
        }
        if next % 100_000 < 16 * BATCH {
            eprintln!("{next} events, {:.1?}", started.elapsed());
        }
    }
    println!("filled {next} events in {:.1?}", started.elapsed());
}

/// Takes every filled event off the fan-out queue, to no subscription.
async fn drain(store: &Store) {
    let started = Instant::now();
    let mut done = 0usize;
    loop {
        let due = store.fanout_due(SOURCE, 5000).await.expect("fanout_due");
        if due.is_empty() {
            break;
        }
        let items: Vec<(EventId, Vec<&str>)> =
            due.into_iter().map(|(id, _)| (id, Vec::new())).collect();
        done += store
            .fanout_commit(SOURCE, &items)
            .await
            .expect("fanout_commit");
    }
    println!(
        "fanned out {done} events (to no subscription) in {:.1?}",
        started.elapsed()
    );
}
