//! The operator web console (`/console/`) in a real browser: headless
//! Chromium through chromedriver ([`crate::browser`]), against the real
//! binary on its SQLite store with real subscribers. Sign-in, an event
//! with its payload and attempts, a dead letter replayed with a dry-run
//! count and a confirmation, what a viewer and a tenant token see, a
//! hostile payload shown as text, the Ordering page's blocked key (a
//! hostile key shown as text) with its head redelivered, and the
//! console's security headers.
//! Screenshots land in `target/console-screenshots/`.

use crate::browser::Browser;
use crate::common::*;
use hookgate_testkit::GatewayProcess;
use hookgate_testkit::http::{Client, Response};
use hookgate_testkit::receiver::{Receiver, Reply};
use http::Method;
use serde_json::{Value, json};
use std::time::Duration;

const ADMIN: &str = "console-admin-token";
const VIEWER: &str = "console-viewer-token";
const TENANT_A: &str = "console-tenant-a-token";

/// The strings a hostile provider or subscriber might send, hoping the
/// console renders them as HTML.
const HOSTILE: &[&str] = &[
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=\"window.__pwned=1\">",
    "javascript:alert(1)",
];

struct Console {
    _store: TestStore,
    receiver: Receiver,
    other: Receiver,
    _gateway: GatewayProcess,
    ingest: String,
    base: String,
    client: Client,
}

impl Console {
    async fn start() -> Self {
        Self::start_with(Options {
            max_attempts: 1,
            ..Options::default()
        })
        .await
    }

    /// The console's gateway with the harness config's `o` (`ledger`'s
    /// retry policy, its extra keys).
    async fn start_with(o: Options) -> Self {
        let store = TestStore::sqlite();
        let receiver = Receiver::start().await;
        let other = Receiver::start().await;
        let mut extra = String::new();
        for (name, token, role, tenants) in [
            ("ops", ADMIN, "admin", ""),
            ("watcher", VIEWER, "viewer", ""),
            ("team-a", TENANT_A, "operator", "tenants = [\"a\"]"),
        ] {
            extra.push_str(&admin_token_toml(name, role, token));
            extra.push_str(&format!("{tenants}\n"));
        }
        for (id, tenant) in [("alpha", "a"), ("beta", "b")] {
            extra.push_str(&format!(
                "\n[[subscriptions]]\nid = \"{id}\"\ntenant = \"{tenant}\"\nurl = \"{}\"\nevents = [\"acme.{id}.*\"]\nsecret = {{ value = \"{LEDGER_SECRET}\" }}\ntimeout = \"2s\"\n",
                other.url(&format!("/{id}"))
            ));
        }
        let (config, ingest, admin) = local_config(&store, &receiver.url("/events"), &o);
        let config = config.replace("[admin]\n", "[admin]\nreplay_rate = 5000\n") + &extra;
        let mut gateway = GatewayProcess::start(bin(), &config, &[]).await;
        gateway.wait_healthy(&admin, Duration::from_secs(15)).await;
        Console {
            _store: store,
            receiver,
            other,
            _gateway: gateway,
            ingest,
            base: format!("http://{admin}"),
            client: Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Value) -> Response {
        let auth = format!("Bearer {token}");
        let headers = [
            ("content-type", "application/json"),
            ("authorization", auth.as_str()),
        ];
        self.client
            .request(
                method,
                &format!("{}{path}", self.base),
                &headers,
                body.to_string(),
            )
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Ingests a Stripe `charge.succeeded` with `data.object` = `object`;
    /// returns its id.
    async fn stripe(&self, provider_id: &str, object: Value) -> String {
        self.stripe_of("charge.succeeded", provider_id, object)
            .await
    }

    /// Ingests a Stripe event of type `ty`; returns its id.
    async fn stripe_of(&self, ty: &str, provider_id: &str, object: Value) -> String {
        let body = json!({
            "id": provider_id, "object": "event", "created": 1_700_000_000,
            "type": ty, "data": { "object": object },
        })
        .to_string();
        let sig = hookgate_testkit::sign::stripe_signature(
            STRIPE_SECRET,
            hookgate_testkit::sign::now_unix(),
            body.as_bytes(),
        );
        let r = self
            .client
            .post(
                &format!("http://{}/ingest/stripe", self.ingest),
                &[("stripe-signature", &sig)],
                body,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        event_id("stripe", provider_id)
    }

    /// Ingests an Acme (Standard Webhooks) event of type `ty`.
    async fn acme(&self, id: &str, ty: &str) -> String {
        let body = format!(r#"{{"type":"{ty}","data":{{}}}}"#);
        let headers = hookgate_testkit::sign::standard_webhooks_headers(
            ACME_SECRET,
            id,
            hookgate_testkit::sign::now_unix(),
            body.as_bytes(),
        );
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = self
            .client
            .post(&format!("http://{}/ingest/acme", self.ingest), &hs, body)
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        event_id("acme", id)
    }

    /// Waits (bounded) until the ledger delivery of `id` has `status`.
    async fn wait_status(&self, id: &str, status: &str) {
        let deadline = std::time::Instant::now() + DELIVERY_WAIT;
        loop {
            let ev = self
                .call(
                    Method::GET,
                    &format!("/admin/v1/events/{id}"),
                    ADMIN,
                    json!({}),
                )
                .await;
            if ev.status == 200
                && ev.json()["deliveries"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|d| d["status"] == status))
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} not {status}: {}",
                ev.text()
            );
            settle(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, route: &str) -> String {
        format!("{}/console/{route}", self.base)
    }

    /// Opens the console (through the `/console` redirect) and signs in.
    async fn sign_in(&self, b: &Browser, token: &str, who: &str) {
        b.goto(&format!("{}/console", self.base)).await;
        b.type_into("[data-test=token]", token).await;
        b.click("[data-test=signin-submit]").await;
        b.wait_text("[data-test=whoami]", who).await;
    }
}

#[tokio::test]
async fn an_operator_signs_in_reads_an_event_and_replays_a_dead_letter() {
    let c = Console::start().await;
    // The subscriber refuses the first delivery for good (410), then takes
    // everything: a dead letter to replay.
    c.receiver
        .push(Reply::StatusWithBody(410, "gone for now".into()));
    let id = c
        .stripe("evt_console_1", json!({"id": "ch_1", "amount": 4200}))
        .await;
    c.wait_status(&id, "dead").await;

    let b = Browser::start("operator").await;
    // A wrong token is refused with a message, and nothing is kept.
    b.goto(&c.url("")).await;
    b.type_into("[data-test=token]", "not-a-token").await;
    b.click("[data-test=signin-submit]").await;
    b.wait_text("[data-test=signin-error]", "401").await;
    b.shot("signin-refused").await;

    c.sign_in(&b, ADMIN, "ops · admin").await;
    // The token is in this tab's sessionStorage only: no cookie, not in the URL.
    let kept = b
        .js("return [sessionStorage.getItem('hookgate.console.token'), document.cookie, location.href]", vec![])
        .await;
    assert_eq!(kept[0], ADMIN);
    assert_eq!(kept[1], "");
    assert!(!kept[2].as_str().unwrap().contains(ADMIN), "{kept}");

    // Overview: the subscription with its dead letter, and stripe's ingest.
    b.wait_text(
        "[data-test=overview-subscriptions-table] tr[data-subscription=ledger]",
        "1",
    )
    .await;
    b.wait_text("[data-test=ingest-table]", "stripe").await;
    b.shot("overview").await;

    // Events, newest first, then the event: payload and the 410 attempt.
    b.click("nav a[data-nav=events]").await;
    b.wait_text("[data-test=events-table]", &id).await;
    b.shot("events").await;
    b.click(&format!("tr[data-event='{id}'] a")).await;
    b.wait_text("[data-test=payload]", "\"amount\": 4200").await;
    b.wait_text("[data-test=delivery][data-subscription=ledger]", "dead")
        .await;
    b.wait_text("[data-attempt='1'] [data-field=status_code]", "410")
        .await;
    b.wait_text("[data-attempt='1']", "gone for now").await;
    assert_eq!(b.count("[data-test=redeliver]").await, 1);
    b.shot("event-dead").await;

    // Dead letters: select it, dry run says 1, confirm, delivered.
    b.click("nav a[data-nav=dead-letters]").await;
    b.wait_text("[data-test=dlq-table]", &id).await;
    b.click(&format!("tr[data-event='{id}'] [data-test=dlq-select]"))
        .await;
    b.click("[data-test=replay-selected]").await;
    b.wait_text(
        "[data-test=replay-dry-run]",
        "1 dead letter of ledger match",
    )
    .await;
    assert_eq!(c.receiver.count(), 1, "a dry run replays nothing");
    b.shot("replay-confirm").await;
    b.click("[data-test=replay-confirm]").await;
    b.wait_text("[data-test=notice-info]", "Replayed 1 of 1")
        .await;
    let got = c.receiver.wait_for(2, DELIVERY_WAIT).await;
    assert_eq!(got[1].json()["id"], got[0].json()["id"]);
    c.wait_status(&id, "delivered").await;

    // The event page now shows the second budget's delivered attempt.
    b.goto(&c.url(&format!("#/events/{id}"))).await;
    b.wait_text(
        "[data-test=delivery][data-subscription=ledger]",
        "delivered",
    )
    .await;
    b.wait_text("[data-field=status_code]", "200").await;
    b.shot("event-delivered").await;

    // Redeliver from the event page: a third request at the subscriber.
    b.click("[data-test=delivery][data-subscription=ledger] [data-test=redeliver]")
        .await;
    b.wait_text("[data-test=notice-info]", "Queued").await;
    c.receiver.wait_for(3, DELIVERY_WAIT).await;

    // Pause and resume from the subscriptions page.
    b.click("nav a[data-nav=subscriptions]").await;
    b.click("tr[data-subscription=ledger] [data-test=pause]")
        .await;
    b.wait_text("tr[data-subscription=ledger]", "paused").await;
    b.shot("paused").await;
    b.click("tr[data-subscription=ledger] [data-test=resume]")
        .await;
    b.wait_text("[data-test=notice-info]", "ledger: resumed")
        .await;
    b.wait_text("tr[data-subscription=ledger]", "active").await;

    // The audit log (admin) holds every action taken.
    b.click("nav a[data-nav=audit]").await;
    for action in ["replay", "redeliver", "pause", "resume"] {
        b.wait_text("[data-test=audit-table]", action).await;
    }
    b.shot("audit").await;
    b.close().await;
}

#[tokio::test]
async fn a_viewer_sees_no_actions_and_a_tenant_only_its_subscriptions() {
    let c = Console::start().await;
    c.receiver.push(Reply::Status(410));
    let id = c.stripe("evt_console_view", json!({"id": "ch_v"})).await;
    c.wait_status(&id, "dead").await;
    let beta_event = c.acme("msg_console_beta", "beta.created").await;
    c.other.wait_for(1, DELIVERY_WAIT).await;

    let b = Browser::start("viewer").await;
    c.sign_in(&b, VIEWER, "watcher · viewer").await;
    assert_eq!(
        b.count("nav a[data-nav=audit]").await,
        0,
        "audit is admin only"
    );
    b.goto(&c.url("#/subscriptions")).await;
    b.wait_text("[data-test=subscriptions-table]", "ledger")
        .await;
    assert_eq!(b.count("[data-test=pause], [data-test=resume]").await, 0);
    b.shot("subscriptions").await;
    b.goto(&c.url("#/dead-letters?subscription=ledger")).await;
    b.wait_text("[data-test=dlq-table]", &id).await;
    assert_eq!(
        b.count("[data-test=replay-selected], [data-test=replay-filter], [data-test=dlq-select]")
            .await,
        0
    );
    b.goto(&c.url(&format!("#/events/{id}"))).await;
    b.wait_text("[data-test=delivery]", "dead").await;
    assert_eq!(b.count("[data-test=redeliver]").await, 0);
    b.shot("event").await;
    // What the console hides, the API refuses.
    let r = c
        .call(
            Method::POST,
            "/admin/v1/subscriptions/ledger/dead-letters/replay",
            VIEWER,
            json!({"event_ids": [id]}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    b.click("[data-test=signout]").await;
    b.wait_text("[data-test=signin]", "Sign in").await;
    let left = b
        .js(
            "return sessionStorage.getItem('hookgate.console.token')",
            vec![],
        )
        .await;
    assert_eq!(left, Value::Null);

    // A tenant token: its subscription only, here and in the API.
    c.sign_in(&b, TENANT_A, "team-a · operator · tenants a")
        .await;
    b.goto(&c.url("#/subscriptions")).await;
    b.wait_text("[data-test=subscriptions-table]", "alpha")
        .await;
    let rows = b
        .texts("[data-test=subscriptions-table] tbody tr td:first-child")
        .await;
    assert_eq!(rows, ["alpha"]);
    b.shot("tenant-subscriptions").await;
    b.goto(&c.url("#/dead-letters?subscription=beta")).await;
    b.wait_text("[data-test=dlq-subscription]", "alpha").await;
    assert!(!b.texts("[data-test=dlq-subscription]").await[0].contains("beta"));
    b.goto(&c.url(&format!("#/events/{beta_event}"))).await;
    b.wait_text("[data-test=page-error]", "403").await;
    let r = c
        .call(
            Method::GET,
            "/admin/v1/subscriptions/beta/dead-letters",
            TENANT_A,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    b.close().await;
}

#[tokio::test]
async fn a_hostile_payload_and_answer_are_shown_as_text() {
    let c = Console::start().await;
    c.receiver
        .push(Reply::StatusWithBody(410, HOSTILE.concat()));
    let object = json!({
        "id": HOSTILE[1], "description": HOSTILE[0], "url": HOSTILE[2],
    });
    let id = c.stripe("evt_console_hostile", object).await;
    c.wait_status(&id, "dead").await;

    let b = Browser::start("hostile").await;
    c.sign_in(&b, ADMIN, "ops").await;
    b.goto(&c.url("#/events")).await;
    b.wait_text("[data-test=events-table]", HOSTILE[1]).await;
    b.goto(&c.url(&format!("#/events/{id}"))).await;
    for s in HOSTILE {
        let escaped = serde_json::to_string(s).unwrap();
        b.wait_text("[data-test=payload]", &escaped[1..escaped.len() - 1])
            .await;
        b.wait_text("[data-attempt='1']", s).await;
    }
    b.wait_text("[data-test=event-facts] [data-field=subject]", HOSTILE[1])
        .await;
    b.shot("event").await;
    let state = b
        .js(
            "return [typeof window.__pwned, document.querySelectorAll('#app img, #app script').length]",
            vec![],
        )
        .await;
    assert_eq!(
        state,
        json!(["undefined", 0]),
        "the payload ran or became markup"
    );
    b.close().await;

    // Every console answer carries the security headers, errors included.
    for path in [
        "/console/",
        "/console/app.js",
        "/console/missing.js",
        "/console",
    ] {
        let r = c.client.get(&format!("{}{path}", c.base), None).await;
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert!(r.header("set-cookie").is_none(), "{path}");
    }
    let missing = c
        .client
        .get(&format!("{}/console/missing.js", c.base), None)
        .await;
    assert_eq!(missing.status, 404);
}

/// `GET /admin/v1/whoami`, what the console shows and hides by: the
/// token's own name, role and tenants; 401 without a valid token.
#[tokio::test]
async fn whoami_answers_the_calling_token() {
    let c = Console::start().await;
    for (token, want) in [
        (
            ADMIN,
            json!({"name": "ops", "role": "admin", "tenants": null}),
        ),
        (
            VIEWER,
            json!({"name": "watcher", "role": "viewer", "tenants": null}),
        ),
        (
            TENANT_A,
            json!({"name": "team-a", "role": "operator", "tenants": ["a"]}),
        ),
    ] {
        let r = c
            .call(Method::GET, "/admin/v1/whoami", token, json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json(), want);
    }
    let r = c
        .call(Method::GET, "/admin/v1/whoami", "nope", json!({}))
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = c
        .call(Method::POST, "/admin/v1/whoami", ADMIN, json!({}))
        .await;
    assert_eq!(r.status, 405, "{}", r.text());
}

/// The events listing the console pages through reads the store's index by
/// keyset: a type filter that matches few of many events pages across
/// several store batches (200 entries each), in both orders, each event
/// listed once and in order.
#[tokio::test]
async fn a_sparse_type_filter_pages_across_store_batches() {
    let console = Console::start().await;
    let c = &console;
    let mut rare = Vec::new();
    for chunk in 0..9 {
        let calls = (0..50).map(|i| {
            let n = chunk * 50 + i;
            let object = json!({ "id": format!("ch_{n}") });
            async move {
                if n % 100 == 7 {
                    Some(
                        c.stripe_of("charge.refunded", &format!("evt_rare_{n}"), object)
                            .await,
                    )
                } else {
                    c.stripe(&format!("evt_many_{n}"), object).await;
                    None
                }
            }
        });
        rare.extend(futures::future::join_all(calls).await.into_iter().flatten());
    }
    assert_eq!(rare.len(), 5);
    for (order, query) in [("oldest", ""), ("newest", "&order=newest")] {
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut path = format!("/admin/v1/events?type=stripe.charge.refunded&limit=2{query}");
        loop {
            let r = c.call(Method::GET, &path, ADMIN, json!({})).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            let page = r.json();
            for e in page["items"].as_array().unwrap() {
                let at = e["received_at"].as_str().unwrap().to_owned();
                seen.push((at, e["id"].as_str().unwrap().to_owned()));
            }
            match page["next_cursor"].as_str() {
                Some(cur) => {
                    path = format!(
                        "/admin/v1/events?type=stripe.charge.refunded&limit=2{query}&cursor={cur}"
                    )
                }
                None => break,
            }
        }
        let mut ids: Vec<String> = seen.iter().map(|(_, id)| id.clone()).collect();
        // RFC 3339 with trailing zeros of the fraction left out: ".5Z" is
        // ".500Z", so compare the times, not the strings.
        let times: Vec<String> = seen.iter().map(|(at, _)| sortable(at)).collect();
        let mut sorted = times.clone();
        sorted.sort();
        if order == "newest" {
            sorted.reverse();
        }
        assert_eq!(times, sorted, "{order}: in receive order");
        ids.sort();
        let mut want = rare.clone();
        want.sort();
        assert_eq!(ids, want, "{order}: each rare event once");
    }
}

/// `at` (RFC 3339, UTC, `Z`) with its fraction padded to milliseconds, so
/// that strings compare as times.
fn sortable(at: &str) -> String {
    let body = at.trim_end_matches('Z');
    match body.split_once('.') {
        Some((secs, frac)) => format!("{secs}.{frac:0<3}Z"),
        None => format!("{body}.000Z"),
    }
}

/// A type filter that matches almost nothing never reads the whole index in
/// one call: a call reads at most 1,000 index entries per source, and a
/// page that stopped there holds what it found so far (maybe nothing) and
/// a `next_cursor` to go on from; following the cursors lists every match
/// once, in order, both ways.
#[tokio::test]
async fn a_filter_that_matches_almost_nothing_pages_in_bounded_reads() {
    let console = Console::start().await;
    let c = &console;
    let mut rare = Vec::new();
    for chunk in 0..25 {
        let calls = (0..50).map(|i| {
            let n = chunk * 50 + i;
            let object = json!({ "id": format!("ch_{n}") });
            async move {
                if n == 3 || n == 1_240 {
                    Some(
                        c.stripe_of("charge.refunded", &format!("evt_rare_{n}"), object)
                            .await,
                    )
                } else {
                    c.stripe(&format!("evt_many_{n}"), object).await;
                    None
                }
            }
        });
        rare.extend(futures::future::join_all(calls).await.into_iter().flatten());
    }
    for query in ["", "&order=newest"] {
        let base = format!("/admin/v1/events?type=stripe.charge.refunded&limit=10{query}");
        let (mut path, mut pages, mut seen) = (base.clone(), Vec::new(), Vec::new());
        while pages.len() < 10 {
            let r = c.call(Method::GET, &path, ADMIN, json!({})).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            let page = r.json();
            let items = page["items"].as_array().unwrap().clone();
            pages.push(items.len());
            seen.extend(items.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(cur) => path = format!("{base}&cursor={cur}"),
                None => break,
            }
        }
        assert!(
            pages.len() >= 2,
            "{query}: one call read the whole index: {pages:?}"
        );
        assert!(
            pages[0] <= 1,
            "{query}: the first call stopped early: {pages:?}"
        );
        let mut want = rare.clone();
        if !query.is_empty() {
            want.reverse();
        }
        assert_eq!(seen, want, "{query}: each match once, in order ({pages:?})");
    }
}

/// The Ordering page: `ledger` is ordered by subject; its subscriber fails
/// the first event of one key (a hostile Stripe object id) with a 503 and a
/// retry 30 s away, so the key's two later events wait behind it while
/// another key flows. A viewer sees the blocked key (as text) with no
/// button; the Subscriptions page counts it; an operator redelivers the
/// head, and the key's three events arrive in order.
#[tokio::test]
async fn the_ordering_page_shows_a_blocked_key_and_redelivers_its_head() {
    let c = Console::start_with(Options {
        max_attempts: 5,
        base_delay: "30s",
        max_delay: "120s",
        ledger_extra: "ordering = \"subject\"",
        ..Options::default()
    })
    .await;
    let key = HOSTILE[1];
    // `Retry-After` is honoured exactly (a jittered backoff could bring
    // the retry within the test and unblock the key).
    c.receiver.push(Reply::StatusWithHeaders(
        503,
        vec![("retry-after".into(), "120".into())],
    ));
    let head = c.stripe("evt_order_1", json!({"id": key, "n": 1})).await;
    c.receiver.wait_for(1, DELIVERY_WAIT).await;
    for n in 2..=3 {
        c.stripe(&format!("evt_order_{n}"), json!({"id": key, "n": n}))
            .await;
    }
    let free = c
        .stripe("evt_order_free", json!({"id": "ch_free", "n": 0}))
        .await;
    c.wait_status(&free, "delivered").await;
    // The API sees the key blocked with two behind it (bounded wait).
    let deadline = std::time::Instant::now() + DELIVERY_WAIT;
    loop {
        let r = c
            .call(
                Method::GET,
                "/admin/v1/subscriptions/ledger/ordering",
                ADMIN,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let items = r.json()["items"].clone();
        if items[0]["waiting"] == 2 {
            assert_eq!(items[0]["key"], key);
            assert_eq!(items[0]["head"]["event_id"], head.as_str());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not blocked: {items}");
        settle(Duration::from_millis(100)).await;
    }

    let b = Browser::start("ordering").await;
    // A viewer: the blocked key as text, and no button.
    c.sign_in(&b, VIEWER, "watcher · viewer").await;
    b.click("nav a[data-nav=ordering]").await;
    let row = "[data-test=ordering-subscription][data-subscription=ledger] [data-test=blocked-key]";
    b.wait_text(&format!("{row} [data-field=key]"), key).await;
    b.wait_text(&format!("{row} [data-field=waiting]"), "2")
        .await;
    b.wait_text(&format!("{row} [data-field=attempts]"), "1")
        .await;
    b.wait_text(&format!("{row} [data-field=last_status_code]"), "503")
        .await;
    b.wait_text(&format!("{row} [data-field=head]"), &head)
        .await;
    assert_eq!(b.count("[data-test=redeliver-head]").await, 0);
    let state = b
        .js(
            "return [typeof window.__pwned, document.querySelectorAll('#app img, #app script').length]",
            vec![],
        )
        .await;
    assert_eq!(
        state,
        json!(["undefined", 0]),
        "the key ran or became markup"
    );
    b.shot("viewer").await;
    // The Subscriptions page counts the held deliveries and blocked key.
    b.click("nav a[data-nav=subscriptions]").await;
    b.wait_text(
        "tr[data-subscription=ledger] [data-test=ordering-cell]",
        "stripe: 2 held · 1 blocked",
    )
    .await;
    b.shot("subscriptions").await;
    b.click("[data-test=signout]").await;
    b.wait_text("[data-test=signin]", "Sign in").await;

    // An operator (admin) opens the head event from there, then redelivers it.
    c.sign_in(&b, ADMIN, "ops · admin").await;
    b.goto(&c.url("#/ordering?subscription=ledger")).await;
    b.wait_text(&format!("{row} [data-field=waiting]"), "2")
        .await;
    b.shot("operator").await;
    b.click(&format!("{row} [data-field=head]")).await;
    b.wait_text("[data-test=delivery][data-subscription=ledger]", "pending")
        .await;
    b.wait_text("[data-attempt='1'] [data-field=status_code]", "503")
        .await;
    b.goto(&c.url("#/ordering")).await;
    b.click(&format!("{row} [data-test=redeliver-head]")).await;
    b.wait_text("[data-test=notice-info]", "Queued").await;
    // The head, then the two behind it, in order: 1 failed + 1 free + 3.
    let got = c.receiver.wait_for(5, DELIVERY_WAIT).await;
    let ns: Vec<Value> = got[2..]
        .iter()
        .map(|r| r.json()["data"]["data"]["object"]["n"].clone())
        .collect();
    assert_eq!(ns, [json!(1), json!(2), json!(3)]);
    b.click("[data-test=ordering-refresh]").await;
    b.wait_text(
        "[data-test=ordering-subscription][data-subscription=ledger] [data-test=ordering-table]",
        "nothing here",
    )
    .await;
    b.shot("unblocked").await;
    b.close().await;
}
