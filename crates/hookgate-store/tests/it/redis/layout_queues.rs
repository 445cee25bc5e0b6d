//! What the fan-out and route operations write on Redis, read back with
//! raw commands: delivery hashes and their fields, queue, lease and
//! dead-letter scores, the attempt log's JSON and TTLs, the `requeue` mark
//! of a redeliver during an attempt, the housekeeping the scripts do, and
//! what they do with keys earlier versions left. (The behaviour itself is
//! the contract's: `contract::fanout`, `contract::routes`,
//! `contract::operators`.)

use crate::support::*;
use hookgate_core::time::now_ms;
use hookgate_store::{Finish, Settings, Store};
use hookgate_testkit::RedisServer;
use std::collections::BTreeSet;
use std::time::Duration;

fn key(kind: &str, rest: &str) -> String {
    format!("hg:{{stripe}}:{kind}{rest}")
}

fn delivery_key(id: &hookgate_core::EventId, sub: &str) -> String {
    key("x:", &format!("{id}:{sub}"))
}

fn fields(map: &std::collections::HashMap<String, String>) -> BTreeSet<&str> {
    map.keys().map(String::as_str).collect()
}

/// A Redis and a store on it with `settings`.
async fn started(settings: Settings) -> (RedisServer, Store) {
    let redis = RedisServer::start().await;
    let store = open_config(&config(&redis), settings).await;
    (redis, store)
}

// === fan-out ===

#[tokio::test]
async fn fanout_commit_writes_a_delivery_hash_and_a_queue_entry_per_subscription() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger", "audit"]).await;

    for sub in ["ledger", "audit"] {
        let dk = delivery_key(&ev.id, sub);
        let x = hgetall(&mut c, &dk).await;
        assert_eq!(fields(&x), BTreeSet::from(["first", "n", "st"]), "{x:?}");
        assert_eq!((x["st"].as_str(), x["n"].as_str()), ("pending", "0"));
        let first: i64 = x["first"].parse().expect("first is ms");
        assert_ttl_near(pttl(&mut c, &dk).await, RETENTION, "delivery");
        assert_eq!(
            zmembers(&mut c, &key("q:", sub)).await,
            [(ev.id.to_string(), first as f64)],
            "queued, due at the fan-out"
        );
        assert!(!exists(&mut c, &key("a:", &format!("{}:{sub}", ev.id))).await);
    }
    assert!(zmembers(&mut c, &key("fq", "")).await.is_empty());
    assert!(!exists(&mut c, &key("fl", "")).await, "no fan-out lease");
}

// === route queues ===

#[tokio::test]
async fn a_claim_moves_the_entry_from_the_queue_to_the_leases_scored_by_its_token() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let before = hgetall(&mut c, &delivery_key(&ev.id, "ledger")).await;

    let d = claim_one(&store, "stripe", "ledger").await;
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    assert_eq!(
        zmembers(&mut c, &key("l:", "ledger")).await,
        [(ev.id.to_string(), d.lease as f64)]
    );
    assert_eq!(
        hgetall(&mut c, &delivery_key(&ev.id, "ledger")).await,
        before,
        "a claim writes nothing to the record"
    );
}

#[tokio::test]
async fn a_delivered_outcome_writes_the_record_and_a_json_attempt_log() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(&store, "stripe", "ledger").await;

    assert!(
        finish(
            &store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Delivered,
            Some(204)
        )
        .await
    );

    let xk = delivery_key(&ev.id, "ledger");
    let x = hgetall(&mut c, &xk).await;
    assert_eq!(
        fields(&x),
        BTreeSet::from(["code", "done_at", "first", "n", "st"]),
        "{x:?}"
    );
    assert_eq!(
        (x["st"].as_str(), x["n"].as_str(), x["code"].as_str()),
        ("delivered", "1", "204")
    );
    assert!(x["done_at"].parse::<i64>().is_ok(), "{x:?}");
    assert_ttl_near(pttl(&mut c, &xk).await, RETENTION, "delivery");

    let ak = key("a:", &format!("{}:ledger", ev.id));
    let log = lrange(&mut c, &ak).await;
    assert_eq!(log.len(), 1);
    let json: serde_json::Value = serde_json::from_str(&log[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "n": 1, "at": "2025-01-02T03:04:05.678Z", "status_code": 204,
            "error": null, "duration_ms": 12
        })
    );
    assert_ttl_near(pttl(&mut c, &ak).await, RETENTION, "attempt log");
    for k in ["q:", "l:", "dlq:"] {
        assert!(!exists(&mut c, &key(k, "ledger")).await, "{k}");
    }
}

#[tokio::test]
async fn a_retry_is_a_later_score_in_the_queue_and_a_transport_error_an_empty_code() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(&store, "stripe", "ledger").await;

    let due = now_ms() + 3_600_000;
    assert!(
        finish(
            &store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Retry { due_ms: due },
            None
        )
        .await
    );
    let x = hgetall(&mut c, &delivery_key(&ev.id, "ledger")).await;
    assert_eq!(
        (x["st"].as_str(), x["n"].as_str(), x["code"].as_str()),
        ("pending", "1", "")
    );
    assert_eq!(
        zmembers(&mut c, &key("q:", "ledger")).await,
        [(ev.id.to_string(), due as f64)]
    );
    assert!(zmembers(&mut c, &key("l:", "ledger")).await.is_empty());
}

#[tokio::test]
async fn a_dead_letter_is_scored_by_its_death() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(&store, "stripe", "ledger").await;

    let dead = Finish::Dead {
        reason: "status 410".to_owned(),
    };
    assert!(finish(&store, "stripe", "ledger", &d, 1, dead, Some(410)).await);

    let x = hgetall(&mut c, &delivery_key(&ev.id, "ledger")).await;
    assert_eq!(
        (
            x["st"].as_str(),
            x["reason"].as_str(),
            x["code"].as_str(),
            x["n"].as_str()
        ),
        ("dead", "status 410", "410", "1")
    );
    let dead_at: i64 = x["dead_at"].parse().unwrap();
    assert_eq!(
        zmembers(&mut c, &key("dlq:", "ledger")).await,
        [(ev.id.to_string(), dead_at as f64)]
    );
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("l:", "ledger")).await.is_empty());
}

#[tokio::test]
async fn a_reclaim_counts_in_the_record_and_logs_a_fixed_width_entry() {
    let settings = Settings {
        visibility_timeout: Duration::from_millis(50),
        ..Settings::default()
    };
    let (redis, store) = started(settings).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;

    let old = claim_one(&store, "stripe", "ledger").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let new = claim_one(&store, "stripe", "ledger").await;

    let x = hgetall(&mut c, &delivery_key(&ev.id, "ledger")).await;
    assert_eq!((x["rc"].as_str(), x["n"].as_str()), ("1", "0"), "{x:?}");
    assert_eq!(
        zmembers(&mut c, &key("l:", "ledger")).await,
        [(ev.id.to_string(), new.lease as f64)]
    );
    let log = lrange(&mut c, &key("a:", &format!("{}:ledger", ev.id))).await;
    assert_eq!(log.len(), 1);
    let entry: serde_json::Value = serde_json::from_str(&log[0]).unwrap();
    let mut names: Vec<&str> = entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort();
    assert_eq!(names, ["at", "duration_ms", "error", "n"], "{entry}");
    assert_eq!(entry["n"], 1);
    // The script formats `at` itself: always three digits of milliseconds.
    let at = entry["at"].as_str().unwrap();
    assert!(at.len() == 24 && at.ends_with('Z'), "{at}");
    assert_eq!(
        hookgate_core::time::parse_rfc3339_ms(at),
        Some(old.lease - 50),
        "the lease's start"
    );
}

#[tokio::test]
async fn a_redeliver_during_an_attempt_marks_the_record_instead_of_queueing_it() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(&store, "stripe", "ledger").await;
    let xk = delivery_key(&ev.id, "ledger");

    assert!(
        bounded(store.redeliver("stripe", "ledger", &ev.id))
            .await
            .unwrap()
    );
    let x = hgetall(&mut c, &xk).await;
    assert_eq!(x["requeue"], "1", "{x:?}");
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    assert_eq!(
        zmembers(&mut c, &key("l:", "ledger")).await,
        [(ev.id.to_string(), d.lease as f64)],
        "the lease is kept"
    );

    let before = now_ms();
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
    let x = hgetall(&mut c, &xk).await;
    assert!(!x.contains_key("requeue"), "{x:?}");
    assert_eq!((x["st"].as_str(), x["n"].as_str()), ("pending", "1"));
    assert!(!x.contains_key("done_at"), "{x:?}");
    let queued = zmembers(&mut c, &key("q:", "ledger")).await;
    assert_eq!(queued.len(), 1);
    assert!(queued[0].1 as i64 >= before, "queued now: {queued:?}");
    assert!(zmembers(&mut c, &key("l:", "ledger")).await.is_empty());
}

// === housekeeping ===

#[tokio::test]
async fn claims_trim_dead_letters_past_retention_and_reclaimed_records_get_a_ttl() {
    let settings = Settings {
        retention: Duration::from_secs(5),
        visibility_timeout: Duration::from_millis(50),
    };
    let (redis, store) = started(settings).await;
    let mut conn = redis.conn().await;
    // Two old dead letters (dead long before the retention) and a fresh one.
    let now = now_ms();
    let dlq = key("dlq:", "ledger");
    for (id, at) in [
        ("evt_aaaaaaaaaaaaaaaaaaaaaaaaaa", now - 10_000),
        ("evt_bbbbbbbbbbbbbbbbbbbbbbbbbb", now - 9_000),
        ("evt_cccccccccccccccccccccccccc", now),
    ] {
        let _: i64 = raw(&mut conn, &["ZADD", &dlq, &at.to_string(), id]).await;
    }
    let claimed = claim(&store, "stripe", "ledger", 10).await;
    assert!(claimed.deliveries.is_empty());
    let left: Vec<String> = zmembers(&mut conn, &dlq)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        left,
        vec!["evt_cccccccccccccccccccccccccc"],
        "only dead letters within the retention stay"
    );

    // A lease expiring on a delivery whose record already expired: the
    // record the script recreates carries the retention as TTL.
    let ev = ingest_and_fan_out(&store, "stripe", "evt_ttl", &["ledger"]).await;
    claim_one(&store, "stripe", "ledger").await;
    let dk = delivery_key(&ev.id, "ledger");
    let _: i64 = raw(&mut conn, &["DEL", &dk]).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    claim(&store, "stripe", "ledger", 10).await;
    let ttl = pttl(&mut conn, &dk).await;
    assert!(
        ttl > 0 && ttl <= 5_000,
        "recreated record has the retention TTL: {ttl}"
    );
}

#[tokio::test]
async fn fanout_reads_trim_the_event_index_past_retention() {
    let settings = Settings {
        retention: Duration::from_secs(5),
        ..Settings::default()
    };
    let (redis, store) = started(settings).await;
    let mut conn = redis.conn().await;
    let ei = key("ei", "");
    let _: i64 = raw(
        &mut conn,
        &[
            "ZADD",
            &ei,
            &(now_ms() - 10_000).to_string(),
            "evt_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        ],
    )
    .await;
    let fresh = TestEvent::new("stripe", "evt_index_fresh", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&fresh]).await.unwrap(), [true]);
    bounded(store.fanout_due("stripe", 10))
        .await
        .expect("fan-out read");
    let left: Vec<String> = zmembers(&mut conn, &ei)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        left,
        vec![fresh.id.to_string()],
        "index entries past the retention are trimmed"
    );
}

// === keys earlier versions left ===

#[tokio::test]
async fn fanout_leases_left_by_an_earlier_version_return_to_the_queue_once_expired() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let stale = TestEvent::new("stripe", "evt_stale", "payment.succeeded");
    let live = TestEvent::new("stripe", "evt_live", "payment.succeeded");
    ingest(&store, "stripe", &[&stale, &live]).await.unwrap();
    // What an earlier version's claim left: both leased, one lease expired.
    let now = now_ms();
    let _: i64 = raw(&mut c, &["DEL", &key("fq", "")]).await;
    let (past, future) = ((now - 1_000).to_string(), (now + 60_000).to_string());
    let _: i64 = raw(
        &mut c,
        &[
            "ZADD",
            &key("fl", ""),
            &past,
            stale.id.as_str(),
            &future,
            live.id.as_str(),
        ],
    )
    .await;

    let due = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(due, [(stale.id.clone(), stale.ty.clone())]);
    let leases = zmembers(&mut c, &key("fl", "")).await;
    assert_eq!(leases.len(), 1, "the live lease stays with its worker");
    assert_eq!(leases[0].0, live.id.as_str());
}

#[tokio::test]
async fn a_commit_of_an_event_an_older_worker_put_back_leaves_records_as_new_as_it_alone() {
    // During an upgrade an older worker can put an event back in the
    // fan-out queue after this version fanned it out: records as new as
    // the event are its own deliveries, left alone (only records older
    // than the event, of an earlier ingest, are re-armed).
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_again", &["ledger", "audit"]).await;
    let d = claim_one(&store, "stripe", "ledger").await;
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
    let d = claim_one(&store, "stripe", "audit").await;
    let dead = Finish::Dead {
        reason: "status 410".to_owned(),
    };
    assert!(finish(&store, "stripe", "audit", &d, 1, dead, Some(410)).await);

    let _: i64 = raw(&mut c, &["ZADD", &key("fq", ""), "0", ev.id.as_str()]).await;
    let before: Vec<_> = [
        hgetall(&mut c, &delivery_key(&ev.id, "ledger")).await,
        hgetall(&mut c, &delivery_key(&ev.id, "audit")).await,
    ]
    .into();
    let taken = bounded(store.fanout_commit("stripe", &[(ev.id.clone(), vec!["ledger", "audit"])]))
        .await
        .unwrap();
    assert_eq!(taken, 1, "taken off the queue");
    let after: Vec<_> = [
        hgetall(&mut c, &delivery_key(&ev.id, "ledger")).await,
        hgetall(&mut c, &delivery_key(&ev.id, "audit")).await,
    ]
    .into();
    assert_eq!(after, before);
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("q:", "audit")).await.is_empty());
    assert_eq!(zmembers(&mut c, &key("dlq:", "audit")).await.len(), 1);
}
