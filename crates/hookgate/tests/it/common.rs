//! The shared harness: one gateway with a Stripe source, a Standard
//! Webhooks source and one subscription pointed at a local receiver.

use hookgate_core::{EventId, idempotency_key};
use hookgate_testkit::http::{Client, Response};
use hookgate_testkit::receiver::Receiver;
use hookgate_testkit::redis::RedisServer;
use hookgate_testkit::sign;
use hookgate_testkit::{GatewayProcess, free_port};
use std::path::Path;
use std::time::Duration;

pub const STRIPE_SECRET: &str = "whsec_stripe_current_secret_0001";
pub const STRIPE_OLD_SECRET: &str = "whsec_stripe_previous_secret_0000";
/// `whsec_` + base64("acme-standard-webhooks-key-32byte").
pub const ACME_SECRET: &str = "whsec_YWNtZS1zdGFuZGFyZC13ZWJob29rcy1rZXktMzJieXRl";
/// `whsec_` + base64("ledger-outbound-signing-key-0001").
pub const LEDGER_SECRET: &str = "whsec_bGVkZ2VyLW91dGJvdW5kLXNpZ25pbmcta2V5LTAwMDE=";

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookgate"))
}

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
    /// Reach Redis over TLS (`rediss://` and `[store] ca_file`).
    pub tls_store: bool,
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
            tls_store: false,
            ledger_extra: "",
            max_age: "1h",
        }
    }
}

pub struct Harness {
    pub redis: RedisServer,
    pub receiver: Receiver,
    pub gateway: GatewayProcess,
    pub ingest_addr: String,
    pub admin_addr: String,
    pub config: String,
    pub client: Client,
}

pub fn config_text(
    ingest_addr: &str,
    admin_addr: &str,
    redis_url: &str,
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

[store]
url = "{redis_url}"
store_timeout = "500ms"

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
        breaker = o.breaker,
        ledger_extra = o.ledger_extra,
        max_age = o.max_age,
    )
}

/// A gateway config on two free loopback ports, storing in `redis_url` and
/// delivering to `receiver_url`: `(config, ingest address, admin address)`.
pub fn local_config(redis_url: &str, receiver_url: &str, o: &Options) -> (String, String, String) {
    let ingest = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let config = config_text(&ingest, &admin, redis_url, receiver_url, o);
    (config, ingest, admin)
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(o: Options) -> Self {
        let redis = if o.tls_store {
            RedisServer::start_tls().await
        } else {
            RedisServer::start().await
        };
        let receiver = Receiver::start().await;
        let store_url = if o.tls_store {
            redis.tls_url()
        } else {
            redis.url()
        };
        let (mut config, ingest_addr, admin_addr) =
            local_config(&store_url, &receiver.url("/events"), &o);
        if o.tls_store {
            let url_line = format!("url = \"{store_url}\"\n");
            let with_ca = format!("{url_line}ca_file = \"{}\"\n", redis.ca_file().display());
            config = config.replacen(&url_line, &with_ca, 1);
        }
        let mut gateway = GatewayProcess::start(bin(), &config, &[]).await;
        gateway
            .wait_healthy(&admin_addr, Duration::from_secs(15))
            .await;
        Harness {
            redis,
            receiver,
            gateway,
            ingest_addr,
            admin_addr,
            config,
            client: Client::new(),
        }
    }

    /// Kills the gateway (SIGKILL) and starts a new one on the same config.
    pub async fn restart_gateway(&mut self) {
        self.gateway.kill().await;
        self.gateway = GatewayProcess::start(bin(), &self.config, &[]).await;
        self.gateway
            .wait_healthy(&self.admin_addr, Duration::from_secs(15))
            .await;
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

    pub async fn redis_conn(&self) -> redis::aio::MultiplexedConnection {
        self.redis.conn().await
    }

    /// Waits (bounded) until field `field` of the delivery hash of
    /// (event, ledger) on `source` reads `value`.
    pub async fn wait_delivery_field(&self, source: &str, id: &str, field: &str, value: &str) {
        hookgate_testkit::wait::assert_eventually(
            &format!("delivery {id} {field} = {value}"),
            Duration::from_secs(5),
            Duration::from_millis(20),
            || async {
                self.delivery(source, id)
                    .await
                    .get(field)
                    .map(String::as_str)
                    == Some(value)
            },
        )
        .await;
    }

    /// The delivery hash of (event, ledger) on `source`.
    pub async fn delivery(
        &self,
        source: &str,
        id: &str,
    ) -> std::collections::HashMap<String, String> {
        let mut c = self.redis_conn().await;
        redis::cmd("HGETALL")
            .arg(format!("hg:{{{source}}}:x:{id}:ledger"))
            .query_async(&mut c)
            .await
            .expect("HGETALL")
    }
}

/// A Stripe event body.
pub fn stripe_event(id: &str, ty: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","object":"event","api_version":"2024-06-20","created":1700000000,"type":"{ty}","livemode":false,"data":{{"object":{{"id":"pi_{id}","object":"payment_intent","amount":2000,"currency":"usd"}}}}}}"#
    )
    .into_bytes()
}

/// The event id the gateway must derive (SPEC §2 identity).
pub fn event_id(source: &str, provider_event_id: &str) -> String {
    EventId::derive(&idempotency_key(source, provider_event_id)).to_string()
}

/// Waits `d` to let anything that should NOT happen have its chance.
pub async fn settle(d: Duration) {
    tokio::time::sleep(d).await;
}
