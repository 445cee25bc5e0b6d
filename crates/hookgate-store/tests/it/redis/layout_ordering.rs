//! What ordering keys write on Redis, read back with raw commands: an
//! event's places (`ol`, `op`, its line entries and the position counter),
//! held deliveries (`ok`, `held`, the route's held set, never the queue),
//! the blocked-keys set, a line moving on, dead first entries skipped,
//! malformed or missing places read as unordered (records of earlier
//! versions), a copy between two Redis stores keeping lines and
//! positions, and random workloads checked against the lines' invariants
//! after every step. (The behaviour itself is the contract's:
//! `contract::ordering`.)

use crate::support::*;
use hookgate_core::EventId;
use hookgate_core::time::now_ms;
use hookgate_store::copy::copy;
use hookgate_store::{Finish, Store};
use hookgate_testkit::RedisServer;
use std::collections::BTreeSet;

fn key(kind: &str, rest: &str) -> String {
    format!("hg:{{stripe}}:{kind}{rest}")
}

fn delivery_key(id: &EventId, sub: &str) -> String {
    key("x:", &format!("{id}:{sub}"))
}

fn line_key(sub: &str, order_key: &str) -> String {
    key("o:", &format!("{sub}:{order_key}"))
}

fn ordered(name: &str, order_key: &str) -> TestEvent {
    TestEvent::new("stripe", name, "payment.succeeded").ordered("ledger", order_key)
}

async fn fan_out(store: &Store, ev: &TestEvent, subs: &[&str]) {
    let taken = bounded(store.fanout_commit("stripe", &[(ev.id.clone(), subs.to_vec())]))
        .await
        .expect("fan-out commit");
    assert_eq!(taken, 1);
}

fn fields(map: &std::collections::HashMap<String, String>) -> BTreeSet<&str> {
    map.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn an_ordered_ingest_takes_a_position_and_an_unordered_one_writes_nothing_more() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    // A key may hold any character, `:` and `}` included: it comes last.
    let odd = "pi:1/é}{x";
    let a = ordered("a", odd);
    let u = TestEvent::new("stripe", "u", "payment.succeeded");
    assert_eq!(
        ingest(&store, "stripe", &[&a, &u]).await.unwrap(),
        [true, true]
    );

    let e = hgetall(&mut c, &key("e:", a.id.as_str())).await;
    let ol: serde_json::Value = serde_json::from_str(&e["ol"]).expect("ol is JSON");
    assert_eq!(ol, serde_json::json!({ "ledger": odd }));
    assert_eq!(e["op"], "1");
    assert_eq!(raw::<String>(&mut c, &["GET", &key("os", "")]).await, "1");
    let line = line_key("ledger", odd);
    assert_eq!(zmembers(&mut c, &line).await, [(a.id.to_string(), 1.0)]);
    assert_ttl_near(pttl(&mut c, &line).await, RETENTION, "line");

    let e = hgetall(&mut c, &key("e:", u.id.as_str())).await;
    assert_eq!(fields(&e), BTreeSet::from(["ce", "recv", "tp", "type"]));
    // A duplicate takes no second place.
    assert_eq!(ingest(&store, "stripe", &[&a]).await.unwrap(), [false]);
    assert_eq!(raw::<String>(&mut c, &["GET", &key("os", "")]).await, "1");
    assert_eq!(zmembers(&mut c, &line).await.len(), 1);
}

#[tokio::test]
async fn a_held_delivery_is_marked_and_kept_out_of_the_queue_until_its_line_moves_on() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let (a1, a2) = (ordered("a1", "K"), ordered("a2", "K"));
    assert_eq!(
        ingest(&store, "stripe", &[&a1, &a2]).await.unwrap(),
        [true, true]
    );
    // The later event is fanned out first: held all the same.
    fan_out(&store, &a2, &["ledger"]).await;
    let x2 = hgetall(&mut c, &delivery_key(&a2.id, "ledger")).await;
    assert_eq!((x2["st"].as_str(), x2["ok"].as_str()), ("pending", "K"));
    assert_eq!(x2["held"], "1");
    assert_eq!(
        zmembers(&mut c, &key("h:", "ledger")).await,
        [(a2.id.to_string(), 2.0)],
        "held, scored by position"
    );
    assert!(zmembers(&mut c, &key("q:", "ledger")).await.is_empty());

    fan_out(&store, &a1, &["ledger"]).await;
    let x1 = hgetall(&mut c, &delivery_key(&a1.id, "ledger")).await;
    assert_eq!(fields(&x1), BTreeSet::from(["first", "n", "ok", "st"]));
    assert_eq!(
        zmembers(&mut c, &key("q:", "ledger")).await,
        [(a1.id.to_string(), x1["first"].parse::<f64>().unwrap())]
    );

    // A retry marks the key blocked since the head's budget start.
    let d1 = claim_one(&store, "stripe", "ledger").await;
    let retry = Finish::Retry { due_ms: 0 };
    assert!(finish(&store, "stripe", "ledger", &d1, 1, retry, Some(503)).await);
    assert_eq!(
        zmembers(&mut c, &key("ob:", "ledger")).await,
        [("K".to_owned(), d1.first_ms as f64)]
    );
    let d1 = claim_one(&store, "stripe", "ledger").await;
    let before = now_ms();
    assert!(
        finish(
            &store,
            "stripe",
            "ledger",
            &d1,
            2,
            Finish::Delivered,
            Some(200)
        )
        .await
    );

    // The line moved on: a2 queued now, its budget starting now.
    let x2 = hgetall(&mut c, &delivery_key(&a2.id, "ledger")).await;
    assert!(!x2.contains_key("held"), "{x2:?}");
    let first: i64 = x2["first"].parse().unwrap();
    assert!(first >= before, "budget starts when it becomes the head");
    assert_eq!(
        zmembers(&mut c, &key("q:", "ledger")).await,
        [(a2.id.to_string(), first as f64)]
    );
    assert!(zmembers(&mut c, &key("h:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("ob:", "ledger")).await.is_empty());
    assert_eq!(
        zmembers(&mut c, &line_key("ledger", "K")).await,
        [(a2.id.to_string(), 2.0)]
    );
}

#[tokio::test]
async fn a_first_entry_whose_event_expired_before_its_fan_out_is_skipped() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let (a1, a2) = (ordered("a1", "K"), ordered("a2", "K"));
    assert_eq!(
        ingest(&store, "stripe", &[&a1, &a2]).await.unwrap(),
        [true, true]
    );
    // a1 outlived its retention unfanned.
    let _: i64 = raw(&mut c, &["DEL", &key("e:", a1.id.as_str())]).await;

    fan_out(&store, &a2, &["ledger"]).await;
    let x2 = hgetall(&mut c, &delivery_key(&a2.id, "ledger")).await;
    assert!(!x2.contains_key("held"), "{x2:?}");
    assert_eq!(claim_one(&store, "stripe", "ledger").await.id, a2.id);
    assert_eq!(
        zmembers(&mut c, &line_key("ledger", "K")).await,
        [(a2.id.to_string(), 2.0)],
        "the dead entry left the line"
    );
}

#[tokio::test]
async fn places_that_cannot_be_read_or_were_never_written_deliver_unordered() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let evs: Vec<TestEvent> = (0..3).map(|i| ordered(&format!("m{i}"), "K")).collect();
    for ev in &evs {
        assert_eq!(ingest(&store, "stripe", &[ev]).await.unwrap(), [true]);
    }
    // Not JSON, not an object of strings, absent (an earlier version's).
    for (ev, ol) in evs
        .iter()
        .zip([Some("not json"), Some(r#"{"ledger":5}"#), None])
    {
        let ek = key("e:", ev.id.as_str());
        match ol {
            Some(ol) => {
                let _: i64 = raw(&mut c, &["HSET", &ek, "ol", ol]).await;
            }
            None => {
                let _: i64 = raw(&mut c, &["HDEL", &ek, "ol", "op"]).await;
            }
        }
        fan_out(&store, ev, &["ledger"]).await;
        let x = hgetall(&mut c, &delivery_key(&ev.id, "ledger")).await;
        assert_eq!(fields(&x), BTreeSet::from(["first", "n", "st"]), "{ol:?}");
    }
    let got = claim(&store, "stripe", "ledger", 10).await.deliveries;
    assert_eq!(got.len(), 3, "all go at once, unordered");
}

#[tokio::test]
async fn unordered_traffic_writes_no_ordering_key() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let ev = ingest_and_fan_out(&store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(&store, "stripe", "ledger").await;
    let retry = Finish::Retry { due_ms: 0 };
    assert!(finish(&store, "stripe", "ledger", &d, 1, retry, Some(503)).await);
    let d = claim_one(&store, "stripe", "ledger").await;
    let dead = Finish::Dead {
        reason: "status 410".into(),
    };
    assert!(finish(&store, "stripe", "ledger", &d, 2, dead, Some(410)).await);
    assert_eq!(
        bounded(store.replay(
            "stripe",
            "ledger",
            std::slice::from_ref(&ev.id),
            std::time::Duration::ZERO,
            0
        ))
        .await
        .unwrap(),
        1
    );
    for pattern in ["hg:{stripe}:o*", "hg:{stripe}:h:*"] {
        assert!(scan(&mut c, pattern).await.is_empty(), "{pattern}");
    }
}

#[tokio::test]
async fn a_copy_between_two_redis_keeps_lines_positions_and_held_deliveries() {
    let (from, to) = (RedisServer::start().await, RedisServer::start().await);
    let (src, dst) = (open(&from).await, open(&to).await);
    let (a1, a2, a3) = (ordered("a1", "K"), ordered("a2", "K"), ordered("a3", "K"));
    for ev in [&a1, &a2, &a3] {
        assert_eq!(ingest(&src, "stripe", &[ev]).await.unwrap(), [true]);
    }
    fan_out(&src, &a1, &["ledger"]).await;
    fan_out(&src, &a2, &["ledger"]).await;
    let d1 = claim_one(&src, "stripe", "ledger").await;
    let retry = Finish::Retry { due_ms: 0 };
    assert!(finish(&src, "stripe", "ledger", &d1, 1, retry, Some(503)).await);

    let first = bounded(copy(&src, &dst, |_| {})).await.expect("copy");
    assert_eq!(first.read, first.written, "{first:?}");
    let again = bounded(copy(&src, &dst, |_| {})).await.expect("copy again");
    assert_eq!(again.written, 0, "{again:?}");

    let mut c = to.conn().await;
    assert_eq!(
        zmembers(&mut c, &line_key("ledger", "K")).await,
        [
            (a1.id.to_string(), 1.0),
            (a2.id.to_string(), 2.0),
            (a3.id.to_string(), 3.0)
        ]
    );
    let x2 = hgetall(&mut c, &delivery_key(&a2.id, "ledger")).await;
    assert_eq!((x2["ok"].as_str(), x2["held"].as_str()), ("K", "1"));
    assert_eq!(
        zmembers(&mut c, &key("h:", "ledger")).await,
        [(a2.id.to_string(), 2.0)]
    );
    // The head's retry left its key blocked there too.
    let blocked = bounded(dst.blocked_keys("stripe", "ledger", 10))
        .await
        .unwrap();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(
        (&blocked[0].head, blocked[0].since_ms, blocked[0].waiting),
        (&a1.id, d1.first_ms, 2)
    );
    // Later positions come after the copied ones.
    let a4 = ordered("a4", "K");
    assert_eq!(ingest(&dst, "stripe", &[&a4]).await.unwrap(), [true]);
    assert_eq!(hgetall(&mut c, &key("e:", a4.id.as_str())).await["op"], "4");

    // And the copy goes on in order: a1 (its retry), a2, then a3.
    fan_out(&dst, &a3, &["ledger"]).await;
    fan_out(&dst, &a4, &["ledger"]).await;
    for (n, ev) in [&a1, &a2, &a3, &a4].into_iter().enumerate() {
        let d = claim_one(&dst, "stripe", "ledger").await;
        assert_eq!(d.id, ev.id, "delivery {n}");
        assert!(
            finish(
                &dst,
                "stripe",
                "ledger",
                &d,
                d.attempts + 1,
                Finish::Delivered,
                Some(200)
            )
            .await
        );
    }
}

#[tokio::test]
async fn a_delivery_redelivered_before_its_fan_out_takes_its_events_place() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let (a1, a2) = (ordered("a1", "K"), ordered("a2", "K"));
    assert_eq!(
        ingest(&store, "stripe", &[&a1, &a2]).await.unwrap(),
        [true, true]
    );
    assert!(
        bounded(store.redeliver("stripe", "ledger", &a1.id))
            .await
            .unwrap()
    );
    fan_out(&store, &a1, &["ledger"]).await;
    fan_out(&store, &a2, &["ledger"]).await;
    let x1 = hgetall(&mut c, &delivery_key(&a1.id, "ledger")).await;
    assert_eq!(x1["ok"], "K", "{x1:?}");

    let d1 = claim_one(&store, "stripe", "ledger").await;
    assert_eq!(d1.id, a1.id);
    assert!(
        finish(
            &store,
            "stripe",
            "ledger",
            &d1,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(claim_one(&store, "stripe", "ledger").await.id, a2.id);
}

/// A small deterministic generator (xorshift64*): the same seed, the same
/// workload.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// What the scripts must keep true after every step: per line, at most one
/// delivery queued or leased; a held delivery is marked and never queued.
/// Returns how many are held.
async fn check_lines(c: &mut redis::aio::MultiplexedConnection, step: usize) -> usize {
    let queued: BTreeSet<String> = zmembers(c, &key("q:", "ledger"))
        .await
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    let leased: BTreeSet<String> = zmembers(c, &key("l:", "ledger"))
        .await
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    for line in scan(c, "hg:{stripe}:o:ledger:*").await {
        let waiting: Vec<String> = zmembers(c, &line)
            .await
            .into_iter()
            .map(|(m, _)| m)
            .filter(|m| queued.contains(m) || leased.contains(m))
            .collect();
        assert!(waiting.len() <= 1, "step {step}: {line} has {waiting:?}");
    }
    let held = zmembers(c, &key("h:", "ledger")).await;
    for (id, _) in &held {
        assert!(!queued.contains(id), "step {step}: held {id} is queued");
        let x = hgetall(c, &key("x:", &format!("{id}:ledger"))).await;
        assert_eq!(x.get("held").map(String::as_str), Some("1"), "step {step}");
    }
    held.len()
}

/// A random mix of ingests (ordered on three keys, or not), fan-outs in
/// any order, claims and outcomes (and, `with_operators`, dead letters,
/// replays and redelivers), checking the lines after every step; then a
/// drain that must deliver everything and leave no line, hold or block
/// behind. Without operators, each key is delivered in ingest order.
async fn random_workload(seed: u64, with_operators: bool) {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let mut rng = Rng(seed);
    let keys = ["A", "B", "C"];
    let mut ingested: Vec<(TestEvent, Option<&str>)> = Vec::new();
    let mut unfanned: Vec<usize> = Vec::new();
    let mut fanned: Vec<usize> = Vec::new();
    let mut leased = Vec::new();
    let mut delivered: Vec<EventId> = Vec::new();
    let mut most_held = 0;
    for step in 0..250 {
        match rng.below(6) {
            0 => {
                let n = 1 + rng.below(3);
                let batch: Vec<(TestEvent, Option<&str>)> = (0..n)
                    .map(|i| {
                        let name = format!("s{seed}-{step}-{i}");
                        let ev = TestEvent::new("stripe", &name, "payment.succeeded");
                        match rng.below(4) {
                            0 => (ev, None),
                            k => (ev.ordered("ledger", keys[k - 1]), Some(keys[k - 1])),
                        }
                    })
                    .collect();
                let refs: Vec<&TestEvent> = batch.iter().map(|(e, _)| e).collect();
                assert!(
                    ingest(&store, "stripe", &refs)
                        .await
                        .unwrap()
                        .iter()
                        .all(|s| *s)
                );
                for ev in batch {
                    unfanned.push(ingested.len());
                    ingested.push(ev);
                }
            }
            1 if !unfanned.is_empty() => {
                let i = unfanned.remove(rng.below(unfanned.len()));
                fan_out(&store, &ingested[i].0, &["ledger"]).await;
                fanned.push(i);
            }
            2 => leased.extend(claim(&store, "stripe", "ledger", 5).await.deliveries),
            3 if !leased.is_empty() => {
                let d: hookgate_store::ClaimedDelivery = leased.remove(rng.below(leased.len()));
                let (how, code) = match rng.below(7) {
                    0..=2 => (Finish::Delivered, Some(200)),
                    3 | 4 => (Finish::Retry { due_ms: 0 }, Some(503)),
                    5 if with_operators => (
                        Finish::Dead {
                            reason: "status 410".into(),
                        },
                        Some(410),
                    ),
                    _ => (Finish::Release, None),
                };
                let n = d.attempts + 1;
                let done = how == Finish::Delivered;
                if finish(&store, "stripe", "ledger", &d, n, how, code).await && done {
                    delivered.push(d.id.clone());
                }
            }
            4 if with_operators => {
                let dead: Vec<EventId> = bounded(store.dead_letters("stripe", "ledger"))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                bounded(store.replay("stripe", "ledger", &dead, std::time::Duration::ZERO, 0))
                    .await
                    .unwrap();
            }
            5 if with_operators && !fanned.is_empty() => {
                let i = fanned[rng.below(fanned.len())];
                bounded(store.redeliver("stripe", "ledger", &ingested[i].0.id))
                    .await
                    .unwrap();
            }
            _ => {}
        }
        most_held = most_held.max(check_lines(&mut c, step).await);
    }
    assert!(most_held > 1, "the workload holds deliveries back");

    // Drain: everything fanned out and delivered.
    for i in std::mem::take(&mut unfanned) {
        fan_out(&store, &ingested[i].0, &["ledger"]).await;
    }
    for d in std::mem::take(&mut leased) {
        if finish(
            &store,
            "stripe",
            "ledger",
            &d,
            d.attempts + 1,
            Finish::Delivered,
            Some(200),
        )
        .await
        {
            delivered.push(d.id.clone());
        }
    }
    for round in 0.. {
        assert!(round < 500, "the drain does not end");
        if with_operators {
            let dead: Vec<EventId> = bounded(store.dead_letters("stripe", "ledger"))
                .await
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            bounded(store.replay("stripe", "ledger", &dead, std::time::Duration::ZERO, 0))
                .await
                .unwrap();
        }
        let got = claim(&store, "stripe", "ledger", 50).await.deliveries;
        if got.is_empty() {
            break;
        }
        for d in got {
            assert!(
                finish(
                    &store,
                    "stripe",
                    "ledger",
                    &d,
                    d.attempts + 1,
                    Finish::Delivered,
                    Some(200)
                )
                .await
            );
            delivered.push(d.id.clone());
        }
        check_lines(&mut c, 10_000 + round).await;
    }
    for (ev, _) in &ingested {
        let rec = bounded(store.delivery("stripe", &ev.id, "ledger"))
            .await
            .unwrap()
            .expect("a delivery");
        assert_eq!(
            rec.status,
            hookgate_store::DeliveryStatus::Delivered,
            "{}",
            ev.id
        );
    }
    assert!(
        scan(&mut c, "hg:{stripe}:o:*").await.is_empty(),
        "lines left"
    );
    assert!(zmembers(&mut c, &key("h:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("ob:", "ledger")).await.is_empty());

    if !with_operators {
        // Each key's deliveries succeeded in the order the store took them.
        for k in keys {
            let want: Vec<&EventId> = ingested
                .iter()
                .filter(|(_, key)| *key == Some(k))
                .map(|(e, _)| &e.id)
                .collect();
            let got: Vec<&EventId> = delivered.iter().filter(|id| want.contains(id)).collect();
            assert_eq!(got, want, "key {k}");
        }
    }
}

#[tokio::test]
async fn random_workloads_keep_one_delivery_per_key_in_store_order() {
    for seed in [1, 7, 42, 1234] {
        random_workload(seed, false).await;
    }
}

#[tokio::test]
async fn random_workloads_with_replays_and_redelivers_keep_one_delivery_per_key() {
    for seed in [3, 11, 99, 4321] {
        random_workload(seed, true).await;
    }
}

#[tokio::test]
async fn a_line_an_earlier_versions_worker_left_unmoved_moves_on_at_a_claim() {
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let mut c = redis.conn().await;
    let (a1, a2) = (ordered("a1", "K"), ordered("a2", "K"));
    assert_eq!(
        ingest(&store, "stripe", &[&a1, &a2]).await.unwrap(),
        [true, true]
    );
    fan_out(&store, &a1, &["ledger"]).await;
    fan_out(&store, &a2, &["ledger"]).await;
    let d1 = claim_one(&store, "stripe", "ledger").await;
    let retry = Finish::Retry { due_ms: 0 };
    assert!(finish(&store, "stripe", "ledger", &d1, 1, retry, Some(503)).await);
    // An earlier version's worker claims and delivers the head: it knows
    // nothing of lines, so a2 stays held and the key blocked.
    let _: i64 = raw(&mut c, &["ZREM", &key("q:", "ledger"), a1.id.as_str()]).await;
    let _: i64 = raw(
        &mut c,
        &[
            "HSET",
            &delivery_key(&a1.id, "ledger"),
            "st",
            "delivered",
            "done_at",
            "1",
        ],
    )
    .await;

    // The next claim finds the line's head gone and moves it on.
    let d2 = claim_one(&store, "stripe", "ledger").await;
    assert_eq!(d2.id, a2.id);
    assert!(zmembers(&mut c, &key("h:", "ledger")).await.is_empty());
    assert!(zmembers(&mut c, &key("ob:", "ledger")).await.is_empty());
    assert_eq!(
        zmembers(&mut c, &line_key("ledger", "K")).await,
        [(a2.id.to_string(), 2.0)]
    );
}
