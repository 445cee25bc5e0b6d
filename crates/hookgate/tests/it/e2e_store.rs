//! The embedded store from the outside, with the real binary: a full disk
//! under it, `hookgate backup` while it serves (and a gateway started on the
//! copy: the restore), and `hookgate store copy` to Redis (and a gateway
//! started on Redis delivering what was pending).

use crate::common::*;
use hookgate_testkit::receiver::Receiver;
use hookgate_testkit::wait::assert_eventually;
use hookgate_testkit::{AdminApi, GatewayProcess, RedisServer};
use std::collections::HashSet;
use std::time::Duration;

/// One finished run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `hookgate args...`, bounded in time.
async fn hookgate(args: &[&str]) -> Run {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(bin())
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("hookgate {args:?} did not finish within 60s"))
    .expect("run hookgate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A Stripe event whose payload is padded to about `size` bytes.
fn big_stripe_event(id: &str, size: usize) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","object":"event","created":1700000000,"type":"charge.succeeded","data":{{"object":{{"id":"ch_{id}","pad":"{}"}}}}}}"#,
        "x".repeat(size)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_with_retry_after_and_the_gateway_recovers_by_itself() {
    let h = Harness::start_with(Options {
        store: StoreKind::SqliteSmallFs,
        max_body_bytes: 1 << 20,
        ..Options::default()
    })
    .await;
    let TestStore::SqliteSmallFs(fs) = &h.store else {
        unreachable!("asked for a small filesystem")
    };
    fs.fill(1 << 20);

    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..400 {
        let id = format!("evt_full_{i}");
        let resp = h.post_stripe(&big_stripe_event(&id, 32 << 10)).await;
        match resp.status {
            200 => acked.push(event_id("stripe", &id)),
            _ => {
                refused = Some(resp);
                break;
            }
        }
    }
    let resp = refused.expect("the disk filled up within 400 events of 32 KiB");
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(resp.json()["error"], "store_unavailable");
    assert!(
        resp.header("retry-after").is_some(),
        "503 without Retry-After"
    );
    assert!(!acked.is_empty(), "some events fitted first");
    let ready = hookgate_testkit::http::get(&format!("http://{}/readyz", h.admin_addr), None).await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["store"], "disk_full");

    // Room again: without a restart, callbacks are taken and /readyz is 200.
    fs.free();
    assert_eventually(
        "a callback accepted once the disk has room",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || async {
            h.post_stripe(&stripe_event("evt_after_full", "charge.succeeded"))
                .await
                .status
                == 200
        },
    )
    .await;
    assert_eventually(
        "/readyz is 200 again",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || async {
            hookgate_testkit::http::get(&format!("http://{}/readyz", h.admin_addr), None)
                .await
                .status
                == 200
        },
    )
    .await;
    // Every acknowledged event is delivered, the ones of before the full
    // disk included.
    acked.push(event_id("stripe", "evt_after_full"));
    assert_eventually(
        "every acknowledged event delivered",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let got: HashSet<String> = h
                .receiver
                .requests()
                .iter()
                .filter_map(|r| r.header("webhook-id").map(str::to_owned))
                .collect();
            acked.iter().all(|id| got.contains(id))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_into_a_gateway_that_has_every_event() {
    let h = Harness::start().await;
    let mut before = Vec::new();
    for i in 0..20 {
        let id = format!("evt_backup_{i}");
        assert_eq!(
            h.post_stripe(&stripe_event(&id, "charge.succeeded"))
                .await
                .status,
            200
        );
        before.push(event_id("stripe", &id));
    }
    // Callbacks keep coming while the copy is taken.
    let writer = {
        let url = h.url("stripe");
        tokio::spawn(async move {
            let client = hookgate_testkit::http::Client::new();
            for i in 0..100 {
                let body = stripe_event(&format!("evt_during_{i}"), "charge.succeeded");
                let sig = hookgate_testkit::sign::stripe_signature(
                    STRIPE_SECRET,
                    hookgate_testkit::sign::now_unix(),
                    &body,
                );
                let resp = client
                    .post(&url, &[("stripe-signature", sig.as_str())], body)
                    .await;
                assert_eq!(resp.status, 200, "{}", resp.text());
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let config = h.gateway.config_path().to_str().unwrap().to_owned();
    let run = hookgate(&[
        "backup",
        "--config",
        &config,
        "--to",
        copy.to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("backup of"), "{}", run.stdout);
    writer.await.unwrap();
    // A backup never overwrites.
    let again = hookgate(&[
        "backup",
        "--config",
        &config,
        "--to",
        copy.to_str().unwrap(),
    ])
    .await;
    assert_eq!(again.code, 1, "{}{}", again.stdout, again.stderr);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);

    // The restore: a second gateway on the copy (the first keeps its file).
    let receiver = Receiver::start().await;
    let store = TestStore::sqlite();
    std::fs::copy(&copy, store.sqlite_path()).unwrap();
    let (cfg, _, admin_addr) = local_config(&store, &receiver.url("/events"), &Options::default());
    let mut restored = GatewayProcess::start(bin(), &cfg, &[]).await;
    restored
        .wait_healthy(&admin_addr, Duration::from_secs(15))
        .await;
    let admin = AdminApi::new(&admin_addr, HARNESS_TOKEN);
    let listed: HashSet<String> = admin
        .events("")
        .await
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    for id in &before {
        assert!(
            listed.contains(id),
            "{id} acknowledged before the backup is not in it"
        );
    }
    assert!(listed.len() <= 120, "{}", listed.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_copy_moves_a_stopped_gateway_to_redis_where_its_pending_deliveries_go_out() {
    let mut h = Harness::start().await;
    // Pending deliveries: the subscription is paused (a flag that moves too).
    let paused = h
        .admin
        .post(
            "/admin/v1/subscriptions/ledger/pause",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(paused.status, 200, "{}", paused.text());
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = format!("evt_move_{i}");
        assert_eq!(
            h.post_stripe(&stripe_event(&id, "charge.succeeded"))
                .await
                .status,
            200
        );
        ids.push(event_id("stripe", &id));
    }
    for id in &ids {
        h.wait_delivery_status("stripe", id, "pending").await;
    }

    let redis = RedisServer::start().await;
    let target = TestStore::redis(redis);
    let receiver = Receiver::start().await;
    let (cfg_b, _, admin_b) = local_config(&target, &receiver.url("/events"), &Options::default());
    let dir = tempfile::tempdir().unwrap();
    let path_b = dir.path().join("redis.toml");
    std::fs::write(&path_b, &cfg_b).unwrap();
    let from = h.gateway.config_path().to_str().unwrap().to_owned();
    let to = path_b.to_str().unwrap().to_owned();

    // Refused while the gateway of --from runs.
    let busy = hookgate(&["store", "copy", "--from", &from, "--to", &to]).await;
    assert_eq!(busy.code, 1, "{}{}", busy.stdout, busy.stderr);
    assert!(busy.stderr.contains("stop that gateway"), "{}", busy.stderr);

    h.gateway.terminate();
    assert!(
        h.gateway.wait_exit(Duration::from_secs(15)).await.is_some(),
        "the gateway stops on SIGTERM"
    );
    let first = hookgate(&["store", "copy", "--from", &from, "--to", &to]).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let again = hookgate(&["store", "copy", "--from", &from, "--to", &to]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains(" 0 written"), "{}", again.stdout);

    // A gateway on Redis: the pause came along; resumed, it delivers all.
    let mut moved = GatewayProcess::start(bin(), &cfg_b, &[]).await;
    moved.wait_healthy(&admin_b, Duration::from_secs(15)).await;
    let admin = AdminApi::new(&admin_b, HARNESS_TOKEN);
    assert_eq!(admin.subscription("ledger").await["paused"], true);
    let resumed = admin
        .post(
            "/admin/v1/subscriptions/ledger/resume",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text());
    let got: HashSet<String> = receiver
        .wait_for(ids.len(), Duration::from_secs(20))
        .await
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_owned))
        .collect();
    for id in &ids {
        assert!(got.contains(id), "{id} was not delivered after the move");
    }
    // The dedup claims moved too: the provider's retry is a duplicate.
    let ingest_b = cfg_b
        .lines()
        .find_map(|l| l.strip_prefix("listen = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the ingest listener")
        .to_owned();
    let body = stripe_event("evt_move_0", "charge.succeeded");
    let sig = hookgate_testkit::sign::stripe_signature(
        STRIPE_SECRET,
        hookgate_testkit::sign::now_unix(),
        &body,
    );
    let resp = hookgate_testkit::http::Client::new()
        .post(
            &format!("http://{ingest_b}/ingest/stripe"),
            &[("stripe-signature", sig.as_str())],
            body,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["events"][0]["duplicate"], true);
}
