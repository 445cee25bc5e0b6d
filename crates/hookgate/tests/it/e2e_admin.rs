//! The operators' API against a running gateway: roles, tenants, pause,
//! dead-letter replay, audit, and the OpenAPI document's routes.

use crate::common::*;
use futures::future::join_all;
use hookgate_testkit::GatewayProcess;
use hookgate_testkit::http::{Client, Response};
use hookgate_testkit::receiver::{Receiver, Reply};
use http::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// token, role, tenants
const TOKENS: &[(&str, &str, &str, &str)] = &[
    ("viewer", "viewer-token-1", "viewer", ""),
    ("operator", "operator-token-1", "operator", ""),
    ("admin", "admin-token-1", "admin", ""),
    (
        "tenant-a",
        "tenant-a-token",
        "operator",
        r#"tenants = ["a"]"#,
    ),
    ("tenant-b", "tenant-b-token", "admin", r#"tenants = ["b"]"#),
    (
        "tenant-a-viewer",
        "tenant-a-viewer-token",
        "viewer",
        r#"tenants = ["a"]"#,
    ),
];

struct Admin {
    store: TestStore,
    receiver: Receiver,
    other: Receiver,
    gateway: GatewayProcess,
    ingest: String,
    base: String,
    client: Client,
}

impl Admin {
    async fn start() -> Self {
        Self::start_on(StoreKind::Sqlite).await
    }

    async fn start_on(kind: StoreKind) -> Self {
        let store = TestStore::start(kind).await;
        let receiver = Receiver::start().await;
        let other = Receiver::start().await;
        let mut extra = String::new();
        for (name, token, role, tenants) in TOKENS {
            extra.push_str(&admin_token_toml(name, role, token));
            extra.push_str(&format!("{tenants}\n"));
        }
        // Alpha orders its deliveries by a header (the acme events carry
        // no subject): the admin API shows it.
        for (id, tenant, ordering) in [
            ("alpha", "a", "ordering = { header = \"Webhook-Id\" }\n"),
            ("beta", "b", ""),
        ] {
            extra.push_str(&format!(
                "\n[[subscriptions]]\nid = \"{id}\"\ntenant = \"{tenant}\"\nurl = \"{}\"\nevents = [\"acme.{id}.*\"]\nsecret = {{ value = \"{LEDGER_SECRET}\" }}\ntimeout = \"2s\"\n{ordering}",
                other.url(&format!("/{id}"))
            ));
        }
        let o = Options {
            max_attempts: 1,
            ..Options::default()
        };
        let (config, ingest, admin) = local_config(&store, &receiver.url("/events"), &o);
        let config = config.replace("[admin]\n", "[admin]\nreplay_rate = 5000\n") + &extra;
        let mut gateway = GatewayProcess::start(bin(), &config, &[]).await;
        gateway.wait_healthy(&admin, Duration::from_secs(15)).await;
        Admin {
            store,
            receiver,
            other,
            gateway,
            ingest,
            base: format!("http://{admin}"),
            client: Client::new(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.client
            .request(method, &format!("{}{path}", self.base), &headers, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn stripe(&self, id: &str) {
        self.stripe_of(id, "charge.succeeded").await
    }

    async fn stripe_of(&self, id: &str, ty: &str) {
        let body = stripe_event(id, ty);
        let sig = hookgate_testkit::sign::stripe_signature(
            STRIPE_SECRET,
            hookgate_testkit::sign::now_unix(),
            &body,
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
    }

    async fn acme(&self, id: &str, ty: &str) {
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
    }

    async fn dead_count(&self, sub: &str) -> usize {
        let mut n = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => {
                    format!("/admin/v1/subscriptions/{sub}/dead-letters?limit=500&cursor={c}")
                }
                None => format!("/admin/v1/subscriptions/{sub}/dead-letters?limit=500"),
            };
            let page = self.get(&path, "admin-token-1").await.json();
            n += page["items"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return n,
            }
        }
    }

    async fn audit(&self) -> Vec<Value> {
        let r = self
            .get("/admin/v1/audit?limit=1000", "admin-token-1")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["items"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn role_by_route_matrix() {
    let a = Admin::start().await;
    a.receiver.set_default(Reply::Status(400));
    a.stripe("evt_matrix_1").await;
    a.receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = event_id("stripe", "evt_matrix_1");
    // (method, path, body, least role that may call it)
    let routes: Vec<(Method, String, Option<Value>, usize)> = vec![
        (Method::GET, "/admin/v1/events".into(), None, 0),
        (Method::GET, format!("/admin/v1/events/{id}"), None, 0),
        (
            Method::POST,
            format!("/admin/v1/events/{id}/redeliver"),
            Some(json!({"subscription": "ledger"})),
            1,
        ),
        (Method::GET, "/admin/v1/subscriptions".into(), None, 0),
        (
            Method::POST,
            "/admin/v1/subscriptions/ledger/pause".into(),
            Some(json!({})),
            1,
        ),
        (
            Method::POST,
            "/admin/v1/subscriptions/ledger/resume".into(),
            Some(json!({})),
            1,
        ),
        (
            Method::GET,
            "/admin/v1/subscriptions/ledger/dead-letters".into(),
            None,
            0,
        ),
        (
            Method::POST,
            "/admin/v1/subscriptions/ledger/dead-letters/replay".into(),
            Some(json!({"event_ids": [id], "dry_run": true})),
            1,
        ),
        (
            Method::GET,
            "/admin/v1/subscriptions/ledger/ordering".into(),
            None,
            0,
        ),
        (Method::GET, "/admin/v1/audit".into(), None, 2),
    ];
    let roles = ["viewer-token-1", "operator-token-1", "admin-token-1"];
    for (method, path, body, least) in &routes {
        for token in [None, Some("wrong-token")] {
            let r = a.call(method.clone(), path, token, body.clone()).await;
            assert_eq!(r.status, 401, "{method} {path} with {token:?}");
            assert_eq!(r.json()["error"], "unauthorized");
        }
        for (rank, token) in roles.iter().enumerate() {
            let r = a
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            if rank >= *least {
                assert!(
                    (200..300).contains(&r.status),
                    "{method} {path} as {token}: {} {}",
                    r.status,
                    r.text()
                );
            } else {
                assert_eq!(r.status, 403, "{method} {path} as {token}: {}", r.text());
            }
        }
    }
}

#[tokio::test]
async fn a_tenant_token_sees_and_touches_only_its_tenants() {
    let a = Admin::start().await;
    a.other.set_default(Reply::Status(400));
    a.acme("msg_alpha_1", "alpha.created").await;
    a.acme("msg_beta_1", "beta.created").await;
    a.other.wait_for(2, Duration::from_secs(10)).await;
    let alpha_evt = event_id("acme", "msg_alpha_1");
    let beta_evt = event_id("acme", "msg_beta_1");
    // Received is not yet recorded: wait for both dead letters, so "beta's
    // dead letter untouched" below compares with a settled state.
    for sub in ["alpha", "beta"] {
        hookgate_testkit::wait::assert_eventually(
            &format!("{sub}'s dead letter recorded"),
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async { a.dead_count(sub).await == 1 },
        )
        .await;
    }

    let subs = a
        .get("/admin/v1/subscriptions", "tenant-a-token")
        .await
        .json();
    let ids: Vec<&str> = subs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["alpha"]);
    let events = a.get("/admin/v1/events", "tenant-a-token").await.json();
    let ids: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![alpha_evt.as_str()]);

    // Direct access to tenant b's things: 403, outside the token's tenants
    // (`another_tenants_things_are_answered_as_if_they_did_not_exist`
    // compares with things that exist nowhere), and nothing changes.
    assert_eq!(
        a.get(&format!("/admin/v1/events/{beta_evt}"), "tenant-a-token")
            .await
            .status,
        403
    );
    assert_eq!(
        a.get(
            "/admin/v1/subscriptions/beta/dead-letters",
            "tenant-a-token"
        )
        .await
        .status,
        403
    );
    assert_eq!(
        a.post(
            "/admin/v1/subscriptions/beta/pause",
            "tenant-a-token",
            json!({})
        )
        .await
        .status,
        403
    );
    let r = a
        .post(
            "/admin/v1/subscriptions/beta/dead-letters/replay",
            "tenant-a-token",
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = a
        .post(
            &format!("/admin/v1/events/{beta_evt}/redeliver"),
            "tenant-a-token",
            json!({"subscription": "beta"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = a
        .post(
            &format!("/admin/v1/events/{alpha_evt}/redeliver"),
            "tenant-a-token",
            json!({"subscription": "beta"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        a.dead_count("beta").await,
        1,
        "beta's dead letter untouched"
    );
    let subs = a
        .get("/admin/v1/subscriptions", "admin-token-1")
        .await
        .json();
    let beta = subs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "beta")
        .unwrap()
        .clone();
    assert_eq!(beta["paused"], false);

    // Its own: allowed. The event shows only its tenant's deliveries.
    let ev = a
        .get(&format!("/admin/v1/events/{alpha_evt}"), "tenant-a-token")
        .await
        .json();
    let subs: Vec<&str> = ev["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["subscription"].as_str().unwrap())
        .collect();
    assert_eq!(subs, vec!["alpha"]);
    assert_eq!(ev["deliveries"][0]["status"], "dead");
    assert_eq!(ev["deliveries"][0]["attempts"][0]["status_code"], 400);
    let r = a
        .post(
            "/admin/v1/subscriptions/alpha/dead-letters/replay",
            "tenant-a-token",
            json!({"filter": {}, "dry_run": true}),
        )
        .await;
    assert_eq!(r.json(), json!({"matched": 1, "replayed": 0}));
    // An admin token scoped to tenant b still cannot reach tenant a.
    assert_eq!(
        a.get(
            "/admin/v1/subscriptions/alpha/dead-letters",
            "tenant-b-token"
        )
        .await
        .status,
        403
    );
    // The audit log of a tenant-scoped admin holds only its tenants'
    // records (before, it read every tenant's).
    for sub in ["alpha", "beta", "ledger"] {
        let r = a
            .post(
                &format!("/admin/v1/subscriptions/{sub}/pause"),
                "admin-token-1",
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let all = a.audit().await;
    assert!(all.len() >= 3, "{all:?}");
    let scoped = a.get("/admin/v1/audit?limit=1000", "tenant-b-token").await;
    assert_eq!(scoped.status, 200, "{}", scoped.text());
    let targets: Vec<String> = scoped.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap().to_owned())
        .collect();
    assert!(!targets.is_empty());
    assert!(
        targets.iter().all(|t| t.rsplit('/').next() == Some("beta")),
        "{targets:?}"
    );
}

#[tokio::test]
async fn pause_accumulates_without_burning_attempts_and_resume_drains() {
    let a = Admin::start().await;
    let r = a
        .post(
            "/admin/v1/subscriptions/ledger/pause",
            "operator-token-1",
            json!({}),
        )
        .await;
    assert_eq!(r.json(), json!({"id": "ledger", "paused": true}));
    a.stripe("evt_paused_1").await;
    settle(Duration::from_millis(800)).await;
    assert_eq!(a.receiver.count(), 0, "nothing is sent while paused");
    let subs = a
        .get("/admin/v1/subscriptions", "viewer-token-1")
        .await
        .json();
    let ledger = subs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "ledger")
        .unwrap()
        .clone();
    assert_eq!(ledger["paused"], true);
    assert_eq!(ledger["queue_depth"], 1);

    a.post(
        "/admin/v1/subscriptions/ledger/resume",
        "operator-token-1",
        json!({}),
    )
    .await;
    let got = a.receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].header("hookgate-attempt"),
        Some("1"),
        "no attempt was burned while paused"
    );
    let audit = a.audit().await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["subscription.pause", "subscription.resume"]);
    assert_eq!(audit[0]["actor"], "operator");
    assert_eq!(audit[0]["role"], "operator");
    assert_eq!(audit[0]["target"], "ledger");
    assert_eq!(audit[0]["count"], 1);
}

#[tokio::test]
async fn a_thousand_dead_letters_replayed_by_filter_arrive_exactly_once() {
    let a = Admin::start().await;
    a.receiver.set_default(Reply::Status(400));
    let ids: Vec<String> = (0..1000).map(|i| format!("evt_bulk_{i:04}")).collect();
    for chunk in ids.chunks(50) {
        join_all(chunk.iter().map(|id| a.stripe(id))).await;
    }
    a.receiver.wait_for(1000, Duration::from_secs(60)).await;
    hookgate_testkit::wait::assert_eventually(
        "1000 dead letters",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async { a.dead_count("ledger").await == 1000 },
    )
    .await;

    a.receiver.set_default(Reply::Status(200));
    let filter = json!({"filter": {"type": "stripe.*", "reason": "status 400"}});
    let mut dry = filter.clone();
    dry["dry_run"] = json!(true);
    let r = a
        .post(
            "/admin/v1/subscriptions/ledger/dead-letters/replay",
            "operator-token-1",
            dry,
        )
        .await;
    assert_eq!(r.json(), json!({"matched": 1000, "replayed": 0}));
    settle(Duration::from_millis(500)).await;
    assert_eq!(a.receiver.count(), 1000, "a dry run sends nothing");
    assert_eq!(
        a.dead_count("ledger").await,
        1000,
        "a dry run changes nothing"
    );

    let r = a
        .post(
            "/admin/v1/subscriptions/ledger/dead-letters/replay",
            "operator-token-1",
            filter.clone(),
        )
        .await;
    assert_eq!(r.json(), json!({"matched": 1000, "replayed": 1000}));
    let all = a.receiver.wait_for(2000, Duration::from_secs(60)).await;
    settle(Duration::from_millis(500)).await;
    assert_eq!(a.receiver.count(), 2000, "no extra deliveries");
    let mut replayed: Vec<String> = all[1000..]
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    replayed.sort();
    replayed.dedup();
    let mut expected: Vec<String> = ids.iter().map(|id| event_id("stripe", id)).collect();
    expected.sort();
    assert_eq!(
        replayed, expected,
        "each dead letter delivered exactly once, with its own id"
    );
    assert!(
        all[1000..]
            .iter()
            .all(|r| r.header("hookgate-attempt") == Some("1")),
        "budget reset"
    );
    assert_eq!(a.dead_count("ledger").await, 0);

    // Again: nothing left to replay, nothing sent.
    let r = a
        .post(
            "/admin/v1/subscriptions/ledger/dead-letters/replay",
            "operator-token-1",
            filter,
        )
        .await;
    assert_eq!(r.json(), json!({"matched": 0, "replayed": 0}));
    let by_id = json!({"event_ids": [event_id("stripe", "evt_bulk_0001")]});
    let r = a
        .post(
            "/admin/v1/subscriptions/ledger/dead-letters/replay",
            "operator-token-1",
            by_id,
        )
        .await;
    assert_eq!(r.json(), json!({"matched": 0, "replayed": 0}));
    settle(Duration::from_millis(500)).await;
    assert_eq!(a.receiver.count(), 2000);

    let audit = a.audit().await;
    let counts: Vec<(String, u64)> = audit
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("dead_letters.replay".to_owned(), 1000),
            ("dead_letters.replay".to_owned(), 0),
            ("dead_letters.replay".to_owned(), 0),
        ],
        "every replay is audited with its count; the dry run is not a mutation"
    );
    assert_eq!(audit[0]["filter"]["filter"]["type"], "stripe.*");
    assert!(
        audit[0]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

/// A dead letter filter that matches almost nothing never reads the whole
/// queue in one call: a listing reads at most 1,000 dead letters per route,
/// and a page that stopped there holds what it found so far (maybe
/// nothing) and a `next_cursor` to go on from; following the cursors lists
/// every match once, in order. Replay by filter reads on and finds them all.
#[tokio::test]
async fn a_dead_letter_filter_that_matches_almost_nothing_pages_in_bounded_reads() {
    let a = Admin::start().await;
    a.receiver.set_default(Reply::Status(400));
    let ids: Vec<String> = (0..1_250).map(|i| format!("evt_dlq_{i:04}")).collect();
    let rare = |id: &&String| id.ends_with("0003") || id.ends_with("1240");
    for chunk in ids.chunks(50) {
        join_all(chunk.iter().map(|id| {
            let ty = if rare(&id) {
                "charge.refunded"
            } else {
                "charge.succeeded"
            };
            a.stripe_of(id, ty)
        }))
        .await;
    }
    hookgate_testkit::wait::assert_eventually(
        "1,250 dead letters",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async { a.dead_count("ledger").await == 1_250 },
    )
    .await;
    let base = "/admin/v1/subscriptions/ledger/dead-letters?type=stripe.charge.refunded&limit=10";
    let (mut path, mut pages, mut seen) = (base.to_owned(), Vec::new(), Vec::new());
    while pages.len() < 10 {
        let r = a.get(&path, "admin-token-1").await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let page = r.json();
        let items = page["items"].as_array().unwrap().clone();
        pages.push(items.len());
        seen.extend(
            items
                .iter()
                .map(|d| d["event_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cur) => path = format!("{base}&cursor={cur}"),
            None => break,
        }
    }
    assert!(
        pages.len() > 1 && pages.len() < 10,
        "pages of {pages:?}: more than one call, and an end"
    );
    // Dead in the order they were sent: 0003 long before 1240.
    let want: Vec<String> = ids
        .iter()
        .filter(rare)
        .map(|id| event_id("stripe", id))
        .collect();
    assert_eq!(seen, want, "each match once, in order (pages of {pages:?})");
    let r = a
        .post(
            "/admin/v1/subscriptions/ledger/dead-letters/replay",
            "operator-token-1",
            json!({"filter": {"type": "stripe.charge.refunded"}, "dry_run": true}),
        )
        .await;
    assert_eq!(r.json(), json!({"matched": 2, "replayed": 0}));
}

#[tokio::test]
async fn redeliver_sends_a_delivered_event_again_and_is_audited() {
    let a = Admin::start().await;
    a.stripe("evt_redeliver_1").await;
    a.receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = event_id("stripe", "evt_redeliver_1");
    let r = a
        .post(
            &format!("/admin/v1/events/{id}/redeliver"),
            "operator-token-1",
            json!({"subscription": "ledger"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let got = a.receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        got[1].header("webhook-id"),
        Some(id.as_str()),
        "same id on a redelivery"
    );
    let ev = a
        .get(&format!("/admin/v1/events/{id}"), "viewer-token-1")
        .await
        .json();
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["source"], "stripe");
    assert_eq!(ev["type"], "stripe.charge.succeeded");
    assert_eq!(ev["subject"], "pi_evt_redeliver_1");
    assert_eq!(ev["data"]["id"], "evt_redeliver_1");
    // Unknown things are 404, bad bodies 400.
    let missing = event_id("stripe", "evt_never");
    assert_eq!(
        a.get(&format!("/admin/v1/events/{missing}"), "viewer-token-1")
            .await
            .status,
        404
    );
    assert_eq!(
        a.get("/admin/v1/events/not-an-id", "viewer-token-1")
            .await
            .status,
        404
    );
    let r = a
        .post(
            &format!("/admin/v1/events/{id}/redeliver"),
            "operator-token-1",
            json!({"subscription": "nope"}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = a
        .post(
            &format!("/admin/v1/events/{id}/redeliver"),
            "operator-token-1",
            json!({"sub": "ledger"}),
        )
        .await;
    assert_eq!(r.status, 400);
    // A subscription that neither wants the type nor has a delivery of the
    // event is refused: it would get an event it never asked for.
    let r = a
        .post(
            &format!("/admin/v1/events/{id}/redeliver"),
            "operator-token-1",
            json!({"subscription": "alpha"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "not_subscribed");
    settle(Duration::from_millis(300)).await;
    assert_eq!(a.receiver.count(), 2, "nothing sent for the refused call");
    let audit = a.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "event.redeliver");
    assert_eq!(audit[0]["target"], format!("{id}/ledger"));
}

/// Checks `value` against an OpenAPI 3.0 `schema` of `doc`: `$ref`s,
/// object types with their required properties, arrays, `nullable`,
/// scalar types and enums. Enough to catch a field the document promises
/// and the server does not send, or one of another type.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return conforms(doc, &doc["components"]["schemas"][name], value, at);
    }
    if value.is_null() {
        assert!(
            schema["nullable"] == true || schema.get("type").is_none(),
            "{at}: null where the document says {schema}"
        );
        return;
    }
    if let Some(options) = schema["enum"].as_array() {
        assert!(options.contains(value), "{at}: {value} not in {options:?}");
    }
    match schema["type"].as_str() {
        Some("object") => {
            let obj = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: not an object: {value}"));
            for key in schema["required"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap();
                assert!(obj.contains_key(key), "{at}: no `{key}` in {value}");
            }
            for (key, sub) in schema["properties"].as_object().into_iter().flatten() {
                if let Some(v) = obj.get(key) {
                    conforms(doc, sub, v, &format!("{at}.{key}"));
                }
            }
        }
        Some("array") => {
            for (i, item) in value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: not an array"))
                .iter()
                .enumerate()
            {
                conforms(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Some("string") => assert!(value.is_string(), "{at}: not a string: {value}"),
        Some("integer") => assert!(
            value.is_u64() || value.is_i64(),
            "{at}: not an integer: {value}"
        ),
        Some("boolean") => assert!(value.is_boolean(), "{at}: not a boolean: {value}"),
        _ => {}
    }
}

/// A tenant-scoped token's answer about another tenant's subscription or
/// event is the answer about one that does not exist: same status, same
/// body once the id it asked about is set aside, on every route that takes
/// a subscription id or an event id. A role that does not allow the call
/// is a 403 whatever the id names.
async fn no_tenant_oracle(kind: StoreKind) {
    let a = Admin::start_on(kind).await;
    a.other.set_default(Reply::Status(400));
    a.acme("msg_alpha_oracle", "alpha.created").await;
    a.acme("msg_beta_oracle", "beta.created").await;
    a.other.wait_for(2, Duration::from_secs(10)).await;
    for sub in ["alpha", "beta"] {
        hookgate_testkit::wait::assert_eventually(
            &format!("{sub}'s dead letter recorded"),
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async { a.dead_count(sub).await == 1 },
        )
        .await;
    }
    let alpha_evt = event_id("acme", "msg_alpha_oracle");
    // Tenant b's subscription and event, and a subscription and an event
    // (well-formed ids) that exist nowhere.
    let (other_sub, other_evt) = ("beta", event_id("acme", "msg_beta_oracle"));
    let (missing_sub, missing_evt) = ("gamma", event_id("acme", "msg_never_sent"));

    let redeliver_alpha_evt = format!("/admin/v1/events/{alpha_evt}/redeliver");
    // (method, path, body) with {sub} and {evt} for the id under test.
    let routes: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/admin/v1/subscriptions/{sub}", None),
        (
            Method::POST,
            "/admin/v1/subscriptions/{sub}/pause",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/admin/v1/subscriptions/{sub}/resume",
            Some(json!({})),
        ),
        (
            Method::GET,
            "/admin/v1/subscriptions/{sub}/dead-letters",
            None,
        ),
        (
            Method::GET,
            "/admin/v1/subscriptions/{sub}/dead-letters?type=acme.*&limit=5",
            None,
        ),
        (Method::GET, "/admin/v1/subscriptions/{sub}/ordering", None),
        (
            Method::GET,
            "/admin/v1/subscriptions/{sub}/ordering?source=acme&limit=5",
            None,
        ),
        (
            Method::POST,
            "/admin/v1/subscriptions/{sub}/dead-letters/replay",
            Some(json!({"filter": {}})),
        ),
        (
            Method::POST,
            "/admin/v1/subscriptions/{sub}/dead-letters/replay",
            Some(json!({"filter": {}, "dry_run": true})),
        ),
        (
            Method::POST,
            "/admin/v1/subscriptions/{sub}/dead-letters/replay",
            Some(json!({"event_ids": ["{evt}"]})),
        ),
        (Method::GET, "/admin/v1/events/{evt}", None),
        (
            Method::POST,
            "/admin/v1/events/{evt}/redeliver",
            Some(json!({"subscription": "alpha"})),
        ),
        (
            Method::POST,
            redeliver_alpha_evt.as_str(),
            Some(json!({"subscription": "{sub}"})),
        ),
        (
            Method::POST,
            "/admin/v1/events/{evt}/redeliver",
            Some(json!({"subscription": "{sub}"})),
        ),
        // A crafted page cursor naming the subscription.
        (Method::GET, "/admin/v1/subscriptions?cursor=0.{sub}", None),
    ];
    let fill = |text: &str, sub: &str, evt: &str| text.replace("{sub}", sub).replace("{evt}", evt);
    // The answer with the id under test set aside (the message names what
    // was asked for, whatever it is).
    let answer = |r: &Response, sub: &str, evt: &str| {
        (
            r.status,
            r.text().replace(evt, "{evt}").replace(sub, "{sub}"),
        )
    };
    for (method, path, body) in &routes {
        let ask = |sub: &'static str, evt: String, token: &'static str| {
            let path = fill(path, sub, &evt);
            let body = body
                .as_ref()
                .map(|b| serde_json::from_str(&fill(&b.to_string(), sub, &evt)).unwrap());
            let method = method.clone();
            let a = &a;
            async move { a.call(method, &path, Some(token), body).await }
        };
        let other = ask(other_sub, other_evt.clone(), "tenant-a-token").await;
        let missing = ask(missing_sub, missing_evt.clone(), "tenant-a-token").await;
        let what = format!("{method} {path} {body:?}");
        assert_eq!(
            answer(&other, other_sub, &other_evt),
            answer(&missing, missing_sub, &missing_evt),
            "{what}: another tenant's answer differs from a missing one's"
        );
        if path.starts_with("/admin/v1/subscriptions?") {
            assert_eq!(other.status, 200, "{what}: {}", other.text());
            let page = other.json();
            let ids: Vec<&str> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, vec!["alpha"], "{what}");
        } else if other.json()["message"] == "no such route" {
            // Not a route (GET of one subscription): 404 for any id.
            assert_eq!(other.status, 404, "{what}: {}", other.text());
        } else {
            // Outside the token's tenants, as the spec of roles and
            // tenants says: 403, for what exists elsewhere and what
            // exists nowhere alike.
            assert_eq!(other.status, 403, "{what}: {}", other.text());
            assert_eq!(other.json()["error"], "forbidden", "{what}");
        }
        // A viewer of tenant a that may not make the call: 403 whatever the
        // id names (its own, another tenant's, nothing).
        if *method == Method::POST {
            for (sub, evt) in [
                (other_sub, other_evt.clone()),
                (missing_sub, missing_evt.clone()),
                ("alpha", alpha_evt.clone()),
            ] {
                let r = ask(sub, evt, "tenant-a-viewer-token").await;
                assert_eq!(r.status, 403, "{what} as a viewer: {}", r.text());
                assert_eq!(r.json()["error"], "forbidden", "{what}");
            }
        }
    }
    // Nothing of tenant b changed: not paused, its dead letter not
    // replayed, no audit record about it.
    assert_eq!(
        a.dead_count("beta").await,
        1,
        "beta's dead letter untouched"
    );
    let subs = a
        .get("/admin/v1/subscriptions", "admin-token-1")
        .await
        .json();
    let beta = subs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "beta")
        .unwrap()
        .clone();
    assert_eq!(beta["paused"], false);
    let audit = a.audit().await;
    assert!(
        audit
            .iter()
            .all(|r| r["actor"] != "tenant-a" && r["actor"] != "tenant-a-viewer"),
        "{audit:?}"
    );
    let _ = &a.store;
    let _ = &a.gateway;
}

#[tokio::test]
async fn another_tenants_things_are_answered_as_if_they_did_not_exist_sqlite() {
    no_tenant_oracle(StoreKind::Sqlite).await;
}

#[tokio::test]
async fn another_tenants_things_are_answered_as_if_they_did_not_exist_redis() {
    no_tenant_oracle(StoreKind::Redis).await;
}

#[tokio::test]
async fn every_route_in_the_openapi_document_exists_and_answers() {
    let a = Admin::start().await;
    a.stripe("evt_openapi_1").await;
    a.receiver.wait_for(1, Duration::from_secs(10)).await;
    let id = event_id("stripe", "evt_openapi_1");
    let doc = a
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 13);
    for (path, ops) in paths {
        for (method, _) in ops.as_object().unwrap() {
            let concrete = path.replace("{event_id}", &id).replace("{id}", "ledger");
            let body = match concrete.as_str() {
                p if p.ends_with("/redeliver") => Some(json!({"subscription": "ledger"})),
                p if p.ends_with("/replay") => Some(json!({"event_ids": [], "dry_run": true})),
                _ => Some(json!({})),
            };
            let op = &ops[method.as_str()];
            let method: Method = method.to_uppercase().parse().unwrap();
            let r = a
                .call(method.clone(), &concrete, Some("admin-token-1"), body)
                .await;
            assert!(
                (200..300).contains(&r.status),
                "{method} {concrete}: {} {}",
                r.status,
                r.text()
            );
            // The answer has the shape the document declares for it.
            let declared =
                &op["responses"][r.status.to_string()]["content"]["application/json"]["schema"];
            if !declared.is_null() {
                conforms(&doc, declared, &r.json(), &format!("{method} {concrete}"));
            }
        }
    }
    let _ = &a.store;
    let _ = &a.gateway;
}

/// Every list pages with `limit` and `cursor` (docs/admin-api.md), subscriptions
/// included, and a cursor or limit the API did not hand out is a 400 with
/// the usual JSON error, never a store error.
#[tokio::test]
async fn lists_page_and_refuse_bad_cursors_and_limits() {
    let a = Admin::start().await;
    let admin = "admin-token-1";

    // Subscriptions, one per page, in config order; a tenant token pages
    // over its own only.
    for (token, want) in [
        (admin, vec!["ledger", "alpha", "beta"]),
        ("tenant-a-token", vec!["alpha"]),
    ] {
        let all = a.get("/admin/v1/subscriptions", token).await.json();
        assert_eq!(all["next_cursor"], Value::Null);
        let ids: Vec<&str> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, want);
        let mut paged = Vec::new();
        let mut path = "/admin/v1/subscriptions?limit=1".to_owned();
        loop {
            let page = a.get(&path, token).await.json();
            assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
            paged.push(page["items"][0].clone());
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/admin/v1/subscriptions?limit=1&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(Value::Array(paged), all["items"], "{token}");
    }
    let two = a.get("/admin/v1/subscriptions?limit=2", admin).await.json();
    assert_eq!(two["items"].as_array().unwrap().len(), 2);
    assert!(two["next_cursor"].is_string());

    // Audit: a real cursor pages; the last possible stream id is the end.
    for action in ["pause", "resume"] {
        let r = a
            .post(
                &format!("/admin/v1/subscriptions/ledger/{action}"),
                admin,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let first = a.get("/admin/v1/audit?limit=1", admin).await.json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = a
        .get(&format!("/admin/v1/audit?limit=1&cursor={cursor}"), admin)
        .await
        .json();
    assert_eq!(second["items"][0]["action"], "subscription.resume");
    let end = a
        .get(
            "/admin/v1/audit?cursor=18446744073709551615-18446744073709551615",
            admin,
        )
        .await;
    assert_eq!(end.status, 200, "{}", end.text());
    assert_eq!(end.json(), json!({"items": [], "next_cursor": null}));

    let lists = [
        "/admin/v1/audit",
        "/admin/v1/events",
        "/admin/v1/subscriptions",
        "/admin/v1/subscriptions/ledger/dead-letters",
    ];
    for list in lists {
        for query in [
            "cursor=-",
            "cursor=1-2-3",
            "cursor=18446744073709551616",
            "cursor=1-18446744073709551616",
            "cursor=%2B1",
            "cursor=x",
            "limit=0",
            "limit=1001",
            "limit=x",
        ] {
            let r = a.get(&format!("{list}?{query}"), admin).await;
            assert_eq!(r.status, 400, "{list}?{query}: {}", r.text());
            assert_eq!(r.json()["error"], "invalid_request", "{list}?{query}");
        }
    }
}

/// `order=newest` lists events newest first across sources: paged with
/// its cursors, the exact reverse of the default oldest-first listing.
#[tokio::test]
async fn events_list_newest_first_as_the_exact_reverse() {
    let a = Admin::start().await;
    let admin = "admin-token-1";
    for i in 0..4 {
        a.stripe(&format!("evt_order_{i}")).await;
        a.acme(&format!("msg_order_{i}"), "invoice.paid").await;
    }
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let oldest = ids(&a.get("/admin/v1/events?limit=1000", admin).await.json());
    assert_eq!(oldest.len(), 8);
    let mut newest = Vec::new();
    let mut path = "/admin/v1/events?order=newest&limit=3".to_owned();
    loop {
        let r = a.get(&path, admin).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let page = r.json();
        newest.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/admin/v1/events?order=newest&limit=3&cursor={c}"),
            None => break,
        }
    }
    let reversed: Vec<String> = oldest.iter().rev().cloned().collect();
    assert_eq!(newest, reversed);
    let r = a.get("/admin/v1/events?order=sideways", admin).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_request");
}

/// `since`/`until` with an unencoded `+` offset (form-decoded to a space)
/// are read as the offset they are.
#[tokio::test]
async fn time_filters_take_an_unencoded_plus_offset() {
    let a = Admin::start().await;
    a.stripe("evt_plus_1").await;
    let admin = "admin-token-1";
    for (query, count) in [
        ("since=2020-01-01T00:00:00+00:00", 1),
        (
            "since=2020-01-01T02:00:00+02:00&until=2999-01-01T00:00:00+00:00",
            1,
        ),
        ("until=2020-01-01T00:00:00+00:00", 0),
        ("since=2999-01-01T00:00:00%2B00:00", 0),
    ] {
        let r = a.get(&format!("/admin/v1/events?{query}"), admin).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert_eq!(
            r.json()["items"].as_array().unwrap().len(),
            count,
            "{query}"
        );
        let r = a
            .get(
                &format!("/admin/v1/subscriptions/ledger/dead-letters?{query}"),
                admin,
            )
            .await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
    }
}

#[tokio::test]
async fn bad_bodies_are_refused_and_change_nothing() {
    let a = Admin::start().await;
    let replay = format!(
        "{}/admin/v1/subscriptions/ledger/dead-letters/replay",
        a.base
    );
    let auth = "Bearer operator-token-1";
    let headers = [
        ("content-type", "application/json"),
        ("authorization", auth),
    ];
    // Larger than the 1 MiB the admin API reads: 413, not 400.
    let big = format!(r#"{{"event_ids":["{}"]}}"#, "x".repeat(2 << 20));
    let r = a
        .client
        .request(Method::POST, &replay, &headers, big)
        .await
        .expect("answered");
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"], "payload_too_large");
    // The rest of the body was never read: the connection is not reused.
    assert_eq!(r.header("connection"), Some("close"));
    for body in ["{", "[]", r#"{"event_ids":"x"}"#, ""] {
        let r = a
            .client
            .request(Method::POST, &replay, &headers, body.to_owned())
            .await
            .expect("answered");
        assert_eq!(r.status, 400, "{body:?}: {}", r.text());
        assert_eq!(r.json()["error"], "invalid_request", "{body:?}");
    }
    assert!(a.audit().await.is_empty(), "a refused call is not audited");
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    // Which of two a proxy lets through is an accident: neither counts.
    let a = Admin::start().await;
    let url = format!("{}/admin/v1/audit", a.base);
    let r = a
        .client
        .request(
            Method::GET,
            &url,
            &[
                ("authorization", "Bearer admin-token-1"),
                ("authorization", "Bearer viewer-token-1"),
            ],
            String::new(),
        )
        .await
        .expect("answered");
    assert_eq!(r.status, 401, "{}", r.text());
    let r = a.get("/admin/v1/audit", "admin-token-1").await;
    assert_eq!(r.status, 200, "one header is fine");
}

#[tokio::test]
async fn a_wrong_method_is_405_naming_the_allowed_ones() {
    let a = Admin::start().await;
    for (method, path, allow) in [
        (Method::DELETE, "/admin/v1/audit", "GET"),
        (Method::GET, "/admin/v1/subscriptions/ledger/pause", "POST"),
        (Method::PUT, "/admin/v1/events", "GET"),
        (
            Method::POST,
            "/admin/v1/subscriptions/ledger/ordering",
            "GET",
        ),
        (Method::POST, "/healthz", "GET, HEAD"),
    ] {
        let r = a
            .call(method.clone(), path, Some("admin-token-1"), None)
            .await;
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
        assert_eq!(r.json()["error"], "method_not_allowed");
    }
}

#[tokio::test]
async fn an_empty_filter_value_is_no_filter_in_the_list_and_in_replay() {
    let a = Admin::start().await;
    a.receiver.set_default(Reply::Status(400));
    a.stripe("evt_empty_filter_1").await;
    a.receiver.wait_for(1, Duration::from_secs(10)).await;
    hookgate_testkit::wait::assert_eventually(
        "dead letter recorded",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async { a.dead_count("ledger").await == 1 },
    )
    .await;
    let listed = a
        .get(
            "/admin/v1/subscriptions/ledger/dead-letters?type=&reason=&source=",
            "viewer-token-1",
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 1);
    for filter in [
        json!({}),
        json!({"type": "", "reason": "", "source": "", "since": "", "until": ""}),
    ] {
        let r = a
            .post(
                "/admin/v1/subscriptions/ledger/dead-letters/replay",
                "operator-token-1",
                json!({"filter": filter, "dry_run": true}),
            )
            .await;
        assert_eq!(r.status, 200, "{filter}: {}", r.text());
        assert_eq!(r.json(), json!({"matched": 1, "replayed": 0}), "{filter}");
    }
}

/// A subscription's blocked ordering keys: read by any role, under the
/// tenant rules of the other subscription routes, `limit` 1..=500, a
/// `source` that exists; and the subscriptions list says how each one
/// orders and what each route holds.
#[tokio::test]
async fn the_ordering_route_and_the_subscriptions_ordering_fields() {
    let a = Admin::start().await;
    for token in ["viewer-token-1", "tenant-a-viewer-token"] {
        let r = a.get("/admin/v1/subscriptions/alpha/ordering", token).await;
        assert_eq!(r.status, 200, "{token}: {}", r.text());
        assert_eq!(r.json(), json!({"items": [], "next_cursor": null}));
    }
    // Another tenant's subscription, or one that exists nowhere: 403 to a
    // tenant token, 404 to the others.
    for (sub, token, status) in [
        ("beta", "tenant-a-viewer-token", 403),
        ("nope", "tenant-a-viewer-token", 403),
        ("nope", "viewer-token-1", 404),
    ] {
        let r = a
            .get(&format!("/admin/v1/subscriptions/{sub}/ordering"), token)
            .await;
        assert_eq!(r.status, status, "{sub} as {token}: {}", r.text());
    }
    for (query, status) in [
        ("limit=500", 200),
        ("limit=1", 200),
        ("source=stripe&limit=10", 200),
        ("limit=501", 400),
        ("limit=0", 400),
        ("source=nope", 400),
        ("cursor=x", 400),
    ] {
        let r = a
            .get(
                &format!("/admin/v1/subscriptions/alpha/ordering?{query}"),
                "viewer-token-1",
            )
            .await;
        assert_eq!(r.status, status, "{query}: {}", r.text());
    }

    let list = a
        .get("/admin/v1/subscriptions", "admin-token-1")
        .await
        .json();
    let by_id = |id: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("ledger")["ordering"], Value::Null);
    assert_eq!(by_id("alpha")["ordering"], json!({"header": "webhook-id"}));
    for route in by_id("alpha")["routes"].as_array().unwrap() {
        assert_eq!(route["held"], 0, "{route}");
        assert_eq!(route["blocked_keys"], 0, "{route}");
    }
}
