//! The store goes away: the gateway answers 503 (never 2xx without the
//! write) and recovers by itself when Redis is back. These tests stop,
//! restart or reconfigure Redis, so they run on Redis (the last one, about
//! a second SIGTERM, on the default store).

use crate::common::*;
use std::time::{Duration, Instant};

fn on_redis() -> Options {
    Options {
        store: StoreKind::Redis,
        ..Options::default()
    }
}

#[tokio::test]
async fn redis_down_is_503_and_the_retry_after_recovery_is_delivered() {
    let mut h = Harness::start_with(on_redis()).await;
    let body = stripe_event("evt_down_1", "charge.succeeded");
    h.redis_mut().stop();

    let started = Instant::now();
    let resp = h.post_stripe(&body).await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(resp.json()["error"], "store_unavailable");
    assert!(resp.header("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fails fast, inside store_timeout"
    );
    let ready = hookgate_testkit::http::get(&format!("http://{}/readyz", h.admin_addr), None).await;
    assert_eq!(ready.status, 503, "not ready while the store is down");

    h.redis_mut().start_again().await;
    // The provider retries until it gets a 2xx; the gateway was not restarted.
    let accepted = hookgate_testkit::wait::eventually(
        Duration::from_secs(10),
        Duration::from_millis(200),
        || async { h.post_stripe(&body).await.status == 200 },
    )
    .await;
    assert!(accepted, "ingest resumes by itself once Redis is back");
    let got = h.receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].header("webhook-id"),
        Some(event_id("stripe", "evt_down_1").as_str())
    );
    let ready = hookgate_testkit::http::get(&format!("http://{}/readyz", h.admin_addr), None).await;
    assert_eq!(ready.status, 200);
}

#[tokio::test]
async fn an_evicting_redis_is_refused_at_start() {
    let store = TestStore::redis(
        hookgate_testkit::RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]).await,
    );
    let receiver = hookgate_testkit::Receiver::start().await;
    let (config, _, _) = local_config(&store, &receiver.url("/e"), &Options::default());
    let mut gw = hookgate_testkit::GatewayProcess::start(bin(), &config, &[]).await;
    let status = gw
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("refuses to start");
    assert!(!status.success());
    assert!(gw.logs().contains("maxmemory-policy"), "{}", gw.logs());

    // ... unless the operator says eviction is acceptable.
    let (config, _, admin) = local_config(
        &store,
        &receiver.url("/e"),
        &Options {
            store_extra: "allow_eviction = true",
            ..Options::default()
        },
    );
    let mut gw = hookgate_testkit::GatewayProcess::start(bin(), &config, &[]).await;
    gw.wait_healthy(&admin, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn readyz_is_200_at_the_first_probe_after_redis_restarts() {
    let mut h = Harness::start_with(on_redis()).await;
    let readyz = format!("http://{}/readyz", h.admin_addr);
    // Enough probes to have used every pooled connection (16 by default).
    for _ in 0..40 {
        assert_eq!(hookgate_testkit::http::get(&readyz, None).await.status, 200);
    }
    h.redis_mut().start_again().await;
    // Redis answers again (start_again waited for it): every probe from the
    // first one on says so. (Before, each pooled connection failed its own
    // first call, so the first 16 probes answered 503 however far apart.)
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(hookgate_testkit::http::get(&readyz, None).await.status);
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test]
async fn readyz_says_not_ready_while_redis_evicts_and_ingest_refuses_from_then_on() {
    // Redis is switched to an evicting policy while the gateway runs: every
    // write would risk a silent loss. The next /readyz probe sees it
    // (before, it kept answering 200 while ingest went on writing).
    let h = Harness::start_with(on_redis()).await;
    let readyz = format!("http://{}/readyz", h.admin_addr);
    assert_eq!(hookgate_testkit::http::get(&readyz, None).await.status, 200);
    let admin_conn = h.redis().conn().await;
    let set = |policy: &'static str| {
        let mut c = admin_conn.clone();
        async move {
            let _: String = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory-policy")
                .arg(policy)
                .query_async(&mut c)
                .await
                .unwrap();
        }
    };
    set("allkeys-lru").await;
    let ready = hookgate_testkit::http::get(&readyz, None).await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["store"], "evicting");
    assert_eq!(ready.json()["maxmemory_policy"], "allkeys-lru");
    let resp = h
        .post_stripe(&stripe_event("evt_evicting_1", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 503, "no write into an evicting Redis");
    assert_no_event_stored(&h.admin, "no write into an evicting Redis").await;
    // Fixed: ready again, and ingest writes; the refused callback had
    // claimed nothing, so its retry is a new event.
    set("noeviction").await;
    assert_eq!(hookgate_testkit::http::get(&readyz, None).await.status, 200);
    let resp = h
        .post_stripe(&stripe_event("evt_evicting_1", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["events"][0]["duplicate"], false);
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
}

/// Posts fresh Stripe events (`{prefix}_{n}`) until one is refused, at
/// most for `deadline`; no `/readyz` probe meanwhile. Returns how long the
/// refusal took, or `None` (every callback accepted).
async fn first_refusal(h: &Harness, prefix: &str, deadline: Duration) -> Option<Duration> {
    let started = Instant::now();
    for n in 0..10_000 {
        if started.elapsed() > deadline {
            return None;
        }
        let resp = h
            .post_stripe(&stripe_event(&format!("{prefix}_{n}"), "charge.succeeded"))
            .await;
        if resp.status == 503 {
            assert_eq!(resp.json()["error"], "store_unavailable", "{}", resp.text());
            return Some(started.elapsed());
        }
        assert_eq!(resp.status, 200, "{}", resp.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// The next five callbacks are all refused with 503 store_unavailable.
async fn assert_refused_five(h: &Harness, prefix: &str) {
    for n in 0..5 {
        let resp = h
            .post_stripe(&stripe_event(&format!("{prefix}_{n}"), "charge.succeeded"))
            .await;
        assert_eq!(resp.status, 503, "callback {n}: {}", resp.text());
        assert_eq!(resp.json()["error"], "store_unavailable");
    }
}

#[tokio::test]
async fn an_evicting_policy_set_at_runtime_refuses_ingest_without_any_probe() {
    // CONFIG SET maxmemory-policy allkeys-lru while the gateway runs, and
    // nothing calls /readyz: ingest refuses within about a second (the
    // gateway reads the policy again twice a second). Before, callbacks
    // kept being answered 200 until something probed /readyz.
    let h = Harness::start_with(on_redis()).await;
    let resp = h
        .post_stripe(&stripe_event("evt_before", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let mut c = h.redis().conn().await;
    let _: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut c)
        .await
        .unwrap();
    let took = first_refusal(&h, "evt_runtime", Duration::from_secs(10)).await;
    let took = took.expect("callbacks still accepted 10 s after Redis began to evict");
    eprintln!("evicting policy set at runtime: ingest refused after {took:?}");
    assert_refused_five(&h, "evt_runtime_after").await;
    // Fixed at runtime: accepted again without a restart (or a probe).
    let _: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async(&mut c)
        .await
        .unwrap();
    let accepted = hookgate_testkit::wait::eventually(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            h.post_stripe(&stripe_event("evt_fixed", "charge.succeeded"))
                .await
                .status
                == 200
        },
    )
    .await;
    assert!(accepted, "ingest resumes once Redis no longer evicts");
}

#[tokio::test]
async fn a_redis_restarted_with_an_evicting_policy_refuses_ingest_without_any_probe() {
    // Redis comes back from a restart with allkeys-lru: the reconnect makes
    // the gateway read the policy again before it writes there. Before,
    // the policy seen at start was trusted until something probed /readyz.
    let mut h = Harness::start_with(on_redis()).await;
    let resp = h
        .post_stripe(&stripe_event("evt_before", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    h.redis_mut()
        .start_again_with(&["--maxmemory-policy", "allkeys-lru"])
        .await;
    let took = first_refusal(&h, "evt_restarted", Duration::from_secs(10)).await;
    let took = took.expect("callbacks still accepted 10 s after Redis came back evicting");
    eprintln!("Redis restarted evicting: ingest refused after {took:?}");
    assert_refused_five(&h, "evt_restarted_after").await;
    let ready = hookgate_testkit::http::get(&format!("http://{}/readyz", h.admin_addr), None).await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["store"], "evicting");
}

#[tokio::test]
async fn readyz_says_not_ready_while_redis_is_out_of_memory() {
    // noeviction at its maxmemory: Redis answers PING and CONFIG GET but
    // refuses every write with OOM. /readyz says so (before: 200).
    let h = Harness::start_with(on_redis()).await;
    let readyz = format!("http://{}/readyz", h.admin_addr);
    assert_eq!(hookgate_testkit::http::get(&readyz, None).await.status, 200);
    let mut c = h.redis().conn().await;
    let set = |c: &mut redis::aio::MultiplexedConnection, bytes: &'static str| {
        let mut c = c.clone();
        async move {
            let _: String = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(bytes)
                .query_async(&mut c)
                .await
                .unwrap();
        }
    };
    // Below what Redis already uses: every write is refused.
    set(&mut c, "1").await;
    let ready = hookgate_testkit::http::get(&readyz, None).await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["store"], "out_of_memory", "{}", ready.text());
    let resp = h
        .post_stripe(&stripe_event("evt_oom", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    // Memory again: ready, and the refused callback's retry is stored.
    set(&mut c, "0").await;
    assert_eq!(hookgate_testkit::http::get(&readyz, None).await.status, 200);
    let resp = h
        .post_stripe(&stripe_event("evt_oom", "charge.succeeded"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["events"][0]["duplicate"], false);
    h.receiver.wait_for(1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_second_sigterm_during_the_grace_stops_at_once() {
    // A subscriber that never answers holds an attempt for the whole
    // 30 s grace; the operator's second SIGTERM ends the wait.
    let store = TestStore::sqlite();
    let receiver = hookgate_testkit::Receiver::start().await;
    receiver.set_default(hookgate_testkit::receiver::Reply::Hang);
    let (config, ingest, admin) = local_config(&store, &receiver.url("/e"), &Options::default());
    let config = config.replace("shutdown_grace = \"2s\"", "shutdown_grace = \"30s\"");
    let mut gw = hookgate_testkit::GatewayProcess::start(bin(), &config, &[]).await;
    gw.wait_healthy(&admin, Duration::from_secs(15)).await;
    let body = stripe_event("evt_twice_1", "charge.succeeded");
    let sig = hookgate_testkit::sign::stripe_signature(
        STRIPE_SECRET,
        hookgate_testkit::sign::now_unix(),
        &body,
    );
    let resp = hookgate_testkit::http::post(
        &format!("http://{ingest}/ingest/stripe"),
        &[("stripe-signature", &sig)],
        body,
    )
    .await;
    assert_eq!(resp.status, 200);
    receiver.wait_for(1, Duration::from_secs(10)).await;

    gw.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        gw.try_exit().is_none(),
        "the first signal waits for the grace"
    );
    let second = Instant::now();
    gw.terminate();
    let status = gw.wait_exit(Duration::from_secs(10)).await;
    assert!(
        status.is_some(),
        "still running 10 s after the second signal"
    );
    assert!(second.elapsed() < Duration::from_secs(5));
    assert!(gw.logs().contains("second signal"), "{}", gw.logs());
}
