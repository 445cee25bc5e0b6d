//! The validated configuration: what the rest of the gateway reads.
//!
//! Every field here has already been checked (durations parsed, secrets
//! resolved, ids well-formed, URLs parsed, patterns compiled). Every
//! default has one home, here: a section's `Default` impl
//! ([`ServerConfig::defaults`] for `[server]`, whose instance id has
//! none), or a `DEFAULT_*` constant for a key of a `[[sources]]` or
//! `[[subscriptions]]` entry. The parser fills absent keys from them; they
//! are documented on the fields and in `config/hookgate.example.toml`.

use crate::error::ConfigError;
pub use crate::store_url::{
    DEFAULT_REDIS_PORT, DEFAULT_STORE_URL, RespProtocol, StoreAddress, StoreUrl,
};
use hookgate_core::Secret;
use hookgate_core::glob::Pattern;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// `[server]`: the public ingest listener.
    pub server: ServerConfig,
    /// `[admin]`: the operators' listener.
    pub admin: AdminConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[delivery]`: gateway-wide delivery settings.
    pub delivery: DeliveryConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[[sources]]`, in file order.
    pub sources: Vec<SourceConfig>,
    /// `[[subscriptions]]`, in file order.
    pub subscriptions: Vec<SubscriptionConfig>,
    /// Problems that do not stop the gateway, in file order (for example an
    /// admin token whose `sha256` is not 64 hex characters and so can never
    /// authenticate). `check-config` and `serve` should print them.
    pub warnings: Vec<ConfigError>,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `listen`, default `127.0.0.1:8080`; env `HOOKGATE_SERVER_LISTEN`.
    pub listen: SocketAddr,
    /// `max_body_bytes`, default 1 MiB.
    pub max_body_bytes: u64,
    /// `max_body_buffer_bytes`: bytes of request bodies the ingest listener
    /// holds at once, over all its connections (bodies being read and
    /// bodies being handled). Default 64 MiB, or 4 × `max_body_bytes` when
    /// that is more; at least `max_body_bytes`. A body waits for room
    /// (within `read_timeout`) instead of growing memory.
    pub max_body_buffer_bytes: u64,
    /// `read_timeout`: whole body must arrive within it, default `10s`.
    pub read_timeout: Duration,
    /// `header_read_timeout`: request head must arrive within it, default `10s`.
    pub header_read_timeout: Duration,
    /// `max_headers`: header lines a request may have, default 100; more
    /// is a 431.
    pub max_headers: usize,
    /// `max_header_bytes`: size of the request line and headers together,
    /// default 64 KiB, 8 KiB..400 KiB (a head must fit in hyper's read
    /// buffer); more is a 431.
    pub max_header_bytes: usize,
    /// `shutdown_grace`: how long in-flight work gets on SIGTERM, default `10s`.
    pub shutdown_grace: Duration,
    /// `max_in_flight_per_source`: verified requests of one source handled
    /// at once (payload, rate limit, store write), default 256; beyond it
    /// 429, so a flooding provider cannot starve the others of the
    /// listener. A slot is taken only once the body is read and its
    /// signature verified: a client that has not proved itself holds none.
    pub max_in_flight_per_source: usize,
    /// `instance_id`: this gateway's stable identity among the instances
    /// sharing a store, default the host name; env `HOOKGATE_INSTANCE_ID`.
    /// Leases record it, and a gateway that restarts with the same id
    /// takes back its own earlier leases at once (1 to 128 of `A-Z a-z
    /// 0-9 . _ -`).
    pub instance_id: String,
}

impl ServerConfig {
    /// The defaults of every `[server]` key, with `instance_id` (whose
    /// default, the host name, is the parser's to find).
    pub fn defaults(instance_id: String) -> Self {
        let max_body_bytes = 1024 * 1024;
        ServerConfig {
            listen: ([127, 0, 0, 1], 8080).into(),
            max_body_bytes,
            max_body_buffer_bytes: Self::default_body_buffer_bytes(max_body_bytes),
            read_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            shutdown_grace: Duration::from_secs(10),
            max_in_flight_per_source: 256,
            instance_id,
        }
    }

    /// `max_body_buffer_bytes` when the file does not say: 64 MiB, or
    /// four bodies of `max_body_bytes` when that is more (so a file that
    /// raised `max_body_bytes` before this key existed still loads).
    pub fn default_body_buffer_bytes(max_body_bytes: u64) -> u64 {
        (64_u64 << 20)
            .max(max_body_bytes.saturating_mul(4))
            .min(MAX_BODY_BUFFER_BYTES.max(max_body_bytes))
    }
}

/// The largest `server.max_body_buffer_bytes` taken (1 TiB).
pub const MAX_BODY_BUFFER_BYTES: u64 = 1 << 40;

/// `[admin]`.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// `listen`, default `127.0.0.1:9090`; env `HOOKGATE_ADMIN_LISTEN`.
    pub listen: SocketAddr,
    /// `[[admin.tokens]]`.
    pub tokens: Vec<AdminToken>,
    /// `replay_rate`: dead letters replayed per second at most, default 50,
    /// so a bulk replay does not flood a recovering subscriber.
    pub replay_rate: f64,
}

impl Default for AdminConfig {
    /// Listening on 127.0.0.1:9090, no tokens, 50 replays a second.
    fn default() -> Self {
        AdminConfig {
            listen: ([127, 0, 0, 1], 9090).into(),
            tokens: Vec::new(),
            replay_rate: 50.0,
        }
    }
}

/// One admin bearer token, stored as the SHA-256 of the token.
#[derive(Debug, Clone)]
pub struct AdminToken {
    /// `name`: the actor recorded in the audit log.
    pub name: String,
    /// `role`.
    pub role: Role,
    /// `sha256`: 32 bytes decoded from 64 hex characters.
    pub sha256: Secret,
    /// `tenants`: `None` = all tenants.
    pub tenants: Option<Vec<String>>,
}

/// Admin roles, ordered by power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read.
    Viewer,
    /// Read, replay, pause, resume.
    Operator,
    /// Everything, including the audit log.
    Admin,
}

/// `[store]`: which store backend holds the gateway's state, and the
/// settings every backend shares.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `store_timeout`: a store call fails after it, default `2s`.
    pub timeout: Duration,
    /// `backend` and its own keys.
    pub backend: StoreBackend,
}

/// `[store] store_timeout` when the file does not say.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

impl StoreConfig {
    /// The Redis settings, when the backend is Redis.
    pub fn redis(&self) -> Option<&RedisStoreConfig> {
        match &self.backend {
            StoreBackend::Redis(r) => Some(r),
            StoreBackend::Sqlite(_) => None,
        }
    }

    /// The SQLite settings, when the backend is SQLite.
    pub fn sqlite(&self) -> Option<&SqliteStoreConfig> {
        match &self.backend {
            StoreBackend::Sqlite(s) => Some(s),
            StoreBackend::Redis(_) => None,
        }
    }
}

/// `[store] backend`.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per configuration, built once: boxing would only burden its users"
)]
pub enum StoreBackend {
    /// `backend = "sqlite"`: the embedded store, one gateway process per
    /// file. The default when `[store]` names no backend and no `url`.
    Sqlite(SqliteStoreConfig),
    /// `backend = "redis"`: one Redis or a Redis Cluster, shared by any
    /// number of gateway instances. The default when a `url` is given.
    Redis(RedisStoreConfig),
}

/// Default `[store] path` of the SQLite backend, relative to the config
/// file's folder.
pub const DEFAULT_SQLITE_PATH: &str = "data/hookgate.db";

/// `[store]` keys of the SQLite backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteStoreConfig {
    /// `path`, default `data/hookgate.db`: relative to the config file's
    /// folder (to the working directory when it comes from
    /// `HOOKGATE_STORE_PATH`). Its folder is created at start.
    pub path: PathBuf,
}

/// `[store]` keys of the Redis backend.
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    /// `url`, default [`DEFAULT_STORE_URL`]; env `HOOKGATE_STORE_URL`.
    /// Parsed as the store connects with it; it may carry a password,
    /// which is never printed.
    pub url: StoreUrl,
    /// `allow_eviction`: accept a Redis whose maxmemory-policy evicts, default false.
    pub allow_eviction: bool,
    /// `pool_size`: connections to the store, default 16.
    pub pool_size: usize,
    /// `key_prefix`: prefix of every key, default `hg`.
    pub key_prefix: String,
    /// `cluster`: whether `url` is one Redis or a seed node of a Redis
    /// Cluster, default one Redis.
    pub topology: StoreTopology,
    /// `ca_file`: PEM certificates trusted for a TLS store URL
    /// (`rediss://`) instead of the system roots; default the system roots.
    pub ca_file: Option<PathBuf>,
    /// `client_cert_file` and `client_key_file`: the PEM certificate and
    /// key the gateway presents to a TLS store that asks for one (mutual
    /// TLS, Redis's `tls-auth-clients`); default none.
    pub client_tls: Option<(PathBuf, PathBuf)>,
}

impl Default for RedisStoreConfig {
    /// The defaults of every key but the TLS files (none) and `cluster`
    /// (one Redis): the one place they are written.
    fn default() -> Self {
        RedisStoreConfig {
            url: StoreUrl::default(),
            allow_eviction: false,
            pool_size: 16,
            key_prefix: "hg".to_owned(),
            topology: StoreTopology::Single,
            ca_file: None,
            client_tls: None,
        }
    }
}

/// `[store] cluster`: how the store's `url` is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoreTopology {
    /// `cluster = false` (the default): `url` is one Redis.
    #[default]
    Single,
    /// `cluster = true`: `url` is one node of a Redis Cluster (a seed); the
    /// client discovers the other nodes and follows the slots.
    Cluster,
}

/// `[delivery]`.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// `visibility_timeout`: a leased delivery returns to its queue after
    /// it, default `60s`. Must exceed every subscription's `timeout`.
    pub visibility_timeout: Duration,
    /// `retention`: how long events, attempts and dead letters are kept,
    /// default `14d`.
    pub retention: Duration,
    /// `poll_interval`: how often idle queues are polled for work written
    /// by other instances or due retries, default `500ms`.
    pub poll_interval: Duration,
    /// `ca_file`: PEM certificates trusted for `https` subscribers in
    /// addition to the system roots (relative to the config file).
    pub ca_file: Option<PathBuf>,
    /// `nice`: how many nice steps below the ingest path the delivery
    /// threads run (0..=19), default 5: when the CPU is short, ingest
    /// (a provider waiting for its 2xx) is served first. (At 10,
    /// deliveries fell behind more often and the callbacks' p99 was
    /// higher, not lower: benches/results.)
    pub nice: u8,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            visibility_timeout: Duration::from_secs(60),
            retention: Duration::from_secs(14 * 86400),
            poll_interval: Duration::from_millis(500),
            ca_file: None,
            nice: 5,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `format`: `text` (default) or `json`.
    pub format: LogFormat,
    /// `level`: a tracing filter such as `info` (default) or `hookgate=debug`.
    pub level: String,
    /// `otlp_endpoint`: an OTLP/HTTP collector (`http://127.0.0.1:4318`);
    /// when set, a span per ingest request and per delivery attempt is
    /// exported to `{endpoint}/v1/traces`. Absent = no export.
    pub otlp_endpoint: Option<http::Uri>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".to_owned(),
            otlp_endpoint: None,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A token-bucket rate limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// `per_second`: sustained rate, > 0.
    pub per_second: f64,
    /// `burst`: bucket size, default = max(1, per_second).
    pub burst: u32,
}

/// A source's `workers` when it does not say.
pub const DEFAULT_SOURCE_WORKERS: usize = 32;

/// One `[[sources]]` entry.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// `id`: `[A-Za-z0-9_-]{1,64}`, unique among sources.
    pub id: String,
    /// `scheme`: the verification scheme name, as written. Whether it is
    /// known and well configured is checked by `hookgate-verify`.
    pub scheme: String,
    /// The 1-based line of the `scheme` key, so scheme errors can point at it.
    pub scheme_line: usize,
    /// The 1-based line of every other key written in the source, by name
    /// (`public_url`, `secrets`, each `secrets[i]`, the scheme keys...), so
    /// a scheme error points at the key it names ([`Self::line_of`]).
    pub key_lines: BTreeMap<String, usize>,
    /// `secrets`: at least one for every scheme that signs; several = rotation.
    /// Raw bytes as resolved (decoding such as `whsec_` base64 is the scheme's).
    pub secrets: Vec<Secret>,
    /// `tolerance`: `None` = the scheme's default.
    pub tolerance: Option<Duration>,
    /// `dedup_window`: `None` = the scheme's default.
    pub dedup_window: Option<Duration>,
    /// `rate_limit`: `None` = unlimited.
    pub rate_limit: Option<RateLimit>,
    /// `[sources.types]`: provider type -> normalized type.
    pub types: BTreeMap<String, String>,
    /// `workers`: size of this source's delivery worker pool, default 32.
    pub workers: usize,
    /// `public_url`: the URL the provider calls, for schemes that sign it.
    pub public_url: Option<String>,
    /// Scheme-specific keys (`header`, `algorithm`, `encoding`, `prefix`,
    /// `signed_content`, `timestamp_header`, `event_id`, `event_type`, ...),
    /// kept as plain strings for `hookgate-verify` to interpret. Keys not
    /// in [`SCHEME_KEYS`] are rejected by the parser.
    pub params: BTreeMap<String, String>,
}

impl SourceConfig {
    /// The line of source key `key` (`secrets[1]` falls back to `secrets`),
    /// else of `scheme`: where a scheme error about `key` points.
    pub fn line_of(&self, key: &str) -> usize {
        let base = key.split_once('[').map_or(key, |(base, _)| base);
        self.key_lines
            .get(key)
            .or_else(|| self.key_lines.get(base))
            .copied()
            .unwrap_or(self.scheme_line)
    }
}

/// Scheme-specific source keys the parser accepts into [`SourceConfig::params`].
pub const SCHEME_KEYS: &[&str] = &[
    "header",
    "algorithm",
    "encoding",
    "prefix",
    "signed_content",
    "timestamp_header",
    "event_id",
    "event_type",
    "event_time",
    "event_subject",
];

/// The shortest signing key the Standard Webhooks specification allows
/// (`spec/standard-webhooks.md`: "Random. Between 24 bytes (192 bits) and
/// 64 bytes (512 bits)"), counted after base64 decoding.
pub const MIN_SIGNING_KEY_BYTES: usize = 24;

/// The warning for a Standard Webhooks key under [`MIN_SIGNING_KEY_BYTES`]:
/// a subscription's (by the parser) or a `standard-webhooks` source's (by
/// check-config, which knows the scheme). Its length is not said: nothing
/// about a key is printed.
pub const SHORT_SIGNING_KEY: &str = "the signing key is shorter than 24 bytes after base64 decoding: \
     Standard Webhooks keys are 24 to 64 random bytes (whsec_ + at least 32 base64 characters); \
     a shorter key is easier to guess";

/// A subscription's `timeout` when it does not say.
pub const DEFAULT_SUBSCRIPTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A subscription's `max_in_flight` when it does not say.
pub const DEFAULT_SUBSCRIPTION_MAX_IN_FLIGHT: usize = 16;

/// One `[[subscriptions]]` entry.
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// `id`: `[A-Za-z0-9_-]{1,64}`, unique among subscriptions.
    pub id: String,
    /// `tenant`: optional owner, used by tenant-scoped admin tokens.
    pub tenant: Option<String>,
    /// `url`: `http` or `https`, absolute.
    pub url: http::Uri,
    /// `events`: glob patterns on the normalized type, compiled here once
    /// for every user (delivery, admin, the config's own checks); at
    /// least one.
    pub events: Vec<Pattern>,
    /// `secret` or `secrets` (exactly one of the two): Standard Webhooks
    /// signing keys, decoded (`whsec_` prefix stripped, base64 decoded).
    /// Several = one signature per key during a rotation.
    pub secrets: Vec<Secret>,
    /// `timeout`: per attempt, default `30s`.
    pub timeout: Duration,
    /// `max_in_flight`: requests the subscriber is sent at once, across its
    /// routes (an attempt gives its place back once answered), default 16.
    pub max_in_flight: usize,
    /// `rate_limit`: attempts per second across its routes; `None` = unlimited.
    pub rate_limit: Option<RateLimit>,
    /// `retry`.
    pub retry: RetryPolicy,
    /// `breaker`.
    pub breaker: BreakerConfig,
    /// `ordering`: where an event's ordering key comes from; `None` (the
    /// default) = deliveries go in any order.
    pub ordering: Option<Ordering>,
}

/// `ordering = ...`: where a subscription finds an event's ordering key.
/// The deliveries of one key on one route (source × subscription) go one
/// at a time, in the order the gateway acknowledged the events; events
/// whose key cannot be found are delivered unordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ordering {
    /// `"subject"`: the event's CloudEvent `subject`, as the source's
    /// scheme extracts it.
    Subject,
    /// `{ pointer = "/a/b" }`: an RFC 6901 JSON pointer into the provider's
    /// payload (the CloudEvent `data`); always starts with `/`.
    Pointer(String),
    /// `{ header = "Name" }`: a header of the provider's callback request
    /// (names compare case-insensitively; this one is lowercase).
    Header(http::HeaderName),
}

/// `retry = { ... }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// `max_attempts`, default 10, >= 1.
    pub max_attempts: u32,
    /// `base_delay`, default `1s`.
    pub base_delay: Duration,
    /// `max_delay`, default `1h`, >= base_delay.
    pub max_delay: Duration,
    /// `max_age`, default `24h`.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3600),
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// `breaker = { ... }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// `failures`: consecutive failures that open it, default 5, >= 1.
    pub failures: u32,
    /// `cooldown`: how long it stays open before a probe, default `30s`.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}
