//! The store's ingest write (atomic dedup + durable enqueue): what a
//! provider waits for before its 2xx, and with the CPU benches the rest of
//! an ingest's cost. Unlike them this one does I/O, on both backends:
//!
//! - `store/sqlite/...`: the embedded store on a file in a temp dir (WAL,
//!   `synchronous = FULL`: every ingest waits for its fsync);
//! - `store/redis/...`: a private `redis-server` on a free loopback port
//!   (never 6379, persistence off), so loopback plus script time, with
//!   Redis sharing the cores.
//!
//! Three shapes: one new 1 KiB event; the same event again (the dedup
//! path, nothing written); and 64 concurrent callers, which group commit
//! folds into fewer transactions (SQLite) or script calls (Redis). Every
//! reply is checked, so a broken dedup fails loudly instead of timing the
//! wrong path. Ids are derived before the clock starts; only
//! `Store::ingest` is timed. Nothing is flushed between samples: a run
//! stores a few hundred thousand events.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;
use hookgate_config::{
    RedisStoreConfig, SqliteStoreConfig, StoreBackend, StoreConfig, StoreTopology,
};
use hookgate_core::event::NormalizedEvent;
use hookgate_core::{EventId, idempotency_key};
use hookgate_store::{NewEvent, Settings, Store};
use hookgate_testkit::RedisServer;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const SOURCE: &str = "stripe";
const DEDUP: Duration = Duration::from_secs(7 * 24 * 3600);
const CONCURRENT: usize = 64;
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A CloudEvent of exactly `size` bytes. The store keeps it as opaque
/// bytes, so one body serves every event id.
fn cloudevent(size: usize) -> Vec<u8> {
    let id = EventId::derive(&idempotency_key(SOURCE, "evt_0"));
    let build = |pad: usize| {
        let data = format!("{{\"pad\":\"{}\"}}", "x".repeat(pad));
        NormalizedEvent {
            id: &id,
            source_id: SOURCE,
            ty: "payment.succeeded",
            time: "2023-11-14T22:13:20Z",
            subject: Some("pi_1"),
            data_json: data.as_bytes(),
        }
        .to_cloudevent_json()
    };
    let ce = build(size - build(0).len());
    assert_eq!(ce.len(), size);
    ce
}

/// `count` ids never ingested before, as ingest derives them.
fn fresh_ids(next: &mut u64, count: usize) -> Vec<EventId> {
    (0..count)
        .map(|_| {
            *next += 1;
            EventId::derive(&idempotency_key(SOURCE, &format!("evt_{next}")))
        })
        .collect()
}

fn event<'a>(id: &'a EventId, ce: &'a [u8]) -> NewEvent<'a> {
    NewEvent {
        id,
        ty: "payment.succeeded",
        cloudevent: ce,
        traceparent: TRACEPARENT,
        order: &[],
    }
}

/// Runs a timed loop as a task on the runtime, where the gateway's request
/// handlers run too (`block_on` from the bench thread would add a thread
/// wake-up to every call).
fn on_runtime(rt: &Runtime, timed: impl Future<Output = Duration> + Send + 'static) -> Duration {
    rt.block_on(rt.spawn(timed)).expect("bench task")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The gateway's defaults (`store_timeout = 2s`, Redis `pool_size = 16`).
    let timeout = Duration::from_secs(2);
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = StoreConfig {
        timeout,
        backend: StoreBackend::Sqlite(SqliteStoreConfig {
            path: dir.path().join("hookgate.db"),
        }),
    };
    bench_store(c, &rt, "sqlite", &sqlite);
    // Killed when dropped, at the end of the run.
    let redis = rt.block_on(RedisServer::start());
    let redis_cfg = StoreConfig {
        timeout,
        backend: StoreBackend::Redis(RedisStoreConfig {
            url: redis.url().parse().expect("a valid store url"),
            allow_eviction: false,
            pool_size: 16,
            key_prefix: "hg".to_owned(),
            topology: StoreTopology::Single,
            ca_file: None,
            client_tls: None,
        }),
    };
    bench_store(c, &rt, "redis", &redis_cfg);
}

fn bench_store(c: &mut Criterion, rt: &Runtime, name: &str, cfg: &StoreConfig) {
    let store = rt.block_on(async {
        let store = Store::open(cfg, Settings::default()).expect("open store");
        store.check().await.expect("store check");
        store
    });
    let ce = cloudevent(1024);
    let mut next = 0u64;

    let mut group = c.benchmark_group(format!("store/{name}"));
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.throughput(Throughput::Elements(1));
    group.bench_function("ingest_1kib", |b| {
        b.iter_custom(|iters| {
            let ids = fresh_ids(&mut next, iters as usize);
            let (store, ce) = (store.clone(), ce.clone());
            on_runtime(rt, async move {
                let start = Instant::now();
                for id in &ids {
                    let stored = store
                        .ingest(SOURCE, DEDUP, &[event(id, &ce)])
                        .await
                        .expect("ingest");
                    assert_eq!(stored, [true], "a fresh id was taken for a duplicate");
                }
                start.elapsed()
            })
        })
    });

    // One event stored up front, then sent again and again.
    let dup = fresh_ids(&mut next, 1).remove(0);
    let first = rt.block_on(store.ingest(SOURCE, DEDUP, &[event(&dup, &ce)]));
    assert_eq!(first.expect("ingest"), [true]);
    group.bench_function("ingest_duplicate", |b| {
        b.iter_custom(|iters| {
            let (store, ce, dup) = (store.clone(), ce.clone(), dup.clone());
            on_runtime(rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let stored = store
                        .ingest(SOURCE, DEDUP, &[event(&dup, &ce)])
                        .await
                        .expect("ingest");
                    assert_eq!(stored, [false], "a duplicate was stored again");
                }
                start.elapsed()
            })
        })
    });

    // 64 callbacks of one event each in flight at once, as 64 connections
    // would send them; polled from one task, which is enough for them all to
    // queue while the first script call is out.
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function(format!("ingest_concurrent_{CONCURRENT}"), |b| {
        b.iter_custom(|iters| {
            let ids = fresh_ids(&mut next, iters as usize * CONCURRENT);
            let (store, ce) = (store.clone(), ce.clone());
            on_runtime(rt, async move {
                let start = Instant::now();
                for round in ids.chunks(CONCURRENT) {
                    let calls = round.iter().map(|id| {
                        let (store, ce) = (&store, &ce);
                        async move { store.ingest(SOURCE, DEDUP, &[event(id, ce)]).await }
                    });
                    for stored in join_all(calls).await {
                        assert_eq!(stored.expect("ingest"), [true]);
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
