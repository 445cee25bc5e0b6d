//! Ordering keys under faults (docs/delivery.md, "Ordering keys"): a
//! subscriber that fails attempts at random still gets each key's events
//! one at a time and in the order the gateway acknowledged them; a stuck
//! key holds back only itself; the order survives a SIGKILL and two
//! gateways sharing one Redis; a dead-lettered head releases its key and
//! its replay goes behind what its key has queued.
//!
//! The order rule checked on what the subscriber saw, per key: a request
//! for the key's event `j` only ever comes once events `0..j` were answered
//! 2xx (a send of an earlier one again is a duplicate after a crash, which
//! at-least-once allows where the test says so).

use super::support::*;
use crate::common::{STRIPE_SECRET, StoreKind};
use bytes::Bytes;
use hookgate_testkit::http::Client;
use hookgate_testkit::sign;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// One request the subscriber got: the event's key and number, and its
/// answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    key: String,
    seq: u64,
    status: u16,
}

struct State {
    /// Percent of attempts answered 503, chosen by a fixed sequence.
    fail_percent: u64,
    draws: AtomicU64,
    /// Keys whose every attempt gets 500.
    stuck: HashSet<String>,
    /// Provider event ids answered 410 (dead at once) while listed.
    gone: Mutex<HashSet<String>>,
    delay: Duration,
    hits: Mutex<Vec<Hit>>,
}

/// A subscriber that answers by content: 500 for a stuck key, 410 for a
/// listed event, 503 for a fixed pseudo-random share of the rest, 200
/// otherwise; it records every request in arrival order.
struct KeyedSubscriber {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl KeyedSubscriber {
    async fn start(fail_percent: u64, stuck: &[&str], delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            fail_percent,
            draws: AtomicU64::new(0),
            stuck: stuck.iter().map(|s| s.to_string()).collect(),
            gone: Mutex::new(HashSet::new()),
            delay,
            hits: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let accept = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let st = st.clone();
                        conns.spawn(async move {
                            let service = service_fn(move |req| handle(req, st.clone()));
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), service)
                                .await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        KeyedSubscriber {
            addr,
            state,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    fn set_gone(&self, provider_id: &str, gone: bool) {
        let mut set = self.state.gone.lock().unwrap();
        if gone {
            set.insert(provider_id.to_owned());
        } else {
            set.remove(provider_id);
        }
    }

    /// Events of `key` answered 2xx.
    fn delivered(&self, key: &str) -> usize {
        self.hits()
            .iter()
            .filter(|h| h.key == key && h.status == 200)
            .map(|h| h.seq)
            .collect::<HashSet<_>>()
            .len()
    }

    async fn wait_delivered(&self, keys: &[String], n: usize, within: Duration) {
        let ok = hookgate_testkit::eventually(within, POLL, || async {
            keys.iter().all(|k| self.delivered(k) >= n)
        })
        .await;
        let got: Vec<(String, usize)> = keys
            .iter()
            .map(|k| (k.clone(), self.delivered(k)))
            .collect();
        assert!(
            ok,
            "not every key got its {n} events within {within:?}: {got:?}"
        );
    }
}

impl Drop for KeyedSubscriber {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn handle(
    req: Request<Incoming>,
    st: Arc<State>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let ce: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let key = ce["subject"].as_str().unwrap_or_default().to_owned();
    let provider_id = ce["data"]["id"].as_str().unwrap_or_default().to_owned();
    let seq = provider_id
        .rsplit('_')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let draw = splitmix(st.draws.fetch_add(1, Ordering::SeqCst)) % 100;
    let status = if st.stuck.contains(&key) {
        500
    } else if st.gone.lock().unwrap().contains(&provider_id) {
        410
    } else if draw < st.fail_percent {
        503
    } else {
        200
    };
    st.hits.lock().unwrap().push(Hit { key, seq, status });
    if !st.delay.is_zero() {
        tokio::time::sleep(st.delay).await;
    }
    let mut resp = hyper::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::from_u16(status).expect("status");
    Ok(resp)
}

/// A fixed pseudo-random sequence (SplitMix64), so a failing run repeats.
fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Posts event `seq` of object `key` (its subject) to `ingest`; the
/// provider id is `evt_<key>_<seq>`. Asserts the 200.
async fn post_keyed(client: &Client, ingest: &str, key: &str, seq: u64) {
    let id = format!("evt_{key}_{seq}");
    let body = format!(
        r#"{{"id":"{id}","object":"event","created":1700000000,"type":"charge.succeeded","data":{{"object":{{"id":"{key}","object":"charge"}}}}}}"#
    );
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), body.as_bytes());
    let r = client
        .request(
            Method::POST,
            &format!("http://{ingest}/ingest/stripe"),
            &[
                ("content-type", "application/json"),
                ("stripe-signature", &sig),
            ],
            body.into_bytes(),
        )
        .await
        .unwrap_or_else(|e| panic!("POST {id}: {e}"));
    assert_eq!(r.status, 200, "POST {id}: {}", r.text());
}

/// Posts `n` events of each key, each key's in order (one after the other,
/// so the order of acknowledgement is `0..n`), the keys side by side;
/// event `i` goes to `ingests[i % len]`.
async fn post_keys(ingests: &[String], keys: &[String], n: u64) {
    let mut set = JoinSet::new();
    for key in keys {
        let (key, ingests) = (key.clone(), ingests.to_vec());
        set.spawn(async move {
            let client = Client::with_timeout(Duration::from_secs(10));
            for seq in 0..n {
                post_keyed(&client, &ingests[seq as usize % ingests.len()], &key, seq).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("sender");
    }
}

/// The order rule (module docs) for `key` over `hits`; `resend`: whether a
/// send of an already delivered event may come again (after a crash).
fn assert_in_order(hits: &[Hit], key: &str, n: u64, resend: bool) {
    let mut next = 0;
    for (i, h) in hits.iter().enumerate().filter(|(_, h)| h.key == key) {
        assert!(
            h.seq <= next,
            "{key}: request #{i} sent event {} before event {next} was delivered: {:?}",
            h.seq,
            hits.iter().filter(|h| h.key == key).collect::<Vec<_>>()
        );
        if h.seq < next {
            assert!(resend, "{key}: event {} sent again after its 2xx", h.seq);
        } else if h.status == 200 {
            next += 1;
        }
    }
    assert_eq!(next, n, "{key}: delivered {next} of {n}");
}

fn ordered_sub(url: &str) -> SubSpec {
    SubSpec::new("ledger", url).extra("ordering = \"subject\"\nmax_in_flight = 16")
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn keys_arrive_in_order_through_random_failures(kind: StoreKind) {
    let sub = KeyedSubscriber::start(30, &["pi_stuck"], Duration::ZERO).await;
    let w = World::start_on(kind, &[ordered_sub(&sub.url())], "").await;
    let flowing = keys(&["pi_a", "pi_b", "pi_c"]);
    // The stuck key first: its head fails for ever from the start.
    post_keys(std::slice::from_ref(&w.ingest), &keys(&["pi_stuck"]), 5).await;
    post_keys(std::slice::from_ref(&w.ingest), &flowing, 50).await;
    sub.wait_delivered(&flowing, 50, Duration::from_secs(60))
        .await;

    let hits = sub.hits();
    for key in &flowing {
        assert_in_order(&hits, key, 50, false);
    }
    let stuck: HashSet<u64> = hits
        .iter()
        .filter(|h| h.key == "pi_stuck")
        .map(|h| h.seq)
        .collect();
    assert_eq!(
        stuck,
        HashSet::from([0]),
        "only the stuck key's head was ever sent"
    );
    let failed = hits.iter().filter(|h| h.status == 503).count();
    assert!(
        failed > 10,
        "the subscriber failed attempts at random ({failed} of {})",
        hits.len()
    );

    // Operators see the stuck key, its head and what waits behind it.
    let blocked = w
        .api
        .get_json("/admin/v1/subscriptions/ledger/ordering")
        .await;
    let items = blocked["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{blocked}");
    assert_eq!(items[0]["key"], "pi_stuck");
    assert_eq!(items[0]["waiting"], 4);
    assert_eq!(
        items[0]["head"]["event_id"],
        crate::common::event_id("stripe", "evt_pi_stuck_0")
    );
    assert_eq!(items[0]["head"]["last_status_code"], 500);
}

#[tokio::test]
async fn keys_arrive_in_order_through_random_failures_and_a_stuck_key_holds_only_itself_on_sqlite()
{
    keys_arrive_in_order_through_random_failures(StoreKind::Sqlite).await
}

#[tokio::test]
async fn keys_arrive_in_order_through_random_failures_and_a_stuck_key_holds_only_itself_on_redis() {
    keys_arrive_in_order_through_random_failures(StoreKind::Redis).await
}

async fn order_survives_a_sigkill(kind: StoreKind) {
    let sub = KeyedSubscriber::start(20, &[], Duration::from_millis(20)).await;
    let mut w = World::start_on(kind, &[ordered_sub(&sub.url())], "").await;
    let all = keys(&["pi_a", "pi_b", "pi_c"]);
    post_keys(std::slice::from_ref(&w.ingest), &all, 40).await;
    // Kill it mid-delivery: some heads in flight, the rest held.
    let ok = hookgate_testkit::eventually(Duration::from_secs(30), POLL, || async {
        all.iter().map(|k| sub.delivered(k)).sum::<usize>() >= 30
    })
    .await;
    assert!(ok, "deliveries started");
    w.gw.kill().await;
    w.start_again().await;
    sub.wait_delivered(&all, 40, Duration::from_secs(60)).await;
    let hits = sub.hits();
    for key in &all {
        assert_in_order(&hits, key, 40, true);
    }
}

#[tokio::test]
async fn order_survives_a_sigkill_on_sqlite() {
    order_survives_a_sigkill(StoreKind::Sqlite).await
}

#[tokio::test]
async fn order_survives_a_sigkill_on_redis() {
    order_survives_a_sigkill(StoreKind::Redis).await
}

#[tokio::test]
async fn two_gateways_on_one_redis_keep_each_keys_order() {
    let sub = KeyedSubscriber::start(20, &[], Duration::from_millis(5)).await;
    let w = World::start_on(StoreKind::Redis, &[ordered_sub(&sub.url())], "").await;
    let (_peer, peer_ingest, _peer_admin) = w.start_peer().await;
    let all = keys(&["pi_a", "pi_b", "pi_c"]);
    // Each key's events alternate between the two gateways, so both store,
    // fan out and deliver every key.
    post_keys(&[w.ingest.clone(), peer_ingest], &all, 40).await;
    sub.wait_delivered(&all, 40, Duration::from_secs(60)).await;
    let hits = sub.hits();
    for key in &all {
        assert_in_order(&hits, key, 40, false);
    }
}

#[tokio::test]
async fn a_dead_head_releases_its_key_and_its_replay_goes_behind_what_is_queued() {
    let sub = KeyedSubscriber::start(0, &[], Duration::ZERO).await;
    let w = World::start(&[ordered_sub(&sub.url())]).await;
    let key = keys(&["pi_k"]);
    sub.set_gone("evt_pi_k_1", true);
    post_keys(std::slice::from_ref(&w.ingest), &key, 4).await;
    // 1 is dead at its first 410; 2 and 3 go on.
    let ok = hookgate_testkit::eventually(Duration::from_secs(30), POLL, || async {
        sub.delivered("pi_k") >= 3
    })
    .await;
    assert!(ok, "0, 2 and 3 delivered: {:?}", sub.hits());
    let seen: Vec<(u64, u16)> = sub.hits().iter().map(|h| (h.seq, h.status)).collect();
    assert_eq!(seen, [(0, 200), (1, 410), (2, 200), (3, 200)]);
    let dead = crate::common::event_id("stripe", "evt_pi_k_1");
    let dead_letters = w.api.dead_letters("ledger", "").await;
    assert_eq!(dead_letters.len(), 1, "{dead_letters:?}");

    // Paused, two more are queued; then the replay; then resumed: the
    // replay comes after them.
    w.admin_post("/admin/v1/subscriptions/ledger/pause").await;
    let client = Client::with_timeout(Duration::from_secs(10));
    post_keyed(&client, &w.ingest, "pi_k", 4).await;
    post_keyed(&client, &w.ingest, "pi_k", 5).await;
    sub.set_gone("evt_pi_k_1", false);
    let r = w
        .api
        .post(
            "/admin/v1/subscriptions/ledger/dead-letters/replay",
            &serde_json::json!({ "event_ids": [dead] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    w.admin_post("/admin/v1/subscriptions/ledger/resume").await;
    let ok = hookgate_testkit::eventually(Duration::from_secs(30), POLL, || async {
        sub.hits().len() >= 7
    })
    .await;
    assert!(ok, "{:?}", sub.hits());
    let after: Vec<(u64, u16)> = sub.hits()[4..].iter().map(|h| (h.seq, h.status)).collect();
    assert_eq!(
        after,
        [(4, 200), (5, 200), (1, 200)],
        "the replay goes behind 4 and 5"
    );
}
