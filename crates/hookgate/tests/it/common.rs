//! The shared harness: one gateway with a Stripe source, a Standard
//! Webhooks source and one subscription pointed at a local receiver, on
//! the store a test picks ([`StoreKind`]: the embedded SQLite store by
//! default, Redis where the test is about Redis). What the gateway stored
//! and did is read through its admin API ([`Harness::admin`]), never
//! through a backend's layout, so a test means the same on every store.

use hookgate_core::{EventId, idempotency_key};
use hookgate_testkit::http::{Client, Response};
use hookgate_testkit::receiver::Receiver;
use hookgate_testkit::redis::RedisServer;
use hookgate_testkit::sign;
use hookgate_testkit::{
    AdminApi, Delivery, GatewayProcess, RedisCluster, SmallFs, free_addr, free_port,
};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

pub const STRIPE_SECRET: &str = "whsec_stripe_current_secret_0001";
pub const STRIPE_OLD_SECRET: &str = "whsec_stripe_previous_secret_0000";
/// `whsec_` + base64("acme-standard-webhooks-key-32byte").
pub const ACME_SECRET: &str = "whsec_YWNtZS1zdGFuZGFyZC13ZWJob29rcy1rZXktMzJieXRl";
/// `whsec_` + base64("ledger-outbound-signing-key-0001").
pub const LEDGER_SECRET: &str = "whsec_bGVkZ2VyLW91dGJvdW5kLXNpZ25pbmcta2V5LTAwMDE=";
/// The bearer token of the `harness` admin token (role `admin`) that every
/// harness config carries, for reading what the gateway stored.
pub const HARNESS_TOKEN: &str = "harness-admin-token-7e2c91";

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookgate"))
}

pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// How long the harness waits for a delivery to reach a state.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(10);

// === the store ===

/// Which store a test's gateway runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded store (`backend = "sqlite"`): a file in a temp dir the
    /// test owns, so a restarted gateway reopens it.
    #[default]
    Sqlite,
    /// A throwaway `redis-server` (`backend = "redis"`).
    Redis,
    /// A throwaway `redis-server` reached over TLS (`rediss://`, `ca_file`).
    RedisTls,
    /// The embedded store on a small filesystem of the test's own
    /// ([`SMALL_FS_BYTES`]), for disk-full tests.
    SqliteSmallFs,
}

/// The size of the filesystem of [`StoreKind::SqliteSmallFs`].
pub const SMALL_FS_BYTES: u64 = 24 << 20;

/// The store of a test's gateways, owned by the test and gone with it.
pub enum TestStore {
    /// The SQLite file `hookgate.db` in `dir`.
    Sqlite { dir: TempDir },
    /// The SQLite file `hookgate.db` on a small filesystem.
    SqliteSmallFs(SmallFs),
    /// A Redis, reached in clear or (`tls`) over its TLS listener.
    Redis { server: RedisServer, tls: bool },
    /// A three-master Redis Cluster (`cluster = true`).
    Cluster(RedisCluster),
}

impl TestStore {
    pub async fn start(kind: StoreKind) -> Self {
        match kind {
            StoreKind::Sqlite => Self::sqlite(),
            StoreKind::Redis => Self::redis(RedisServer::start().await),
            StoreKind::RedisTls => TestStore::Redis {
                server: RedisServer::start_tls().await,
                tls: true,
            },
            StoreKind::SqliteSmallFs => TestStore::SqliteSmallFs(SmallFs::mount(SMALL_FS_BYTES)),
        }
    }

    /// A fresh SQLite store (the file does not exist until a gateway opens it).
    pub fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookgate-sqlite-")
            .tempdir()
            .expect("create temp dir for the SQLite store");
        TestStore::Sqlite { dir }
    }

    /// A Redis the test started itself (e.g. with other arguments).
    pub fn redis(server: RedisServer) -> Self {
        TestStore::Redis { server, tls: false }
    }

    pub fn kind(&self) -> StoreKind {
        match self {
            TestStore::Sqlite { .. } => StoreKind::Sqlite,
            TestStore::SqliteSmallFs(_) => StoreKind::SqliteSmallFs,
            TestStore::Redis { tls: false, .. } | TestStore::Cluster(_) => StoreKind::Redis,
            TestStore::Redis { tls: true, .. } => StoreKind::RedisTls,
        }
    }

    /// The SQLite file. Panics on another store.
    pub fn sqlite_path(&self) -> PathBuf {
        match self {
            TestStore::Sqlite { dir } => dir.path().join("hookgate.db"),
            TestStore::SqliteSmallFs(fs) => fs.path().join("hookgate.db"),
            _ => panic!("not an SQLite store"),
        }
    }

    /// The Redis server. Panics on another store: a test that touches Redis
    /// must have asked for one.
    pub fn redis_server(&self) -> &RedisServer {
        match self {
            TestStore::Redis { server, .. } => server,
            _ => panic!("this test's store is not a single Redis"),
        }
    }

    pub fn redis_server_mut(&mut self) -> &mut RedisServer {
        match self {
            TestStore::Redis { server, .. } => server,
            _ => panic!("this test's store is not a single Redis"),
        }
    }

    pub fn cluster(&self) -> &RedisCluster {
        match self {
            TestStore::Cluster(c) => c,
            _ => panic!("this test's store is not a Redis Cluster"),
        }
    }

    pub fn cluster_mut(&mut self) -> &mut RedisCluster {
        match self {
            TestStore::Cluster(c) => c,
            _ => panic!("this test's store is not a Redis Cluster"),
        }
    }

    /// Panics unless a gateway really runs on this store: an SQLite store
    /// has its file once a gateway started on it (so an environment
    /// override of the backend cannot turn a test into another one).
    pub fn assert_in_use(&self) {
        if let TestStore::Sqlite { .. } | TestStore::SqliteSmallFs(_) = self {
            let path = self.sqlite_path();
            assert!(
                path.exists(),
                "the gateway runs on the SQLite store, yet {} does not exist",
                path.display()
            );
        }
    }

    /// The `[store]` section: this store, `store_timeout`, and `extra`
    /// keys (e.g. `allow_eviction = true`). The one place that writes it.
    pub fn section(&self, store_timeout: &str, extra: &str) -> String {
        let backend = match self {
            TestStore::Sqlite { .. } | TestStore::SqliteSmallFs(_) => format!(
                "backend = \"sqlite\"\npath = \"{}\"",
                self.sqlite_path().display()
            ),
            TestStore::Redis { server, tls: false } => {
                format!("backend = \"redis\"\nurl = \"{}\"", server.url())
            }
            TestStore::Redis { server, tls: true } => format!(
                "backend = \"redis\"\nurl = \"{}\"\nca_file = \"{}\"",
                server.tls_url(),
                server.ca_file().display()
            ),
            TestStore::Cluster(c) => {
                format!("backend = \"redis\"\nurl = \"{}\"\ncluster = true", c.url())
            }
        };
        format!("[store]\n{backend}\nstore_timeout = \"{store_timeout}\"\n{extra}\n")
    }
}

/// The `[[admin.tokens]]` entry of token `name` with `role`.
pub fn admin_token_toml(name: &str, role: &str, token: &str) -> String {
    format!(
        "\n[[admin.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
        sha256_hex(token)
    )
}

// === the harness config ===

/// Knobs a test may turn.
#[derive(Clone)]
pub struct Options {
    pub max_attempts: u32,
    pub base_delay: &'static str,
    pub max_delay: &'static str,
    pub read_timeout: &'static str,
    pub max_body_bytes: u64,
    pub extra: &'static str,
    /// Extra keys for `[server]`.
    pub server_extra: &'static str,
    /// The `ledger` subscription's breaker (default: never opens in tests).
    pub breaker: &'static str,
    /// The store the harness starts (default: SQLite).
    pub store: StoreKind,
    /// Extra keys for `[store]`.
    pub store_extra: &'static str,
    /// `[store] store_timeout`. 2 s by default: 135 tests share two cores
    /// in CI, and a commit there can wait past 500 ms; the tests of a
    /// stalled or stopped store set a short one.
    pub store_timeout: &'static str,
    /// Extra keys of the `ledger` subscription (e.g. its `rate_limit`).
    pub ledger_extra: &'static str,
    /// The `ledger` subscription's `retry.max_age`.
    pub max_age: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_attempts: 5,
            base_delay: "50ms",
            max_delay: "200ms",
            read_timeout: "1s",
            max_body_bytes: 65536,
            extra: "",
            server_extra: "",
            breaker: r#"{ failures = 1000, cooldown = "1s" }"#,
            store: StoreKind::Sqlite,
            store_extra: "",
            store_timeout: "2s",
            ledger_extra: "",
            max_age: "1h",
        }
    }
}

/// The harness gateway's config on `store`, delivering to `receiver_url`.
pub fn config_text(
    ingest_addr: &str,
    admin_addr: &str,
    store: &TestStore,
    receiver_url: &str,
    o: &Options,
) -> String {
    format!(
        r#"
[server]
listen = "{ingest_addr}"
max_body_bytes = {max_body}
read_timeout = "{read_timeout}"
header_read_timeout = "1s"
shutdown_grace = "2s"
{server_extra}

[admin]
listen = "{admin_addr}"
{harness_token}
{store_section}
[delivery]
visibility_timeout = "5s"
poll_interval = "100ms"

[[sources]]
id = "stripe"
scheme = "stripe"
secrets = [{{ value = "{STRIPE_SECRET}" }}, {{ value = "{STRIPE_OLD_SECRET}" }}]

[sources.types]
"payment_intent.succeeded" = "payment.succeeded"

[[sources]]
id = "acme"
scheme = "standard-webhooks"
secrets = [{{ value = "{ACME_SECRET}" }}]

[[sources]]
id = "limited"
scheme = "stripe"
secrets = [{{ value = "{STRIPE_SECRET}" }}]
rate_limit = {{ per_second = 0.5, burst = 2 }}

[[subscriptions]]
id = "ledger"
url = "{receiver_url}"
events = ["payment.*", "stripe.*", "acme.*", "limited.*"]
secret = {{ value = "{LEDGER_SECRET}" }}
timeout = "2s"
retry = {{ max_attempts = {max_attempts}, base_delay = "{base_delay}", max_delay = "{max_delay}", max_age = "{max_age}" }}
breaker = {breaker}
{ledger_extra}
{extra}
"#,
        max_body = o.max_body_bytes,
        read_timeout = o.read_timeout,
        max_attempts = o.max_attempts,
        base_delay = o.base_delay,
        max_delay = o.max_delay,
        extra = o.extra,
        server_extra = o.server_extra,
        harness_token = admin_token_toml("harness", "admin", HARNESS_TOKEN),
        store_section = store.section(o.store_timeout, o.store_extra),
        breaker = o.breaker,
        ledger_extra = o.ledger_extra,
        max_age = o.max_age,
    )
}

/// A gateway config on two free loopback ports, storing in `store` and
/// delivering to `receiver_url`: `(config, ingest address, admin address)`.
pub fn local_config(
    store: &TestStore,
    receiver_url: &str,
    o: &Options,
) -> (String, String, String) {
    let ingest = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let config = config_text(&ingest, &admin, store, receiver_url, o);
    (config, ingest, admin)
}

/// Asserts that the gateway behind `admin` stored no event at all.
pub async fn assert_no_event_stored(admin: &AdminApi, what: &str) {
    let events = admin.events("").await;
    assert!(events.is_empty(), "{what}: events were stored: {events:?}");
}

pub struct Harness {
    pub store: TestStore,
    pub receiver: Receiver,
    pub gateway: GatewayProcess,
    pub ingest_addr: String,
    pub admin_addr: String,
    pub config: String,
    pub client: Client,
    /// The admin API with [`HARNESS_TOKEN`] (role `admin`).
    pub admin: AdminApi,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(o: Options) -> Self {
        let store = TestStore::start(o.store).await;
        let receiver = Receiver::start().await;
        let (config, ingest_addr, admin_addr) = local_config(&store, &receiver.url("/events"), &o);
        let mut gateway = GatewayProcess::start(bin(), &config, &[]).await;
        gateway
            .wait_healthy(&admin_addr, Duration::from_secs(15))
            .await;
        store.assert_in_use();
        Harness {
            store,
            receiver,
            gateway,
            admin: AdminApi::new(&admin_addr, HARNESS_TOKEN),
            ingest_addr,
            admin_addr,
            config,
            client: Client::new(),
        }
    }

    /// Kills the gateway (SIGKILL) and starts a new one on the same config
    /// (and so the same store: an SQLite file is reopened).
    pub async fn restart_gateway(&mut self) {
        self.gateway.kill().await;
        for tries_left in (0..3).rev() {
            self.gateway = GatewayProcess::start(bin(), &self.config, &[]).await;
            match self
                .gateway
                .healthy(&self.admin_addr, Duration::from_secs(15))
                .await
            {
                Ok(()) => return,
                // The killed gateway's ports were free for a moment, and a
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
            .replace(
                &format!("\"{}\"", self.ingest_addr),
                &format!("\"{ingest}\""),
            )
            .replace(&format!("\"{}\"", self.admin_addr), &format!("\"{admin}\""));
        self.admin = AdminApi::new(&admin, HARNESS_TOKEN);
        self.ingest_addr = ingest;
        self.admin_addr = admin;
    }

    /// The Redis of a harness started with `store: StoreKind::Redis`.
    pub fn redis(&self) -> &RedisServer {
        self.store.redis_server()
    }

    pub fn redis_mut(&mut self) -> &mut RedisServer {
        self.store.redis_server_mut()
    }

    pub fn url(&self, source: &str) -> String {
        format!("http://{}/ingest/{source}", self.ingest_addr)
    }

    pub async fn post(&self, source: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        self.client
            .post(&self.url(source), headers, body.to_vec())
            .await
    }

    /// A Stripe callback signed with `secret` at `ts`.
    pub async fn post_stripe_signed(
        &self,
        source: &str,
        body: &[u8],
        secret: &str,
        ts: i64,
    ) -> Response {
        let sig = sign::stripe_signature(secret, ts, body);
        self.post(
            source,
            &[
                ("content-type", "application/json"),
                ("stripe-signature", &sig),
            ],
            body,
        )
        .await
    }

    pub async fn post_stripe(&self, body: &[u8]) -> Response {
        self.post_stripe_signed("stripe", body, STRIPE_SECRET, sign::now_unix())
            .await
    }

    /// Waits (bounded) until the delivery of (event `id`, `ledger`) exists
    /// and satisfies `done` (described by `what`); returns it.
    pub async fn wait_delivery<F>(&self, source: &str, id: &str, what: &str, done: F) -> Delivery
    where
        F: Fn(&Delivery) -> bool,
    {
        self.admin
            .wait_delivery(source, id, "ledger", what, DELIVERY_WAIT, done)
            .await
    }

    /// Waits (bounded) until the delivery of (event `id`, `ledger`) has
    /// `status` (`pending`, `delivered`, `dead`); returns it.
    pub async fn wait_delivery_status(&self, source: &str, id: &str, status: &str) -> Delivery {
        self.wait_delivery(source, id, &format!("is {status}"), |d| d.status == status)
            .await
    }
}

/// A Stripe event body.
pub fn stripe_event(id: &str, ty: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","object":"event","api_version":"2024-06-20","created":1700000000,"type":"{ty}","livemode":false,"data":{{"object":{{"id":"pi_{id}","object":"payment_intent","amount":2000,"currency":"usd"}}}}}}"#
    )
    .into_bytes()
}

/// The event id the gateway must derive (docs/ingest.md identity).
pub fn event_id(source: &str, provider_event_id: &str) -> String {
    EventId::derive(&idempotency_key(source, provider_event_id)).to_string()
}

/// Waits `d` to let anything that should NOT happen have its chance.
pub async fn settle(d: Duration) {
    tokio::time::sleep(d).await;
}
