//! What the fault tests share: a config builder with any number of
//! subscriptions, a gateway "world" (store + process + admin token), a load
//! generator that records which events were acknowledged, a delivery check
//! that counts duplicates, and a subscriber that answers by content (which
//! provider an event came from) and can speak TLS. A world runs on the
//! embedded SQLite store unless the test is about Redis
//! ([`World::start_on`]); what it stored is read through the admin API.

use crate::common::*;
use bytes::Bytes;
use hookgate_testkit::http::{Client, RequestError, Response};
use hookgate_testkit::sign;
use hookgate_testkit::{AdminApi, Attempt, Delivery, GatewayProcess, free_addr};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The admin bearer token of every fault-test gateway (role `operator`).
pub const TOKEN: &str = "faults-operator-token";

/// How often the checks poll.
pub const POLL: Duration = Duration::from_millis(50);

/// The `[server] instance_id` of a world's gateway (and of the process
/// that replaces it: the same instance restarted). Peers get their own.
pub const WORLD_INSTANCE: &str = "world-gateway";

// === config ===

/// One `[[subscriptions]]` entry; defaults suit fault tests: every event,
/// `timeout = "1s"` (below the 3 s visibility timeout), a retry budget that
/// never runs out during a test, fast backoff, and a breaker that does not
/// open unless the test asks for one.
#[derive(Clone, Debug)]
pub struct SubSpec {
    id: String,
    url: String,
    events: String,
    breaker: String,
    max_delay: &'static str,
    timeout: &'static str,
    extra: String,
}

impl SubSpec {
    pub fn new(id: &str, url: &str) -> Self {
        SubSpec {
            id: id.to_owned(),
            url: url.to_owned(),
            events: r#"["*"]"#.to_owned(),
            breaker: r#"{ failures = 1000, cooldown = "1s" }"#.to_owned(),
            max_delay: "200ms",
            timeout: "1s",
            extra: String::new(),
        }
    }

    /// The subscription's `timeout` (default here `1s`).
    pub fn timeout(mut self, d: &'static str) -> Self {
        self.timeout = d;
        self
    }

    pub fn breaker(mut self, failures: u32, cooldown: &str) -> Self {
        self.breaker = format!(r#"{{ failures = {failures}, cooldown = "{cooldown}" }}"#);
        self
    }

    pub fn max_delay(mut self, d: &'static str) -> Self {
        self.max_delay = d;
        self
    }

    /// More keys for the table, e.g. `max_in_flight = 1`.
    pub fn extra(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    fn toml(&self) -> String {
        format!(
            r#"
[[subscriptions]]
id = "{id}"
url = "{url}"
events = {events}
secret = {{ value = "{LEDGER_SECRET}" }}
timeout = "{timeout}"
retry = {{ max_attempts = 1000, base_delay = "50ms", max_delay = "{max_delay}", max_age = "1h" }}
breaker = {breaker}
{extra}"#,
            id = self.id,
            url = self.url,
            events = self.events,
            max_delay = self.max_delay,
            timeout = self.timeout,
            breaker = self.breaker,
            extra = self.extra,
        )
    }
}

/// What a gateway of a world is configured with, apart from its addresses.
#[derive(Clone, Debug)]
struct Setup {
    /// The `[store]` section ([`TestStore::section`]).
    store_section: String,
    subs: Vec<SubSpec>,
    delivery_extra: String,
    /// `[delivery] visibility_timeout` (`None`: the default, 60 s).
    lease: Option<&'static str>,
}

impl Setup {
    /// The config of a gateway on these listeners, as instance `instance`.
    fn config(&self, ingest: &str, admin: &str, instance: &str) -> String {
        let lease = self
            .lease
            .map(|l| format!("visibility_timeout = \"{l}\""))
            .unwrap_or_default();
        let mut text = format!(
            r#"
[server]
listen = "{ingest}"
read_timeout = "2s"
header_read_timeout = "1s"
shutdown_grace = "2s"
instance_id = "{instance}"

[admin]
listen = "{admin}"
{token}
{store_section}
[delivery]
{lease}
poll_interval = "100ms"
{delivery_extra}

[[sources]]
id = "stripe"
scheme = "stripe"
secrets = [{{ value = "{STRIPE_SECRET}" }}]

[[sources]]
id = "acme"
scheme = "standard-webhooks"
secrets = [{{ value = "{ACME_SECRET}" }}]
"#,
            token = admin_token_toml("faults", "operator", TOKEN),
            store_section = self.store_section,
            delivery_extra = self.delivery_extra,
        );
        for s in &self.subs {
            text.push_str(&s.toml());
        }
        text
    }
}

// === a world: a store, one gateway process, its addresses ===

pub struct World {
    pub store: TestStore,
    pub gw: GatewayProcess,
    pub ingest: String,
    pub admin: String,
    pub config: String,
    /// The admin API with [`TOKEN`].
    pub api: AdminApi,
    setup: Setup,
    client: Client,
}

/// A gateway process on `config`, healthy.
async fn spawn_gateway(config: &str, admin: &str) -> GatewayProcess {
    let mut gw = GatewayProcess::start(bin(), config, &[]).await;
    gw.wait_healthy(admin, Duration::from_secs(15)).await;
    gw
}

impl World {
    /// A world on the embedded SQLite store.
    pub async fn start(subs: &[SubSpec]) -> Self {
        Self::start_on(StoreKind::Sqlite, subs, "").await
    }

    /// `delivery_extra`: more keys for `[delivery]` (e.g. `ca_file = "..."`).
    pub async fn start_with(subs: &[SubSpec], delivery_extra: &str) -> Self {
        Self::start_on(StoreKind::Sqlite, subs, delivery_extra).await
    }

    /// A world on a store of `kind` (leases of 3 s).
    pub async fn start_on(kind: StoreKind, subs: &[SubSpec], delivery_extra: &str) -> Self {
        Self::start_with_lease(kind, subs, delivery_extra, Some("3s")).await
    }

    /// A world on a store of `kind` whose `visibility_timeout` is `lease`
    /// (`None`: the default, 60 s).
    pub async fn start_with_lease(
        kind: StoreKind,
        subs: &[SubSpec],
        delivery_extra: &str,
        lease: Option<&'static str>,
    ) -> Self {
        let store = TestStore::start(kind).await;
        let setup = Setup {
            store_section: store.section("2s", ""),
            subs: subs.to_vec(),
            delivery_extra: delivery_extra.to_owned(),
            lease,
        };
        let (ingest, admin) = (free_addr(), free_addr());
        let config = setup.config(&ingest, &admin, WORLD_INSTANCE);
        let gw = spawn_gateway(&config, &admin).await;
        store.assert_in_use();
        World {
            store,
            gw,
            api: AdminApi::new(&admin, TOKEN),
            ingest,
            admin,
            config,
            setup,
            client: Client::with_timeout(Duration::from_secs(10)),
        }
    }

    /// Replaces the (dead or stopped) process by a new one on the same
    /// config, so on the same store (an SQLite file is reopened).
    pub async fn start_again(&mut self) {
        assert!(
            self.gw.try_exit().is_some(),
            "start_again only after the old process is gone"
        );
        for tries_left in (0..3).rev() {
            let mut gw = GatewayProcess::start(bin(), &self.config, &[]).await;
            match gw.healthy(&self.admin, Duration::from_secs(15)).await {
                Ok(()) => {
                    self.gw = gw;
                    return;
                }
                // The old process's ports were free for a moment, and a
                // socket of a test running beside this one may have taken
                // one (a client's local port is picked from the same
                // range): move the listeners, as an operator would.
                Err(why) if tries_left > 0 && why.contains("already in use") => {
                    self.move_listeners();
                }
                Err(why) => panic!("{why}"),
            }
        }
    }

    /// New free addresses for both listeners, in the config and here.
    fn move_listeners(&mut self) {
        let (ingest, admin) = (free_addr(), free_addr());
        self.config = self
            .config
            .replace(&format!("\"{}\"", self.ingest), &format!("\"{ingest}\""))
            .replace(&format!("\"{}\"", self.admin), &format!("\"{admin}\""));
        self.api = AdminApi::new(&admin, TOKEN);
        self.ingest = ingest;
        self.admin = admin;
    }

    /// Another gateway process on the same store and configuration, with
    /// its own listeners: `(process, ingest address, admin address)`. Only
    /// on Redis: one gateway process per SQLite file.
    pub async fn start_peer(&self) -> (GatewayProcess, String, String) {
        assert_ne!(
            self.store.kind(),
            StoreKind::Sqlite,
            "gateways share a Redis, never an SQLite file"
        );
        let (config, ingest, admin) = self.peer_config();
        let gw = spawn_gateway(&config, &admin).await;
        (gw, ingest, admin)
    }

    /// The config of another gateway on this world's store, with listeners
    /// and an instance id of its own: `(config, ingest address, admin
    /// address)`.
    pub fn peer_config(&self) -> (String, String, String) {
        let (ingest, admin) = (free_addr(), free_addr());
        let instance = format!("peer-{}", admin.replace([':', '.'], "-"));
        (self.setup.config(&ingest, &admin, &instance), ingest, admin)
    }

    pub async fn stripe(&self, provider_id: &str) -> u16 {
        post_stripe(&self.client, &self.ingest, provider_id)
            .await
            .unwrap_or_else(|e| panic!("POST stripe {provider_id}: {e}"))
            .status
    }

    pub async fn acme(&self, msg_id: &str) -> u16 {
        post_acme(&self.client, &self.ingest, msg_id)
            .await
            .unwrap_or_else(|e| panic!("POST acme {msg_id}: {e}"))
            .status
    }

    // --- admin API ---

    /// `POST {path}` with `{}`, asserting 200.
    pub async fn admin_post(&self, path: &str) -> Response {
        let r = self.api.post(path, &serde_json::json!({})).await;
        assert_eq!(r.status, 200, "POST {path}: {}", r.text());
        r
    }

    /// The breaker state the admin API reports for route (source, sub).
    pub async fn breaker(&self, source: &str, sub: &str) -> String {
        self.api.route(source, sub).await.breaker
    }

    /// Waits until the route's breaker reads `state`.
    pub async fn wait_breaker(&self, source: &str, sub: &str, state: &str, deadline: Duration) {
        let ok = hookgate_testkit::eventually(deadline, POLL, || async {
            self.breaker(source, sub).await == state
        })
        .await;
        assert!(
            ok,
            "breaker of ({source}, {sub}) did not become {state} within {deadline:?} (now: {})",
            self.breaker(source, sub).await
        );
    }

    /// The delivery of (event, subscription), event stored from `source`.
    /// Panics if there is none (yet).
    pub async fn delivery(&self, source: &str, id: &str, sub: &str) -> Delivery {
        self.api
            .delivery(source, id, sub)
            .await
            .unwrap_or_else(|| panic!("no delivery of {id} ({source}) to {sub}"))
    }

    /// The attempts of (event, subscription), oldest first; empty while the
    /// delivery does not exist yet.
    pub async fn attempt_log(&self, source: &str, id: &str, sub: &str) -> Vec<Attempt> {
        self.api
            .delivery(source, id, sub)
            .await
            .map(|d| d.attempts)
            .unwrap_or_default()
    }

    /// A route's queue depth (waiting and in flight), as the admin API
    /// reports it.
    pub async fn route_queue_len(&self, source: &str, sub: &str) -> u64 {
        self.api.route(source, sub).await.queue_depth
    }
}

// === provider requests ===

/// A signed Stripe callback carrying event `provider_id` (type
/// `charge.succeeded`, normalized `stripe.charge.succeeded`).
pub async fn post_stripe(
    client: &Client,
    ingest: &str,
    provider_id: &str,
) -> Result<Response, RequestError> {
    let body = stripe_event(provider_id, "charge.succeeded");
    let sig = sign::stripe_signature(STRIPE_SECRET, sign::now_unix(), &body);
    client
        .request(
            Method::POST,
            &format!("http://{ingest}/ingest/stripe"),
            &[
                ("content-type", "application/json"),
                ("stripe-signature", &sig),
            ],
            body,
        )
        .await
}

/// A signed Standard Webhooks callback (`acme.invoice.paid`) with `msg_id`.
pub async fn post_acme(
    client: &Client,
    ingest: &str,
    msg_id: &str,
) -> Result<Response, RequestError> {
    let body = br#"{"type":"invoice.paid","timestamp":"2024-01-02T03:04:05Z","data":{}}"#;
    let headers = sign::standard_webhooks_headers(ACME_SECRET, msg_id, sign::now_unix(), body);
    let mut hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    hs.push(("content-type", "application/json"));
    client
        .request(
            Method::POST,
            &format!("http://{ingest}/ingest/acme"),
            &hs,
            body.as_slice(),
        )
        .await
}

/// Posts the events `ids` of `source` from `tasks` concurrent tasks; panics unless
/// every answer is 200. For setting up a backlog, not for fault injection.
pub async fn send_all(ingest: &str, source: &'static str, ids: Vec<String>, tasks: usize) {
    let ids = Arc::new(ids);
    let mut set = JoinSet::new();
    for t in 0..tasks {
        let (ids, ingest) = (ids.clone(), ingest.to_owned());
        set.spawn(async move {
            let client = Client::with_timeout(Duration::from_secs(10));
            for id in ids.iter().skip(t).step_by(tasks) {
                let r = match source {
                    "stripe" => post_stripe(&client, &ingest, id).await,
                    _ => post_acme(&client, &ingest, id).await,
                };
                let r = r.unwrap_or_else(|e| panic!("POST {source} {id}: {e}"));
                assert_eq!(r.status, 200, "POST {source} {id}: {}", r.text());
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("sender task");
    }
}

// === load with faults ===

/// Stripe traffic from a few concurrent tasks, spread over `targets`
/// (ingest addresses) round robin. Every answer is recorded; a target that
/// failed at the transport level once is skipped from then on (it is dead or
/// shutting down), so a fault never makes the load hang.
pub struct Load {
    answered: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<Vec<Outcome>>>,
}

struct Outcome {
    provider_id: String,
    target: usize,
    result: Result<u16, String>,
}

/// What a load produced.
#[derive(Debug)]
pub struct LoadReport {
    /// Event ids (gateway form) answered 2xx.
    pub acked: Vec<String>,
    /// 2xx answers per target index.
    pub acked_by_target: BTreeMap<usize, usize>,
    /// Non-2xx answers by status.
    pub refused: BTreeMap<u16, usize>,
    /// Requests without an answer (transport error) or not sent (dead target).
    pub unanswered: usize,
}

impl Load {
    pub fn stripe(targets: &[String], prefix: &str, n: usize, tasks: usize) -> Self {
        let answered = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(targets.to_vec());
        let tasks = (0..tasks)
            .map(|t| {
                let (answered, targets) = (answered.clone(), targets.clone());
                let prefix = prefix.to_owned();
                tokio::spawn(async move {
                    let client = Client::with_timeout(Duration::from_secs(5));
                    let mut dead = vec![false; targets.len()];
                    let mut out = Vec::new();
                    for i in (t..n).step_by(tasks) {
                        let provider_id = format!("{prefix}_{i:04}");
                        let target = i % targets.len();
                        let result = if dead[target] {
                            Err("target skipped after a transport error".to_owned())
                        } else {
                            match post_stripe(&client, &targets[target], &provider_id).await {
                                Ok(r) => {
                                    answered.fetch_add(1, Ordering::SeqCst);
                                    Ok(r.status)
                                }
                                Err(e) => {
                                    dead[target] = true;
                                    Err(e.to_string())
                                }
                            }
                        };
                        out.push(Outcome {
                            provider_id,
                            target,
                            result,
                        });
                    }
                    out
                })
            })
            .collect();
        Load { answered, tasks }
    }

    /// Requests answered so far (any status).
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// Waits until at least `k` requests were answered.
    pub async fn wait_answered(&self, k: usize, deadline: Duration) {
        let ok = hookgate_testkit::eventually(deadline, Duration::from_millis(5), || async {
            self.answered() >= k
        })
        .await;
        assert!(
            ok,
            "only {} requests answered within {deadline:?} (wanted {k})",
            self.answered()
        );
    }

    /// Waits for every task (each request is bounded by 5 s) and sums up.
    pub async fn finish(self) -> LoadReport {
        let mut report = LoadReport {
            acked: Vec::new(),
            acked_by_target: BTreeMap::new(),
            refused: BTreeMap::new(),
            unanswered: 0,
        };
        for task in self.tasks {
            let outcomes = tokio::time::timeout(Duration::from_secs(120), task)
                .await
                .expect("load task ends (every request is bounded)")
                .expect("load task");
            for o in outcomes {
                match o.result {
                    Ok(s) if (200..300).contains(&s) => {
                        report.acked.push(event_id("stripe", &o.provider_id));
                        *report.acked_by_target.entry(o.target).or_default() += 1;
                    }
                    Ok(s) => *report.refused.entry(s).or_default() += 1,
                    Err(_) => report.unanswered += 1,
                }
            }
        }
        report
    }
}

/// Waits until every id of `acked` was seen at least once by `seen` (the
/// `webhook-id`s a subscriber received, repeats included). Panics with the
/// missing ids and the duplicate count. Returns the number of duplicate
/// deliveries (allowed: at-least-once).
pub async fn assert_delivered_at_least_once<F>(
    what: &str,
    acked: &[String],
    deadline: Duration,
    seen: F,
) -> usize
where
    F: Fn() -> Vec<String>,
{
    let tally = |ids: Vec<String>| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for id in ids {
            *counts.entry(id).or_default() += 1;
        }
        counts
    };
    let missing = |counts: &HashMap<String, usize>| -> Vec<String> {
        acked
            .iter()
            .filter(|id| !counts.contains_key(*id))
            .cloned()
            .collect()
    };
    let done = hookgate_testkit::eventually(deadline, Duration::from_millis(100), || {
        let counts = tally(seen());
        async move { missing(&counts).is_empty() }
    })
    .await;
    let counts = tally(seen());
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    let missing = missing(&counts);
    assert!(
        done && missing.is_empty(),
        "{what}: {} of {} acknowledged events never delivered within {deadline:?} \
         (first: {:?}); {} deliveries seen, {duplicates} duplicate(s)",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)],
        counts.values().sum::<usize>(),
    );
    eprintln!(
        "{what}: all {} acknowledged events delivered; {duplicates} duplicate deliveries",
        acked.len()
    );
    duplicates
}

/// The `webhook-id` of every request a testkit receiver got.
pub fn webhook_ids(rx: &hookgate_testkit::Receiver) -> Vec<String> {
    rx.requests()
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_owned))
        .collect()
}

// === a subscriber that answers by content, optionally over TLS ===

/// One request a [`Subscriber`] got.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The CloudEvent `source` (`hookgate/<source id>`).
    pub source: String,
    /// `webhook-id`.
    pub id: String,
    /// The status it was answered with.
    pub status: u16,
    /// Whether `webhook-signature` verified with [`LEDGER_SECRET`].
    pub signature_ok: bool,
}

struct SubscriberState {
    /// Events whose CloudEvent source is this get a 500; the rest 200.
    fail_source: Option<String>,
    delay: Duration,
    hits: Mutex<Vec<Hit>>,
    handshake_failures: AtomicUsize,
    /// Requests being answered now, and the most there were at once.
    open: AtomicUsize,
    peak: AtomicUsize,
}

/// An HTTP/1.1 (or HTTPS) subscriber that answers 500 to the events of one
/// provider and 200 to the others, and records every request in arrival
/// order. The testkit `Receiver` scripts replies by order only; isolation
/// between providers needs replies by content.
pub struct Subscriber {
    addr: SocketAddr,
    https: bool,
    state: Arc<SubscriberState>,
    accept: JoinHandle<()>,
}

impl Subscriber {
    /// Plain HTTP. `fail_source`: a source id whose events get 500.
    /// `delay`: how long each answer takes.
    pub async fn start(fail_source: Option<&str>, delay: Duration) -> Self {
        Self::start_inner(fail_source, delay, None).await
    }

    /// HTTPS with `tls` (answers 200 to everything).
    pub async fn start_tls(tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_inner(
            None,
            Duration::ZERO,
            Some(tokio_rustls::TlsAcceptor::from(tls)),
        )
        .await
    }

    async fn start_inner(
        fail_source: Option<&str>,
        delay: Duration,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind subscriber");
        let addr = listener.local_addr().expect("subscriber addr");
        let state = Arc::new(SubscriberState {
            fail_source: fail_source.map(|s| format!("hookgate/{s}")),
            delay,
            hits: Mutex::new(Vec::new()),
            handshake_failures: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        });
        let https = tls.is_some();
        let accept = tokio::spawn(accept_loop(listener, state.clone(), tls));
        Subscriber {
            addr,
            https,
            state,
            accept,
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state
            .hits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The most requests it was answering at once.
    pub fn peak_in_flight(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed (the client rejected the certificate).
    pub fn handshake_failures(&self) -> usize {
        self.state.handshake_failures.load(Ordering::SeqCst)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<SubscriberState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (state, tls) = (state.clone(), tls.clone());
                conns.spawn(async move {
                    match tls {
                        None => serve_conn(TokioIo::new(tcp), state).await,
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => serve_conn(TokioIo::new(stream), state).await,
                            Err(_) => {
                                state.handshake_failures.fetch_add(1, Ordering::SeqCst);
                            }
                        },
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn<I>(io: I, state: Arc<SubscriberState>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, state.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<SubscriberState>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    // Counted from the request's head to the end of its answer's delay.
    let open = state.open.fetch_add(1, Ordering::SeqCst) + 1;
    state.peak.fetch_max(open, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let ce: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let source = ce["source"].as_str().unwrap_or_default().to_owned();
    let status = if state.fail_source.as_deref() == Some(source.as_str()) {
        500
    } else {
        200
    };
    let signature_ok =
        sign::verify_standard_webhooks(LEDGER_SECRET, &parts.headers, &body, sign::now_unix(), 300)
            .is_ok();
    let id = parts
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state
        .hits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Hit {
            source,
            id,
            status,
            signature_ok,
        });
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    state.open.fetch_sub(1, Ordering::SeqCst);
    let mut resp = hyper::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::from_u16(status).expect("valid status");
    Ok(resp)
}

// === TLS material ===

/// A throwaway CA and a server certificate for `127.0.0.1` signed by it.
pub struct TestCa {
    /// The CA certificate, PEM (what `[delivery] ca_file` points at).
    pub ca_pem: String,
    /// A rustls server config presenting the leaf certificate.
    pub server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub fn new() -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let pems = hookgate_testkit::tls::TestPems::generate();
        let chain = CertificateDer::pem_slice_iter(pems.server_cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(pems.server_key.as_bytes()).expect("server key");
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
        TestCa {
            ca_pem: pems.ca,
            server: Arc::new(server),
        }
    }
}
