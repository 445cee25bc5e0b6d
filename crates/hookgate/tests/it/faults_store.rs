//! The store comes back empty while the gateway runs (docs/guarantees.md): ingest and
//! delivery recover by themselves, without a gateway restart.

use super::support::*;
use crate::common::{StoreKind, event_id};
use hookgate_testkit::receiver::Receiver;
use std::time::Duration;

#[tokio::test]
async fn redis_restarted_empty_is_recovered_without_restarting_the_gateway() {
    let rx = Receiver::start().await;
    let mut w = World::start_on(
        StoreKind::Redis,
        &[SubSpec::new("ledger", &rx.url("/events"))],
        "",
    )
    .await;
    assert_eq!(w.stripe("empty_before").await, 200);
    rx.wait_for(1, Duration::from_secs(10)).await;
    let pid = w.gw.pid();

    w.store.redis_server_mut().restart_empty().await;

    // Providers retry until they get a 2xx (a 503 with Retry-After is an
    // honest "not now"; no 2xx comes without the write).
    let not_now = std::cell::Cell::new(0);
    for i in 0..5 {
        let pid = format!("empty_after_{i}");
        let accepted = hookgate_testkit::eventually(
            Duration::from_secs(20),
            Duration::from_millis(200),
            || {
                let (status, not_now) = (w.stripe(&pid), &not_now);
                async move {
                    let s = status.await;
                    if s != 200 {
                        assert_eq!(s, 503, "only 503 while the store recovers");
                        not_now.set(not_now.get() + 1);
                    }
                    s == 200
                }
            },
        )
        .await;
        assert!(
            accepted,
            "ingest resumes by itself ({pid})\n{}",
            w.gw.logs()
        );
    }
    eprintln!("503 answers after Redis came back empty: {}", not_now.get());
    let expected: Vec<String> = (0..5)
        .map(|i| event_id("stripe", &format!("empty_after_{i}")))
        .collect();
    assert_delivered_at_least_once(
        "events stored after Redis came back empty",
        &expected,
        Duration::from_secs(20),
        || webhook_ids(&rx),
    )
    .await;
    assert!(
        w.gw.try_exit().is_none(),
        "the same gateway process ({pid})"
    );
    // The operator's view recovered too: every admin read answers from the
    // new store, from the first call on (not a 503 per stale connection).
    let mut paths: Vec<String> = expected
        .iter()
        .map(|id| format!("/admin/v1/events/{id}"))
        .collect();
    paths.extend(["/admin/v1/subscriptions".into(), "/admin/v1/events".into()]);
    for path in paths.iter().chain(&paths) {
        let r = w.api.get(path).await;
        assert_eq!(
            r.status,
            200,
            "admin read {path} after Redis came back empty: {}",
            r.text()
        );
    }
    for id in &expected {
        let d = w
            .api
            .wait_delivery(
                "stripe",
                id,
                "ledger",
                "is delivered",
                Duration::from_secs(5),
                |d| d.status == "delivered",
            )
            .await;
        assert!(!d.attempts.is_empty(), "{d:?}");
    }
}
