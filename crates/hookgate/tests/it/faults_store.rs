//! The store comes back empty while the gateway runs (SPEC §9): ingest and
//! delivery recover by themselves, without a gateway restart.

use super::support::*;
use crate::common::event_id;
use hookgate_testkit::receiver::Receiver;
use std::time::Duration;

#[tokio::test]
async fn redis_restarted_empty_is_recovered_without_restarting_the_gateway() {
    let rx = Receiver::start().await;
    let mut w = World::start(&[SubSpec::new("ledger", &rx.url("/events"))]).await;
    assert_eq!(w.stripe("empty_before").await, 200);
    rx.wait_for(1, Duration::from_secs(10)).await;
    let pid = w.gw.pid();

    w.redis.restart_empty().await;

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
    for id in &expected {
        let d = w.delivery("stripe", id, "ledger").await;
        assert_eq!(d.get("st").map(String::as_str), Some("delivered"), "{d:?}");
    }
}
