//! Store faults (docs/store.md, docs/guarantees.md): out of memory, down, slow,
//! restarted with its data, restarted empty. The ingest path must fail fast
//! with an error the ingest crate answers 503 to (any `StoreError`), never
//! leave a claimed key without its event, and recover with the same handle.

use crate::support::*;
use hookgate_store::{Finish, Settings, Store, StoreError};
use hookgate_testkit::RedisServer;
use std::time::Duration;

/// How long a recovered Redis may take to be usable again through the same
/// handle (reconnects are lazy: the first call after a restart may fail).
const RECOVERY: Duration = Duration::from_secs(10);

/// Retries `ingest` until it succeeds or [`RECOVERY`] passes; panics with
/// the errors seen.
async fn ingest_until_ok(store: &Store, source: &str, events: &[&TestEvent]) -> Vec<bool> {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    let mut errors = Vec::new();
    loop {
        match ingest(store, source, events).await {
            Ok(flags) => return flags,
            Err(e) => errors.push(e.to_string()),
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("store did not recover within {RECOVERY:?}: {errors:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ingest_sha() -> String {
    redis::Script::new(include_str!("../../../src/redis/scripts/ingest.lua"))
        .get_hash()
        .to_owned()
}

async fn script_loaded(c: &mut redis::aio::MultiplexedConnection, sha: &str) -> bool {
    let loaded: Vec<i64> = raw(c, &["SCRIPT", "EXISTS", sha]).await;
    loaded == [1]
}

#[tokio::test]
async fn out_of_memory_refuses_ingest_and_never_leaves_a_key_claimed_without_its_event() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "noeviction"]).await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    // A small headroom above what an empty Redis uses (a fixed `1mb` can be
    // below the baseline of some builds).
    let info: String = raw(&mut c, &["INFO", "memory"]).await;
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO");
    let limit = (used + 512 * 1024).to_string();
    let _: String = raw(&mut c, &["CONFIG", "SET", "maxmemory", &limit]).await;

    // Fill with batches of 4 events of ~2 KiB until Redis refuses.
    let mut stored = 0usize;
    let mut seen = Vec::new();
    let mut refusal = None;
    for batch in 0..10_000 {
        let events: Vec<TestEvent> = (0..4)
            .map(|i| {
                let mut ev =
                    TestEvent::new("stripe", &format!("evt_{batch}_{i}"), "payment.succeeded");
                ev.ce.extend(std::iter::repeat_n(b' ', 2048));
                ev
            })
            .collect();
        let refs: Vec<&TestEvent> = events.iter().collect();
        match ingest(&store, "stripe", &refs).await {
            Ok(flags) => {
                assert_eq!(flags, [true; 4]);
                stored += 4;
                seen.extend(events);
            }
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal = refusal.expect("Redis never ran out of memory");
    assert!(
        matches!(refusal, StoreError::OutOfMemory),
        "expected OutOfMemory, got {refusal:?}"
    );
    assert!(stored > 0, "nothing fit before the limit");

    // Every claim has its event; nothing of the refused batch was written.
    let markers = scan(&mut c, "hg:*:d:*").await;
    for marker in &markers {
        let event = marker.replacen(":d:", ":e:", 1);
        assert!(
            exists(&mut c, &event).await,
            "{marker} claimed without {event}"
        );
    }
    assert_eq!(markers.len(), stored);
    assert_eq!(scan(&mut c, "hg:*:e:*").await.len(), stored);
    assert_eq!(zmembers(&mut c, "hg:{stripe}:fq").await.len(), stored);

    // A provider retry of a stored event is refused too (503, it retries
    // later) rather than answered from a half-working store.
    let again = ingest(&store, "stripe", &[&seen[0]]).await;
    assert!(matches!(again, Err(StoreError::OutOfMemory)), "{again:?}");
    // Reads still work.
    assert!(store.event("stripe", &seen[0].id).await.unwrap().is_some());

    // Memory is freed (the operator raises the limit): the same handle
    // writes again.
    let _: String = raw(&mut c, &["CONFIG", "SET", "maxmemory", "0"]).await;
    let fresh = TestEvent::new("stripe", "evt_after_oom", "payment.succeeded");
    assert_eq!(
        ingest(&store, "stripe", &[&fresh, &seen[0]]).await.unwrap(),
        [true, false]
    );
}

#[tokio::test]
async fn store_down_fails_fast_with_unavailable_and_the_same_handle_recovers() {
    let mut redis = RedisServer::start().await;
    let store = open(&redis).await;
    let a = TestEvent::new("stripe", "evt_a", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&a]).await.unwrap(), [true]);

    redis.stop();
    let b = TestEvent::new("stripe", "evt_b", "payment.succeeded");
    // `ingest` bounds the call by FAIL_FAST (several times store_timeout).
    for _ in 0..3 {
        match ingest(&store, "stripe", &[&b]).await {
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("expected Unavailable while Redis is down, got {other:?}"),
        }
    }
    for result in [
        bounded(store.fanout_due("stripe", 10)).await.map(|_| ()),
        bounded(store.route_claim("stripe", "ledger", 10))
            .await
            .map(|_| ()),
        bounded(store.ready()).await,
    ] {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    }

    // Redis comes back (empty: persistence is off). Same handle, no restart
    // of the gateway.
    redis.start_again().await;
    assert_eq!(ingest_until_ok(&store, "stripe", &[&b]).await, [true]);
    assert_eq!(ingest(&store, "stripe", &[&b]).await.unwrap(), [false]);
}

#[tokio::test]
async fn store_down_at_start_answers_unavailable_then_works_when_it_comes_up() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    // The gateway starts (and answers 503) while Redis is down.
    let store = Store::open(&config(&redis), Settings::default()).expect("open is lazy");
    assert!(matches!(
        bounded(store.check()).await,
        Err(StoreError::Unavailable(_))
    ));
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    let down = ingest(&store, "stripe", &[&ev]).await;
    assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");

    redis.start_again().await;
    assert_eq!(ingest_until_ok(&store, "stripe", &[&ev]).await, [true]);
}

#[tokio::test]
async fn slow_store_fails_the_call_within_store_timeout() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = TestEvent::new("stripe", "evt_slow", "payment.succeeded");

    // Redis stops answering for 3 s (longer than store_timeout, shorter than
    // FAIL_FAST): the call must give up on its own, not wait it out.
    let _: String = raw(&mut c, &["CLIENT", "PAUSE", "3000", "ALL"]).await;
    let slow = ingest(&store, "stripe", &[&ev]).await;
    assert!(matches!(slow, Err(StoreError::Unavailable(_))), "{slow:?}");

    // After the pause the provider's retry is accepted: stored now, or a
    // duplicate if the timed-out call was executed late. Never lost.
    let flags = ingest_until_ok(&store, "stripe", &[&ev]).await;
    assert_eq!(flags.len(), 1);
    assert!(store.event("stripe", &ev.id).await.unwrap().is_some());
}

#[tokio::test]
async fn acknowledged_writes_survive_a_redis_crash_with_appendfsync_always() {
    let mut redis =
        RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]).await;
    let settings = Settings {
        visibility_timeout: Duration::from_secs(3600),
        ..Settings::default()
    };
    let store = open_config(&config(&redis), settings).await;
    let mut c = redis.conn().await;
    // One delivery in flight, one retry scheduled an hour away.
    let fanned = ingest_and_fan_out(&store, "stripe", "evt_fanned", &["ledger", "audit"]).await;
    claim_one(&store, "stripe", "ledger").await;
    let d = claim_one(&store, "stripe", "audit").await;
    let due = hookgate_core::time::now_ms() + 3_600_000;
    let retry = Finish::Retry { due_ms: due };
    assert!(finish(&store, "stripe", "audit", &d, 1, retry, Some(503)).await);
    // And 20 events waiting for fan-out.
    let events: Vec<TestEvent> = (0..20)
        .map(|i| TestEvent::new("stripe", &format!("evt_{i}"), "payment.succeeded"))
        .collect();
    for ev in &events {
        assert_eq!(ingest(&store, "stripe", &[ev]).await.unwrap(), [true]);
    }
    let keys_before = scan(&mut c, "*").await;

    redis.stop(); // SIGKILL: a crash, no shutdown save
    redis.start_again().await;
    let mut c = redis.conn().await;

    assert_eq!(
        scan(&mut c, "*").await,
        keys_before,
        "keys lost in the crash"
    );
    let refs: Vec<&TestEvent> = events.iter().collect();
    assert_eq!(
        ingest_until_ok(&store, "stripe", &refs).await,
        vec![false; 20]
    );
    for ev in &events {
        let stored = until_ok(RECOVERY, "event read", || store.event("stripe", &ev.id))
            .await
            .expect("event survived");
        assert_eq!(stored.cloudevent, ev.ce);
    }
    assert_eq!(zmembers(&mut c, "hg:{stripe}:fq").await.len(), 20);
    assert_eq!(
        zmembers(&mut c, "hg:{stripe}:q:audit").await,
        [(fanned.id.to_string(), due as f64)],
        "the retry schedule survived"
    );
    assert_eq!(zmembers(&mut c, "hg:{stripe}:l:ledger").await.len(), 1);
    assert_eq!(
        until_ok(RECOVERY, "attempts read", || store
            .attempts("stripe", &fanned.id, "audit"))
        .await,
        [attempt(1, Some(503), None)]
    );
}

#[tokio::test]
async fn redis_restarted_empty_reloads_scripts_transparently() {
    let mut redis = RedisServer::start().await;
    let store = open(&redis).await;
    let sha = ingest_sha();
    let before = TestEvent::new("stripe", "evt_before", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&before]).await.unwrap(), [true]);
    assert!(script_loaded(&mut redis.conn().await, &sha).await);

    redis.restart_empty().await;
    let mut c = redis.conn().await;
    assert!(
        !script_loaded(&mut c, &sha).await,
        "script cache should be empty"
    );

    // Same handle: the first write after the restart hits NOSCRIPT and
    // reloads the script by itself.
    let after = TestEvent::new("stripe", "evt_after", "payment.succeeded");
    assert_eq!(ingest_until_ok(&store, "stripe", &[&after]).await, [true]);
    assert!(script_loaded(&mut c, &sha).await);
    assert_eq!(
        scan(&mut c, "hg:{stripe}:e:*").await,
        [format!("hg:{{stripe}}:e:{}", after.id)]
    );

    // Every other script reloads too: a whole delivery cycle works.
    let claimed = until_ok(RECOVERY, "fan-out claim", || store.fanout_due("stripe", 10)).await;
    assert_eq!(claimed, [(after.id.clone(), after.ty.clone())]);
    let items = [(after.id.clone(), vec!["ledger"])];
    until_ok(RECOVERY, "fan-out commit", || {
        store.fanout_commit("stripe", &items)
    })
    .await;
    let d = until_ok(RECOVERY, "route claim", || {
        store.route_claim("stripe", "ledger", 10)
    })
    .await
    .deliveries
    .remove(0);
    assert_eq!(d.cloudevent, after.ce);
    assert!(
        finish(
            &store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
}

#[tokio::test]
async fn after_a_restart_no_pooled_connection_fails_a_call_after_the_first_ping() {
    let mut redis = RedisServer::start().await;
    let mut cfg = config(&redis);
    redis_mut(&mut cfg).pool_size = 8;
    let pool_size = 8;
    let store = Store::open(&cfg, Settings::default()).expect("open store");
    // Every pooled connection connected (calls go round the pool).
    for _ in 0..2 * pool_size {
        bounded(store.paused())
            .await
            .expect("read before the restart");
    }

    redis.restart_empty().await;
    // The readiness probe's PING finds its connection lost, replaces the
    // pool and succeeds on the fresh one: ready at the first probe.
    bounded(store.ready())
        .await
        .expect("first readiness probe after the restart");
    // Every other connection was replaced with it: no call fails. (Before,
    // each pooled connection failed its own first call, so `/readyz` and
    // the admin API answered 503 pool_size times after a restart.)
    let mut failed = 0;
    for _ in 0..2 * pool_size {
        if bounded(store.paused()).await.is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 0, "calls that failed after the first PING");
}

#[tokio::test]
async fn readiness_says_out_of_memory_while_redis_refuses_writes() {
    // noeviction at its maxmemory: PING and CONFIG GET still answer, every
    // write is refused. Readiness runs a script that may write (and writes
    // nothing), which Redis refuses exactly then.
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    bounded(store.ready()).await.expect("ready");
    let mut c = redis.conn().await;
    let _: String = raw(&mut c, &["CONFIG", "SET", "maxmemory", "1"]).await;
    match bounded(store.ready()).await {
        Err(StoreError::OutOfMemory) => {}
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    let dbsize: i64 = raw(&mut c, &["DBSIZE"]).await;
    assert_eq!(dbsize, 0, "the probe writes nothing");
    let _: String = raw(&mut c, &["CONFIG", "SET", "maxmemory", "0"]).await;
    bounded(store.ready()).await.expect("ready again");
}
