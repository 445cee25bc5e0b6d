//! Backward compatibility of stored records (docs/guarantees.md).
//!
//! `tests/fixtures/v1/records.json` rebuilds, with raw Redis commands and
//! without any of this crate's code, what version 1 writes: a pending
//! delivery with a retry due, a dead letter, and an event waiting for
//! fan-out. The current readers and queue operations must keep reading it.
//! `fixtures/v2/` is the same states as the next layout writes them (no
//! `lease` field in delivery records). `fixtures/v3/` adds ordering keys:
//! a line's retrying head (its key blocked) and a delivery held behind it.
//! [`current_writer_matches_the_newest_layout`] fails when the current code
//! writes another layout: then add `fixtures/v4/` (see the fixtures README)
//! and keep these tests passing.

use crate::support::*;
use hookgate_core::EventId;
use hookgate_store::{AttemptRecord, DeliveryStatus, Finish, Settings, Store};
use hookgate_testkit::RedisServer;
use redis::aio::MultiplexedConnection;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const V1: &str = include_str!("../../fixtures/v1/records.json");
const V2: &str = include_str!("../../fixtures/v2/records.json");
const V3: &str = include_str!("../../fixtures/v3/records.json");

/// The v1 fixture: its event ids by role and its commands.
struct Records {
    doc: Value,
}

impl Records {
    fn v1() -> Self {
        Records {
            doc: serde_json::from_str(V1).expect("v1 fixture is JSON"),
        }
    }

    /// v1 without the delivery's `lease` field.
    fn v2() -> Self {
        Records {
            doc: serde_json::from_str(V2).expect("v2 fixture is JSON"),
        }
    }

    /// The newest layout: v2 and an ordering key's line.
    fn v3() -> Self {
        Records {
            doc: serde_json::from_str(V3).expect("v3 fixture is JSON"),
        }
    }

    fn id(&self, role: &str) -> EventId {
        let id = self.doc["events"][role]["id"].as_str().expect("event id");
        let parsed = EventId::parse(id).expect("fixture id has the event id shape");
        // Ids are a storage format too: the fixture's were derived by v1.
        let provider = self.doc["events"][role]["provider_id"].as_str().unwrap();
        assert_eq!(parsed, EventId::derive(&format!("stripe:{provider}")));
        parsed
    }

    fn provider_id(&self, role: &str) -> &str {
        self.doc["events"][role]["provider_id"].as_str().unwrap()
    }

    fn roles(&self) -> Vec<(EventId, &'static str)> {
        ["pending", "dead", "new", "head", "held"]
            .into_iter()
            .filter(|r| self.doc["events"].get(r).is_some())
            .map(|r| (self.id(r), r))
            .collect()
    }

    /// The CloudEvent body the fixture stored for `role`.
    fn cloudevent(&self, role: &str) -> Vec<u8> {
        let key = format!("hg:{{stripe}}:e:{}", self.id(role));
        let cmd = self.doc["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c[0] == "HSET" && c[1] == key.as_str())
            .expect("HSET of the event");
        let args = cmd.as_array().unwrap();
        let at = args.iter().position(|a| a == "ce").unwrap();
        args[at + 1].as_str().unwrap().as_bytes().to_vec()
    }

    /// Replays the fixture's commands into `server`, bypassing the store.
    async fn load(&self, server: &RedisServer) {
        let mut c = server.conn().await;
        for command in self.doc["commands"].as_array().expect("commands") {
            let args: Vec<&str> = command
                .as_array()
                .expect("a command is an array")
                .iter()
                .map(|a| a.as_str().expect("arguments are strings"))
                .collect();
            let _: redis::Value = raw(&mut c, &args).await;
        }
    }
}

async fn loaded() -> (RedisServer, Store, Records) {
    loaded_from(Records::v1()).await
}

/// The fixtures' records are dated 2025: the store reading them keeps
/// records for 20 years, so that what it lists does not depend on today's
/// date (a 14-day retention would hide them as expired).
const FIXTURE_RETENTION: Duration = Duration::from_secs(20 * 365 * 86_400);

async fn loaded_from(fixture: Records) -> (RedisServer, Store, Records) {
    let redis = RedisServer::start().await;
    fixture.load(&redis).await;
    let settings = Settings {
        retention: FIXTURE_RETENTION,
        ..Settings::default()
    };
    let store = open_config(&config(&redis), settings).await;
    (redis, store, fixture)
}

#[tokio::test]
async fn v1_events_are_read() {
    let (_redis, store, fx) = loaded().await;

    let pending = store
        .event("stripe", &fx.id("pending"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.ty, "payment.succeeded");
    assert_eq!(pending.received_ms, 1_735_787_045_678);
    assert_eq!(
        pending.traceparent,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(pending.cloudevent, fx.cloudevent("pending"));
    let ce: Value = serde_json::from_slice(&pending.cloudevent).unwrap();
    assert_eq!(ce["id"], fx.id("pending").as_str());

    let dead = store
        .event("stripe", &fx.id("dead"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.ty, "payment.failed");
    assert_eq!(dead.traceparent, "", "no traceparent was received");
    assert_eq!(dead.received_ms, 1_735_787_046_000);
}

#[tokio::test]
async fn v1_deliveries_and_attempts_are_read() {
    let (_redis, store, fx) = loaded().await;

    let pending = store
        .delivery("stripe", &fx.id("pending"), "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.status, DeliveryStatus::Pending);
    assert_eq!(pending.attempts, 1);
    assert_eq!(pending.last_status_code, Some(503));
    assert_eq!(pending.reason, None);
    assert_eq!(pending.dead_at_ms, None);
    assert_eq!(pending.reclaims, 0);
    assert_eq!(
        store
            .attempts("stripe", &fx.id("pending"), "ledger")
            .await
            .unwrap(),
        [AttemptRecord {
            n: 1,
            at: "2025-01-02T03:04:06.000Z".to_owned(),
            status_code: Some(503),
            error: None,
            duration_ms: 87,
            response: None,
        }]
    );

    let dead = store
        .delivery("stripe", &fx.id("dead"), "ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_status_code, None);
    assert_eq!(
        dead.reason.as_deref(),
        Some("max_attempts: 3 attempts, last connect refused")
    );
    assert_eq!(dead.dead_at_ms, Some(1_735_790_000_000));
    let log = store
        .attempts("stripe", &fx.id("dead"), "ledger")
        .await
        .unwrap();
    assert_eq!(log.iter().map(|a| a.n).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(
        log.iter()
            .all(|a| a.status_code.is_none() && a.error.as_deref() == Some("connect refused"))
    );
}

#[tokio::test]
async fn v1_dead_letters_are_read() {
    let (_redis, store, fx) = loaded().await;
    assert_eq!(
        store.dead_letters("stripe", "ledger").await.unwrap(),
        [(fx.id("dead"), 1_735_790_000_000)]
    );
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        1,
        "the pending retry"
    );
}

#[tokio::test]
async fn v1_queues_are_claimed_and_finished_by_the_current_code() {
    queues_are_claimed_and_finished(Records::v1()).await;
}

#[tokio::test]
async fn v2_queues_are_claimed_and_finished_by_the_current_code() {
    queues_are_claimed_and_finished(Records::v2()).await;
}

#[tokio::test]
async fn v3_lines_are_read_and_moved_on_by_the_current_code() {
    let (_redis, store, fx) = loaded_from(Records::v3()).await;
    let blocked = bounded(store.blocked_keys("stripe", "ledger", 10))
        .await
        .unwrap();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    let k = &blocked[0];
    assert_eq!((k.key.as_str(), &k.head), ("pi_3Ordered", &fx.id("head")));
    assert_eq!((k.attempts, k.last_status_code), (1, Some(503)));
    assert_eq!((k.since_ms, k.waiting), (1_735_787_048_100, 1));
    let d = bounded(store.route_depths("stripe", "ledger"))
        .await
        .unwrap();
    assert_eq!((d.queued, d.held, d.blocked_keys), (3, 1, 1), "{d:?}");
    assert_eq!(d.oldest_blocked_ms, Some(1_735_787_048_100));

    // The head's retry is due (with v2's pending one); the held one waits.
    let got = claim(&store, "stripe", "ledger", 10).await.deliveries;
    let head = got
        .iter()
        .find(|d| d.id == fx.id("head"))
        .expect("the head is claimed");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((head.attempts, head.first_ms), (1, 1_735_787_048_100));
    let before = hookgate_core::time::now_ms();
    assert!(
        finish(
            &store,
            "stripe",
            "ledger",
            head,
            2,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    let next = claim_one(&store, "stripe", "ledger").await;
    assert_eq!(next.id, fx.id("held"));
    assert!(
        next.first_ms >= before,
        "its budget starts as it leaves the hold"
    );
    assert!(
        bounded(store.blocked_keys("stripe", "ledger", 10))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn queues_are_claimed_and_finished(fixture: Records) {
    let (redis, store, fx) = loaded_from(fixture).await;
    let mut c = redis.conn().await;

    // The retry v1 scheduled is due: claimed with its history.
    let got = claim(&store, "stripe", "ledger", 10).await;
    assert_eq!(got.deliveries.len(), 1, "{got:?}");
    let d = &got.deliveries[0];
    assert_eq!(d.id, fx.id("pending"));
    assert_eq!(d.attempts, 1);
    assert_eq!(d.first_ms, 1_735_787_045_700);
    assert!(
        d.lease > hookgate_core::time::now_ms(),
        "the lease token is its expiry: {}",
        d.lease
    );
    assert_eq!(d.cloudevent, fx.cloudevent("pending"));
    assert_eq!(
        d.traceparent,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(got.next_due_ms, None);
    assert!(
        finish(
            &store,
            "stripe",
            "ledger",
            d,
            2,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    let log = store.attempts("stripe", &d.id, "ledger").await.unwrap();
    assert_eq!(log.iter().map(|a| a.n).collect::<Vec<_>>(), [1, 2]);

    // The event v1 left in the fan-out queue is fanned out.
    let fanout = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(
        fanout,
        [(fx.id("new"), "stripe.charge.refunded".to_owned())]
    );
    bounded(store.fanout_commit("stripe", &[(fx.id("new"), vec!["ledger"])]))
        .await
        .unwrap();
    assert_eq!(
        zmembers(&mut c, "hg:{stripe}:q:ledger").await[0].0,
        fx.id("new").as_str()
    );
}

#[tokio::test]
async fn v1_dedup_markers_are_honoured() {
    let (_redis, store, fx) = loaded().await;
    for role in ["pending", "dead", "new"] {
        let ev = TestEvent::new("stripe", fx.provider_id(role), "payment.succeeded");
        assert_eq!(ev.id, fx.id(role));
        assert_eq!(
            ingest(&store, "stripe", &[&ev]).await.unwrap(),
            [false],
            "{role} was stored again"
        );
    }
}

/// Describes every key as `name with ids replaced by roles -> type and
/// shape` (hash field names, zset members, JSON keys of list items).
async fn layout(
    c: &mut MultiplexedConnection,
    roles: &[(EventId, &'static str)],
) -> BTreeMap<String, String> {
    let anonymize = |s: &str| {
        roles.iter().fold(s.to_owned(), |s, (id, role)| {
            s.replace(id.as_str(), &format!("<{role}>"))
        })
    };
    let mut out = BTreeMap::new();
    for key in scan(c, "*").await {
        let ty: String = raw(c, &["TYPE", &key]).await;
        let shape = match ty.as_str() {
            "hash" => {
                let mut fields: Vec<String> = hgetall(c, &key).await.into_keys().collect();
                fields.sort();
                format!("hash {fields:?}")
            }
            "zset" => {
                let mut members: Vec<String> = zmembers(c, &key)
                    .await
                    .into_iter()
                    .map(|(m, _)| anonymize(&m))
                    .collect();
                members.sort();
                format!("zset {members:?}")
            }
            "list" => {
                let items = lrange(c, &key).await;
                let mut fields: Vec<String> = match serde_json::from_str(&items[0]) {
                    Ok(Value::Object(map)) => map.keys().cloned().collect(),
                    _ => vec!["<not a JSON object>".to_owned()],
                };
                fields.sort();
                format!("list of {fields:?}")
            }
            other => other.to_owned(),
        };
        out.insert(anonymize(&key), shape);
    }
    out
}

#[tokio::test]
async fn current_writer_matches_the_newest_layout() {
    let fx = Records::v3();
    let roles = fx.roles();

    let old = RedisServer::start().await;
    fx.load(&old).await;
    let expected = layout(&mut old.conn().await, &roles).await;

    // The same three states, written by the current code.
    let redis = RedisServer::start().await;
    let store = open(&redis).await;
    let events: Vec<TestEvent> = ["pending", "dead", "head", "held"]
        .iter()
        .map(|r| {
            let ev = TestEvent::new("stripe", fx.provider_id(r), "payment.succeeded");
            match *r {
                "head" | "held" => ev.ordered("ledger", "pi_3Ordered"),
                _ => ev,
            }
        })
        .collect();
    let refs: Vec<&TestEvent> = events.iter().collect();
    assert_eq!(
        ingest(&store, "stripe", &refs).await.unwrap(),
        [true, true, true, true]
    );
    let claimed = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    let items: Vec<(EventId, Vec<&str>)> = claimed
        .into_iter()
        .map(|(id, _)| (id, vec!["ledger"]))
        .collect();
    bounded(store.fanout_commit("stripe", &items))
        .await
        .unwrap();
    let leased = claim(&store, "stripe", "ledger", 10).await.deliveries;
    assert_eq!(leased.len(), 3, "the held one waits");
    for d in &leased {
        let (how, code) = if d.id == fx.id("pending") || d.id == fx.id("head") {
            let due = hookgate_core::time::now_ms() + 60_000;
            (Finish::Retry { due_ms: due }, Some(503))
        } else {
            let reason = "max_attempts: 1 attempts, last connect refused".to_owned();
            (Finish::Dead { reason }, None)
        };
        assert!(finish(&store, "stripe", "ledger", d, 1, how, code).await);
    }
    let new = TestEvent::new("stripe", fx.provider_id("new"), "stripe.charge.refunded");
    assert_eq!(ingest(&store, "stripe", &[&new]).await.unwrap(), [true]);

    let actual = layout(&mut redis.conn().await, &roles).await;
    assert_eq!(
        actual, expected,
        "the current code writes a different layout than v3: add fixtures/v4 and keep v1 to v3 readable"
    );
}

#[tokio::test]
async fn a_lease_of_an_earlier_version_is_not_taken_back_and_expires_as_before() {
    // Earlier versions record no owner with a lease (no `lo`/`lr`/`lt` in
    // the delivery's record): a handle without an instance id leases the
    // same way. A restarted instance cannot tell whose it is, so it leaves
    // it to expire, as every version did.
    let redis = RedisServer::start().await;
    let lease = Duration::from_millis(300);
    let settings = Settings {
        visibility_timeout: lease,
        ..Settings::default()
    };
    let old = open_config(&config(&redis), settings).await;
    let ev = ingest_and_fan_out(&old, "stripe", "evt_old_lease", &["ledger"]).await;
    let held = claim_one(&old, "stripe", "ledger").await;
    let mut c = redis.conn().await;
    let record = hgetall(&mut c, &format!("hg:{{stripe}}:x:{}:ledger", ev.id)).await;
    assert!(
        !record.contains_key("lo") && !record.contains_key("lt"),
        "{record:?}"
    );
    drop(old);

    let restarted = open_config(&config(&redis), settings)
        .await
        .with_instance("gw-a");
    let routes = [("stripe", "ledger")];
    assert_eq!(
        bounded(restarted.take_back_leases(&routes)).await.unwrap(),
        0
    );
    assert!(
        claim(&restarted, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
    // Once expired it goes again, as a reclaim.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let again = claim_one(&restarted, "stripe", "ledger").await;
    assert_eq!(again.id, ev.id);
    assert!(again.lease > held.lease);
    let rec = bounded(restarted.delivery("stripe", &ev.id, "ledger"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.reclaims, 1);
}
