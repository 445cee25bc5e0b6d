//! Fan-out and route queues (SPEC §4): leases, creation of each delivery
//! once, retries on a durable schedule, dead letters, stale leases and
//! poison messages.

use crate::support::*;
use hookgate_core::time::now_ms;
use hookgate_store::{
    ATTEMPT_LOG_CAP, ClaimedDelivery, DeliveryStatus, Finish, RECLAIM_LIMIT, Store,
};
use hookgate_testkit::RedisServer;
use std::time::Duration;

const LONG_LEASE: Duration = Duration::from_secs(30);
const SHORT_LEASE: Duration = Duration::from_millis(50);
/// Sleep that outlasts [`SHORT_LEASE`] with a wide margin.
const PAST_SHORT_LEASE: Duration = Duration::from_millis(150);

fn key(kind: &str, rest: &str) -> String {
    format!("hg:{{stripe}}:{kind}{rest}")
}

async fn claim(
    store: &Store,
    sub: &str,
    max: usize,
    lease: Duration,
) -> hookgate_store::RouteClaim {
    bounded(store.route_claim("stripe", sub, max, lease))
        .await
        .expect("route claim")
}

/// One due delivery of `sub`, when several are queued.
async fn claim_one_of(store: &Store, sub: &str) -> ClaimedDelivery {
    let mut claim = claim(store, sub, 1, LONG_LEASE).await;
    assert_eq!(claim.deliveries.len(), 1, "{claim:?}");
    claim.deliveries.remove(0)
}

async fn claim_one(store: &Store, sub: &str, lease: Duration) -> ClaimedDelivery {
    let mut claim = claim(store, sub, 10, lease).await;
    assert_eq!(
        claim.deliveries.len(),
        1,
        "expected one delivery: {claim:?}"
    );
    claim.deliveries.remove(0)
}

async fn finish(
    store: &Store,
    d: &ClaimedDelivery,
    n: u32,
    how: Finish,
    code: Option<u16>,
) -> bool {
    finish_on(store, "ledger", d, n, how, code).await
}

/// [`finish`] on the route of subscription `sub`.
async fn finish_on(
    store: &Store,
    sub: &str,
    d: &ClaimedDelivery,
    n: u32,
    how: Finish,
    code: Option<u16>,
) -> bool {
    let record = attempt(n, code, code.is_none().then_some("connect refused"));
    let record = (how != Finish::Release).then_some(&record);
    bounded(store.route_finish("stripe", sub, &d.id, d.lease, n, &how, record, RETENTION))
        .await
        .expect("route finish")
}

// === fan-out ===

#[tokio::test]
async fn fanout_due_reads_events_with_their_types_until_a_commit_takes_them() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let a = TestEvent::new("stripe", "evt_a", "payment.succeeded");
    let b = TestEvent::new("stripe", "evt_b", "stripe.charge.refunded");
    let d = TestEvent::new("stripe", "evt_c", "payment.failed");
    for ev in [&a, &b, &d] {
        assert_eq!(ingest(&store, "stripe", &[ev]).await.unwrap(), [true]);
    }

    let two = bounded(store.fanout_due("stripe", 2)).await.unwrap();
    let all = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(all.len(), 3, "a read leases nothing: {all:?}");
    let mut got: Vec<(String, String)> = all
        .iter()
        .map(|(id, ty)| (id.to_string(), ty.clone()))
        .collect();
    got.sort();
    let mut expected: Vec<(String, String)> = [&a, &b, &d]
        .iter()
        .map(|e| (e.id.to_string(), e.ty.clone()))
        .collect();
    expected.sort();
    assert_eq!(got, expected);

    // The first two are committed; only the third is read again.
    let items: Vec<_> = two.iter().map(|(id, _)| (id.clone(), vec![])).collect();
    assert_eq!(
        bounded(store.fanout_commit("stripe", &items, RETENTION))
            .await
            .unwrap(),
        2
    );
    let rest = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert!(!two.iter().any(|(id, _)| *id == rest[0].0), "{rest:?}");
    assert_eq!(zmembers(&mut c, &key("fq", "")).await.len(), 1);
    assert!(zmembers(&mut c, &key("fl", "")).await.is_empty());
}

#[tokio::test]
async fn the_aged_scan_leaves_events_younger_than_its_minimum_age() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let old = TestEvent::new("stripe", "evt_old", "payment.succeeded");
    let young = TestEvent::new("stripe", "evt_young", "payment.succeeded");
    for ev in [&old, &young] {
        assert_eq!(ingest(&store, "stripe", &[ev]).await.unwrap(), [true]);
    }
    // Age the first: queued a minute ago.
    let minute_ago = (now_ms() - 60_000).to_string();
    let _: i64 = raw(
        &mut c,
        &["ZADD", &key("fq", ""), &minute_ago, old.id.as_str()],
    )
    .await;

    let aged = bounded(store.fanout_due_older("stripe", 10, Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(aged, [(old.id.clone(), old.ty.clone())]);
    let all = bounded(store.fanout_due_older("stripe", 10, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
}

#[tokio::test]
async fn two_workers_reading_the_same_events_fan_them_out_once() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let other = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);

    let mine = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    let theirs = bounded(other.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(mine, theirs);
    let items = [(ev.id.clone(), vec!["ledger"])];
    let first = bounded(store.fanout_commit("stripe", &items, RETENTION))
        .await
        .unwrap();
    // The first delivery is already in flight when the second commit runs.
    let leased = claim_one(&store, "ledger", LONG_LEASE).await;
    let second = bounded(other.fanout_commit("stripe", &items, RETENTION))
        .await
        .unwrap();
    assert_eq!((first, second), (1, 0));
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    assert_eq!(zmembers(&mut c, &key("l:", "ledger")).await.len(), 1);
    assert!(finish(&store, &leased, 1, Finish::Delivered, Some(200)).await);
    assert_eq!(
        hgetall(&mut c, &key("x:", &format!("{}:ledger", ev.id))).await["st"],
        "delivered"
    );
}

#[tokio::test]
async fn fanout_commit_creates_each_delivery_once() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger", "audit"]).await;
    let id = ev.id.as_str();

    for sub in ["ledger", "audit"] {
        let x = hgetall(&mut c, &key("x:", &format!("{id}:{sub}"))).await;
        assert_eq!(x["st"], "pending");
        assert_eq!(x["n"], "0");
        assert!(x["first"].parse::<i64>().is_ok(), "{x:?}");
        assert_ttl_near(
            pttl(&mut c, &key("x:", &format!("{id}:{sub}"))).await,
            RETENTION,
            "delivery",
        );
        let q = zmembers(&mut c, &key("q:", sub)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].0, id);
    }
    assert!(
        zmembers(&mut c, &key("fl", "")).await.is_empty(),
        "fan-out lease kept"
    );

    // A worker takes the ledger delivery; then the fan-out step runs again
    // for the same event (a second worker that read it too).
    let leased = claim_one(&store, "ledger", LONG_LEASE).await;
    let before = hgetall(&mut c, &key("x:", &format!("{id}:ledger"))).await;
    bounded(store.fanout_commit(
        "stripe",
        &[(ev.id.clone(), vec!["ledger", "audit"])],
        RETENTION,
    ))
    .await
    .unwrap();

    assert!(
        zmembers(&mut c, &key("q:", "ledger")).await.is_empty(),
        "an in-flight delivery was enqueued a second time"
    );
    assert_eq!(zmembers(&mut c, &key("q:", "audit")).await.len(), 1);
    assert_eq!(
        hgetall(&mut c, &key("x:", &format!("{id}:ledger"))).await,
        before
    );
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        1
    );
    assert!(finish(&store, &leased, 1, Finish::Delivered, Some(200)).await);

    // Fanned out again after delivery: still not sent twice.
    bounded(store.fanout_commit("stripe", &[(ev.id.clone(), vec!["ledger"])], RETENTION))
        .await
        .unwrap();
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        0
    );
    let d = store
        .delivery("stripe", &ev.id, "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn an_event_sent_again_after_its_dedup_window_is_delivered_again() {
    // The dedup key lives `dedup_window` (7 days by default), delivery
    // records `retention` (14 days): a provider's re-send in between is
    // acknowledged as new, so it must be delivered again. Before, the
    // fan-out found the old records and created nothing: acknowledged,
    // never delivered.
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_again", &["ledger", "audit"]).await;
    let id = ev.id.as_str();
    let d = claim_one(&store, "ledger", LONG_LEASE).await;
    assert!(finish(&store, &d, 1, Finish::Delivered, Some(200)).await);
    let d = claim_one(&store, "audit", LONG_LEASE).await;
    let dead = Finish::Dead {
        reason: "status 410".to_owned(),
    };
    assert!(finish_on(&store, "audit", &d, 1, dead, Some(410)).await);

    // A same-ingest commit again (an older worker racing during an
    // upgrade put the event back in the queue): records as new as the
    // event are left alone.
    let _: i64 = raw(&mut c, &["ZADD", &key("fq", ""), "0", id]).await;
    let before = hgetall(&mut c, &key("x:", &format!("{id}:ledger"))).await;
    bounded(store.fanout_commit(
        "stripe",
        &[(ev.id.clone(), vec!["ledger", "audit"])],
        RETENTION,
    ))
    .await
    .unwrap();
    assert_eq!(
        hgetall(&mut c, &key("x:", &format!("{id}:ledger"))).await,
        before
    );
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());

    // The window passes (the dedup key expires) and the provider sends the
    // event again: stored as new, fanned out as new.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let _: i64 = raw(&mut c, &["DEL", &key("d:", id)]).await;
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);
    let read = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(read, [(ev.id.clone(), ev.ty.clone())]);
    bounded(store.fanout_commit(
        "stripe",
        &[(ev.id.clone(), vec!["ledger", "audit"])],
        RETENTION,
    ))
    .await
    .unwrap();
    for sub in ["ledger", "audit"] {
        let x = hgetall(&mut c, &key("x:", &format!("{id}:{sub}"))).await;
        assert_eq!(
            (x["st"].as_str(), x["n"].as_str()),
            ("pending", "0"),
            "{sub}: {x:?}"
        );
        assert!(
            !x.contains_key("done_at") && !x.contains_key("dead_at"),
            "{x:?}"
        );
        let again = claim_one(&store, sub, LONG_LEASE).await;
        assert_eq!((again.id.as_str(), again.attempts), (id, 0), "{sub}");
        // The history stays: the first delivery's attempt is still logged.
        assert_eq!(
            lrange(&mut c, &key("a:", &format!("{id}:{sub}")))
                .await
                .len(),
            1
        );
    }
    assert!(
        zmembers(&mut c, &key("dlq:", "audit")).await.is_empty(),
        "the re-armed delivery left the dead letters"
    );
}

#[tokio::test]
async fn a_dead_letter_whose_event_expired_is_not_replayed() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let kept = ingest_and_fan_out(&store, "stripe", "evt_kept", &["ledger"]).await;
    let gone = ingest_and_fan_out(&store, "stripe", "evt_gone", &["ledger"]).await;
    for _ in 0..2 {
        let d = claim_one_of(&store, "ledger").await;
        let dead = Finish::Dead {
            reason: "status 410".to_owned(),
        };
        assert!(finish(&store, &d, 1, dead, Some(410)).await);
    }
    // The event outlives its retention (its hash expires first).
    let _: i64 = raw(&mut c, &["DEL", &key("e:", gone.id.as_str())]).await;
    let ids = [kept.id.clone(), gone.id.clone()];
    let replayed = bounded(store.replay("stripe", "ledger", &ids, Duration::ZERO, 0, RETENTION))
        .await
        .unwrap();
    assert_eq!(replayed, 1, "only the one with an event to send");
    let dlq = zmembers(&mut c, &key("dlq:", "ledger")).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].0, gone.id.as_str(), "the expired one stays dead");
}

#[tokio::test]
async fn fanout_commit_without_subscriptions_takes_the_event_off_the_queue() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_nobody", &[]).await;

    assert!(zmembers(&mut c, &key("fq", "")).await.is_empty());
    assert!(scan(&mut c, "hg:{stripe}:x:*").await.is_empty());
    assert!(
        bounded(store.fanout_due("stripe", 10))
            .await
            .unwrap()
            .is_empty()
    );
    // The event itself is kept (admin API) until retention.
    assert!(store.event("stripe", &ev.id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_worker_that_dies_between_read_and_commit_leaves_the_event_queued() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);

    let first = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(first, [(ev.id.clone(), ev.ty.clone())]);
    drop(store);
    // The worker died without committing: a new one reads it again.
    let store = open(&redis).await;
    let again = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(again, first);
}

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

// === route queues ===

#[tokio::test]
async fn route_claim_returns_the_stored_event_and_the_next_due_time() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let a = ingest_and_fan_out(&store, "stripe", "evt_a", &["ledger"]).await;
    let b = ingest_and_fan_out(&store, "stripe", "evt_b", &["ledger"]).await;
    let first_ms: i64 = hgetall(&mut c, &key("x:", &format!("{}:ledger", a.id))).await["first"]
        .parse()
        .unwrap();

    let got = claim(&store, "ledger", 1, LONG_LEASE).await;
    assert_eq!(got.deliveries.len(), 1);
    let d = &got.deliveries[0];
    let (this, other) = if d.id == a.id { (&a, &b) } else { (&b, &a) };
    assert_eq!(d.cloudevent, this.ce);
    assert_eq!(d.traceparent, this.tp);
    assert_eq!(d.attempts, 0);
    let expiry = now_ms() + LONG_LEASE.as_millis() as i64;
    assert!(
        (expiry - 5_000..=expiry).contains(&d.lease),
        "the lease token is the lease's expiry: {} vs {expiry}",
        d.lease
    );
    if d.id == a.id {
        assert_eq!(d.first_ms, first_ms);
    }
    // The other one is still waiting, and due already.
    let waiting = zmembers(&mut c, &key("q:", "ledger")).await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].0, other.id.as_str());
    assert_eq!(got.next_due_ms, Some(waiting[0].1 as i64));
    let leases = zmembers(&mut c, &key("l:", "ledger")).await;
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].0, this.id.as_str());

    let rest = claim(&store, "ledger", 10, LONG_LEASE).await;
    assert_eq!(rest.deliveries.len(), 1);
    assert_eq!(rest.deliveries[0].id, other.id);
    assert_eq!(rest.next_due_ms, None, "nothing is waiting any more");
    assert!(
        claim(&store, "ledger", 10, LONG_LEASE)
            .await
            .deliveries
            .is_empty()
    );
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn route_finish_delivered_records_the_attempt_and_the_state() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(&store, "ledger", LONG_LEASE).await;

    assert!(finish(&store, &d, 1, Finish::Delivered, Some(204)).await);

    let xk = key("x:", &format!("{}:ledger", ev.id));
    let x = hgetall(&mut c, &xk).await;
    assert_eq!(x["st"], "delivered");
    assert_eq!(x["n"], "1");
    assert_eq!(x["code"], "204");
    assert!(x["done_at"].parse::<i64>().is_ok(), "{x:?}");
    assert!(!x.contains_key("reason"));
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

    let rec = store
        .delivery("stripe", &ev.id, "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, DeliveryStatus::Delivered);
    assert_eq!(rec.attempts, 1);
    assert_eq!(rec.last_status_code, Some(204));
    assert_eq!(rec.reason, None);
    assert_eq!(
        store.attempts("stripe", &ev.id, "ledger").await.unwrap(),
        [attempt(1, Some(204), None)]
    );
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("l:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("dlq:", "ledger")).await.is_empty());
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn retry_is_not_claimable_before_it_is_due_and_is_after() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let far = ingest_and_fan_out(&store, "stripe", "evt_far", &["ledger"]).await;

    // A retry an hour away: deterministic "not before".
    let d = claim_one(&store, "ledger", LONG_LEASE).await;
    let due_far = now_ms() + 3_600_000;
    assert!(finish(&store, &d, 1, Finish::Retry { due_ms: due_far }, None).await);
    let x = hgetall(&mut c, &key("x:", &format!("{}:ledger", far.id))).await;
    assert_eq!(x["st"], "pending");
    assert_eq!(x["n"], "1");
    assert_eq!(x["code"], "", "no status code for a transport error");
    assert_eq!(
        zmembers(&mut c, &key("q:", "ledger")).await,
        [(far.id.to_string(), due_far as f64)]
    );
    let none = claim(&store, "ledger", 10, LONG_LEASE).await;
    assert!(none.deliveries.is_empty(), "claimed before due: {none:?}");
    assert_eq!(none.next_due_ms, Some(due_far));
    let rec = store
        .delivery("stripe", &far.id, "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.status, rec.attempts, rec.last_status_code),
        (DeliveryStatus::Pending, 1, None)
    );
    assert_eq!(
        store.attempts("stripe", &far.id, "ledger").await.unwrap(),
        [attempt(1, None, Some("connect refused"))]
    );

    // A retry due shortly: claimable once due, with its attempt count and
    // its budget start unchanged.
    let soon = ingest_and_fan_out(&store, "stripe", "evt_soon", &["ledger"]).await;
    let d = claim_one(&store, "ledger", LONG_LEASE).await;
    assert_eq!(d.id, soon.id);
    let due_soon = now_ms() + 200;
    assert!(finish(&store, &d, 1, Finish::Retry { due_ms: due_soon }, Some(503)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = claim_one(&store, "ledger", LONG_LEASE).await;
    assert_eq!(again.id, soon.id);
    assert_eq!(again.attempts, 1);
    assert_eq!(again.first_ms, d.first_ms);
    assert!(again.lease > d.lease, "a retaken lease has a later token");
    assert_eq!(again.cloudevent, soon.ce);
}

#[tokio::test]
async fn route_finish_dead_parks_the_delivery_in_the_dead_letters() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(&store, "ledger", LONG_LEASE).await;

    let dead = Finish::Dead {
        reason: "status 410".to_owned(),
    };
    assert!(finish(&store, &d, 1, dead, Some(410)).await);

    let x = hgetall(&mut c, &key("x:", &format!("{}:ledger", ev.id))).await;
    assert_eq!(x["st"], "dead");
    assert_eq!(x["reason"], "status 410");
    assert_eq!(x["code"], "410");
    assert_eq!(x["n"], "1");
    let dead_at: i64 = x["dead_at"].parse().unwrap();
    assert_eq!(
        zmembers(&mut c, &key("dlq:", "ledger")).await,
        [(ev.id.to_string(), dead_at as f64)]
    );
    assert_eq!(
        lrange(&mut c, &key("a:", &format!("{}:ledger", ev.id)))
            .await
            .len(),
        1
    );
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("l:", "ledger")).await.is_empty());

    assert_eq!(
        store.dead_letters("stripe", "ledger").await.unwrap(),
        [(ev.id.clone(), dead_at)]
    );
    let rec = store
        .delivery("stripe", &ev.id, "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, DeliveryStatus::Dead);
    assert_eq!(rec.reason.as_deref(), Some("status 410"));
    assert_eq!(rec.last_status_code, Some(410));
    assert_eq!(rec.dead_at_ms, Some(dead_at));
    assert!(
        claim(&store, "ledger", 10, LONG_LEASE)
            .await
            .deliveries
            .is_empty()
    );
}

#[tokio::test]
async fn stale_lease_claimed_again_cannot_finish() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let xk = key("x:", &format!("{}:ledger", ev.id));

    let old = claim_one(&store, "ledger", SHORT_LEASE).await;
    tokio::time::sleep(PAST_SHORT_LEASE).await;
    let new = claim_one(&store, "ledger", LONG_LEASE).await;
    assert_eq!(new.id, old.id);
    assert!(new.lease > old.lease, "a retaken lease has a later token");

    let before = hgetall(&mut c, &xk).await;
    let leases_before = zmembers(&mut c, &key("l:", "ledger")).await;
    // The reclaim logged the abandoned attempt; a stale finish adds nothing.
    let log = key("a:", &format!("{}:ledger", ev.id));
    let log_before = lrange(&mut c, &log).await;
    assert_eq!(log_before.len(), 1, "{log_before:?}");
    for how in [
        Finish::Delivered,
        Finish::Retry { due_ms: now_ms() },
        Finish::Dead {
            reason: "status 400".to_owned(),
        },
        Finish::Release,
    ] {
        assert!(
            !finish(&store, &old, 1, how.clone(), Some(500)).await,
            "stale lease finished with {how:?}"
        );
    }
    assert_eq!(hgetall(&mut c, &xk).await, before);
    assert_eq!(zmembers(&mut c, &key("l:", "ledger")).await, leases_before);
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("dlq:", "ledger")).await.is_empty());
    assert_eq!(lrange(&mut c, &log).await, log_before);

    // The current holder can.
    assert!(finish(&store, &new, 1, Finish::Delivered, Some(200)).await);
}

#[tokio::test]
async fn lease_reclaimed_to_the_queue_cannot_finish_before_it_is_claimed_again() {
    // Two deliveries leased together expire together; the next claim (room
    // for one) reclaims both but leases only one. The other is back in the
    // queue, no longer its old holder's: finishing it must not mark it done
    // while it waits to be sent again.
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    ingest_and_fan_out(&store, "stripe", "evt_a", &["ledger"]).await;
    ingest_and_fan_out(&store, "stripe", "evt_b", &["ledger"]).await;

    let both = claim(&store, "ledger", 2, SHORT_LEASE).await.deliveries;
    assert_eq!(both.len(), 2);
    tokio::time::sleep(PAST_SHORT_LEASE).await;
    let taken = claim(&store, "ledger", 1, LONG_LEASE).await.deliveries;
    assert_eq!(taken.len(), 1);
    let waiting = both.iter().find(|d| d.id != taken[0].id).unwrap();
    let xk = key("x:", &format!("{}:ledger", waiting.id));
    assert_eq!(
        zmembers(&mut c, &key("q:", "ledger")).await[0].0,
        waiting.id.as_str(),
        "the reclaimed delivery is back in the queue"
    );
    let before = hgetall(&mut c, &xk).await;
    let log = key("a:", &format!("{}:ledger", waiting.id));
    let log_before = lrange(&mut c, &log).await;
    assert_eq!(
        log_before.len(),
        1,
        "the reclaim logged the abandoned attempt"
    );

    assert!(
        !finish(&store, waiting, 1, Finish::Delivered, Some(200)).await,
        "a reclaimed lease finished"
    );
    assert_eq!(hgetall(&mut c, &xk).await, before);
    assert_eq!(zmembers(&mut c, &key("q:", "ledger")).await.len(), 1);
    assert_eq!(lrange(&mut c, &log).await, log_before);
}

#[tokio::test]
async fn delivery_whose_lease_expires_five_times_is_dead_lettered_as_poison() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_poison", &["ledger"]).await;

    // Claimed and abandoned (the worker dies each time) RECLAIM_LIMIT times.
    let mut last: Option<ClaimedDelivery> = None;
    for _ in 1..=RECLAIM_LIMIT {
        let d = claim_one(&store, "ledger", SHORT_LEASE).await;
        if let Some(prev) = &last {
            assert!(d.lease > prev.lease, "each retake has a later token");
        }
        last = Some(d);
        tokio::time::sleep(PAST_SHORT_LEASE).await;
    }
    // (With the lease every claim used: a reclaimed attempt's start is
    // its lease's end less the lease, the shared visibility_timeout.)
    let got = claim(&store, "ledger", 10, SHORT_LEASE).await;
    assert!(
        got.deliveries.is_empty(),
        "poison message claimed again: {got:?}"
    );

    let x = hgetall(&mut c, &key("x:", &format!("{}:ledger", ev.id))).await;
    assert_eq!(x["st"], "dead");
    assert_eq!(x["rc"], RECLAIM_LIMIT.to_string());
    assert!(x["reason"].starts_with("poison"), "{x:?}");
    let dead_at: i64 = x["dead_at"].parse().unwrap();
    assert_eq!(
        store.dead_letters("stripe", "ledger").await.unwrap(),
        [(ev.id.clone(), dead_at)]
    );
    let rec = store
        .delivery("stripe", &ev.id, "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, DeliveryStatus::Dead);
    assert_eq!(rec.reclaims, RECLAIM_LIMIT);
    // Each abandoned lease may have been a send: the attempt log says so,
    // with the lease's start, and no attempt budget went (all are n = 1).
    // Before, the log stayed empty while the subscriber may have seen five.
    let ids = ["ledger"];
    let (_, _, attempts) = store
        .deliveries_of("stripe", &ev.id, &ids)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(attempts.len(), RECLAIM_LIMIT as usize, "{attempts:?}");
    let now = hookgate_core::time::now_ms();
    for a in &attempts {
        assert_eq!(a.n, 1, "{a:?}");
        assert_eq!(a.status_code, None);
        assert!(
            a.error
                .as_deref()
                .is_some_and(|e| e.starts_with("no outcome: the lease expired")),
            "{a:?}"
        );
        assert!(a.duration_ms >= SHORT_LEASE.as_millis() as u64, "{a:?}");
        let at = hookgate_core::time::parse_rfc3339_ms(&a.at).expect("RFC 3339");
        assert!(at <= now && now - at < 30_000, "{a:?}");
        assert!(a.at.ends_with('Z') && a.at.len() == 24, "{a:?}");
    }
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        0
    );

    // Its last holder wakes up late: the dead letter stays a dead letter.
    let last = last.unwrap();
    assert!(
        !finish(
            &store,
            &last,
            1,
            Finish::Retry { due_ms: now_ms() },
            Some(503)
        )
        .await
    );
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());
    let after = hgetall(&mut c, &key("x:", &format!("{}:ledger", ev.id))).await;
    assert_eq!(after, x);
}

#[tokio::test]
async fn release_returns_the_delivery_without_counting_an_attempt() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let xk = key("x:", &format!("{}:ledger", ev.id));

    let d = claim_one(&store, "ledger", LONG_LEASE).await;
    let before = hgetall(&mut c, &xk).await;
    assert!(finish(&store, &d, 0, Finish::Release, None).await);

    assert_eq!(
        hgetall(&mut c, &xk).await,
        before,
        "release changed the delivery"
    );
    assert!(!exists(&mut c, &key("a:", &format!("{}:ledger", ev.id))).await);
    assert!(zmembers(&mut c, &key("l:", "ledger")).await.is_empty());
    assert_eq!(zmembers(&mut c, &key("q:", "ledger")).await.len(), 1);

    let again = claim_one(&store, "ledger", LONG_LEASE).await;
    assert_eq!(again.id, ev.id);
    assert_eq!(again.attempts, 0);
    assert!(again.lease > d.lease, "a retaken lease has a later token");
    let rec = store
        .delivery("stripe", &ev.id, "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rec.attempts, rec.reclaims), (0, 0));
}

#[tokio::test]
async fn delivery_of_an_event_past_retention_is_dead_lettered_as_expired() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_old", &["ledger"]).await;
    // Retention expired the event before its delivery was sent.
    let _: i64 = raw(&mut c, &["DEL", &key("e:", ev.id.as_str())]).await;

    let got = claim(&store, "ledger", 10, LONG_LEASE).await;
    assert!(got.deliveries.is_empty());
    let rec = store
        .delivery("stripe", &ev.id, "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, DeliveryStatus::Dead);
    assert!(
        rec.reason.as_deref().unwrap_or("").starts_with("expired"),
        "{rec:?}"
    );
    assert_eq!(
        store.dead_letters("stripe", "ledger").await.unwrap().len(),
        1
    );
    assert!(zmembers(&mut c, &key("l:", "ledger")).await.is_empty());
}

#[tokio::test]
async fn attempt_log_keeps_the_latest_attempts_up_to_its_cap() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_flaky", &["ledger"]).await;

    let total = ATTEMPT_LOG_CAP as u32 + 5;
    for n in 1..=total {
        let d = claim_one(&store, "ledger", LONG_LEASE).await;
        assert_eq!(d.attempts, n - 1);
        assert!(finish(&store, &d, n, Finish::Retry { due_ms: 0 }, Some(503)).await);
    }
    let log = store.attempts("stripe", &ev.id, "ledger").await.unwrap();
    assert_eq!(log.len(), ATTEMPT_LOG_CAP);
    assert_eq!(log.first().unwrap().n, 6, "oldest kept");
    assert_eq!(log.last().unwrap().n, total, "newest last");
    let rec = store
        .delivery("stripe", &ev.id, "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.attempts, total);
}

#[tokio::test]
async fn claims_trim_dead_letters_past_retention_and_reclaimed_records_get_a_ttl() {
    let server = RedisServer::start().await;
    let store = open(&server).await;
    let mut conn = server.conn().await;
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
    store.set_retention(Duration::from_secs(5));
    let claimed = claim(&store, "ledger", 10, LONG_LEASE).await;
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
    ingest_and_fan_out(&store, "stripe", "evt_ttl", &["ledger"]).await;
    let d = claim_one(&store, "ledger", SHORT_LEASE).await;
    let dk = key("x:", &format!("{}:ledger", d.id));
    let _: i64 = raw(&mut conn, &["DEL", &dk]).await;
    tokio::time::sleep(PAST_SHORT_LEASE).await;
    claim(&store, "ledger", 10, SHORT_LEASE).await;
    let ttl = pttl(&mut conn, &dk).await;
    assert!(
        ttl > 0 && ttl <= 5_000,
        "recreated record has the retention TTL: {ttl}"
    );
}

#[tokio::test]
async fn fanout_reads_trim_the_event_index_past_retention() {
    let server = RedisServer::start().await;
    let store = open(&server).await;
    let mut conn = server.conn().await;
    let ei = key("ei", "");
    let now = now_ms();
    let _: i64 = raw(
        &mut conn,
        &[
            "ZADD",
            &ei,
            &(now - 10_000).to_string(),
            "evt_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        ],
    )
    .await;
    let fresh = ingest_and_fan_out(&store, "stripe", "evt_index_fresh", &["ledger"]).await;
    store.set_retention(Duration::from_secs(5));
    bounded(store.fanout_due("stripe", 10))
        .await
        .expect("fan-out claim");
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

#[tokio::test]
async fn concurrent_finishes_on_several_routes_each_land_on_their_own_delivery() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    for i in 0..15 {
        ingest_and_fan_out(&store, "stripe", &format!("evt_{i}"), &["ledger", "audit"]).await;
    }
    let mut claimed = Vec::new();
    for sub in ["ledger", "audit"] {
        let got = claim(&store, sub, 64, LONG_LEASE).await.deliveries;
        assert_eq!(got.len(), 15);
        claimed.extend(got.into_iter().map(|d| (sub, d)));
    }
    // Outcomes by position: delivered, retry, dead; every seventh finish
    // holds a stale lease and must change nothing.
    let due = now_ms() + 3_600_000;
    let tasks = claimed.iter().enumerate().map(|(i, (sub, d))| {
        let store = store.clone();
        let (sub, d) = (*sub, d.clone());
        let how = match i % 3 {
            0 => Finish::Delivered,
            1 => Finish::Retry { due_ms: due },
            _ => Finish::Dead {
                reason: "status 400".into(),
            },
        };
        let lease = if i % 7 == 6 { d.lease + 100 } else { d.lease };
        tokio::spawn(async move {
            let record = attempt(1, Some(500), None);
            let ok = bounded(store.route_finish(
                "stripe",
                sub,
                &d.id,
                lease,
                1,
                &how,
                Some(&record),
                RETENTION,
            ))
            .await
            .expect("route finish");
            (i, ok)
        })
    });
    let results = futures::future::join_all(tasks).await;
    for result in results {
        let (i, ok) = result.expect("task");
        let (sub, d) = &claimed[i];
        let x = hgetall(&mut c, &key("x:", &format!("{}:{sub}", d.id))).await;
        if i % 7 == 6 {
            assert!(!ok, "stale lease {i} refused");
            assert_eq!(
                x["st"], "pending",
                "stale finish {i} changed nothing: {x:?}"
            );
            continue;
        }
        assert!(ok, "finish {i} recorded");
        let want = ["delivered", "pending", "dead"][i % 3];
        assert_eq!(x["st"], want, "finish {i} on {sub}: {x:?}");
        assert_eq!(
            lrange(&mut c, &key("a:", &format!("{}:{sub}", d.id)))
                .await
                .len(),
            1
        );
    }
    for sub in ["ledger", "audit"] {
        let retries = zmembers(&mut c, &key("q:", sub)).await;
        let dead = zmembers(&mut c, &key("dlq:", sub)).await;
        let leased = zmembers(&mut c, &key("l:", sub)).await;
        let expect = |rem: usize| {
            (0..30)
                .filter(|i| claimed[*i].0 == sub && i % 3 == rem && i % 7 != 6)
                .count()
        };
        assert_eq!(retries.len(), expect(1), "{sub} retries queued");
        assert_eq!(dead.len(), expect(2), "{sub} dead letters");
        assert_eq!(
            leased.len(),
            (0..30)
                .filter(|i| claimed[*i].0 == sub && i % 7 == 6)
                .count(),
            "{sub}: only the stale finishes left their leases"
        );
    }
}
