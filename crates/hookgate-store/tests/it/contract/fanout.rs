//! The fan-out queue (docs/delivery.md "Fan-out"): a read leases nothing, a commit
//! takes events off the queue and creates each delivery once, however many
//! workers race, and an event the provider sent again after its dedup
//! window is delivered again.

use crate::support::*;
use hookgate_core::time::now_ms;
use hookgate_store::{DeliveryStatus, Finish, RouteDepth, Store};
use std::time::Duration;

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// A second worker on the same store: another instance on Redis, the
/// delivery runtime's handle on SQLite (one process per file).
async fn second_worker(fx: &Fixture) -> Store {
    match fx.another(fx.settings).await {
        Some(other) => other,
        None => fx.store.open_beside().expect("beside"),
    }
}

async fn fanout_due_reads_events_with_their_types_until_a_commit_takes_them(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let a = TestEvent::new("stripe", "evt_a", "payment.succeeded");
    let b = TestEvent::new("stripe", "evt_b", "stripe.charge.refunded");
    let c = TestEvent::new("stripe", "evt_c", "payment.failed");
    for ev in [&a, &b, &c] {
        assert_eq!(ingest(store, "stripe", &[ev]).await.unwrap(), [true]);
    }

    let two = bounded(store.fanout_due("stripe", 2)).await.unwrap();
    let all = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(two.len(), 2, "{two:?}");
    assert_eq!(all.len(), 3, "a read leases nothing: {all:?}");
    assert_eq!(
        sorted(all),
        sorted(
            [&a, &b, &c]
                .iter()
                .map(|e| (e.id.clone(), e.ty.clone()))
                .collect()
        )
    );

    // The first two are committed; only the third is read again.
    let items: Vec<_> = two.iter().map(|(id, _)| (id.clone(), vec![])).collect();
    assert_eq!(
        bounded(store.fanout_commit("stripe", &items))
            .await
            .unwrap(),
        2
    );
    let rest = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(!two.iter().any(|(id, _)| *id == rest[0].0), "{rest:?}");
    // Committing them again takes nothing; a commit that names a taken
    // event and a queued one takes the queued one only.
    assert_eq!(
        bounded(store.fanout_commit("stripe", &items))
            .await
            .unwrap(),
        0
    );
    let mut mixed = items.clone();
    mixed.push((rest[0].0.clone(), vec![]));
    assert_eq!(
        bounded(store.fanout_commit("stripe", &mixed))
            .await
            .unwrap(),
        1
    );
    assert!(
        bounded(store.fanout_due("stripe", 10))
            .await
            .unwrap()
            .is_empty()
    );
}
conformance!(fanout_due_reads_events_with_their_types_until_a_commit_takes_them);

async fn the_aged_scan_leaves_events_younger_than_its_minimum_age(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let old = TestEvent::new("stripe", "evt_old", "payment.succeeded");
    let young = TestEvent::new("stripe", "evt_young", "payment.succeeded");
    assert_eq!(ingest(store, "stripe", &[&old]).await.unwrap(), [true]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(ingest(store, "stripe", &[&young]).await.unwrap(), [true]);

    // The old one is 700 ms old, the young one a few: a scan for events
    // older than 350 ms leaves the young one to the feed.
    let aged = bounded(store.fanout_due_older("stripe", 10, Duration::from_millis(350)))
        .await
        .unwrap();
    assert_eq!(aged, [(old.id.clone(), old.ty.clone())]);
    let all = bounded(store.fanout_due_older("stripe", 10, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
}
conformance!(the_aged_scan_leaves_events_younger_than_its_minimum_age);

async fn two_workers_reading_the_same_events_fan_them_out_once(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let other = second_worker(&fx).await;
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert_eq!(ingest(store, "stripe", &[&ev]).await.unwrap(), [true]);

    let mine = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    let theirs = bounded(other.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(mine, theirs);
    let items = [(ev.id.clone(), vec!["ledger"])];
    let first = bounded(store.fanout_commit("stripe", &items))
        .await
        .unwrap();
    // The first delivery is already in flight when the second commit runs.
    let leased = claim_one(store, "stripe", "ledger").await;
    let second = bounded(other.fanout_commit("stripe", &items))
        .await
        .unwrap();
    assert_eq!((first, second), (1, 0));
    assert_eq!(
        bounded(store.route_depths("stripe", "ledger"))
            .await
            .unwrap(),
        RouteDepth {
            queued: 0,
            in_flight: 1,
            dead: 0,
            ..RouteDepth::default()
        }
    );
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &leased,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    let rec = bounded(other.delivery("stripe", &ev.id, "ledger"))
        .await
        .unwrap()
        .expect("delivery");
    assert_eq!((rec.status, rec.attempts), (DeliveryStatus::Delivered, 1));
    assert!(
        claim(store, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
}
conformance!(two_workers_reading_the_same_events_fan_them_out_once);

async fn racing_commits_of_one_event_fan_it_out_once(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let other = second_worker(&fx).await;
    let ev = TestEvent::new("stripe", "evt_race", "payment.succeeded");
    assert_eq!(ingest(&fx.store, "stripe", &[&ev]).await.unwrap(), [true]);

    let tasks = (0..16).map(|i| {
        let store = if i % 2 == 0 {
            fx.store.clone()
        } else {
            other.clone()
        };
        let id = ev.id.clone();
        tokio::spawn(async move {
            bounded(store.fanout_commit("stripe", &[(id, vec!["ledger", "audit"])])).await
        })
    });
    let taken: usize = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("fan-out commit"))
        .sum();
    assert_eq!(taken, 1, "exactly one commit takes the event");
    for sub in ["ledger", "audit"] {
        assert_eq!(
            bounded(fx.store.route_depths("stripe", sub)).await.unwrap(),
            RouteDepth {
                queued: 1,
                in_flight: 0,
                dead: 0,
                ..RouteDepth::default()
            },
            "{sub}"
        );
        assert_eq!(claim_one(&fx.store, "stripe", sub).await.id, ev.id);
    }
}
conformance!(racing_commits_of_one_event_fan_it_out_once);

async fn fanout_commit_creates_each_delivery_once(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let before = now_ms();
    let ev = ingest_and_fan_out(store, "stripe", "evt_1", &["ledger", "audit"]).await;
    let after = now_ms();

    let records = bounded(store.deliveries_of("stripe", &ev.id, &["ledger", "audit", "crm"]))
        .await
        .unwrap();
    let subs: Vec<&str> = records.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(subs, ["ledger", "audit"], "only the subscriptions named");
    for (sub, rec, log) in &records {
        assert_eq!(
            (rec.status, rec.attempts, rec.reclaims),
            (DeliveryStatus::Pending, 0, 0),
            "{sub}"
        );
        assert_eq!(
            (rec.reason.as_deref(), rec.dead_at_ms),
            (None, None),
            "{sub}"
        );
        assert!(log.is_empty(), "{sub}: {log:?}");
        assert_eq!(
            bounded(store.route_depths("stripe", sub)).await.unwrap(),
            RouteDepth {
                queued: 1,
                in_flight: 0,
                dead: 0,
                ..RouteDepth::default()
            },
            "{sub}"
        );
    }

    // The ledger delivery goes out: it carries the event, a fresh budget
    // that started at the fan-out, and it is not queued twice.
    let leased = claim_one(store, "stripe", "ledger").await;
    assert_eq!((leased.id.clone(), leased.attempts), (ev.id.clone(), 0));
    assert!(
        (before..=after).contains(&leased.first_ms),
        "budget start {} not within the fan-out [{before}, {after}]",
        leased.first_ms
    );
    assert_eq!(leased.cloudevent, ev.ce);
    assert!(
        claim(store, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &leased,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(claim_one(store, "stripe", "audit").await.id, ev.id);
}
conformance!(fanout_commit_creates_each_delivery_once);

async fn fanout_commit_without_subscriptions_takes_the_event_off_the_queue(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_nobody", &[]).await;

    assert!(
        bounded(store.fanout_due("stripe", 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        bounded(store.deliveries_of("stripe", &ev.id, &["ledger"]))
            .await
            .unwrap()
            .is_empty(),
        "no delivery was made"
    );
    assert_eq!(
        bounded(store.route_depths("stripe", "ledger"))
            .await
            .unwrap(),
        RouteDepth::default()
    );
    // The event itself is kept (admin API) until retention.
    assert!(
        bounded(store.event("stripe", &ev.id))
            .await
            .unwrap()
            .is_some()
    );
}
conformance!(fanout_commit_without_subscriptions_takes_the_event_off_the_queue);

async fn a_worker_that_dies_between_read_and_commit_leaves_the_event_queued(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let ev = TestEvent::new("stripe", "evt_1", "payment.succeeded");
    assert_eq!(ingest(&fx.store, "stripe", &[&ev]).await.unwrap(), [true]);
    let first = bounded(fx.store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(first, [(ev.id.clone(), ev.ty.clone())]);

    // The worker (the whole gateway) dies without committing; the next
    // one reads the event again and fans it out.
    let settings = fx.settings;
    let fx = fx.reopen_with(settings).await;
    let again = bounded(fx.store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        bounded(
            fx.store
                .fanout_commit("stripe", &[(ev.id.clone(), vec!["ledger"])])
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(claim_one(&fx.store, "stripe", "ledger").await.id, ev.id);
}
conformance!(a_worker_that_dies_between_read_and_commit_leaves_the_event_queued);

async fn an_event_sent_again_after_its_dedup_window_is_delivered_again(kind: Kind) {
    // The dedup claim lives `dedup_window`, delivery records `retention`
    // (longer): a provider's re-send in between is acknowledged as new, so
    // it must be delivered again, to every subscription, whatever became of
    // the first delivery: delivered, dead, or still in flight.
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let window = Duration::from_millis(300);
    let ev = TestEvent::new("stripe", "evt_again", "payment.succeeded");
    assert_eq!(
        ingest_for(store, "stripe", window, &[&ev]).await.unwrap(),
        [true]
    );
    let subs = vec!["ledger", "audit", "crm"];
    bounded(store.fanout_commit("stripe", &[(ev.id.clone(), subs.clone())]))
        .await
        .unwrap();
    let in_flight = claim_one(store, "stripe", "crm").await;
    let d = claim_one(store, "stripe", "ledger").await;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &d,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    let d = claim_one(store, "stripe", "audit").await;
    let dead = Finish::Dead {
        reason: "status 410".to_owned(),
    };
    assert!(finish(store, "stripe", "audit", &d, 1, dead, Some(410)).await);

    // The window passes and the provider sends the event again: stored as
    // new, fanned out as new.
    tokio::time::sleep(window + Duration::from_millis(100)).await;
    assert_eq!(
        ingest_for(store, "stripe", window, &[&ev]).await.unwrap(),
        [true]
    );
    let read = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(read, [(ev.id.clone(), ev.ty.clone())]);
    let rearmed = now_ms();
    assert_eq!(
        bounded(store.fanout_commit("stripe", &[(ev.id.clone(), subs.clone())]))
            .await
            .unwrap(),
        1
    );
    for sub in ["ledger", "audit"] {
        let rec = bounded(store.delivery("stripe", &ev.id, sub))
            .await
            .unwrap()
            .expect("delivery");
        assert_eq!(
            (
                rec.status,
                rec.attempts,
                rec.reason.as_deref(),
                rec.dead_at_ms
            ),
            (DeliveryStatus::Pending, 0, None, None),
            "{sub}: {rec:?}"
        );
        let again = claim_one(store, "stripe", sub).await;
        assert_eq!(
            (again.id.clone(), again.attempts),
            (ev.id.clone(), 0),
            "{sub}"
        );
        assert!(again.first_ms >= rearmed, "{sub}: a fresh budget");
        // The history stays: the first delivery's attempt is still logged.
        assert_eq!(
            bounded(store.attempts("stripe", &ev.id, sub))
                .await
                .unwrap()
                .len(),
            1,
            "{sub}"
        );
    }
    assert!(
        bounded(store.dead_letters("stripe", "audit"))
            .await
            .unwrap()
            .is_empty(),
        "the re-armed delivery left the dead letters"
    );

    // The one in flight is not sent twice at once: its attempt ends (its
    // outcome kept), then it goes again, counting on from that attempt.
    assert!(
        claim(store, "stripe", "crm", 10)
            .await
            .deliveries
            .is_empty()
    );
    assert!(
        finish(
            store,
            "stripe",
            "crm",
            &in_flight,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    let again = claim_one(store, "stripe", "crm").await;
    assert_eq!((again.id.clone(), again.attempts), (ev.id.clone(), 1));
    assert!(again.first_ms >= rearmed, "a fresh budget");
    assert_eq!(
        bounded(store.attempts("stripe", &ev.id, "crm"))
            .await
            .unwrap(),
        [attempt(1, Some(200), None)]
    );
}
conformance!(an_event_sent_again_after_its_dedup_window_is_delivered_again);
