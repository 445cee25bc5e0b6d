//! What operators read and do (docs/admin-api.md): replay and redeliver, pause
//! flags, route gauges, the audit log, and the admin listings (events,
//! dead letters, deliveries with their attempts).

use crate::support::*;
use hookgate_core::EventId;
use hookgate_core::time::now_ms;
use hookgate_store::{
    AuditRecord, DeliveryRecord, DeliveryStatus, Finish, ListOrder, RouteDepth, Settings, Store,
};
use std::collections::HashSet;
use std::time::Duration;

fn depth(queued: u64, in_flight: u64, dead: u64) -> RouteDepth {
    RouteDepth {
        queued,
        in_flight,
        dead,
        ..RouteDepth::default()
    }
}

fn dead(reason: &str) -> Finish {
    Finish::Dead {
        reason: reason.to_owned(),
    }
}

async fn record(store: &Store, ev: &EventId, sub: &str) -> DeliveryRecord {
    bounded(store.delivery("stripe", ev, sub))
        .await
        .unwrap()
        .expect("delivery record")
}

/// Fans `name` out to `sub` and dead-letters it after one attempt.
async fn dead_letter(store: &Store, name: &str, sub: &str) -> TestEvent {
    let ev = ingest_and_fan_out(store, "stripe", name, &[sub]).await;
    let d = claim_one(store, "stripe", sub).await;
    assert_eq!(d.id, ev.id);
    assert!(finish(store, "stripe", sub, &d, 1, dead("status 410"), Some(410)).await);
    ev
}

// === replay ===

async fn replay_requeues_a_dead_letter_with_a_fresh_budget_once(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let ev = ingest_and_fan_out(store, "stripe", "evt_dead", &["ledger"]).await;
    // Three attempts: two retries, then dead.
    for n in 1..=3 {
        let d = claim_one(store, "stripe", "ledger").await;
        assert_eq!(d.attempts, n - 1);
        let how = if n < 3 {
            Finish::Retry { due_ms: 0 }
        } else {
            dead("max_attempts")
        };
        assert!(finish(store, "stripe", "ledger", &d, n, how, Some(503)).await);
    }
    let first_budget = record(store, &ev.id, "ledger").await;
    assert_eq!(
        (first_budget.status, first_budget.attempts),
        (DeliveryStatus::Dead, 3)
    );

    let replayed_at = now_ms();
    let ids = [ev.id.clone()];
    assert_eq!(
        bounded(store.replay("stripe", "ledger", &ids, Duration::ZERO, 0))
            .await
            .unwrap(),
        1
    );
    // Idempotent: it is no longer dead, so a second replay skips it.
    assert_eq!(
        bounded(store.replay("stripe", "ledger", &ids, Duration::ZERO, 0))
            .await
            .unwrap(),
        0
    );
    let rec = record(store, &ev.id, "ledger").await;
    assert_eq!(
        (
            rec.status,
            rec.attempts,
            rec.reason.as_deref(),
            rec.dead_at_ms,
            rec.reclaims
        ),
        (DeliveryStatus::Pending, 0, None, None, 0),
        "{rec:?}"
    );
    assert!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        bounded(store.route_depths("stripe", "ledger"))
            .await
            .unwrap(),
        depth(1, 0, 0)
    );

    let again = claim_one(store, "stripe", "ledger").await;
    assert_eq!((again.id.clone(), again.attempts), (ev.id.clone(), 0));
    assert!(again.first_ms >= replayed_at, "the budget starts anew");
    assert_eq!(again.cloudevent, ev.ce);
    // The log goes on across budgets.
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &again,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    let log: Vec<u32> = bounded(store.attempts("stripe", &ev.id, "ledger"))
        .await
        .unwrap()
        .iter()
        .map(|a| a.n)
        .collect();
    assert_eq!(log, [1, 2, 3, 1]);
    // A delivered entry is not dead: replaying it does nothing.
    assert_eq!(
        bounded(store.replay("stripe", "ledger", &ids, Duration::ZERO, 0))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        record(store, &ev.id, "ledger").await.status,
        DeliveryStatus::Delivered
    );
}
conformance!(replay_requeues_a_dead_letter_with_a_fresh_budget_once);

async fn replay_paces_entries_by_their_index(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(dead_letter(store, &format!("evt_{i}"), "ledger").await.id);
    }
    let hour: i64 = 3_600_000;

    // The first page of a bulk replay: slots 0 and 1.
    let before = now_ms();
    assert_eq!(
        bounded(store.replay("stripe", "ledger", &ids[..2], Duration::from_secs(3600), 0))
            .await
            .unwrap(),
        2
    );
    // The next page goes on from slot 2.
    assert_eq!(
        bounded(store.replay("stripe", "ledger", &ids[2..], Duration::from_secs(3600), 2))
            .await
            .unwrap(),
        1
    );
    let after = now_ms();

    // Slot 0 is due now; the next waits an hour.
    let got = claim(store, "stripe", "ledger", 10).await;
    assert_eq!(got.deliveries.len(), 1, "{got:?}");
    assert_eq!(got.deliveries[0].id, ids[0]);
    let next = got.next_due_ms.expect("the others wait");
    assert!(
        (before + hour..=after + hour).contains(&next),
        "slot 1 due in an hour: {next}"
    );
    assert_eq!(
        bounded(store.route_gauges("stripe", "ledger"))
            .await
            .unwrap(),
        (depth(2, 1, 0), Some(next))
    );
    // Slot 1 is sent early (redelivered now): slot 2 is the head, two
    // hours out.
    assert!(
        bounded(store.redeliver("stripe", "ledger", &ids[1]))
            .await
            .unwrap()
    );
    let got = claim(store, "stripe", "ledger", 10).await;
    assert_eq!(got.deliveries.len(), 1, "{got:?}");
    assert_eq!(got.deliveries[0].id, ids[1]);
    let last = got.next_due_ms.expect("slot 2 waits");
    assert!(
        (before + 2 * hour..=after + 2 * hour).contains(&last),
        "slot 2 due in two hours: {last}"
    );
}
conformance!(replay_paces_entries_by_their_index);

async fn replay_skips_dead_letters_whose_event_expired(kind: Kind) {
    // Retention 600 ms: `gone` is stored at t0, `kept` at t0 + 350 ms; both
    // die at once. At t0 + 750 `gone` has expired (t0 + 600), `kept` and
    // both dead letters (kept from their death, t0 + 950) have not.
    let settings = Settings {
        retention: Duration::from_millis(600),
        ..Settings::default()
    };
    let fx = Fixture::open_with(kind, settings).await;
    let store = &fx.store;
    let t0 = tokio::time::Instant::now();
    let gone = ingest_and_fan_out(store, "stripe", "evt_gone", &["ledger"]).await;
    tokio::time::sleep_until(t0 + Duration::from_millis(350)).await;
    let kept = ingest_and_fan_out(store, "stripe", "evt_kept", &["ledger"]).await;
    for d in claim(store, "stripe", "ledger", 10).await.deliveries {
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
    }
    tokio::time::sleep_until(t0 + Duration::from_millis(750)).await;
    assert_eq!(
        bounded(store.event("stripe", &gone.id)).await.unwrap(),
        None
    );
    assert_eq!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap()
            .len(),
        2
    );

    let ids = [kept.id.clone(), gone.id.clone()];
    let replayed = bounded(store.replay("stripe", "ledger", &ids, Duration::ZERO, 0))
        .await
        .unwrap();
    assert_eq!(replayed, 1, "only the one with an event to send");
    let left: Vec<EventId> = bounded(store.dead_letters("stripe", "ledger"))
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        left,
        std::slice::from_ref(&gone.id),
        "the expired one stays dead"
    );
    assert_eq!(
        record(store, &gone.id, "ledger").await.status,
        DeliveryStatus::Dead
    );
    // The replayed event's retention starts anew with its delivery.
    tokio::time::sleep_until(t0 + Duration::from_millis(1_000)).await;
    let d = claim_one(store, "stripe", "ledger").await;
    assert_eq!(
        (d.id.clone(), d.cloudevent.clone()),
        (kept.id.clone(), kept.ce.clone().into())
    );
}
conformance!(replay_skips_dead_letters_whose_event_expired);

// === redeliver ===

async fn redeliver_sends_a_stored_event_again_with_a_fresh_budget(kind: Kind) {
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
            Some(200)
        )
        .await
    );

    // Delivered: sent again.
    let asked = now_ms();
    assert!(
        bounded(store.redeliver("stripe", "ledger", &ev.id))
            .await
            .unwrap()
    );
    let rec = record(store, &ev.id, "ledger").await;
    assert_eq!((rec.status, rec.attempts), (DeliveryStatus::Pending, 0));
    let again = claim_one(store, "stripe", "ledger").await;
    assert_eq!((again.id.clone(), again.attempts), (ev.id.clone(), 0));
    assert!(again.first_ms >= asked);
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &again,
            1,
            dead("status 400"),
            Some(400)
        )
        .await
    );

    // Dead: out of the dead letters, sent again.
    assert!(
        bounded(store.redeliver("stripe", "ledger", &ev.id))
            .await
            .unwrap()
    );
    assert!(
        bounded(store.dead_letters("stripe", "ledger"))
            .await
            .unwrap()
            .is_empty()
    );
    let rec = record(store, &ev.id, "ledger").await;
    assert_eq!(
        (
            rec.status,
            rec.attempts,
            rec.reason.as_deref(),
            rec.dead_at_ms
        ),
        (DeliveryStatus::Pending, 0, None, None)
    );
    assert_eq!(
        bounded(store.route_depths("stripe", "ledger"))
            .await
            .unwrap(),
        depth(1, 0, 0)
    );
    assert_eq!(claim_one(store, "stripe", "ledger").await.id, ev.id);

    // To a subscription it never went to: a new delivery.
    assert!(
        bounded(store.redeliver("stripe", "crm", &ev.id))
            .await
            .unwrap()
    );
    assert_eq!(
        record(store, &ev.id, "crm").await.status,
        DeliveryStatus::Pending
    );
    assert_eq!(claim_one(store, "stripe", "crm").await.id, ev.id);

    // An event that is not stored: nothing to send.
    let unknown = TestEvent::new("stripe", "evt_never", "payment.succeeded");
    assert!(
        !bounded(store.redeliver("stripe", "ledger", &unknown.id))
            .await
            .unwrap()
    );
    assert_eq!(
        bounded(store.delivery("stripe", &unknown.id, "ledger"))
            .await
            .unwrap(),
        None
    );
}
conformance!(redeliver_sends_a_stored_event_again_with_a_fresh_budget);

async fn redeliver_of_an_expired_event_does_nothing(kind: Kind) {
    let settings = Settings {
        retention: Duration::from_millis(300),
        ..Settings::default()
    };
    let fx = Fixture::open_with(kind, settings).await;
    let store = &fx.store;
    let ev = TestEvent::new("stripe", "evt_old", "payment.succeeded");
    assert_eq!(ingest(store, "stripe", &[&ev]).await.unwrap(), [true]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !bounded(store.redeliver("stripe", "ledger", &ev.id))
            .await
            .unwrap()
    );
    assert_eq!(
        bounded(store.delivery("stripe", &ev.id, "ledger"))
            .await
            .unwrap(),
        None
    );
    assert!(
        claim(store, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty()
    );
}
conformance!(redeliver_of_an_expired_event_does_nothing);

async fn a_redeliver_during_an_attempt_keeps_its_outcome_and_counts_on(kind: Kind) {
    // README "Delivery": a redeliver made while an attempt is in flight
    // counts on from that attempt, whose outcome is kept. Whatever that
    // outcome, the delivery then goes again (at once), and it is never sent
    // twice at the same time.
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let far = now_ms() + 3_600_000;
    let outcomes = [
        (Finish::Delivered, 200),
        (Finish::Retry { due_ms: far }, 503),
        (dead("status 410"), 410),
    ];
    for (i, (how, code)) in outcomes.into_iter().enumerate() {
        let ev = ingest_and_fan_out(store, "stripe", &format!("evt_{i}"), &["ledger"]).await;
        let d = claim_one(store, "stripe", "ledger").await;

        // The operator redelivers while attempt 1 is in flight.
        assert!(
            bounded(store.redeliver("stripe", "ledger", &ev.id))
                .await
                .unwrap()
        );
        let meanwhile = claim(store, "stripe", "ledger", 10).await;
        assert!(
            meanwhile.deliveries.is_empty(),
            "{how:?}: sent again while its attempt is in flight: {meanwhile:?}"
        );
        assert_eq!(
            bounded(store.route_depth("stripe", "ledger"))
                .await
                .unwrap(),
            1,
            "{how:?}: one delivery, waiting or in flight"
        );

        // The attempt ends: its outcome is recorded, and the delivery is
        // due again now whatever that outcome said.
        assert!(
            finish(store, "stripe", "ledger", &d, 1, how.clone(), Some(code)).await,
            "{how:?}: the in-flight attempt's outcome is kept"
        );
        assert_eq!(
            bounded(store.attempts("stripe", &ev.id, "ledger"))
                .await
                .unwrap(),
            [attempt(1, Some(code), None)],
            "{how:?}"
        );
        let rec = record(store, &ev.id, "ledger").await;
        assert_eq!(
            (
                rec.status,
                rec.attempts,
                rec.last_status_code,
                rec.reason.as_deref(),
                rec.dead_at_ms
            ),
            (DeliveryStatus::Pending, 1, Some(code), None, None),
            "{how:?}"
        );
        assert!(
            bounded(store.dead_letters("stripe", "ledger"))
                .await
                .unwrap()
                .is_empty(),
            "{how:?}"
        );
        assert_eq!(
            bounded(store.route_depths("stripe", "ledger"))
                .await
                .unwrap(),
            depth(1, 0, 0),
            "{how:?}"
        );

        // And it goes again, counting on from that attempt.
        let again = claim_one(store, "stripe", "ledger").await;
        assert_eq!(
            (again.id.clone(), again.attempts),
            (ev.id.clone(), 1),
            "{how:?}"
        );
        assert!(again.lease > d.lease);
        assert!(
            finish(
                store,
                "stripe",
                "ledger",
                &again,
                2,
                Finish::Delivered,
                Some(200)
            )
            .await
        );
        let rec = record(store, &ev.id, "ledger").await;
        assert_eq!(
            (rec.status, rec.attempts),
            (DeliveryStatus::Delivered, 2),
            "{how:?}"
        );
        assert!(
            claim(store, "stripe", "ledger", 10)
                .await
                .deliveries
                .is_empty()
        );
    }
}
conformance!(a_redeliver_during_an_attempt_keeps_its_outcome_and_counts_on);

// === pause flags ===

async fn pause_flags_are_set_once_and_cleared_once(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    assert!(bounded(store.paused()).await.unwrap().is_empty());
    assert!(bounded(store.set_paused("ledger", true)).await.unwrap());
    assert!(
        !bounded(store.set_paused("ledger", true)).await.unwrap(),
        "already paused"
    );
    assert!(bounded(store.set_paused("crm", true)).await.unwrap());
    let both: HashSet<String> = ["ledger".to_owned(), "crm".to_owned()].into();
    assert_eq!(bounded(store.paused()).await.unwrap(), both);

    assert!(bounded(store.set_paused("crm", false)).await.unwrap());
    assert!(
        !bounded(store.set_paused("crm", false)).await.unwrap(),
        "already resumed"
    );
    assert!(
        !bounded(store.set_paused("never", false)).await.unwrap(),
        "never paused"
    );
    let ledger: HashSet<String> = ["ledger".to_owned()].into();
    assert_eq!(bounded(store.paused()).await.unwrap(), ledger);

    // Flags are state of the store, not of a handle: a restarted gateway
    // (or another instance) sees them.
    let settings = fx.settings;
    let fx = fx.reopen_with(settings).await;
    assert_eq!(bounded(fx.store.paused()).await.unwrap(), ledger);
}
conformance!(pause_flags_are_set_once_and_cleared_once);

// === gauges ===

async fn route_gauges_count_each_state_and_name_the_earliest_wait(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    assert_eq!(
        bounded(store.route_gauges("stripe", "ledger"))
            .await
            .unwrap(),
        (RouteDepth::default(), None),
        "an unknown route is empty"
    );
    for i in 0..4 {
        ingest_and_fan_out(store, "stripe", &format!("evt_{i}"), &["ledger"]).await;
    }
    ingest_and_fan_out(store, "stripe", "evt_other", &["crm"]).await;
    let mut leased = claim(store, "stripe", "ledger", 3).await.deliveries;
    assert_eq!(leased.len(), 3);
    let (waiting, head) = bounded(store.route_gauges("stripe", "ledger"))
        .await
        .unwrap();
    assert_eq!(waiting, depth(1, 3, 0));
    assert!(head.is_some_and(|h| h <= now_ms()), "due now: {head:?}");

    // One dead, one retrying in an hour, one still in flight; the fourth
    // still waits.
    let due = now_ms() + 3_600_000;
    let d = leased.pop().unwrap();
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
    let d = leased.pop().unwrap();
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
    let (gauges, head) = bounded(store.route_gauges("stripe", "ledger"))
        .await
        .unwrap();
    assert_eq!(gauges, depth(2, 1, 1));
    assert!(head.is_some_and(|h| h < due), "the due one is the head");
    assert_eq!(
        bounded(store.route_depth("stripe", "ledger"))
            .await
            .unwrap(),
        3,
        "waiting or in flight"
    );

    // The waiting one goes: the retry is the head.
    let last = claim_one(store, "stripe", "ledger").await;
    assert!(
        finish(
            store,
            "stripe",
            "ledger",
            &last,
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(
        bounded(store.route_gauges("stripe", "ledger"))
            .await
            .unwrap(),
        (depth(1, 1, 1), Some(due))
    );
    // Another route of the source is counted apart.
    assert_eq!(
        bounded(store.route_gauges("stripe", "crm"))
            .await
            .unwrap()
            .0,
        depth(1, 0, 0)
    );
}
conformance!(route_gauges_count_each_state_and_name_the_earliest_wait);

// === audit ===

fn audit_record(n: u64) -> AuditRecord {
    AuditRecord {
        actor: "oncall".to_owned(),
        role: "operator".to_owned(),
        action: "dead_letters.replay".to_owned(),
        target: "ledger".to_owned(),
        filter: serde_json::json!({ "event_ids": [format!("evt_{n}")], "n": n }),
        count: n,
        request_id: format!("req-{n}"),
        at: "2025-01-02T03:04:05Z".to_owned(),
    }
}

async fn the_audit_log_appends_with_increasing_ids_and_pages_after_an_id(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    assert!(
        bounded(store.audit_page(None, 10))
            .await
            .unwrap()
            .is_empty()
    );

    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(bounded(store.audit_append(&audit_record(n))).await.unwrap());
    }
    let all = bounded(store.audit_page(None, 10)).await.unwrap();
    let expected: Vec<(String, AuditRecord)> =
        ids.iter().cloned().zip((1..=5).map(audit_record)).collect();
    assert_eq!(all, expected, "oldest first, as written");
    // Ids increase (`<ms>-<seq>`, compared as numbers).
    let parse = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap_or_else(|| panic!("{id}"));
        (ms.parse().unwrap(), seq.parse().unwrap())
    };
    for pair in ids.windows(2) {
        assert!(parse(&pair[0]) < parse(&pair[1]), "{ids:?}");
    }

    // Paging: two at a time, each page after the last id of the previous.
    // (Bounded: a store that pages from `after` inclusive would loop.)
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let page = bounded(store.audit_page(after.as_deref(), 2))
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        paged.extend(page);
    }
    assert_eq!(paged, expected);
    assert_eq!(
        bounded(store.audit_page(Some(&ids[2]), 10)).await.unwrap(),
        expected[3..]
    );
    assert!(
        bounded(store.audit_page(Some(&ids[4]), 10))
            .await
            .unwrap()
            .is_empty()
    );

    // Append-only and kept: a restarted gateway reads the same log and
    // appends after it.
    let settings = fx.settings;
    let fx = fx.reopen_with(settings).await;
    assert_eq!(
        bounded(fx.store.audit_page(None, 10)).await.unwrap(),
        expected
    );
    let sixth = bounded(fx.store.audit_append(&audit_record(6)))
        .await
        .unwrap();
    assert!(parse(&ids[4]) < parse(&sixth));
    assert_eq!(
        bounded(fx.store.audit_page(Some(&ids[4]), 10))
            .await
            .unwrap(),
        [(sixth, audit_record(6))]
    );
}
conformance!(the_audit_log_appends_with_increasing_ids_and_pages_after_an_id);

// === listings ===

async fn the_event_listing_pages_by_receive_time(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let mut events = Vec::new();
    for i in 0..5 {
        let ev = TestEvent::new("stripe", &format!("evt_{i}"), "payment.succeeded");
        assert_eq!(ingest(store, "stripe", &[&ev]).await.unwrap(), [true]);
        events.push(ev);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another source's events are not listed.
    let other = TestEvent::new("github", "evt_0", "github.push");
    assert_eq!(ingest(store, "github", &[&other]).await.unwrap(), [true]);

    let ids: Vec<EventId> = events.iter().map(|e| e.id.clone()).collect();
    let stored = bounded(store.events("stripe", &ids)).await.unwrap();
    let recv: Vec<i64> = stored
        .iter()
        .map(|s| s.as_ref().expect("stored").received_ms)
        .collect();
    let all: Vec<(EventId, i64)> = ids.iter().cloned().zip(recv.iter().copied()).collect();

    // Read two at a time, each page after the last entry read.
    let oldest = |min, max| event_index(store, "stripe", (min, max), ListOrder::OldestFirst);
    assert_eq!(oldest(0, i64::MAX).await, all);
    // Bounds are inclusive on both ends.
    assert_eq!(oldest(recv[1], recv[3]).await, all[1..=3]);
    assert!(oldest(recv[4] + 1, i64::MAX).await.is_empty());
    // Newest first: the exact reverse, with the same inclusive bounds.
    let newest = |min, max| event_index(store, "stripe", (min, max), ListOrder::NewestFirst);
    let rev: Vec<(EventId, i64)> = all.iter().rev().cloned().collect();
    assert_eq!(newest(0, i64::MAX).await, rev);
    assert_eq!(newest(recv[1], recv[3]).await, rev[1..=3]);
    assert_eq!(
        all_events(store, "github").await,
        [(other.id.clone(), {
            bounded(store.event("github", &other.id))
                .await
                .unwrap()
                .unwrap()
                .received_ms
        })]
    );

    // Types and bodies by id, in the order asked, `None` for what is not
    // stored (unknown, or of another source).
    let unknown = TestEvent::new("stripe", "evt_unknown", "payment.succeeded");
    let asked = [
        ids[3].clone(),
        unknown.id.clone(),
        other.id.clone(),
        ids[0].clone(),
    ];
    assert_eq!(
        bounded(store.event_types("stripe", &asked)).await.unwrap(),
        [
            Some("payment.succeeded".to_owned()),
            None,
            None,
            Some("payment.succeeded".to_owned())
        ]
    );
    let found = bounded(store.events("stripe", &asked)).await.unwrap();
    assert_eq!(
        found[0].as_ref().map(|e| &e.cloudevent),
        Some(&events[3].ce)
    );
    assert!(found[1].is_none() && found[2].is_none());
    assert_eq!(
        found[3].as_ref().map(|e| &e.cloudevent),
        Some(&events[0].ce)
    );
    let (source, ev) = bounded(store.find_event(&["stripe", "github"], &other.id))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(
        (source.as_str(), ev.cloudevent),
        ("github", other.ce.clone())
    );
    assert_eq!(
        bounded(store.find_event(&["stripe", "github"], &unknown.id))
            .await
            .unwrap(),
        None
    );
}
conformance!(the_event_listing_pages_by_receive_time);

async fn the_dead_letter_listing_pages_by_dead_at_time(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(dead_letter(store, &format!("evt_{i}"), "ledger").await.id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    dead_letter(store, "evt_crm", "crm").await;

    let all = bounded(store.dead_letters("stripe", "ledger"))
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        ids,
        "oldest first, this route's only"
    );
    for (id, at) in &all {
        assert_eq!(record(store, id, "ledger").await.dead_at_ms, Some(*at));
    }
    let range = |min, max, offset, count| {
        store.dead_letter_range("stripe", "ledger", min, max, offset, count)
    };
    assert_eq!(bounded(range(0, i64::MAX, 1, 2)).await.unwrap(), all[1..3]);
    assert_eq!(
        bounded(range(all[1].1, all[2].1, 0, 10)).await.unwrap(),
        all[1..=2]
    );
    assert!(
        bounded(range(all[3].1 + 1, i64::MAX, 0, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        bounded(store.dead_letters("stripe", "audit"))
            .await
            .unwrap()
            .is_empty()
    );
}
conformance!(the_dead_letter_listing_pages_by_dead_at_time);

async fn delivery_reads_name_each_subscription_and_event_asked(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let a = ingest_and_fan_out(store, "stripe", "evt_a", &["ledger", "crm"]).await;
    let b = ingest_and_fan_out(store, "stripe", "evt_b", &["ledger"]).await;
    for d in claim(store, "stripe", "ledger", 10).await.deliveries {
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
    }
    let d = claim_one(store, "stripe", "crm").await;
    assert!(finish(store, "stripe", "crm", &d, 1, dead("status 410"), Some(410)).await);

    // Per event: the subscriptions asked for, in that order, with their
    // logs; one without a delivery is left out.
    let both = bounded(store.deliveries_of("stripe", &a.id, &["crm", "audit", "ledger"]))
        .await
        .unwrap();
    let states: Vec<_> = both
        .iter()
        .map(|(sub, r, log)| (sub.as_str(), r.status, log.clone()))
        .collect();
    assert_eq!(
        states,
        [
            (
                "crm",
                DeliveryStatus::Dead,
                vec![attempt(1, Some(410), None)]
            ),
            (
                "ledger",
                DeliveryStatus::Delivered,
                vec![attempt(1, Some(200), None)]
            ),
        ]
    );
    assert!(
        bounded(store.deliveries_of("stripe", &a.id, &[]))
            .await
            .unwrap()
            .is_empty()
    );
    // Per subscription: the events asked for, `None` where it has no
    // delivery.
    let records = bounded(store.delivery_records("stripe", &[a.id.clone(), b.id.clone()], "crm"))
        .await
        .unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| r.as_ref().map(|r| r.status))
            .collect::<Vec<_>>(),
        [Some(DeliveryStatus::Dead), None],
        "evt_b never went to crm"
    );
    let records =
        bounded(store.delivery_records("stripe", &[b.id.clone(), a.id.clone()], "ledger"))
            .await
            .unwrap();
    assert!(
        records.iter().all(|r| r
            .as_ref()
            .is_some_and(|r| r.status == DeliveryStatus::Delivered)),
        "{records:?}"
    );
    // Another source's reads do not see this one's deliveries.
    assert!(
        bounded(store.deliveries_of("github", &a.id, &["ledger"]))
            .await
            .unwrap()
            .is_empty()
    );
}
conformance!(delivery_reads_name_each_subscription_and_event_asked);

async fn sources_are_kept_apart_through_a_whole_delivery_cycle(kind: Kind) {
    // Three sources (on a cluster, hash tags on three different masters):
    // each one's queues, records and listings hold its own only.
    const SOURCES: [&str; 3] = ["stripe", "github", "shopify"];
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let mut events = Vec::new();
    for s in SOURCES {
        events.push(ingest_and_fan_out(store, s, "evt_a", &["ledger", "crm"]).await);
    }
    for (s, ev) in SOURCES.iter().zip(&events) {
        let got = claim(store, s, "ledger", 10).await.deliveries;
        assert_eq!(got.len(), 1, "{s}: {got:?}");
        assert_eq!(got[0].id, ev.id, "{s}");
        assert!(finish(store, s, "ledger", &got[0], 1, Finish::Delivered, Some(200)).await);
        let d = claim_one(store, s, "crm").await;
        assert!(finish(store, s, "crm", &d, 1, dead("status 410"), Some(410)).await);
    }
    for (s, ev) in SOURCES.iter().zip(&events) {
        let states: Vec<_> = bounded(store.deliveries_of(s, &ev.id, &["ledger", "crm"]))
            .await
            .unwrap()
            .into_iter()
            .map(|(sub, r, log)| (sub, r.status, log.len()))
            .collect();
        assert_eq!(
            states,
            [
                ("ledger".to_owned(), DeliveryStatus::Delivered, 1),
                ("crm".to_owned(), DeliveryStatus::Dead, 1)
            ],
            "{s}"
        );
        assert_eq!(
            bounded(store.dead_letters(s, "crm"))
                .await
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>(),
            std::slice::from_ref(&ev.id),
            "{s}"
        );
        assert_eq!(all_events(store, s).await.len(), 1, "{s}");
        assert_eq!(
            bounded(store.replay(s, "crm", std::slice::from_ref(&ev.id), Duration::ZERO, 0))
                .await
                .unwrap(),
            1,
            "{s}"
        );
        assert!(
            bounded(store.redeliver(s, "ledger", &ev.id)).await.unwrap(),
            "{s}"
        );
        assert_eq!(
            bounded(store.route_gauges(s, "crm")).await.unwrap().0,
            depth(1, 0, 0),
            "{s}"
        );
        assert_eq!(
            bounded(store.route_depth(s, "ledger")).await.unwrap(),
            1,
            "{s}"
        );
    }
}
conformance!(sources_are_kept_apart_through_a_whole_delivery_cycle);
