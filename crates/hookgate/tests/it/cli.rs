//! The operators' CLI (`hookgate dlq|events|subscriptions|audit`): the real
//! binary as a child process against a running gateway, checked against
//! the admin API it wraps. Every invocation also checks that the token it
//! was given appears in neither stdout nor stderr.

use crate::common::*;
use hookgate_testkit::http::Client;
use hookgate_testkit::receiver::{Receiver, Reply};
use hookgate_testkit::wait::assert_eventually;
use hookgate_testkit::{GatewayProcess, free_port};
use serde_json::{Value, json};
use std::time::Duration;

const VIEWER: &str = "cli-viewer-token-5c1e0a";
const OPERATOR: &str = "cli-operator-token-9b7d42";
const ADMIN: &str = "cli-admin-token-3f8a61";

/// One finished CLI run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    fn json(&self) -> Value {
        self.ok();
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("--json output is not JSON ({e}): {}", self.stdout))
    }

    /// The table row whose first cell is `first`, split on whitespace.
    fn row(&self, first: &str) -> Vec<String> {
        self.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(first))
            .unwrap_or_else(|| panic!("no row {first:?} in:\n{}", self.stdout))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

/// Runs `hookgate args...` with `HOOKGATE_TOKEN` = `token` (unset when
/// `None`) and no `HOOKGATE_ADMIN_URL` unless in `envs`; bounded in time.
async fn hookgate(args: &[&str], token: Option<&str>, envs: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args)
        .env_remove("HOOKGATE_TOKEN")
        .env_remove("HOOKGATE_ADMIN_URL")
        .envs(envs.iter().copied())
        .kill_on_drop(true);
    if let Some(t) = token {
        cmd.env("HOOKGATE_TOKEN", t);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("hookgate {args:?} did not finish within 60s"))
        .expect("run hookgate");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for secret in [Some(VIEWER), Some(OPERATOR), Some(ADMIN), token]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_empty())
    {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "hookgate {args:?} printed a token:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

struct Gw {
    _store: TestStore,
    receiver: Receiver,
    _gateway: GatewayProcess,
    ingest: String,
    url: String,
    client: Client,
}

impl Gw {
    async fn start() -> Self {
        Self::start_with("").await
    }

    /// With `more` appended to the config (e.g. another subscription).
    async fn start_with(more: &str) -> Self {
        let store = TestStore::sqlite();
        let receiver = Receiver::start().await;
        let mut extra = String::new();
        for (name, token, role) in [
            ("viewer", VIEWER, "viewer"),
            ("operator", OPERATOR, "operator"),
            ("admin", ADMIN, "admin"),
        ] {
            extra.push_str(&admin_token_toml(name, role, token));
        }
        let o = Options {
            max_attempts: 1,
            ..Options::default()
        };
        let (config, ingest, admin) = local_config(&store, &receiver.url("/events"), &o);
        let config = config.replace("[admin]\n", "[admin]\nreplay_rate = 5000\n") + &extra + more;
        let mut gateway = GatewayProcess::start(bin(), &config, &[]).await;
        gateway.wait_healthy(&admin, Duration::from_secs(15)).await;
        Gw {
            _store: store,
            receiver,
            _gateway: gateway,
            ingest,
            url: format!("http://{admin}"),
            client: Client::new(),
        }
    }

    /// `hookgate args... --admin-url <this gateway>` with `token`.
    async fn cli(&self, args: &[&str], token: &str) -> Run {
        let mut all = args.to_vec();
        all.extend(["--admin-url", self.url.as_str()]);
        hookgate(&all, Some(token), &[]).await
    }

    /// The admin API's own answer, for comparison.
    async fn api(&self, path: &str) -> Value {
        let r = self
            .client
            .get(&format!("{}{path}", self.url), Some(ADMIN))
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json()
    }

    async fn stripe(&self, id: &str) -> String {
        let body = stripe_event(id, "charge.failed");
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
        event_id("stripe", id)
    }

    async fn dead_count(&self) -> usize {
        self.api("/admin/v1/subscriptions/ledger/dead-letters?limit=1000")
            .await["items"]
            .as_array()
            .unwrap()
            .len()
    }
}

fn ids_of(doc: &Value, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn dlq_list_show_and_replay() {
    let g = Gw::start().await;
    g.receiver.set_default(Reply::Status(400));
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(g.stripe(&format!("evt_cli_dead_{i}")).await);
    }
    ids.sort();
    g.receiver.wait_for(3, Duration::from_secs(20)).await;
    assert_eventually(
        "3 dead letters",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async { g.dead_count().await == 3 },
    )
    .await;

    // The table: the columns and every dead event.
    let run = g
        .cli(&["dlq", "list", "--subscription", "ledger"], VIEWER)
        .await;
    run.ok();
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "EVENT_ID", "TYPE", "REASON", "STATUS", "ATTEMPTS", "DEAD_AT", "SOURCE"
        ]
    );
    for id in &ids {
        let row = run.row(id);
        assert_eq!(row[1], "stripe.charge.failed");
        assert_eq!(row[2..4], ["status", "400"], "reason 'status 400'");
        assert_eq!(row[4], "400", "last status");
        assert_eq!(row[5], "1", "attempts");
        assert_eq!(row.last().unwrap(), "stripe");
    }

    // --json: exactly the API's answer.
    let path = "/admin/v1/subscriptions/ledger/dead-letters";
    let doc = g
        .cli(
            &["dlq", "list", "--subscription", "ledger", "--json"],
            VIEWER,
        )
        .await
        .json();
    assert_eq!(doc, g.api(path).await);
    assert_eq!(ids_of(&doc, "event_id"), ids);
    // The only subscription need not be named.
    let alone = g.cli(&["dlq", "list", "--json"], VIEWER).await.json();
    assert_eq!(alone, doc);

    // One page of one: a hint on stderr; --all follows the cursor to the end.
    let run = g
        .cli(
            &["dlq", "list", "--subscription", "ledger", "--limit", "1"],
            VIEWER,
        )
        .await;
    run.ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(run.stderr.contains("--all"), "{}", run.stderr);
    let doc = g
        .cli(
            &[
                "dlq",
                "list",
                "--subscription",
                "ledger",
                "--limit",
                "1",
                "--all",
                "--json",
            ],
            VIEWER,
        )
        .await
        .json();
    assert_eq!(doc["next_cursor"], Value::Null);
    assert_eq!(doc["items"], g.api(path).await["items"]);
    let run = g
        .cli(
            &[
                "dlq",
                "list",
                "--subscription",
                "ledger",
                "--type",
                "stripe.*",
                "--reason",
                "status 4",
                "--source",
                "stripe",
                "--since",
                "2000-01-01T00:00:00Z",
                "--all",
            ],
            VIEWER,
        )
        .await;
    for id in &ids {
        run.row(id);
    }
    let run = g
        .cli(
            &[
                "dlq",
                "list",
                "--subscription",
                "ledger",
                "--reason",
                "status 5",
            ],
            VIEWER,
        )
        .await;
    run.ok();
    assert!(run.stdout.contains("no dead letters"), "{}", run.stdout);

    // show: the event, its dead delivery, its attempt.
    let run = g.cli(&["dlq", "show", &ids[0]], VIEWER).await;
    run.ok();
    assert!(run.stdout.contains(&ids[0]));
    let delivery = run.row("ledger");
    assert_eq!(delivery[1], "dead");
    assert!(run.stdout.contains("ATTEMPTS"), "{}", run.stdout);
    assert!(
        run.stdout.contains("\"object\": \"payment_intent\""),
        "{}",
        run.stdout
    );
    let doc = g
        .cli(&["dlq", "show", &ids[0], "--json"], VIEWER)
        .await
        .json();
    assert_eq!(doc, g.api(&format!("/admin/v1/events/{}", ids[0])).await);

    // Usage: a replay names ids or a filter, not both, not neither.
    let run = g
        .cli(&["dlq", "replay", "--subscription", "ledger"], OPERATOR)
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = g
        .cli(
            &[
                "dlq",
                "replay",
                "--subscription",
                "ledger",
                "--event-id",
                &ids[0],
                "--type",
                "stripe.*",
            ],
            OPERATOR,
        )
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);

    // A viewer may not replay.
    let run = g
        .cli(
            &[
                "dlq",
                "replay",
                "--subscription",
                "ledger",
                "--type",
                "stripe.*",
            ],
            VIEWER,
        )
        .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("your token's role or tenants do not allow this"),
        "{}",
        run.stderr
    );

    // Dry run: counted, nothing sent, nothing changed.
    let run = g
        .cli(
            &[
                "dlq",
                "replay",
                "--subscription",
                "ledger",
                "--type",
                "stripe.*",
                "--dry-run",
            ],
            OPERATOR,
        )
        .await;
    run.ok();
    assert!(run.stdout.contains("matched 3"), "{}", run.stdout);
    assert!(run.stdout.contains("replayed 0"), "{}", run.stdout);
    settle(Duration::from_millis(500)).await;
    assert_eq!(g.receiver.count(), 3, "a dry run sends nothing");
    assert_eq!(g.dead_count().await, 3);

    // By ids, then by filter (--json): the receiver gets each one again.
    g.receiver.set_default(Reply::Status(200));
    let run = g
        .cli(
            &[
                "dlq",
                "replay",
                "--subscription",
                "ledger",
                "--event-id",
                &ids[0],
                "--event-id",
                &ids[1],
            ],
            OPERATOR,
        )
        .await;
    run.ok();
    assert!(
        run.stdout.contains("matched 2, replayed 2"),
        "{}",
        run.stdout
    );
    let doc = g
        .cli(
            &[
                "dlq",
                "replay",
                "--subscription",
                "ledger",
                "--reason",
                "status 4",
                "--json",
            ],
            OPERATOR,
        )
        .await
        .json();
    assert_eq!(doc, json!({"matched": 1, "replayed": 1}));
    let got = g.receiver.wait_for(6, Duration::from_secs(20)).await;
    let mut replayed: Vec<String> = got[3..]
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    replayed.sort();
    assert_eq!(replayed, ids, "each dead letter delivered again, same id");
    assert_eventually(
        "the dead-letter list empty",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async { g.dead_count().await == 0 },
    )
    .await;
    let run = g
        .cli(&["dlq", "list", "--subscription", "ledger"], VIEWER)
        .await;
    run.ok();
    assert!(run.stdout.contains("no dead letters"), "{}", run.stdout);
}

#[tokio::test]
async fn events_list_show_and_redeliver() {
    let g = Gw::start().await;
    let a = g.stripe("evt_cli_ok_a").await;
    tokio::time::sleep(Duration::from_millis(5)).await; // b is received later
    let b = g.stripe("evt_cli_ok_b").await;
    g.receiver.wait_for(2, Duration::from_secs(20)).await;

    let run = g.cli(&["events", "list"], VIEWER).await;
    run.ok();
    for id in [&a, &b] {
        let row = run.row(id);
        assert_eq!(row[1], "stripe");
        assert_eq!(row[2], "stripe.charge.failed");
    }
    // Newest first by default; --oldest-first is the API's default order.
    let newest = run.stdout.find(&b).unwrap();
    assert!(newest < run.stdout.find(&a).unwrap(), "{}", run.stdout);
    let doc = g.cli(&["events", "list", "--json"], VIEWER).await.json();
    assert_eq!(doc, g.api("/admin/v1/events?order=newest").await);
    let doc = g
        .cli(&["events", "list", "--oldest-first", "--json"], VIEWER)
        .await
        .json();
    assert_eq!(doc, g.api("/admin/v1/events").await);
    let doc = g
        .cli(
            &[
                "events", "list", "--source", "stripe", "--type", "stripe.*", "--limit", "1",
                "--all", "--json",
            ],
            VIEWER,
        )
        .await
        .json();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(ids_of(&doc, "id"), want);
    assert_eq!(doc["next_cursor"], Value::Null);
    let run = g
        .cli(&["events", "list", "--type", "github.*"], VIEWER)
        .await;
    run.ok();
    assert!(run.stdout.contains("no events"), "{}", run.stdout);

    // show, as a table and as the API's JSON.
    let run = g.cli(&["events", "show", &a], VIEWER).await;
    run.ok();
    assert!(
        run.stdout.contains("pi_evt_cli_ok_a"),
        "subject: {}",
        run.stdout
    );
    assert_eq!(run.row("ledger")[1], "delivered");
    let doc = g
        .cli(&["events", "show", &a, "--json"], VIEWER)
        .await
        .json();
    assert_eq!(doc, g.api(&format!("/admin/v1/events/{a}")).await);

    // redeliver: the operator may, the viewer may not.
    let run = g
        .cli(
            &["events", "redeliver", &a, "--subscription", "ledger"],
            VIEWER,
        )
        .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("needs role operator"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("your token's role or tenants do not allow this"),
        "{}",
        run.stderr
    );
    let run = g
        .cli(
            &["events", "redeliver", &a, "--subscription", "ledger"],
            OPERATOR,
        )
        .await;
    run.ok();
    assert!(
        run.stdout.contains("queued for redelivery"),
        "{}",
        run.stdout
    );
    let got = g.receiver.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(got[2].header("webhook-id"), Some(a.as_str()));
    let doc = g
        .cli(
            &[
                "events",
                "redeliver",
                &b,
                "--subscription",
                "ledger",
                "--json",
            ],
            OPERATOR,
        )
        .await
        .json();
    assert_eq!(
        doc,
        json!({"event_id": b, "subscription": "ledger", "status": "pending"})
    );
    g.receiver.wait_for(4, Duration::from_secs(20)).await;
    // The only subscription need not be named.
    let run = g.cli(&["events", "redeliver", &a], OPERATOR).await;
    run.ok();
    assert!(run.stdout.contains("subscription ledger"), "{}", run.stdout);
    let got = g.receiver.wait_for(5, Duration::from_secs(20)).await;
    assert_eq!(got[4].header("webhook-id"), Some(a.as_str()));

    // Unknown things: the API's 404 message, exit 1.
    let missing = event_id("stripe", "evt_cli_never");
    let run = g.cli(&["events", "show", &missing], VIEWER).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no event"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let run = g
        .cli(
            &["events", "redeliver", &a, "--subscription", "nope"],
            OPERATOR,
        )
        .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no subscription \"nope\""),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn subscriptions_pause_resume_and_the_audit_log() {
    let g = Gw::start().await;
    let run = g.cli(&["subscriptions", "list"], VIEWER).await;
    run.ok();
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "TENANT", "PAUSED", "QUEUE", "DLQ", "BREAKERS", "URL"]
    );
    let row = run.row("ledger");
    assert_eq!(row[1..6], ["-", "no", "0", "0", "closed"]);
    assert_eq!(row[6], g.receiver.url("/events"));
    let doc = g
        .cli(&["subscriptions", "list", "--json"], VIEWER)
        .await
        .json();
    assert_eq!(doc, g.api("/admin/v1/subscriptions").await);

    // A viewer may not pause.
    let run = g.cli(&["subscriptions", "pause", "ledger"], VIEWER).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("your token's role or tenants do not allow this"),
        "{}",
        run.stderr
    );

    let run = g.cli(&["subscriptions", "pause", "ledger"], OPERATOR).await;
    run.ok();
    assert!(run.stdout.contains("paused"), "{}", run.stdout);
    let run = g.cli(&["subscriptions", "list"], VIEWER).await;
    assert_eq!(run.row("ledger")[2], "yes");
    // Waiting while paused shows in QUEUE.
    g.stripe("evt_cli_paused").await;
    assert_eventually(
        "QUEUE 1 while paused",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            let run = g.cli(&["subscriptions", "list"], VIEWER).await;
            run.row("ledger")[3] == "1"
        },
    )
    .await;
    assert_eq!(g.receiver.count(), 0, "nothing sent while paused");
    let doc = g
        .cli(&["subscriptions", "resume", "ledger", "--json"], OPERATOR)
        .await
        .json();
    assert_eq!(doc, json!({"id": "ledger", "paused": false}));
    let run = g.cli(&["subscriptions", "list"], VIEWER).await;
    assert_eq!(run.row("ledger")[2], "no");
    g.receiver.wait_for(1, Duration::from_secs(20)).await;
    let run = g.cli(&["subscriptions", "pause", "nope"], OPERATOR).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no subscription \"nope\""),
        "{}",
        run.stderr
    );

    // The audit log: admin only.
    let run = g.cli(&["audit"], ADMIN).await;
    run.ok();
    let actions: Vec<String> = run
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(3).unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["subscription.pause", "subscription.resume"]);
    assert!(run.stdout.contains("operator"));
    let doc = g
        .cli(&["audit", "--limit", "1", "--all", "--json"], ADMIN)
        .await
        .json();
    assert_eq!(doc["items"], g.api("/admin/v1/audit").await["items"]);
    assert_eq!(doc["next_cursor"], Value::Null);
    let run = g.cli(&["audit", "--limit", "1"], ADMIN).await;
    run.ok();
    assert!(run.stdout.contains("subscription.pause"));
    assert!(!run.stdout.contains("subscription.resume"));
    assert!(run.stderr.contains("--all"), "{}", run.stderr);

    for token in [VIEWER, OPERATOR] {
        let run = g.cli(&["audit"], token).await;
        assert_eq!(run.code, 1, "{}", run.stdout);
        assert!(run.stdout.is_empty());
        assert!(run.stderr.contains("needs role admin"), "{}", run.stderr);
        assert!(
            run.stderr
                .contains("your token's role or tenants do not allow this"),
            "{}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn errors_name_their_cause_and_never_the_token() {
    let g = Gw::start().await;
    let url = g.url.as_str();

    // No token: the variable is named, nothing is sent.
    for envs in [&[][..], &[("HOOKGATE_TOKEN", "")][..]] {
        let mut args = vec!["subscriptions", "list", "--admin-url", url];
        if envs.is_empty() {
            args.push("--json");
        }
        let run = hookgate(&args, None, envs).await;
        assert_eq!(run.code, 1);
        assert!(run.stdout.is_empty());
        assert!(
            run.stderr
                .contains("HOOKGATE_TOKEN is not set: export HOOKGATE_TOKEN=<an admin API token>"),
            "{}",
            run.stderr
        );
    }

    // A wrong token: 401, in words, without echoing it.
    let wrong = "cli-wrong-token-0d9e7b";
    for args in [
        &["subscriptions", "list"][..],
        &["dlq", "list", "--subscription", "ledger"][..],
        &["audit", "--json"][..],
    ] {
        let run = g.cli(args, wrong).await;
        assert_eq!(run.code, 1);
        assert!(run.stdout.is_empty());
        assert!(
            run.stderr.contains(
                "the admin API refused the token in HOOKGATE_TOKEN (401): check it is one of \
                 the tokens configured in [[admin.tokens]]"
            ),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains(wrong));
    }

    // Nothing listening: where it tried, and how to point it elsewhere,
    // from --admin-url and from HOOKGATE_ADMIN_URL.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let run = hookgate(
        &["subscriptions", "list", "--admin-url", &dead],
        Some(ADMIN),
        &[],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "cannot reach the admin API at {dead}: is the gateway running? \
             (set --admin-url or HOOKGATE_ADMIN_URL)"
        )),
        "{}",
        run.stderr
    );
    let run = hookgate(
        &["events", "list"],
        Some(ADMIN),
        &[("HOOKGATE_ADMIN_URL", dead.as_str())],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains(&format!("cannot reach the admin API at {dead}")),
        "{}",
        run.stderr
    );
    // Something listening that never answers: the 10 s call deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let run = hookgate(&["audit", "--admin-url", &silent_url], Some(ADMIN), &[]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains(&format!("cannot reach the admin API at {silent_url}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no answer within 10s"),
        "{}",
        run.stderr
    );
    drop(silent);
    // ...and HOOKGATE_ADMIN_URL pointing at the gateway works.
    let run = hookgate(
        &["subscriptions", "list"],
        Some(VIEWER),
        &[("HOOKGATE_ADMIN_URL", url)],
    )
    .await;
    run.ok();
    run.row("ledger");

    // The API's own words for 404 and 400.
    let run = g
        .cli(&["dlq", "list", "--subscription", "nope"], VIEWER)
        .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no subscription \"nope\""),
        "{}",
        run.stderr
    );
    let run = g
        .cli(&["events", "list", "--since", "yesterday-ish"], VIEWER)
        .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("400"), "{}", run.stderr);
    assert!(
        run.stderr.contains("since must be an RFC 3339 time"),
        "{}",
        run.stderr
    );

    // Usage errors are clap's, exit 2.
    for args in [
        &["dlq", "replay"][..],
        &["dlq"][..],
        &["events", "redeliver"][..],
        &["audit", "--limit", "0"][..],
        &["subscriptions", "pause"][..],
    ] {
        let run = g.cli(args, VIEWER).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}

/// `--admin-url` and `--json` are global: taken before the subcommand as
/// well as after it, in any mix.
#[tokio::test]
async fn global_options_before_or_after_the_subcommand() {
    let g = Gw::start().await;
    let url = g.url.as_str();
    let api = g.api("/admin/v1/subscriptions").await;
    for args in [
        &["--admin-url", url, "--json", "subscriptions", "list"][..],
        &["--json", "subscriptions", "list", "--admin-url", url],
        &["--admin-url", url, "subscriptions", "list", "--json"],
        &["subscriptions", "list", "--json", "--admin-url", url],
        &["subscriptions", "--admin-url", url, "list", "--json"],
    ] {
        let doc = hookgate(args, Some(VIEWER), &[]).await.json();
        assert_eq!(doc, api, "{args:?}");
    }
    let run = hookgate(
        &["--admin-url", url, "subscriptions", "list"],
        Some(VIEWER),
        &[],
    )
    .await;
    run.ok();
    assert_eq!(run.row("ledger")[2], "no");
    // Before the subcommand it beats HOOKGATE_ADMIN_URL, as after it does.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let run = hookgate(
        &["--admin-url", url, "--json", "events", "list"],
        Some(VIEWER),
        &[("HOOKGATE_ADMIN_URL", dead.as_str())],
    )
    .await;
    assert_eq!(run.json()["items"], json!([]));
    let run = hookgate(&["--admin-url", &dead, "audit"], Some(ADMIN), &[]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains(&format!("cannot reach the admin API at {dead}")),
        "{}",
        run.stderr
    );
}

/// `--subscription` may be left out only when the token sees exactly one
/// subscription; otherwise the error names the ones it sees, and nothing
/// is sent.
#[tokio::test]
async fn subscription_is_required_when_there_are_several() {
    let g = Gw::start_with(
        "\n[[subscriptions]]\nid = \"audit-copy\"\nurl = \"http://127.0.0.1:9/e\"\n\
         events = [\"nothing.*\"]\ntimeout = \"1s\"\n\
         secret = { value = \"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3\" }\n",
    )
    .await;
    let a = g.stripe("evt_cli_two_subs").await;
    g.receiver.wait_for(1, Duration::from_secs(20)).await;
    for args in [
        &["dlq", "list"][..],
        &["dlq", "replay", "--type", "*"][..],
        &["events", "redeliver", a.as_str()][..],
    ] {
        let run = g.cli(args, OPERATOR).await;
        assert_eq!(run.code, 1, "{args:?}: {} {}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("--subscription is required")
                && run.stderr.contains("ledger")
                && run.stderr.contains("audit-copy"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // Nothing was redelivered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(g.receiver.requests().len(), 1);
}

/// `subscriptions blocked`: a subscription's blocked ordering keys (none
/// here: the table's rows are checked by the ordering end-to-end tests),
/// the API's JSON with `--json`, and the usual errors.
#[tokio::test]
async fn subscriptions_blocked_lists_a_subscriptions_blocked_keys() {
    let g = Gw::start().await;
    // The only subscription need not be named.
    for args in [
        &["subscriptions", "blocked"][..],
        &["subscriptions", "blocked", "--subscription", "ledger"],
    ] {
        let run = g.cli(args, VIEWER).await;
        run.ok();
        assert_eq!(run.stdout, "no blocked ordering keys for ledger\n");
    }
    let doc = g
        .cli(
            &[
                "subscriptions",
                "blocked",
                "--source",
                "stripe",
                "--limit",
                "500",
                "--json",
            ],
            VIEWER,
        )
        .await
        .json();
    assert_eq!(doc, g.api("/admin/v1/subscriptions/ledger/ordering").await);
    assert_eq!(doc, json!({"items": [], "next_cursor": null}));

    let run = g
        .cli(
            &["subscriptions", "blocked", "--subscription", "nope"],
            VIEWER,
        )
        .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no subscription \"nope\""),
        "{}",
        run.stderr
    );
    let run = g
        .cli(&["subscriptions", "blocked", "--source", "nope"], VIEWER)
        .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no source \"nope\""), "{}", run.stderr);
    // Beyond what the API serves: a usage error, before any call.
    let run = g
        .cli(&["subscriptions", "blocked", "--limit", "501"], VIEWER)
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}
