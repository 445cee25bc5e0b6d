//! Isolation (docs/delivery.md): sick subscribers next to a healthy one, a route's
//! circuit breaker, one provider's failures or flood next to another's.

use super::support::*;
use crate::common::event_id;
use hookgate_testkit::receiver::{Receiver, Reply};
use hookgate_testkit::{assert_eventually, free_port};
use std::collections::HashSet;
use std::time::Duration;

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i:04}")).collect()
}

#[tokio::test]
async fn sick_neighbours_do_not_hold_back_a_healthy_subscriber() {
    const N: usize = 60;
    let hang = Receiver::start().await;
    hang.set_default(Reply::Hang);
    let failing = Receiver::start().await;
    failing.set_default(Reply::Status(500));
    let healthy = Receiver::start().await;
    // Nothing listens there: connection refused on every attempt.
    let refused = format!("http://127.0.0.1:{}/events", free_port());
    let w = World::start(&[
        SubSpec::new("hang", &hang.url("/events")),
        SubSpec::new("refused", &refused),
        SubSpec::new("failing", &failing.url("/events")),
        SubSpec::new("healthy", &healthy.url("/events")),
    ])
    .await;

    let pids = ids("sick", N);
    send_all(&w.ingest, "stripe", pids.clone(), 4).await;
    let expected: Vec<String> = pids.iter().map(|p| event_id("stripe", p)).collect();

    // Every event reaches the healthy subscriber, while the sick ones fail.
    assert_delivered_at_least_once(
        "healthy subscriber next to a hanging, a refusing and a failing one",
        &expected,
        Duration::from_secs(20),
        || webhook_ids(&healthy),
    )
    .await;

    // ... and the sick ones are still failing and retrying: nothing of
    // theirs is delivered, nothing dead (the budget is large).
    for sub in ["hang", "refused", "failing"] {
        for id in &expected {
            let d = w.delivery("stripe", id, sub).await;
            assert_eq!(d.status, "pending", "{sub} {id}: {d:?}");
        }
    }
    // What they fail with, from the attempt logs (a hanging attempt is
    // recorded only once its 1 s timeout has passed).
    let first = &expected[0];
    for (sub, needle) in [
        ("hang", "timeout"),
        ("refused", "connect"),
        ("failing", "status 500"),
    ] {
        let w = &w;
        let seen =
            hookgate_testkit::eventually_some(Duration::from_secs(10), POLL, || async move {
                let log = w.attempt_log("stripe", first, sub).await;
                log.last().cloned()
            })
            .await
            .unwrap_or_else(|| panic!("{sub}: no attempt recorded for {first}"));
        let what = match seen.status_code {
            Some(code) => format!("status {code}"),
            None => seen.error.clone().unwrap_or_default(),
        };
        assert!(what.contains(needle), "{sub}: {seen:?}");
    }
    // Counted over all their deliveries: by now a sick route may have
    // failed often enough to open its breaker, and then only its probes
    // (one a cooldown, on any of the events) are attempts.
    let (f0, h0) = (failing.count(), hang.count());
    let r0 = attempts_sum(&w, "stripe", &expected, "refused").await;
    assert_eventually(
        "the sick subscribers keep being retried",
        Duration::from_secs(15),
        POLL,
        || async {
            failing.count() > f0
                && hang.count() > h0
                && attempts_sum(&w, "stripe", &expected, "refused").await > r0
        },
    )
    .await;
    assert_eq!(
        healthy.count(),
        N,
        "the healthy subscriber got each event once"
    );
}

/// Sum of the attempts recorded for the given deliveries (0 for one not
/// fanned out yet).
async fn attempts_sum(w: &World, source: &str, ids: &[String], sub: &str) -> u32 {
    let mut sum = 0;
    for id in ids {
        let log = w.attempt_log(source, id, sub).await;
        let n = u32::try_from(log.len()).expect("attempt count");
        // One budget: the attempts are numbered 1..=n.
        assert!(
            log.iter().zip(1..).all(|(a, i)| a.n == i),
            "{sub} {id}: {log:?}"
        );
        sum += n;
    }
    sum
}

/// Waits (15 s at most) until every Stripe event of `ids` is delivered
/// to `sub`.
async fn wait_all_delivered(w: &World, ids: &[String], sub: &str, when: &str) {
    assert_eventually(
        &format!("every delivery to {sub} delivered {when}"),
        Duration::from_secs(15),
        POLL,
        || async {
            for id in ids {
                let d = w.api.delivery("stripe", id, sub).await;
                if d.is_none_or(|d| d.status != "delivered") {
                    return false;
                }
            }
            true
        },
    )
    .await;
}

#[tokio::test]
async fn breaker_opens_holds_probes_and_closes_without_burning_attempts() {
    const N: usize = 5;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Status(500));
    // One attempt at a time, so "after 3 failures" is exact.
    let w = World::start(&[SubSpec::new("flaky", &rx.url("/events"))
        .breaker(3, "2s")
        .max_delay("100ms")
        .extra("max_in_flight = 1")])
    .await;
    let pids = ids("brk", N);
    for p in &pids {
        assert_eq!(w.stripe(p).await, 200);
    }
    let evs: Vec<String> = pids.iter().map(|p| event_id("stripe", p)).collect();

    // Three failures open it.
    w.wait_breaker("stripe", "flaky", "open", Duration::from_secs(10))
        .await;
    let c1 = rx.count();
    let n1 = attempts_sum(&w, "stripe", &evs, "flaky").await;
    assert_eq!(c1, 3, "the breaker opened after exactly 3 attempts");

    // Inside the open window (2 s cooldown; both reads bracketed by the API
    // saying "open"), nothing is sent and no attempt is counted.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c2 = rx.count();
    let n2 = attempts_sum(&w, "stripe", &evs, "flaky").await;
    assert_eq!(w.breaker("stripe", "flaky").await, "open");
    assert_eq!(c2, c1, "no attempt while open");
    assert_eq!(n2, n1, "no attempt counted while open");
    assert_eq!(n2 as usize, c2, "every attempt made is counted once");

    // After the cooldown: one probe (slow, so the half-open state can be
    // seen), which fails and reopens the breaker.
    rx.push(Reply::Delay(Duration::from_millis(800), 500));
    w.wait_breaker("stripe", "flaky", "half_open", Duration::from_secs(10))
        .await;
    assert!(rx.count() <= 4, "one probe at a time");
    rx.wait_for(4, Duration::from_secs(10)).await;
    w.wait_breaker("stripe", "flaky", "open", Duration::from_secs(5))
        .await;
    assert_eq!(rx.count(), 4, "half-open lets exactly one probe through");
    assert_eq!(attempts_sum(&w, "stripe", &evs, "flaky").await, 4);

    // The subscriber recovers: the next probe succeeds, the breaker closes
    // and the backlog drains.
    rx.set_default(Reply::Status(200));
    wait_all_delivered(&w, &evs, "flaky", "once the probe succeeded").await;
    assert_eq!(w.breaker("stripe", "flaky").await, "closed");
    // 3 failures + 1 failed probe + 5 successes (the first one a probe).
    assert_eq!(rx.count(), 4 + N, "no attempt beyond the minimum");
    assert_eq!(
        attempts_sum(&w, "stripe", &evs, "flaky").await as usize,
        4 + N,
        "attempt counters match what the subscriber saw"
    );
    // Each change of the breaker is logged once, with its route: opened
    // (the failed probe kept it open), then closed.
    let logs = w.gw.logs();
    let lines = |what: &str| {
        logs.lines()
            .filter(|l| l.contains(what) && l.contains("flaky") && l.contains("request_id"))
            .count()
    };
    assert_eq!(lines("breaker opened"), 1, "{logs}");
    assert_eq!(lines("breaker closed"), 1, "{logs}");
}

#[tokio::test]
async fn a_subscriber_failing_one_provider_keeps_receiving_the_other() {
    // One subscriber, one subscription, two routes: it fails every acme
    // event and accepts every stripe event.
    let sub = Subscriber::start(Some("acme"), Duration::ZERO).await;
    let w = World::start(&[SubSpec::new("shared", &sub.url("/events")).breaker(3, "30s")]).await;

    let acme = ids("msg_acme_fail", 5);
    for m in &acme {
        assert_eq!(w.acme(m).await, 200);
    }
    w.wait_breaker("acme", "shared", "open", Duration::from_secs(10))
        .await;
    assert_eq!(w.breaker("stripe", "shared").await, "closed");
    // Attempts already in flight when it opened finish and are counted.
    let acme_ids: Vec<String> = acme.iter().map(|m| event_id("acme", m)).collect();
    let acme_hits = || {
        sub.hits()
            .iter()
            .filter(|h| h.source == "hookgate/acme")
            .count()
    };
    assert_eventually(
        "the acme attempts made before the breaker opened are all recorded",
        Duration::from_secs(5),
        POLL,
        || async { attempts_sum(&w, "acme", &acme_ids, "shared").await as usize == acme_hits() },
    )
    .await;
    let acme_hits_when_open = acme_hits();

    // Stripe keeps flowing through the same subscriber; more acme events
    // keep queueing behind their open breaker.
    let stripe = ids("iso_ok", 20);
    for (i, p) in stripe.iter().enumerate() {
        assert_eq!(w.stripe(p).await, 200);
        assert_eq!(w.acme(&format!("msg_acme_more_{i}")).await, 200);
    }
    let expected: Vec<String> = stripe.iter().map(|p| event_id("stripe", p)).collect();
    assert_delivered_at_least_once(
        "stripe events to a subscriber that fails acme",
        &expected,
        Duration::from_secs(15),
        || {
            sub.hits()
                .into_iter()
                .filter(|h| h.source == "hookgate/stripe")
                .map(|h| h.id)
                .collect()
        },
    )
    .await;
    assert!(
        sub.hits()
            .iter()
            .filter(|h| h.source == "hookgate/stripe")
            .all(|h| h.status == 200 && h.signature_ok)
    );
    assert_eq!(w.breaker("stripe", "shared").await, "closed");
    assert_eq!(w.breaker("acme", "shared").await, "open");
    assert_eq!(
        acme_hits(),
        acme_hits_when_open,
        "nothing sent on the open acme route"
    );
    for id in &acme_ids {
        let d = w.delivery("acme", id, "shared").await;
        assert_eq!(d.status, "pending", "{d:?}");
    }
}

#[tokio::test]
async fn a_flood_from_one_provider_does_not_hold_back_another_providers_events() {
    const FLOOD: usize = 500;
    const FEW: usize = 5;
    // A subscriber that takes a moment per request and accepts two at a
    // time: the flood takes a while to drain.
    let sub = Subscriber::start(None, Duration::from_millis(5)).await;
    let w = World::start(&[SubSpec::new("shared", &sub.url("/events")).extra("max_in_flight = 2")])
        .await;

    // Build the worst case deterministically: the whole flood is queued
    // before the few stripe events arrive, then the subscriber is resumed.
    w.admin_post("/admin/v1/subscriptions/shared/pause").await;
    send_all(&w.ingest, "acme", ids("msg_flood", FLOOD), 8).await;
    send_all(&w.ingest, "stripe", ids("few", FEW), 1).await;
    assert_eventually(
        "flood and few fanned out into their route queues",
        Duration::from_secs(15),
        POLL,
        || async {
            w.route_queue_len("acme", "shared").await == FLOOD as u64
                && w.route_queue_len("stripe", "shared").await == FEW as u64
        },
    )
    .await;
    assert!(sub.hits().is_empty(), "nothing sent while paused");
    w.admin_post("/admin/v1/subscriptions/shared/resume").await;

    assert_eventually(
        "flood and few all delivered",
        Duration::from_secs(40),
        Duration::from_millis(100),
        || async {
            let ids: HashSet<String> = sub.hits().into_iter().map(|h| h.id).collect();
            ids.len() >= FLOOD + FEW
        },
    )
    .await;
    let hits = sub.hits();
    let last_acme = hits
        .iter()
        .rposition(|h| h.source == "hookgate/acme")
        .expect("acme hits");
    let stripe_positions: Vec<usize> = hits
        .iter()
        .enumerate()
        .filter(|(_, h)| h.source == "hookgate/stripe")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stripe_positions.len(), FEW, "{stripe_positions:?}");
    eprintln!("stripe arrival positions {stripe_positions:?}, last acme at {last_acme}");
    assert!(
        stripe_positions.iter().all(|&p| p < last_acme),
        "the {FEW} stripe events (arrival positions {stripe_positions:?}) all arrive \
         before the last of the {FLOOD}-event acme flood (position {last_acme})"
    );
    // Stronger, still about order: they do not wait for even half of it.
    assert!(
        stripe_positions.iter().all(|&p| p < FLOOD / 2),
        "the stripe events (positions {stripe_positions:?}) are not queued behind \
         half of the flood"
    );
}

#[tokio::test]
async fn a_subscriber_never_sees_more_than_max_in_flight_requests_at_once() {
    const N: usize = 60;
    // Slow enough that the gateway always has more due than it may send.
    let sub = Subscriber::start(None, Duration::from_millis(30)).await;
    let w = World::start(&[SubSpec::new("capped", &sub.url("/events")).extra("max_in_flight = 3")])
        .await;
    w.admin_post("/admin/v1/subscriptions/capped/pause").await;
    send_all(&w.ingest, "stripe", ids("cap", N), 8).await;
    w.admin_post("/admin/v1/subscriptions/capped/resume").await;
    assert_eventually(
        "every event delivered",
        Duration::from_secs(30),
        POLL,
        || async { sub.hits().len() >= N },
    )
    .await;
    // The permit goes back with the answer, before the outcome is
    // recorded: that must not let a fourth request in.
    assert_eq!(
        sub.peak_in_flight(),
        3,
        "at most 3 at once, and 3 were used"
    );
}

#[tokio::test]
async fn a_graceful_stop_gives_back_the_deliveries_leased_ahead_unsent() {
    // max_in_flight = 3 and a slow subscriber: 3 attempts in flight, the
    // next 3 deliveries leased ahead of them. A graceful stop lets the 3
    // finish and gives the 3 back unsent: the next run sends them without
    // the "no outcome" attempt that a lease taken back at start leaves.
    const N: usize = 12;
    let rx = Receiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(1000), 200));
    let mut w = World::start(&[SubSpec::new("slow", &rx.url("/events"))
        .timeout("1400ms")
        .extra("max_in_flight = 3")])
    .await;
    // Queued while paused, so the first claim fills its 3 permits.
    assert_eq!(
        w.admin_post("/admin/v1/subscriptions/slow/pause")
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pids = ids("ahead", N);
    for p in &pids {
        assert_eq!(w.stripe(p).await, 200);
    }
    let evs: Vec<String> = pids.iter().map(|p| event_id("stripe", p)).collect();
    assert_eq!(
        w.admin_post("/admin/v1/subscriptions/slow/resume")
            .await
            .status,
        200
    );
    // Stopped well inside the 1 s the three attempts take (within their
    // 1.4 s timeout and the 2 s grace; the world's 3 s visibility_timeout
    // is over twice that timeout, so the route leases ahead): none of the
    // three leased ahead has had a place yet.
    rx.wait_for(3, Duration::from_secs(10)).await;
    w.gw.terminate();
    assert!(
        w.gw.wait_exit(Duration::from_secs(10)).await.is_some(),
        "the gateway did not stop"
    );
    assert_eq!(rx.count(), 3, "only the attempts in flight were sent");

    rx.set_default(Reply::Status(200));
    w.start_again().await;
    wait_all_delivered(&w, &evs, "slow", "after the restart").await;
    assert_eq!(rx.count(), N, "each delivery sent once");
    assert_eq!(
        attempts_sum(&w, "stripe", &evs, "slow").await as usize,
        N,
        "an attempt counted that the subscriber never saw"
    );
}
