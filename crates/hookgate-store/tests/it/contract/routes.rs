//! Route queues (docs/delivery.md): leases, outcomes (delivered, retry, dead,
//! release), the durable retry schedule, stale leases, reclaims and poison
//! messages, deliveries that outlive their event, the attempt log's cap,
//! records past retention, and queues that survive a restart.

use crate::support::*;
use hookgate_core::time::now_ms;
use hookgate_store::{
    ATTEMPT_LOG_CAP, ClaimedDelivery, DeliveryRecord, DeliveryStatus, Finish, RECLAIM_LIMIT,
    RouteDepth, Settings, Store,
};
use std::time::Duration;

/// The visibility timeout of the tests that let leases expire.
const SHORT_LEASE: Duration = Duration::from_millis(100);
/// A sleep that outlasts [`SHORT_LEASE`] with a wide margin.
const PAST_SHORT_LEASE: Duration = Duration::from_millis(250);

fn short_lease() -> Settings {
    Settings {
        visibility_timeout: SHORT_LEASE,
        ..Settings::default()
    }
}

fn depth(queued: u64, in_flight: u64, dead: u64) -> RouteDepth {
    RouteDepth {
        queued,
        in_flight,
        dead,
        ..RouteDepth::default()
    }
}

async fn depths(store: &Store, sub: &str) -> RouteDepth {
    bounded(store.route_depths("stripe", sub)).await.unwrap()
}

async fn record(store: &Store, ev: &hookgate_core::EventId, sub: &str) -> DeliveryRecord {
    bounded(store.delivery("stripe", ev, sub))
        .await
        .unwrap()
        .expect("delivery record")
}

async fn log_len(store: &Store, ev: &hookgate_core::EventId, sub: &str) -> usize {
    bounded(store.attempts("stripe", ev, sub))
        .await
        .unwrap()
        .len()
}

fn dead(reason: &str) -> Finish {
    Finish::Dead {
        reason: reason.to_owned(),
    }
}

async fn route_claim_returns_the_stored_event_and_the_next_due_time(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let start = now_ms();
    let a = ingest_and_fan_out(store, "stripe", "evt_a", &["ledger"]).await;
    let b = ingest_and_fan_out(store, "stripe", "evt_b", &["ledger"]).await;
    let fanned = now_ms();

    let got = claim(store, "stripe", "ledger", 1).await;
    assert_eq!(got.deliveries.len(), 1, "{got:?}");
    let claimed_at = now_ms();
    let d = &got.deliveries[0];
    let (this, other) = if d.id == a.id { (&a, &b) } else { (&b, &a) };
    assert_eq!(d.cloudevent, this.ce);
    assert_eq!(d.traceparent, this.tp);
    assert_eq!(d.attempts, 0);
    assert!((start..=fanned).contains(&d.first_ms), "{d:?}");
    // The lease token is the lease's expiry: the store's visibility timeout
    // from the claim.
    let lease = fx.settings.visibility_timeout.as_millis() as i64;
    assert!(
        (start + lease..=claimed_at + lease).contains(&d.lease),
        "lease token {} not now + {lease} ms",
        d.lease
    );
    // The other one is still waiting, and due already.
    let next = got.next_due_ms.expect("the other delivery is waiting");
    assert!((start..=fanned).contains(&next), "next due {next}");
    assert_eq!(depths(store, "ledger").await, depth(1, 1, 0));
    assert_eq!(
        bounded(store.route_gauges("stripe", "ledger"))
            .await
            .unwrap(),
        (depth(1, 1, 0), Some(next))
    );

    let rest = claim(store, "stripe", "ledger", 10).await;
    assert_eq!(rest.deliveries.len(), 1);
    assert_eq!(rest.deliveries[0].id, other.id);
    assert_eq!(rest.deliveries[0].cloudevent, other.ce);
    assert_eq!(rest.next_due_ms, None, "nothing is waiting any more");
    assert!(
        claim(store, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
    assert_eq!(depths(store, "ledger").await, depth(0, 2, 0));
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        2
    );
}
conformance!(route_claim_returns_the_stored_event_and_the_next_due_time);

async fn route_finish_delivered_records_the_attempt_and_the_state(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(store, "stripe", "ledger").await;

    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Delivered,
            Some(204)
        )
        .await
    );

    let rec = record(store, &ev.id, "ledger").await;
    assert_eq!(rec.status, DeliveryStatus::Delivered);
    assert_eq!(rec.attempts, 1);
    assert_eq!(rec.last_status_code, Some(204));
    assert_eq!((rec.reason, rec.dead_at_ms), (None, None));
    assert_eq!(
        bounded(store.attempts("stripe", &ev.id, "ledger"))
            .await
            .unwrap(),
        [attempt(1, Some(204), None)]
    );
    assert_eq!(depths(store, "ledger").await, depth(0, 0, 0));
    assert!(
        claim(store, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
    // Finishing it twice (a duplicate answer) changes nothing.
    assert!(
        !finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Delivered,
            Some(204)
        )
        .await
    );
    assert_eq!(log_len(store, &ev.id, "ledger").await, 1);
}
conformance!(route_finish_delivered_records_the_attempt_and_the_state);

async fn a_retry_is_not_claimable_before_it_is_due_and_is_after(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let far = ingest_and_fan_out(store, "stripe", "evt_far", &["ledger"]).await;

    // A retry an hour away: deterministic "not before".
    let d = claim_one(store, "stripe", "ledger").await;
    let due_far = now_ms() + 3_600_000;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Retry { due_ms: due_far },
            None
        )
        .await
    );
    let none = claim(store, "stripe", "ledger", 10).await;
    assert!(none.deliveries.is_empty(), "claimed before due: {none:?}");
    assert_eq!(none.next_due_ms, Some(due_far));
    assert_eq!(
        bounded(store.route_gauges("stripe", "ledger"))
            .await
            .unwrap(),
        (depth(1, 0, 0), Some(due_far))
    );
    let rec = record(store, &far.id, "ledger").await;
    assert_eq!(
        (rec.status, rec.attempts, rec.last_status_code),
        (DeliveryStatus::Pending, 1, None),
        "no status code for a transport error"
    );
    assert_eq!(
        bounded(store.attempts("stripe", &far.id, "ledger"))
            .await
            .unwrap(),
        [attempt(1, None, Some("connect refused"))]
    );

    // A retry due shortly: claimable once due, with its attempt count and
    // its budget start unchanged.
    let soon = ingest_and_fan_out(store, "stripe", "evt_soon", &["ledger"]).await;
    let d = claim_one(store, "stripe", "ledger").await;
    assert_eq!(d.id, soon.id);
    let due_soon = now_ms() + 200;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Retry { due_ms: due_soon },
            Some(503)
        )
        .await
    );
    assert_eq!(
        claim(store, "stripe", "ledger", 10).await.next_due_ms,
        Some(due_soon),
        "the earliest waiting retry"
    );
    assert_eq!(
        record(store, &soon.id, "ledger").await.last_status_code,
        Some(503)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = claim_one(store, "stripe", "ledger").await;
    assert_eq!(again.id, soon.id);
    assert_eq!(again.attempts, 1);
    assert_eq!(again.first_ms, d.first_ms);
    assert!(again.lease > d.lease, "a retaken lease has a later token");
    assert_eq!(again.cloudevent, soon.ce);
    assert_eq!(depths(store, "ledger").await, depth(1, 1, 0));
}
conformance!(a_retry_is_not_claimable_before_it_is_due_and_is_after);

async fn route_finish_dead_parks_the_delivery_in_the_dead_letters(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_1", &["ledger"]).await;
    let d = claim_one(store, "stripe", "ledger").await;

    let before = now_ms();
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            dead("status 410"),
            Some(410)
        )
        .await
    );
    let after = now_ms();

    let rec = record(store, &ev.id, "ledger").await;
    assert_eq!(rec.status, DeliveryStatus::Dead);
    assert_eq!(rec.reason.as_deref(), Some("status 410"));
    assert_eq!(rec.last_status_code, Some(410));
    assert_eq!(rec.attempts, 1);
    let dead_at = rec.dead_at_ms.expect("dead_at");
    assert!((before..=after).contains(&dead_at), "{rec:?}");
    assert_eq!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap(),
        [(ev.id.clone(), dead_at)]
    );
    assert_eq!(log_len(store, &ev.id, "ledger").await, 1);
    assert_eq!(depths(store, "ledger").await, depth(0, 0, 1));
    assert!(
        claim(store, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
}
conformance!(route_finish_dead_parks_the_delivery_in_the_dead_letters);

async fn release_returns_the_delivery_without_counting_an_attempt(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_1", &["ledger"]).await;

    let d = claim_one(store, "stripe", "ledger").await;
    let before = record(store, &ev.id, "ledger").await;
    assert!(finish(store, "stripe", "ledger", &d, 0, Finish::Release, None).await);

    assert_eq!(
        record(store, &ev.id, "ledger").await,
        before,
        "release changed the delivery"
    );
    assert_eq!(log_len(store, &ev.id, "ledger").await, 0);
    assert_eq!(depths(store, "ledger").await, depth(1, 0, 0));

    let again = claim_one(store, "stripe", "ledger").await;
    assert_eq!(again.id, ev.id);
    assert_eq!(again.attempts, 0);
    assert_eq!(again.first_ms, d.first_ms);
    let rec = record(store, &ev.id, "ledger").await;
    assert_eq!((rec.attempts, rec.reclaims), (0, 0));
}
conformance!(release_returns_the_delivery_without_counting_an_attempt);

async fn a_stale_lease_claimed_again_cannot_finish(kind: Kind) {
    let fx = Fixture::open_with(kind, short_lease()).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_1", &["ledger"]).await;

    let old = claim_one(store, "stripe", "ledger").await;
    tokio::time::sleep(PAST_SHORT_LEASE).await;
    let new = claim_one(store, "stripe", "ledger").await;
    assert_eq!(new.id, old.id);
    assert!(new.lease > old.lease, "a retaken lease has a later token");

    let before = record(store, &ev.id, "ledger").await;
    assert_eq!(before.reclaims, 1);
    // The reclaim logged the abandoned attempt; a stale finish adds nothing.
    assert_eq!(log_len(store, &ev.id, "ledger").await, 1);
    for how in [
        Finish::Delivered,
        Finish::Retry { due_ms: now_ms() },
        dead("status 400"),
        Finish::Release,
    ] {
        assert!(
            !finish(store, "stripe", "ledger", &old, 1, how.clone(), Some(500)).await,
            "stale lease finished with {how:?}"
        );
    }
    assert_eq!(record(store, &ev.id, "ledger").await, before);
    assert_eq!(log_len(store, &ev.id, "ledger").await, 1);
    assert_eq!(depths(store, "ledger").await, depth(0, 1, 0));
    assert!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap()
            .is_empty()
    );

    // The current holder can.
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &new,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(
        record(store, &ev.id, "ledger").await.status,
        DeliveryStatus::Delivered
    );
}
conformance!(a_stale_lease_claimed_again_cannot_finish);

async fn a_lease_reclaimed_to_the_queue_cannot_finish_before_it_is_claimed_again(kind: Kind) {
    // Two deliveries leased together expire together; the next claim (room
    // for one) reclaims both but leases only one. The other is back in the
    // queue, no longer its old holder's: finishing it must not mark it done
    // while it waits to be sent again.
    let fx = Fixture::open_with(kind, short_lease()).await;
    let store = &fx.store;
    ingest_and_fan_out(store, "stripe", "evt_a", &["ledger"]).await;
    ingest_and_fan_out(store, "stripe", "evt_b", &["ledger"]).await;

    let both = claim(store, "stripe", "ledger", 2).await.deliveries;
    assert_eq!(both.len(), 2);
    tokio::time::sleep(PAST_SHORT_LEASE).await;
    let taken = claim(store, "stripe", "ledger", 1).await.deliveries;
    assert_eq!(taken.len(), 1);
    let waiting = both.iter().find(|d| d.id != taken[0].id).unwrap();
    assert_eq!(depths(store, "ledger").await, depth(1, 1, 0));
    let before = record(store, &waiting.id, "ledger").await;
    assert_eq!(before.reclaims, 1);
    assert_eq!(
        log_len(store, &waiting.id, "ledger").await,
        1,
        "the reclaim logged the abandoned attempt"
    );

    assert!(
        !finish(
            store,
            "stripe",
            "ledger",
            waiting,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await,
        "a reclaimed lease finished"
    );
    assert_eq!(record(store, &waiting.id, "ledger").await, before);
    assert_eq!(log_len(store, &waiting.id, "ledger").await, 1);
    assert_eq!(depths(store, "ledger").await, depth(1, 1, 0));
    // It is sent again.
    let again = claim_one(store, "stripe", "ledger").await;
    assert_eq!(again.id, waiting.id);
}
conformance!(a_lease_reclaimed_to_the_queue_cannot_finish_before_it_is_claimed_again);

async fn a_delivery_whose_lease_expires_five_times_is_dead_lettered_as_poison(kind: Kind) {
    let fx = Fixture::open_with(kind, short_lease()).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_poison", &["ledger"]).await;
    let started = now_ms();

    // Claimed and abandoned (the worker dies each time) RECLAIM_LIMIT times.
    let mut last: Option<ClaimedDelivery> = None;
    for round in 1..=RECLAIM_LIMIT {
        let d = claim_one(store, "stripe", "ledger").await;
        assert_eq!(d.attempts, 0, "a reclaim uses no attempt budget");
        if let Some(prev) = &last {
            assert!(d.lease > prev.lease, "each retake has a later token");
            assert_eq!(record(store, &ev.id, "ledger").await.reclaims, round - 1);
        }
        last = Some(d);
        tokio::time::sleep(PAST_SHORT_LEASE).await;
    }
    let got = claim(store, "stripe", "ledger", 10).await;
    assert!(
        got.deliveries.is_empty(),
        "poison message claimed again: {got:?}"
    );

    let rec = record(store, &ev.id, "ledger").await;
    assert_eq!(rec.status, DeliveryStatus::Dead);
    assert_eq!(rec.reclaims, RECLAIM_LIMIT);
    assert_eq!(rec.attempts, 0);
    assert!(
        rec.reason.as_deref().unwrap_or("").starts_with("poison"),
        "{rec:?}"
    );
    let dead_at = rec.dead_at_ms.expect("dead_at");
    assert_eq!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap(),
        [(ev.id.clone(), dead_at)]
    );
    // Each abandoned lease may have been a send: the attempt log says so,
    // with the lease's start, and no attempt budget went (all are n = 1).
    let attempts = bounded(store.attempts("stripe", &ev.id, "ledger"))
        .await
        .unwrap();
    assert_eq!(attempts.len(), RECLAIM_LIMIT as usize, "{attempts:?}");
    let now = now_ms();
    let mut previous = started - 1_000;
    for a in &attempts {
        assert_eq!(a.n, 1, "{a:?}");
        assert_eq!(a.status_code, None, "{a:?}");
        assert!(
            a.error
                .as_deref()
                .is_some_and(|e| e.starts_with("no outcome: the lease expired")),
            "{a:?}"
        );
        assert!(a.duration_ms >= SHORT_LEASE.as_millis() as u64, "{a:?}");
        assert!(a.at.ends_with('Z'), "{a:?}");
        let at = hookgate_core::time::parse_rfc3339_ms(&a.at).expect("RFC 3339");
        assert!(at >= started - 1_000 && at <= now, "{a:?}");
        assert!(at > previous, "oldest first: {attempts:?}");
        previous = at;
    }
    assert_eq!(depths(store, "ledger").await, depth(0, 0, 1));

    // Its last holder wakes up late: the dead letter stays a dead letter.
    let last = last.unwrap();
    assert!(
        !finish(
            store,
            "stripe",
            "ledger",
            &last,
            1,
            Finish::Retry { due_ms: now_ms() },
            Some(503)
        )
        .await
    );
    assert_eq!(record(store, &ev.id, "ledger").await, rec);
    assert_eq!(depths(store, "ledger").await, depth(0, 0, 1));
}
conformance!(a_delivery_whose_lease_expires_five_times_is_dead_lettered_as_poison);

async fn a_delivery_whose_event_passed_retention_is_dead_lettered_as_expired(kind: Kind) {
    // Retention 600 ms. The event is stored and fanned out at t0; its
    // first attempt (t0 + 250 ms) fails and schedules a retry due after
    // the event expired (t0 + 600) but while the delivery record, kept
    // from its last write, still lives (t0 + 850).
    let settings = Settings {
        retention: Duration::from_millis(600),
        ..Settings::default()
    };
    let fx = Fixture::open_with(kind, settings).await;
    let store = &fx.store;
    let t0 = tokio::time::Instant::now();
    let ev = ingest_and_fan_out(store, "stripe", "evt_old", &["ledger"]).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let d = claim_one(store, "stripe", "ledger").await;
    let due = now_ms() + 350;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Retry { due_ms: due },
            Some(503)
        )
        .await
    );
    tokio::time::sleep_until(t0 + Duration::from_millis(700)).await;
    assert_eq!(bounded(store.event("stripe", &ev.id)).await.unwrap(), None);

    let got = claim(store, "stripe", "ledger", 10).await;
    assert!(got.deliveries.is_empty(), "{got:?}");
    let rec = record(store, &ev.id, "ledger").await;
    assert_eq!(rec.status, DeliveryStatus::Dead);
    assert!(
        rec.reason.as_deref().unwrap_or("").starts_with("expired"),
        "{rec:?}"
    );
    assert_eq!(rec.attempts, 1, "the expiry is no attempt");
    assert_eq!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap(),
        [(ev.id.clone(), rec.dead_at_ms.expect("dead_at"))]
    );
    assert_eq!(depths(store, "ledger").await, depth(0, 0, 1));
}
conformance!(a_delivery_whose_event_passed_retention_is_dead_lettered_as_expired);

async fn the_attempt_log_keeps_the_latest_attempts_up_to_its_cap(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_flaky", &["ledger"]).await;

    let total = ATTEMPT_LOG_CAP as u32 + 5;
    for n in 1..=total {
        let d = claim_one(store, "stripe", "ledger").await;
        assert_eq!(d.attempts, n - 1);
        assert!(
            finish(
                store,
                "stripe",
                "ledger",
                &d,
                n,
                Finish::Retry { due_ms: 0 },
                Some(503)
            )
            .await
        );
    }
    let log = bounded(store.attempts("stripe", &ev.id, "ledger"))
        .await
        .unwrap();
    assert_eq!(log.len(), ATTEMPT_LOG_CAP);
    assert_eq!(
        log.iter().map(|a| a.n).collect::<Vec<_>>(),
        (6..=total).collect::<Vec<_>>(),
        "the latest, oldest first"
    );
    assert_eq!(record(store, &ev.id, "ledger").await.attempts, total);
}
conformance!(the_attempt_log_keeps_the_latest_attempts_up_to_its_cap);

async fn dead_letters_and_delivery_records_past_retention_are_gone(kind: Kind) {
    let settings = Settings {
        retention: Duration::from_millis(400),
        ..Settings::default()
    };
    let fx = Fixture::open_with(kind, settings).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_dead", &["ledger", "audit"]).await;
    let d = claim_one(store, "stripe", "ledger").await;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            dead("status 410"),
            Some(410)
        )
        .await
    );
    let died = tokio::time::Instant::now();
    assert_eq!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap()
            .len(),
        1
    );

    // Invisible at once: read just past the retention, whether or not the
    // store has removed the records yet.
    tokio::time::sleep_until(died + Duration::from_millis(450)).await;
    assert!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap()
            .is_empty(),
        "a dead letter past retention is listed"
    );
    assert!(
        bounded(store.dead_letter_range("stripe", "ledger", 0, i64::MAX, 0, 10))
            .await
            .unwrap()
            .is_empty()
    );
    for sub in ["ledger", "audit"] {
        assert_eq!(
            bounded(store.delivery("stripe", &ev.id, sub))
                .await
                .unwrap(),
            None,
            "{sub}"
        );
        assert!(
            bounded(store.attempts("stripe", &ev.id, sub))
                .await
                .unwrap()
                .is_empty(),
            "{sub}"
        );
    }
    assert!(
        bounded(store.deliveries_of("stripe", &ev.id, &["ledger", "audit"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        bounded(store.delivery_records("stripe", std::slice::from_ref(&ev.id), "ledger"))
            .await
            .unwrap(),
        [None]
    );
    // Nor counted once the store has removed it (in the background, or by
    // the route's next claim).
    claim(store, "stripe", "ledger", 10).await;
    eventually(
        Duration::from_secs(3),
        "expired dead letter uncounted",
        || async {
            bounded(store.route_depths("stripe", "ledger"))
                .await
                .unwrap()
                .dead
                == 0
        },
    )
    .await;
}
conformance!(dead_letters_and_delivery_records_past_retention_are_gone);

async fn concurrent_finishes_on_several_routes_each_land_on_their_own_delivery(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    for i in 0..15 {
        ingest_and_fan_out(store, "stripe", &format!("evt_{i}"), &["ledger", "audit"]).await;
    }
    let mut claimed = Vec::new();
    for sub in ["ledger", "audit"] {
        let got = claim(store, "stripe", sub, 64).await.deliveries;
        assert_eq!(got.len(), 15);
        claimed.extend(got.into_iter().map(|d| (sub, d)));
    }
    // Outcomes by position: delivered, retry, dead; every seventh finish
    // holds a stale lease and must change nothing.
    let due = now_ms() + 3_600_000;
    let outcome = |i: usize| match i % 3 {
        0 => Finish::Delivered,
        1 => Finish::Retry { due_ms: due },
        _ => dead("status 400"),
    };
    let stale = |i: usize| i % 7 == 6;
    let tasks = claimed.iter().enumerate().map(|(i, (sub, d))| {
        let store = store.clone();
        let (sub, mut d) = (*sub, d.clone());
        if stale(i) {
            d.lease += 100;
        }
        let how = outcome(i);
        tokio::spawn(async move {
            let code = if i % 3 == 0 { 200 } else { 500 };
            (
                i,
                finish(&store, "stripe", sub, &d, 1, how, Some(code)).await,
            )
        })
    });
    for result in futures::future::join_all(tasks).await {
        let (i, ok) = result.expect("task");
        let (sub, d) = &claimed[i];
        let rec = record(store, &d.id, sub).await;
        if stale(i) {
            assert!(!ok, "stale lease {i} refused");
            assert_eq!(
                (rec.status, rec.attempts),
                (DeliveryStatus::Pending, 0),
                "stale finish {i} changed nothing"
            );
            assert_eq!(log_len(store, &d.id, sub).await, 0);
            continue;
        }
        assert!(ok, "finish {i} recorded");
        let want = [
            DeliveryStatus::Delivered,
            DeliveryStatus::Pending,
            DeliveryStatus::Dead,
        ][i % 3];
        assert_eq!((rec.status, rec.attempts), (want, 1), "finish {i} on {sub}");
        assert_eq!(log_len(store, &d.id, sub).await, 1, "finish {i} on {sub}");
    }
    for sub in ["ledger", "audit"] {
        let count = |f: &dyn Fn(usize) -> bool| {
            (0..claimed.len())
                .filter(|i| claimed[*i].0 == sub && f(*i))
                .count() as u64
        };
        assert_eq!(
            depths(store, sub).await,
            depth(
                count(&|i| i % 3 == 1 && !stale(i)),
                count(&|i| stale(i)),
                count(&|i| i % 3 == 2 && !stale(i)),
            ),
            "{sub}: retries queued, stale finishes still leased, dead letters"
        );
    }
}
conformance!(concurrent_finishes_on_several_routes_each_land_on_their_own_delivery);

async fn what_was_acknowledged_survives_a_restart_of_the_gateway(kind: Kind) {
    // The queues are the durable record (docs/delivery.md: "a restart loses no
    // pending retry"): events waiting for fan-out, a retry an hour away and
    // a delivery in flight are all still there after the store is closed
    // and opened again.
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let fanned = ingest_and_fan_out(store, "stripe", "evt_fanned", &["ledger", "audit"]).await;
    claim_one(store, "stripe", "ledger").await;
    let d = claim_one(store, "stripe", "audit").await;
    let due = now_ms() + 3_600_000;
    assert!(
        finish(
            store,
            "stripe",
            "audit",
            &d,
            1,
            Finish::Retry { due_ms: due },
            Some(503)
        )
        .await
    );
    let events: Vec<TestEvent> = (0..20)
        .map(|i| TestEvent::new("stripe", &format!("evt_{i}"), "payment.succeeded"))
        .collect();
    let refs: Vec<&TestEvent> = events.iter().collect();
    assert_eq!(
        ingest(store, "stripe", &refs).await.unwrap(),
        vec![true; 20]
    );

    let settings = fx.settings;
    let fx = fx.reopen_with(settings).await;
    let store = &fx.store;
    assert_eq!(
        ingest(store, "stripe", &refs).await.unwrap(),
        vec![false; 20]
    );
    let mut waiting: Vec<_> = bounded(store.fanout_due("stripe", 100))
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    waiting.sort();
    let mut expected: Vec<_> = events.iter().map(|e| e.id.clone()).collect();
    expected.sort();
    assert_eq!(waiting, expected);
    for ev in &events {
        let stored = bounded(store.event("stripe", &ev.id))
            .await
            .unwrap()
            .expect("event survived");
        assert_eq!(stored.cloudevent, ev.ce);
    }
    assert_eq!(
        bounded(store.route_gauges("stripe", "audit"))
            .await
            .unwrap(),
        (depth(1, 0, 0), Some(due)),
        "the retry schedule survived"
    );
    assert_eq!(
        bounded(store.attempts("stripe", &fanned.id, "audit"))
            .await
            .unwrap(),
        [attempt(1, Some(503), None)]
    );
    // The delivery that was in flight is still owed: leased, or (a store
    // that takes back its own leases at start) queued again.
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        record(store, &fanned.id, "ledger").await.status,
        DeliveryStatus::Pending
    );
}
conformance!(what_was_acknowledged_survives_a_restart_of_the_gateway);

async fn a_restarted_instance_takes_back_its_own_leases_and_never_another_instances(kind: Kind) {
    // The default visibility timeout (60 s), which no lease here outlives:
    // whatever is claimable again was taken back, not expired.
    let settings = Settings::default();
    let fx = Fixture::open_with(kind, settings).await;
    let a = fx.store.clone().with_instance("gw-a");
    let ev = ingest_and_fan_out(&a, "stripe", "evt_taken_back", &["ledger"]).await;
    let held = claim_one(&a, "stripe", "ledger").await;
    let routes = [("stripe", "ledger")];

    // Another instance starting (on Redis a second gateway on the store; on
    // SQLite there is no second process, only another id) takes back none
    // of gw-a's live leases.
    let b = match fx.another(settings).await {
        Some(store) => store,
        None => fx.store.clone(),
    }
    .with_instance("gw-b");
    assert_eq!(bounded(b.take_back_leases(&routes)).await.unwrap(), 0);
    assert!(
        claim(&b, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
    // Nor does gw-a itself while it runs (only earlier runs' leases).
    assert_eq!(bounded(a.take_back_leases(&routes)).await.unwrap(), 0);
    assert!(
        claim(&a, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
    assert_eq!(depths(&a, "ledger").await, depth(0, 1, 0));
    drop((a, b));

    // gw-a dies and starts again with the same id: its lease goes again at
    // once (on SQLite when the file is opened, on Redis when it takes back
    // its leases), counted as a reclaim, the unknown attempt logged.
    let fx = fx.reopen_with(settings).await;
    let a = fx.store.clone().with_instance("gw-a");
    let taken = bounded(a.take_back_leases(&routes)).await.unwrap();
    let expected = if kind == Kind::Sqlite { 0 } else { 1 };
    assert_eq!(taken, expected, "leases taken back by the restarted gw-a");
    let again = claim_one(&a, "stripe", "ledger").await;
    assert_eq!(again.id, ev.id);
    assert_eq!(again.attempts, 0, "a reclaim uses no attempt budget");
    assert!(again.lease > held.lease);
    let rec = record(&a, &ev.id, "ledger").await;
    assert_eq!(rec.reclaims, 1);
    assert_eq!(rec.status, DeliveryStatus::Pending);
    let log = bounded(a.attempts("stripe", &ev.id, "ledger"))
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].status_code.is_none());
    assert!(
        log[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("no outcome"),
        "{log:?}"
    );
    // The dead run's lease cannot finish; the new one can.
    assert!(
        !finish(
            &a,
            "stripe",
            "ledger",
            &held,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert!(
        finish(
            &a,
            "stripe",
            "ledger",
            &again,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(depths(&a, "ledger").await, depth(0, 0, 0));
    // Taking back again (a second restart) finds nothing of gw-a's left.
    drop(a);
    let fx = fx.reopen_with(settings).await;
    let a = fx.store.clone().with_instance("gw-a");
    assert_eq!(bounded(a.take_back_leases(&routes)).await.unwrap(), 0);
    assert_eq!(
        record(&a, &ev.id, "ledger").await.status,
        DeliveryStatus::Delivered
    );
}
conformance!(a_restarted_instance_takes_back_its_own_leases_and_never_another_instances);

/// The claim's `row` only saves a lookup: a finish without it, or with
/// another delivery's, still finishes the delivery its id names, and only
/// that one.
async fn a_finish_is_found_by_its_id_whatever_row_it_carries(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    ingest_and_fan_out(store, "stripe", "evt_row_a", &["ledger"]).await;
    ingest_and_fan_out(store, "stripe", "evt_row_b", &["ledger"]).await;
    let got = claim(store, "stripe", "ledger", 10).await;
    assert_eq!(got.deliveries.len(), 2, "{got:?}");
    let (a, b) = (&got.deliveries[0], &got.deliveries[1]);
    let with_b_row = ClaimedDelivery {
        row: b.row,
        ..a.clone()
    };
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &with_b_row,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(
        record(store, &a.id, "ledger").await.status,
        DeliveryStatus::Delivered
    );
    assert_eq!(
        record(store, &b.id, "ledger").await.status,
        DeliveryStatus::Pending
    );
    let without_row = ClaimedDelivery {
        row: None,
        ..b.clone()
    };
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &without_row,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(
        record(store, &b.id, "ledger").await.status,
        DeliveryStatus::Delivered
    );
    assert_eq!(depths(store, "ledger").await, depth(0, 0, 0));
}
conformance!(a_finish_is_found_by_its_id_whatever_row_it_carries);
