//! From the parsed document to a [`Config`]: defaults, rules, cross-checks.
//!
//! The gateway-wide sections (`[server]`, `[admin]`, `[store]`,
//! `[delivery]`, `[log]`) are built here; `[[sources]]` and
//! `[[subscriptions]]` have their own modules ([`crate::source`],
//! [`crate::subscription`]). Rules that span sections (unique ids,
//! `visibility_timeout` versus every subscription's `timeout`) run last.
//!
//! Every builder reads every key it knows before giving up, so one bad key
//! never hides the next one. A builder returns its section with defaults in
//! place of bad values; the caller discards the whole `Config` if any error
//! was recorded, so a placeholder never escapes.

use crate::duration::{self, Zero, duration};
use crate::env::{self, override_value};
use crate::model::*;
use crate::pem::PemKind;
use crate::raw::{Ctx, Field, Fields, parse_socket_addr};
use crate::secret_ref;
use crate::{source, subscription};
use hookgate_core::Secret;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

const ROOT_KEYS: &[&str] = &[
    "server",
    "admin",
    "store",
    "delivery",
    "log",
    "sources",
    "subscriptions",
];
const SERVER_KEYS: &[&str] = &[
    "listen",
    "max_body_bytes",
    "read_timeout",
    "header_read_timeout",
    "max_headers",
    "max_header_bytes",
    "shutdown_grace",
    "max_in_flight_per_source",
    "max_body_buffer_bytes",
    "instance_id",
];
const ADMIN_KEYS: &[&str] = &["listen", "tokens", "replay_rate"];
const TOKEN_KEYS: &[&str] = &["name", "role", "sha256", "tenants"];
const STORE_KEYS: &[&str] = &[
    "backend",
    "path",
    "url",
    "store_timeout",
    "allow_eviction",
    "pool_size",
    "key_prefix",
    "cluster",
    "ca_file",
    "client_cert_file",
    "client_key_file",
];
const DELIVERY_KEYS: &[&str] = &[
    "visibility_timeout",
    "retention",
    "poll_interval",
    "nice",
    "ca_file",
];
const LOG_KEYS: &[&str] = &["format", "level", "otlp_endpoint"];
const RATE_LIMIT_KEYS: &[&str] = &["per_second", "burst"];

/// URL schemes the Redis client accepts.
const STORE_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis+unix",
    "unix",
    "valkey",
    "valkeys",
    "valkey+unix",
];

/// TLS schemes (`[store] ca_file` applies to them only).
const TLS_SCHEMES: &[&str] = &["rediss", "valkeys"];

/// URL schemes a Redis Cluster can be reached with (a cluster announces
/// its nodes as host:port, so never a unix socket).
const CLUSTER_SCHEMES: &[&str] = &["redis", "rediss", "valkey", "valkeys"];

/// Builds the whole configuration. Returns `None` only when the document
/// root could not be read at all; otherwise the caller checks the errors
/// recorded in `ctx`.
pub(crate) fn build(root: &toml_edit::Table, path: &Path, ctx: &mut Ctx<'_>) -> Option<Config> {
    let root_field = ctx.root(root);
    let top = ctx.table_of(&root_field, ROOT_KEYS)?;

    let t = section(ctx, &top, "server", SERVER_KEYS);
    let server_at = listen_origin(ctx, t.as_ref(), env::SERVER_LISTEN);
    let server = server(ctx, t.as_ref());
    let t = section(ctx, &top, "admin", ADMIN_KEYS);
    let admin_at = listen_origin(ctx, t.as_ref(), env::ADMIN_LISTEN);
    let admin = admin(ctx, t.as_ref());
    check_listeners(ctx, (server.listen, server_at), (admin.listen, admin_at));
    let t = section(ctx, &top, "store", STORE_KEYS);
    let store = store(ctx, t.as_ref());
    let t = section(ctx, &top, "delivery", DELIVERY_KEYS);
    let (delivery, visibility) = delivery(ctx, t.as_ref());
    let t = section(ctx, &top, "log", LOG_KEYS);
    let log = log(ctx, t.as_ref());

    let sources = match top.get("sources") {
        Some(f) => source::sources(ctx, &f),
        None => Vec::new(),
    };
    let (subscriptions, timeouts) = match top.get("subscriptions") {
        Some(f) => subscription::subscriptions(ctx, &f),
        None => (Vec::new(), Vec::new()),
    };
    if let Some(line) = visibility {
        check_visibility_timeout(ctx, delivery.visibility_timeout, line, &timeouts);
    }
    check_pool_sizes(ctx, &sources, &subscriptions);

    Some(Config {
        path: path.to_owned(),
        server,
        admin,
        store,
        delivery,
        log,
        sources,
        subscriptions,
        warnings: Vec::new(),
    })
}

/// The table `[key]` of the root, if present and a table.
fn section<'a>(
    ctx: &mut Ctx<'_>,
    top: &Fields<'a>,
    key: &str,
    allowed: &[&str],
) -> Option<Fields<'a>> {
    let field = top.get(key)?;
    ctx.table_of(&field, allowed)
}

/// Reads `key` of `table` (if both exist) with `read`.
pub(crate) fn opt<'e, T>(
    ctx: &mut Ctx<'e>,
    table: Option<&Fields<'_>>,
    key: &str,
    read: impl FnOnce(&mut Ctx<'e>, &Field<'_>) -> Option<T>,
) -> Option<T> {
    let field = table?.get(key)?;
    read(ctx, &field)
}

/// Reads optional `key` of `table`: `Some(None)` when absent,
/// `Some(Some(v))` when read, `None` when present and bad (already
/// reported), so `?` on it discards the section being built.
pub(crate) fn optional<'e, T>(
    ctx: &mut Ctx<'e>,
    table: &Fields<'_>,
    key: &str,
    read: impl FnOnce(&mut Ctx<'e>, &Field<'_>) -> Option<T>,
) -> Option<Option<T>> {
    match table.get(key) {
        Some(field) => read(ctx, &field).map(Some),
        None => Some(None),
    }
}

/// `[A-Za-z0-9_-]{1,64}`: safe in URLs, Redis keys and metric labels.
pub(crate) fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads `id` of a source or subscription table and, when valid, renames
/// the table to `{family}.{id}` so later messages name it.
pub(crate) fn read_id(ctx: &mut Ctx<'_>, table: &mut Fields<'_>, family: &str) -> Option<String> {
    let Some(field) = table.get("id") else {
        ctx.missing(table, "id", "a name like \"stripe\"");
        return None;
    };
    let id = ctx.string(&field)?;
    if !is_valid_id(&id) {
        ctx.error_at(
            &field,
            format!("{id:?} is not a valid id: use 1 to 64 of A-Z a-z 0-9 _ -"),
        );
        return None;
    }
    table.rename(format!("{family}.{id}"));
    Some(id)
}

/// Reports ids that appear twice; `items` are `(id, line, path)`.
pub(crate) fn check_unique<'a>(
    ctx: &mut Ctx<'_>,
    family: &str,
    items: impl IntoIterator<Item = (&'a str, Option<usize>, String)>,
) {
    let mut seen: HashMap<&str, Option<usize>> = HashMap::new();
    for (id, line, path) in items {
        match seen.get(id) {
            Some(first) => {
                let at = first
                    .map(|l| format!(" (first at line {l})"))
                    .unwrap_or_default();
                ctx.error(line, &path, format!("duplicate {family} {id:?}{at}"));
            }
            None => {
                seen.insert(id, line);
            }
        }
    }
}

/// A `rate_limit = { per_second, burst }` table.
pub(crate) fn rate_limit(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<RateLimit> {
    let t = ctx.table_of(field, RATE_LIMIT_KEYS)?;
    let per_second = match t.get("per_second") {
        Some(f) => {
            let x = ctx.number(&f);
            match x {
                Some(x) if x.is_finite() && x > 0.0 => Some(x),
                Some(_) => {
                    ctx.error_at(&f, "must be a finite number greater than zero");
                    None
                }
                None => None,
            }
        }
        None => {
            ctx.missing(&t, "per_second", "events per second, > 0");
            None
        }
    };
    let burst = optional(ctx, &t, "burst", |c, f| c.uint(f, 1, u64::from(u32::MAX)));
    let (per_second, burst) = (per_second?, burst?);
    // `as` saturates for floats: a huge rate gets the largest bucket.
    let burst = burst.map_or_else(|| (per_second.ceil() as u32).max(1), |b| b as u32);
    Some(RateLimit { per_second, burst })
}

// === sections ===

fn server(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> ServerConfig {
    let listen = opt(ctx, t, "listen", Ctx::socket_addr);
    let listen = listen_override(ctx, env::SERVER_LISTEN, "server.listen").or(listen);
    let max_body_bytes =
        opt(ctx, t, "max_body_bytes", |c, f| c.uint(f, 1, u64::MAX)).unwrap_or(1024 * 1024);
    // Every body the listener is reading or holding counts against it, so
    // memory stays bounded whatever the number of connections. A body of
    // `max_body_bytes` must fit, or it could never be read.
    let max_body_buffer_bytes = match t.and_then(|t| t.get("max_body_buffer_bytes")) {
        Some(field) => ctx
            .uint(&field, 1, MAX_BODY_BUFFER_BYTES)
            .and_then(|n| {
                if n < max_body_bytes {
                    ctx.error_at(
                        &field,
                        format!(
                            "must be at least server.max_body_bytes ({max_body_bytes}), found {n}"
                        ),
                    );
                    None
                } else {
                    Some(n)
                }
            })
            .unwrap_or(0),
        None => default_body_buffer_bytes(max_body_bytes),
    };
    ServerConfig {
        listen: listen.unwrap_or(([127, 0, 0, 1], 8080).into()),
        max_body_bytes,
        max_body_buffer_bytes,
        read_timeout: opt(ctx, t, "read_timeout", |c, f| duration(c, f, Zero::Refused))
            .unwrap_or(Duration::from_secs(10)),
        header_read_timeout: opt(ctx, t, "header_read_timeout", |c, f| {
            duration(c, f, Zero::Refused)
        })
        .unwrap_or(Duration::from_secs(10)),
        max_headers: opt(ctx, t, "max_headers", |c, f| c.uint(f, 1, 10_000))
            .map_or(100, |n| n as usize),
        // Within hyper's read buffer (8 KiB at least, about 408 KiB at
        // most): a head must fit in it whatever this says, so a larger
        // limit would be a promise the listener cannot keep.
        max_header_bytes: opt(ctx, t, "max_header_bytes", |c, f| {
            c.uint(f, 8192, 400 * 1024)
        })
        .map_or(64 * 1024, |n| n as usize),
        shutdown_grace: opt(ctx, t, "shutdown_grace", |c, f| {
            duration(c, f, Zero::Allowed)
        })
        .unwrap_or(Duration::from_secs(10)),
        max_in_flight_per_source: opt(ctx, t, "max_in_flight_per_source", |c, f| {
            c.uint(f, 1, 1 << 20)
        })
        .map_or(256, |n| n as usize),
        instance_id: instance_id(ctx, t),
    }
}

/// The largest `server.max_body_buffer_bytes` taken (1 TiB).
const MAX_BODY_BUFFER_BYTES: u64 = 1 << 40;

/// `server.max_body_buffer_bytes` when the file does not say: 64 MiB, or
/// four bodies of `max_body_bytes` when that is more (so a file that
/// raised `max_body_bytes` before this key existed still loads).
pub(crate) fn default_body_buffer_bytes(max_body_bytes: u64) -> u64 {
    (64_u64 << 20)
        .max(max_body_bytes.saturating_mul(4))
        .min(MAX_BODY_BUFFER_BYTES.max(max_body_bytes))
}

/// Where a `listen` address in effect came from, for the overlap check.
#[derive(Debug, Clone, Copy)]
enum ListenOrigin {
    /// Not written anywhere: the default.
    Default,
    /// The file's `listen`, at this line.
    File(Option<usize>),
    /// This `HOOKGATE_*` variable.
    Env(&'static str),
    /// Written but unreadable (already reported): nothing to compare.
    Bad,
}

fn listen_origin(ctx: &Ctx<'_>, t: Option<&Fields<'_>>, var: &'static str) -> ListenOrigin {
    if let Some(v) = override_value(ctx.env, var) {
        return match parse_socket_addr(&v) {
            Ok(_) => ListenOrigin::Env(var),
            Err(_) => ListenOrigin::Bad,
        };
    }
    match t.and_then(|t| t.get("listen")) {
        None => ListenOrigin::Default,
        Some(f) => match f.node.as_str().map(parse_socket_addr) {
            Some(Ok(_)) => ListenOrigin::File(f.line),
            _ => ListenOrigin::Bad,
        },
    }
}

/// Whether two listeners would fight over one socket: the same port (not
/// 0, which picks a free one) on the same address, or on any address when
/// either is a wildcard (`0.0.0.0`, `[::]`) — a wildcard takes the port on
/// every address, so the second `bind` fails (on Linux `[::]` also covers
/// IPv4; a wildcard of the other family is refused too, as the safe side).
pub(crate) fn listeners_overlap(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    let (ia, ib) = (a.ip().to_canonical(), b.ip().to_canonical());
    a.port() != 0
        && a.port() == b.port()
        && (ia == ib || ia.is_unspecified() || ib.is_unspecified())
}

/// `admin.listen` must not take `server.listen`'s socket: check-config
/// said ok and `serve` then failed at bind ("address in use"). Reported on
/// `admin.listen`, at its line (else `server.listen`'s), naming the
/// variable when one set either address.
fn check_listeners(
    ctx: &mut Ctx<'_>,
    (server, server_at): (std::net::SocketAddr, ListenOrigin),
    (admin, admin_at): (std::net::SocketAddr, ListenOrigin),
) {
    use ListenOrigin::*;
    if matches!(server_at, Bad) || matches!(admin_at, Bad) || !listeners_overlap(server, admin) {
        return;
    }
    let from = |at: ListenOrigin| match at {
        Env(var) => format!(" (from {var})"),
        File(Some(line)) => format!(" (line {line})"),
        _ => " (default)".to_owned(),
    };
    let line = match (admin_at, server_at) {
        (File(line), _) => line,
        (_, File(line)) => line,
        _ => None,
    };
    let how = if server == admin {
        "is the same address as"
    } else {
        "overlaps"
    };
    ctx.error(
        line,
        "admin.listen",
        format!(
            "{admin}{} {how} server.listen {server}{}: both listeners would bind port {}; \
             give the admin listener a port of its own",
            from(admin_at),
            from(server_at),
            admin.port(),
        ),
    );
}

/// What `[server] instance_id` may hold.
const INSTANCE_ID_RULE: &str = "use 1 to 128 of A-Z a-z 0-9 . _ -";

/// `[A-Za-z0-9._-]{1,128}`: a host name fits (an FQDN is at most 253
/// characters, a label 63; 128 is plenty), and so does anything an
/// orchestrator names a pod; safe in Redis values and logs.
pub(crate) fn is_valid_instance_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `[server] instance_id`: `HOOKGATE_INSTANCE_ID`, else the file's, else
/// the host name. Errors name the key and line, or the variable.
fn instance_id(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> String {
    const KEY: &str = "server.instance_id";
    if let Some(value) = override_value(ctx.env, env::INSTANCE_ID) {
        if !is_valid_instance_id(&value) {
            ctx.error(
                None,
                KEY,
                format!(
                    "environment variable {}: {:?} is not a valid instance id: {INSTANCE_ID_RULE}",
                    env::INSTANCE_ID,
                    value
                ),
            );
        }
        return value;
    }
    if let Some(field) = t.and_then(|t| t.get("instance_id")) {
        let Some(id) = ctx.string(&field) else {
            return String::new();
        };
        if !is_valid_instance_id(&id) {
            ctx.error_at(
                &field,
                format!("{id:?} is not a valid instance id: {INSTANCE_ID_RULE}"),
            );
        }
        return id;
    }
    match host_name() {
        Some(name) if is_valid_instance_id(&name) => name,
        other => {
            ctx.error(
                None,
                KEY,
                format!(
                    "not set, and the host name ({}) cannot serve as one: set [server] instance_id \
                     or {} ({INSTANCE_ID_RULE})",
                    other.map_or_else(|| "unknown".to_owned(), |n| format!("{n:?}")),
                    env::INSTANCE_ID
                ),
            );
            String::new()
        }
    }
}

/// The host name (`uname`'s node name), if it is UTF-8 and not empty.
fn host_name() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_str().ok()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Reads a listen-address override; errors name the variable.
fn listen_override(ctx: &mut Ctx<'_>, var: &str, key: &str) -> Option<std::net::SocketAddr> {
    let value = override_value(ctx.env, var)?;
    match parse_socket_addr(&value) {
        Ok(addr) => Some(addr),
        Err(message) => {
            ctx.error(None, key, format!("environment variable {var}: {message}"));
            None
        }
    }
}

fn admin(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> AdminConfig {
    let listen = opt(ctx, t, "listen", Ctx::socket_addr);
    let listen = listen_override(ctx, env::ADMIN_LISTEN, "admin.listen").or(listen);
    let mut tokens = Vec::new();
    let mut names = Vec::new();
    if let Some(field) = t.and_then(|t| t.get("tokens")) {
        for item in ctx.array(&field).unwrap_or_default() {
            if let Some((token, name_line)) = admin_token(ctx, &item) {
                names.push((token.name.clone(), name_line, format!("{}.name", item.path)));
                tokens.push(token);
            }
        }
    }
    check_unique(
        ctx,
        "token name",
        names.iter().map(|(n, l, p)| (n.as_str(), *l, p.clone())),
    );
    let replay_rate = opt(ctx, t, "replay_rate", |ctx, f| match ctx.number(f) {
        Some(x) if x.is_finite() && x > 0.0 => Some(x),
        Some(_) => {
            ctx.error_at(f, "must be a finite number greater than zero");
            None
        }
        None => None,
    });
    AdminConfig {
        listen: listen.unwrap_or(([127, 0, 0, 1], 9090).into()),
        tokens,
        replay_rate: replay_rate.unwrap_or(50.0),
    }
}

/// One `[[admin.tokens]]`, with the line of its name.
fn admin_token(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<(AdminToken, Option<usize>)> {
    let t = ctx.table_of(field, TOKEN_KEYS)?;
    let name_field = t.get("name");
    let name = match &name_field {
        Some(f) => ctx.nonempty_string(f),
        None => {
            ctx.missing(&t, "name", "the actor recorded in the audit log");
            None
        }
    };
    let role = match t.get("role") {
        Some(f) => ctx
            .choice(&f, &["viewer", "operator", "admin"])
            .map(|i| [Role::Viewer, Role::Operator, Role::Admin][i]),
        None => {
            ctx.missing(&t, "role", "viewer | operator | admin");
            None
        }
    };
    let sha256 = match t.get("sha256") {
        Some(f) => token_hash(ctx, &f),
        None => {
            ctx.missing(&t, "sha256", "the hex SHA-256 of the bearer token");
            None
        }
    };
    let tenants = match t.get("tenants") {
        Some(f) => match ctx.string_list(&f, true) {
            Some(list) if list.is_empty() => {
                ctx.error_at(
                    &f,
                    "an empty list allows no tenant; remove the key to allow all tenants",
                );
                None
            }
            Some(list) => Some(Some(list)),
            None => None,
        },
        None => Some(None),
    };
    let token = AdminToken {
        name: name?,
        role: role?,
        sha256: sha256?,
        tenants: tenants?,
    };
    Some((token, name_field.and_then(|f| f.line)))
}

/// `sha256 = "<64 hex>"`. Anything else that is a string is accepted with a
/// warning and becomes a hash no token matches: the reference file of docs/configuration.md
/// ships the placeholder `"<hex SHA-256 of the bearer token>"` and must load.
/// The value is never shown (it is as sensitive as a password hash).
fn token_hash(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<Secret> {
    let text = ctx.string(field)?;
    let decoded = if text.len() == 64 {
        hex::decode(&text).ok()
    } else {
        None
    };
    match decoded {
        Some(bytes) => Some(Secret::new(bytes)),
        None => {
            ctx.warn_at(
                field,
                "not 64 hex characters: this token can never authenticate",
            );
            // An empty hash never equals a 32-byte digest.
            Some(Secret::default())
        }
    }
}

/// `[store]` keys that only the Redis backend reads.
const REDIS_ONLY_KEYS: &[&str] = &[
    "url",
    "allow_eviction",
    "pool_size",
    "key_prefix",
    "cluster",
    "ca_file",
    "client_cert_file",
    "client_key_file",
];

fn store(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> StoreConfig {
    const BACKENDS: &[&str] = &["sqlite", "redis"];
    let timeout = opt(ctx, t, "store_timeout", |c, f| {
        duration(c, f, Zero::Refused)
    })
    .unwrap_or(Duration::from_secs(2));
    // The backend: HOOKGATE_STORE_BACKEND, else the file's `backend`, else
    // the embedded store when `[store]` is absent (or names only a `path`),
    // else Redis: a `[store]` written before the SQLite backend existed
    // meant Redis, and still does (backward compatible), as does a store
    // URL from the environment.
    let from_file = t
        .and_then(|t| t.get("backend"))
        .and_then(|f| ctx.choice(&f, BACKENDS));
    let from_env = match override_value(ctx.env, env::STORE_BACKEND) {
        Some(v) => match BACKENDS.iter().position(|b| *b == v) {
            Some(i) => Some(i),
            None => {
                let var = env::STORE_BACKEND;
                ctx.error(
                    None,
                    "store.backend",
                    format!("environment variable {var}: expected \"sqlite\" or \"redis\""),
                );
                None
            }
        },
        None => None,
    };
    let redis_keys = t.is_some_and(|t| REDIS_ONLY_KEYS.iter().any(|k| t.get(k).is_some()));
    let redis = match from_env.or(from_file) {
        Some(i) => BACKENDS[i] == "redis",
        None => {
            override_value(ctx.env, env::STORE_URL).is_some()
                || redis_keys
                || t.is_some_and(|t| t.get("path").is_none())
        }
    };
    // A key of the other backend is a mistake in the file, unless the
    // environment chose the backend: then the file may hold its own
    // default's settings (a baked-in config run against another store).
    let by_env = from_env.is_some();
    let other = |ctx: &mut Ctx<'_>, f: &Field<'_>, backend: &str| {
        if by_env {
            ctx.warn_at(
                f,
                format!(
                    "ignored: {} chose backend = \"{}\"",
                    env::STORE_BACKEND,
                    if backend == "redis" {
                        "sqlite"
                    } else {
                        "redis"
                    }
                ),
            );
        } else {
            ctx.error_at(f, format!("applies to backend = \"{backend}\" only"));
        }
    };
    let backend = if redis {
        if let Some(f) = t.and_then(|t| t.get("path")) {
            other(ctx, &f, "sqlite");
        }
        StoreBackend::Redis(redis_store(ctx, t))
    } else {
        for key in REDIS_ONLY_KEYS {
            if let Some(f) = t.and_then(|t| t.get(key)) {
                other(ctx, &f, "redis");
            }
        }
        if override_value(ctx.env, env::STORE_URL).is_some() {
            ctx.error(
                None,
                "store.url",
                format!(
                    "environment variable {} applies to backend = \"redis\" only",
                    env::STORE_URL
                ),
            );
        }
        StoreBackend::Sqlite(sqlite_store(ctx, t))
    };
    StoreConfig { timeout, backend }
}

fn sqlite_store(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> SqliteStoreConfig {
    let from_file = opt(ctx, t, "path", |c, f| {
        let p = c.nonempty_string(f)?;
        Some(c.base_dir.join(p))
    });
    let path = match override_value(ctx.env, env::STORE_PATH) {
        // Relative to the working directory, as a shell user expects.
        Some(v) => std::path::PathBuf::from(v),
        None => from_file.unwrap_or_else(|| ctx.base_dir.join(DEFAULT_SQLITE_PATH)),
    };
    SqliteStoreConfig { path }
}

fn redis_store(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> RedisStoreConfig {
    let url = opt(ctx, t, "url", |c, f| {
        // A plain string, or a secret reference when it carries a password.
        let url = match f.node.as_str() {
            Some(s) => Secret::new(s),
            None => secret_ref::secret(c, f)?,
        };
        match check_store_url(url.expose()) {
            Ok(()) => Some(url),
            Err(message) => {
                c.error_at(f, message);
                None
            }
        }
    });
    let url = match override_value(ctx.env, env::STORE_URL) {
        Some(v) => match check_store_url(v.as_bytes()) {
            Ok(()) => Some(Secret::new(v)),
            Err(message) => {
                let var = env::STORE_URL;
                ctx.error(
                    None,
                    "store.url",
                    format!("environment variable {var}: {message}"),
                );
                None
            }
        },
        None => url,
    };
    let key_prefix = opt(ctx, t, "key_prefix", |c, f| {
        let p = c.nonempty_string(f)?;
        if p.contains(['{', '}']) || p.contains(char::is_whitespace) {
            c.error_at(
                f,
                "must not contain braces or whitespace (braces are Redis Cluster hash tags)",
            );
            return None;
        }
        Some(p)
    });
    let ca_file = opt(ctx, t, "ca_file", certificates_file);
    let client_cert_file = opt(ctx, t, "client_cert_file", certificates_file);
    let client_key_file = opt(ctx, t, "client_key_file", key_file);
    // Checked against the URL in effect (the file's or the environment's):
    // TLS files for a plain-TCP store would silently do nothing.
    let plain = url.as_ref().is_some_and(|u| !is_tls_url(u.expose()));
    for key in ["ca_file", "client_cert_file", "client_key_file"] {
        if plain && let Some(f) = t.and_then(|t| t.get(key)) {
            ctx.error_at(
                &f,
                "applies to a TLS store URL only (rediss:// or valkeys://)",
            );
        }
    }
    // A client certificate goes with its key.
    for (have, missing) in [
        ("client_cert_file", "client_key_file"),
        ("client_key_file", "client_cert_file"),
    ] {
        if let Some(t) = t
            && let Some(f) = t.get(have)
            && t.get(missing).is_none()
        {
            ctx.error_at(&f, format!("needs store.{missing} as well"));
        }
    }
    let client_tls = client_cert_file.zip(client_key_file);
    let cluster = t.and_then(|t| t.get("cluster"));
    let topology = match &cluster {
        Some(f) => match ctx.boolean(f) {
            Some(true) => StoreTopology::Cluster,
            _ => StoreTopology::Single,
        },
        None => StoreTopology::Single,
    };
    // Checked against the URL in effect (the file's or the environment's).
    if let (StoreTopology::Cluster, Some(f), Some(url)) = (topology, &cluster, &url)
        && let Err(message) = check_cluster_url(url.expose())
    {
        ctx.error_at(f, message);
    }
    RedisStoreConfig {
        url: url.unwrap_or_else(|| Secret::new("redis://127.0.0.1:6379")),
        allow_eviction: opt(ctx, t, "allow_eviction", Ctx::boolean).unwrap_or(false),
        pool_size: opt(ctx, t, "pool_size", |c, f| c.uint(f, 1, 1 << 16))
            .map_or(16, |n| n as usize),
        key_prefix: key_prefix.unwrap_or_else(|| "hg".to_owned()),
        topology,
        ca_file,
        client_tls,
    }
}

/// A path key: a file that exists, relative to the config file's folder.
fn existing_file(c: &mut Ctx<'_>, f: &Field<'_>) -> Option<std::path::PathBuf> {
    let path = c.nonempty_string(f)?;
    let full = c.base_dir.join(&path);
    if full.is_file() {
        Some(full)
    } else {
        c.error_at(f, format!("no readable file at {}", full.display()));
        None
    }
}

/// A path key naming PEM certificates (CA roots, a client certificate):
/// an existing file read as the store and the delivery client read it
/// ([`crate::pem`]), so check-config refuses what `serve` would.
fn certificates_file(c: &mut Ctx<'_>, f: &Field<'_>) -> Option<std::path::PathBuf> {
    pem_file(c, f, PemKind::Certificates)
}

/// A path key naming a PEM private key, checked like [`certificates_file`].
fn key_file(c: &mut Ctx<'_>, f: &Field<'_>) -> Option<std::path::PathBuf> {
    pem_file(c, f, PemKind::Key)
}

fn pem_file(c: &mut Ctx<'_>, f: &Field<'_>, kind: PemKind) -> Option<std::path::PathBuf> {
    let full = existing_file(c, f)?;
    match crate::pem::read(&full, kind) {
        Ok(_) => Some(full),
        Err(message) => {
            c.error_at(f, message);
            None
        }
    }
}

/// Whether a store URL asks for TLS.
fn is_tls_url(url: &[u8]) -> bool {
    std::str::from_utf8(url)
        .ok()
        .and_then(|t| t.split_once("://"))
        .is_some_and(|(s, _)| TLS_SCHEMES.contains(&s.to_ascii_lowercase().as_str()))
}

/// Checks a store URL as the store will read it: its scheme, then the rest
/// by redis-rs's own rules (host, port, database number, credentials,
/// `protocol`), so `check-config` refuses every URL `serve` would. The
/// message never contains the URL: it may carry a password.
fn check_store_url(url: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(url).map_err(|_| "the store URL is not UTF-8".to_owned())?;
    let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !scheme.is_some_and(|s| STORE_SCHEMES.contains(&s.as_str())) {
        return Err(format!(
            "expected a URL like \"redis://127.0.0.1:6379\" (schemes: {})",
            STORE_SCHEMES.join(", ")
        ));
    }
    // url's and redis-rs's messages are fixed texts, never the input.
    let parsed = url::Url::parse(text).map_err(|e| format!("not a valid URL: {e}"))?;
    redis::IntoConnectionInfo::into_connection_info(parsed)
        .map(drop)
        .map_err(|e| {
            // Its fixed description only ("Missing hostname", "Invalid
            // database number", ...), not the detail after it.
            let text = e.to_string();
            let description = text.split(" - ").next().unwrap_or("invalid").to_owned();
            format!("not a usable Redis URL: {description}")
        })
}

/// Checks that a store URL can reach a Redis Cluster node: a TCP scheme and
/// database 0 (a cluster has no other). Like [`check_store_url`], the
/// message never contains the URL.
fn check_cluster_url(url: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(url).map_err(|_| "the store URL is not UTF-8".to_owned())?;
    let Some((scheme, rest)) = text.split_once("://") else {
        // Already reported by check_store_url.
        return Ok(());
    };
    if !CLUSTER_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "with cluster = true, store.url must be a TCP URL of one cluster node ({}), \
             not a unix socket",
            CLUSTER_SCHEMES.join(", ")
        ));
    }
    // After the credentials (the last '@'), the path is the database.
    let after_auth = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let path = after_auth
        .split_once('/')
        .map_or("", |(_, p)| p.split(['?', '#']).next().unwrap_or(""));
    let query_db = after_auth
        .split_once('?')
        .map(|(_, q)| q.split('&').any(|kv| kv.starts_with("db=") && kv != "db=0"))
        .unwrap_or(false);
    if !(path.is_empty() || path == "0") || query_db {
        return Err(
            "with cluster = true, store.url must select database 0 (a Redis Cluster has no other)"
                .to_owned(),
        );
    }
    Ok(())
}

/// `[delivery]`. Also returns, for the cross-check, `Some(line of
/// visibility_timeout if written)` when `visibility_timeout` is usable, and
/// `None` when it is bad (already reported: no second error about it).
fn delivery(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> (DeliveryConfig, Option<Option<usize>>) {
    let (visibility_timeout, visibility) = match t.and_then(|t| t.get("visibility_timeout")) {
        Some(f) => match duration(ctx, &f, Zero::Refused) {
            Some(d) => (d, Some(f.line)),
            None => (Duration::from_secs(60), None),
        },
        None => (Duration::from_secs(60), Some(None)),
    };
    let d = |ctx: &mut Ctx<'_>, key: &str, default: Duration| {
        opt(ctx, t, key, |c, f| duration(c, f, Zero::Refused)).unwrap_or(default)
    };
    let config = DeliveryConfig {
        visibility_timeout,
        retention: d(ctx, "retention", Duration::from_secs(14 * 86400)),
        poll_interval: d(ctx, "poll_interval", Duration::from_millis(500)),
        nice: opt(ctx, t, "nice", |c, f| c.uint(f, 0, 19)).map_or(10, |n| n as u8),
        ca_file: opt(ctx, t, "ca_file", certificates_file),
    };
    (config, visibility)
}

fn log(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> LogConfig {
    LogConfig {
        format: opt(ctx, t, "format", |c, f| c.choice(f, &["text", "json"]))
            .map_or(LogFormat::Text, |i| [LogFormat::Text, LogFormat::Json][i]),
        level: opt(ctx, t, "level", Ctx::nonempty_string).unwrap_or_else(|| "info".to_owned()),
        otlp_endpoint: opt(ctx, t, "otlp_endpoint", |c, f| {
            let s = c.string(f)?;
            let uri = crate::subscription::absolute_http_url(c, f, &s)?;
            if uri.scheme_str() != Some("http") {
                c.error_at(
                    f,
                    "the OTLP exporter speaks plain http (a local collector or sidecar)",
                );
                return None;
            }
            Some(uri)
        }),
    }
}

/// A source's routes are served by its pool: with fewer `workers` than the
/// `max_in_flight` of the subscriptions its events can reach, together,
/// one stuck subscriber can hold pool capacity the others need. Allowed (a
/// deliberate cap), but said. A subscription none of whose patterns can
/// match the source's types (`{source}.…`, or a `[sources.types]` value)
/// never takes its workers and is not counted.
fn check_pool_sizes(
    ctx: &mut Ctx<'_>,
    sources: &[crate::SourceConfig],
    subscriptions: &[crate::SubscriptionConfig],
) {
    use hookgate_core::glob::Pattern;
    let patterns: Vec<Vec<Pattern>> = subscriptions
        .iter()
        .map(|s| s.events.iter().map(|p| Pattern::new(p)).collect())
        .collect();
    for src in sources {
        let prefix = format!("{}.", src.id);
        let reached: Vec<&crate::SubscriptionConfig> = subscriptions
            .iter()
            .zip(&patterns)
            .filter(|(_, pats)| {
                pats.iter().any(|p| {
                    p.may_match_prefix(&prefix) || src.types.values().any(|t| p.matches(t))
                })
            })
            .map(|(s, _)| s)
            .collect();
        let wanted: usize = reached.iter().map(|s| s.max_in_flight).sum();
        if reached.len() > 1 && src.workers < wanted {
            ctx.warn(
                None,
                &format!("sources.{}.workers", src.id),
                format!(
                    "{} workers serve routes whose max_in_flight add up to {wanted}: a stuck \
                     subscriber can hold capacity the others need; set workers >= {wanted} for \
                     full isolation",
                    src.workers
                ),
            );
        }
    }
}

/// A leased delivery must not return to its queue while its attempt may
/// still be running, so `visibility_timeout` must exceed every `timeout`.
fn check_visibility_timeout(
    ctx: &mut Ctx<'_>,
    vt: Duration,
    visibility_line: Option<usize>,
    timeouts: &[subscription::TimeoutAt],
) {
    for s in timeouts {
        let timeout = s.timeout;
        if vt <= timeout {
            let id = &s.name;
            let at = s.line.map(|l| format!(", line {l}")).unwrap_or_default();
            ctx.error(
                visibility_line.or(s.line),
                "delivery.visibility_timeout",
                format!(
                    "{} must exceed the timeout of subscription {id:?} ({}{at}): \
                     a delivery would be reclaimed while its attempt is still running",
                    duration::show(vt),
                    duration::show(timeout),
                ),
            );
        }
    }
}
