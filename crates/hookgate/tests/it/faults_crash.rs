//! A gateway process dies (SIGKILL) or is stopped (SIGTERM) while it takes
//! load: nothing it acknowledged is lost (docs/guarantees.md), whichever process ends
//! up delivering it. One process on the embedded store restarts on the same
//! file; two processes share a store only on Redis.

use super::support::*;
use crate::common::{StoreKind, bin};
use hookgate_testkit::GatewayProcess;
use hookgate_testkit::receiver::{Receiver, Reply};
use std::time::Duration;

const EVENTS: usize = 300;
const TASKS: usize = 4;

#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_event() {
    // A slightly slow subscriber, so that at the kill some deliveries are
    // leased and in flight, some fanned out and queued, some not fanned out.
    let rx = Receiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(20), 200));
    let mut w = World::start(&[SubSpec::new("ledger", &rx.url("/events"))]).await;

    let load = Load::stripe(std::slice::from_ref(&w.ingest), "kill9", EVENTS, TASKS);
    load.wait_answered(EVENTS / 2, Duration::from_secs(30))
        .await;
    w.gw.kill().await;
    let report = load.finish().await;
    assert!(
        report.acked.len() >= EVENTS / 2 && report.refused.is_empty(),
        "{report:?}"
    );
    let before_restart = rx.count();

    w.start_again().await;
    assert_delivered_at_least_once(
        &format!(
            "SIGKILL after {} acks ({} delivered before the restart)",
            report.acked.len(),
            before_restart
        ),
        &report.acked,
        Duration::from_secs(30),
        || webhook_ids(&rx),
    )
    .await;
}

#[tokio::test]
async fn two_gateways_on_one_redis_the_survivor_delivers_what_the_dead_one_acknowledged() {
    let rx = Receiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(20), 200));
    let mut w = World::start_on(
        StoreKind::Redis,
        &[SubSpec::new("ledger", &rx.url("/events"))],
        "",
    )
    .await;
    let (mut survivor, survivor_ingest, _survivor_admin) = w.start_peer().await;

    // Target 0 is the process that dies, target 1 the survivor.
    let load = Load::stripe(
        &[w.ingest.clone(), survivor_ingest.clone()],
        "pair",
        EVENTS,
        TASKS,
    );
    load.wait_answered(EVENTS / 2, Duration::from_secs(30))
        .await;
    w.gw.kill().await;
    let report = load.finish().await;
    assert!(report.refused.is_empty(), "{report:?}");
    assert!(
        report.acked_by_target.get(&0).copied().unwrap_or(0) > 0
            && report.acked_by_target.get(&1).copied().unwrap_or(0) > 0,
        "both gateways acknowledged events: {report:?}"
    );

    assert_delivered_at_least_once(
        &format!(
            "one of two gateways killed ({:?} acks per gateway)",
            report.acked_by_target
        ),
        &report.acked,
        Duration::from_secs(30),
        || webhook_ids(&rx),
    )
    .await;
    assert!(
        survivor.try_exit().is_none(),
        "the survivor is still running\n{}",
        survivor.logs()
    );
}

#[tokio::test]
async fn sigterm_under_load_exits_zero_within_grace_and_loses_nothing() {
    // Slow answers keep attempts in flight when the signal arrives; they
    // get `shutdown_grace` (2 s) to finish.
    let rx = Receiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(200), 200));
    let mut w = World::start(&[SubSpec::new("ledger", &rx.url("/events"))]).await;

    let load = Load::stripe(std::slice::from_ref(&w.ingest), "term", 200, TASKS);
    load.wait_answered(100, Duration::from_secs(30)).await;
    w.gw.terminate();
    // shutdown_grace = 2s, plus a generous margin for a loaded machine.
    let status = w.gw.wait_exit(Duration::from_secs(12)).await;
    let logs = w.gw.logs();
    let status = status.unwrap_or_else(|| panic!("still running 12 s after SIGTERM\n{logs}"));
    assert!(status.success(), "exit status {status}\n{logs}");
    assert!(logs.contains("shutdown"), "the logs say so:\n{logs}");
    let report = load.finish().await;
    assert!(
        report.acked.len() >= 100 && report.refused.is_empty(),
        "{report:?}"
    );

    w.start_again().await;
    assert_delivered_at_least_once(
        &format!("SIGTERM after {} acks", report.acked.len()),
        &report.acked,
        Duration::from_secs(30),
        || webhook_ids(&rx),
    )
    .await;
}

#[tokio::test]
async fn a_second_gateway_on_the_same_sqlite_file_refuses_to_start_naming_it() {
    // One gateway process per file (docs/configuration.md): a second one would break the
    // first one's leases and group commit, so it refuses, and says which
    // file; the first one goes on serving.
    let rx = Receiver::start().await;
    let mut w = World::start(&[SubSpec::new("ledger", &rx.url("/events"))]).await;
    let (config, _, _) = w.peer_config();
    let mut second = GatewayProcess::start(bin(), &config, &[]).await;
    let status = second
        .wait_exit(Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("a second gateway runs on the file\n{}", second.logs()));
    assert!(!status.success(), "{status}\n{}", second.logs());
    let path = w.store.sqlite_path().display().to_string();
    assert!(
        second.logs().contains(&path),
        "the refusal names {path}:\n{}",
        second.logs()
    );
    assert!(w.gw.try_exit().is_none(), "the first gateway still runs");
    assert_eq!(w.stripe("after_refusal").await, 200);
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].header("webhook-id"),
        Some(crate::common::event_id("stripe", "after_refusal").as_str())
    );
}

/// Events acknowledged before the kill in the restart-recovery tests.
const IN_FLIGHT_EVENTS: usize = 40;

/// A gateway with the default `visibility_timeout` (60 s) is killed while
/// a subscriber holds its attempts (they are leased, in flight), and
/// started again as the same instance; the subscriber answers at once from
/// then on. Every acknowledged event is delivered within 10 s of the
/// restart: the restarted instance takes back its own leases instead of
/// waiting a minute for them to expire.
async fn restart_after_sigkill_resumes_delivery_in_seconds(kind: StoreKind) {
    let rx = Receiver::start().await;
    rx.set_default(Reply::Hang);
    let mut w = World::start_with_lease(
        kind,
        // The default subscription timeout (30 s), below the lease.
        &[SubSpec::new("ledger", &rx.url("/events")).timeout("30s")],
        "",
        None,
    )
    .await;
    let ids: Vec<String> = (0..IN_FLIGHT_EVENTS)
        .map(|i| format!("inflight_{i:03}"))
        .collect();
    send_all(&w.ingest, "stripe", ids.clone(), TASKS).await;
    let acked: Vec<String> = ids
        .iter()
        .map(|id| crate::common::event_id("stripe", id))
        .collect();
    // max_in_flight (16 by default) attempts reach the subscriber and hang.
    let held = rx.wait_for(16, Duration::from_secs(30)).await.len();
    w.gw.kill().await;
    // What reaches the subscriber from here on comes from the restarted
    // process and is answered 200 at once.
    let before_restart = rx.requests().len();
    rx.set_default(Reply::Status(200));
    let restarted = std::time::Instant::now();
    w.start_again().await;
    let healthy_after = restarted.elapsed();
    let seen_since = || {
        rx.requests()
            .iter()
            .skip(before_restart)
            .filter_map(|r| r.header("webhook-id").map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_delivered_at_least_once(
        &format!("{kind:?}: kill -9 with {held} attempts in flight, restart as the same instance"),
        &acked,
        Duration::from_secs(10).saturating_sub(restarted.elapsed()),
        seen_since,
    )
    .await;
    eprintln!(
        "{kind:?}: every acknowledged event delivered {:?} after the restart began \
         (the process answered /healthz after {healthy_after:?})",
        restarted.elapsed()
    );
}

#[tokio::test]
async fn restart_after_sigkill_resumes_delivery_in_seconds_on_redis() {
    restart_after_sigkill_resumes_delivery_in_seconds(StoreKind::Redis).await;
}

#[tokio::test]
async fn restart_after_sigkill_resumes_delivery_in_seconds_on_sqlite() {
    restart_after_sigkill_resumes_delivery_in_seconds(StoreKind::Sqlite).await;
}
