//! The events listing's store read (`GET /admin/v1/events`, the console's
//! Events page) on a large SQLite store: the first page, and a page half
//! way down, both by keyset (`event_index_after`). A deep page should cost
//! what a first page costs. (The offset read it replaced, since removed,
//! grew with the depth: benches/results/2026-12-07-2core-listing/.)
//!
//! The store is filled once before timing with `HOOKGATE_BENCH_EVENTS`
//! events (default 200,000; 1,000,000 takes a few minutes and about 400 MB
//! of disk), 50 to an ingest batch (so 50 share a receive millisecond),
//! in a temp dir removed at the end.

use criterion::{Criterion, criterion_group, criterion_main};
use futures::future::join_all;
use hookgate_config::{SqliteStoreConfig, StoreBackend, StoreConfig};
use hookgate_core::{EventId, idempotency_key};
use hookgate_store::{ListOrder, NewEvent, Settings, Store};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const SOURCE: &str = "stripe";
const DEDUP: Duration = Duration::from_secs(7 * 24 * 3600);
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const BATCH: usize = 50;
/// One page as the API asks for it (limit 50, plus one to know there is more).
const PAGE: usize = 51;

fn events() -> usize {
    std::env::var("HOOKGATE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

async fn fill(store: &Store, total: usize) {
    let ce = br#"{"specversion":"1.0","type":"payment.succeeded","data":{"amount":2000}}"#;
    let started = Instant::now();
    let mut next = 0usize;
    while next < total {
        // 16 batches at a time: group commit folds them into few fsyncs.
        let rounds: Vec<Vec<EventId>> = (0..16)
            .map(|_| {
                let ids: Vec<EventId> = (next..(next + BATCH).min(total))
                    .map(|i| EventId::derive(&idempotency_key(SOURCE, &format!("evt_{i}"))))
                    .collect();
                next += ids.len();
                ids
            })
            .filter(|ids| !ids.is_empty())
            .collect();
        let calls = rounds.iter().map(|ids| {
            let batch: Vec<NewEvent<'_>> = ids
                .iter()
                .map(|id| NewEvent {
                    id,
                    ty: "payment.succeeded",
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
    }
    eprintln!("filled {total} events in {:.1?}", started.elapsed());
}

fn bench_listing(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = StoreConfig {
        timeout: Duration::from_secs(30),
        backend: StoreBackend::Sqlite(SqliteStoreConfig {
            path: dir.path().join("hookgate.db"),
        }),
    };
    let total = events();
    let store = rt.block_on(async {
        let store = Store::open(&cfg, Settings::default()).expect("open store");
        store.check().await.expect("store check");
        fill(&store, total).await;
        store
    });
    let all = (0, i64::MAX);
    let order = ListOrder::NewestFirst;
    let half = total / 2;
    // The entry half way down the listing, the cursor of a deep page.
    let (mid_id, mid_ms) = rt
        .block_on(store.event_index_after(SOURCE, all, order, None, half + 1))
        .expect("read")
        .pop()
        .expect("an entry half way");
    let page = rt
        .block_on(store.event_index_after(SOURCE, all, order, Some((mid_ms, &mid_id)), PAGE))
        .expect("read");
    assert_eq!(page.len(), PAGE, "a whole page past half way");

    let mut group = c.benchmark_group(format!("listing/sqlite/{total}"));
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("first_page", |b| {
        b.iter(|| {
            rt.block_on(store.event_index_after(SOURCE, all, order, None, PAGE))
                .expect("read")
        })
    });
    group.bench_function("half_way/keyset", |b| {
        b.iter(|| {
            rt.block_on(store.event_index_after(SOURCE, all, order, Some((mid_ms, &mid_id)), PAGE))
                .expect("read")
        })
    });
    group.finish();
}

criterion_group!(benches, bench_listing);
criterion_main!(benches);
