//! `[store]`: which backend, and the Redis backend's URL, TLS files and
//! topology.
//!
//! Why a module: the backend is chosen from the environment, the file or
//! the keys present, and a Redis URL is checked as the store will read it,
//! against the TLS files and the topology in effect.

use super::files::{certificates_file, key_file};
use super::opt;
use crate::duration::{Zero, duration};
use crate::env::{self, override_value};
use crate::model::*;
use crate::raw::{Ctx, Field, Fields};
use crate::secret_ref;
use crate::store_url::StoreUrl;
use std::path::PathBuf;

pub(super) const STORE_KEYS: &[&str] = &[
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

/// URL schemes a Redis Cluster can be reached with (a cluster announces
/// its nodes as host:port, so never a unix socket).
const CLUSTER_SCHEMES: &[&str] = &["redis", "rediss", "valkey", "valkeys"];
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

pub(super) fn store(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> StoreConfig {
    let timeout = opt(ctx, t, "store_timeout", |c, f| {
        duration(c, f, Zero::Refused)
    })
    .unwrap_or(DEFAULT_STORE_TIMEOUT);
    let (redis, by_env) = backend_is_redis(ctx, t);
    // A key of the other backend is a mistake in the file, unless the
    // environment chose the backend: then the file may hold its own
    // default's settings (a baked-in config run against another store).
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

/// Whether the backend is Redis, and whether the environment chose it.
fn backend_is_redis(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> (bool, bool) {
    const BACKENDS: &[&str] = &["sqlite", "redis"];
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
    (redis, from_env.is_some())
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
    let url = store_url(ctx, t);
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
    let (ca_file, client_tls) = tls_files(ctx, t, url.as_ref());
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
    let defaults = RedisStoreConfig::default();
    RedisStoreConfig {
        url: url.unwrap_or(defaults.url),
        allow_eviction: opt(ctx, t, "allow_eviction", Ctx::boolean)
            .unwrap_or(defaults.allow_eviction),
        pool_size: opt(ctx, t, "pool_size", |c, f| c.uint(f, 1, 1 << 16))
            .map_or(defaults.pool_size, |n| n as usize),
        key_prefix: key_prefix.unwrap_or(defaults.key_prefix),
        topology,
        ca_file,
        client_tls,
    }
}

/// `[store] url`, or `HOOKGATE_STORE_URL` over it, parsed as the store
/// will use it ([`StoreUrl`]); `None` when absent or bad (reported).
fn store_url(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> Option<StoreUrl> {
    let url = opt(ctx, t, "url", |c, f| {
        // A plain string, or a secret reference when it carries a password.
        let parsed = match f.node.as_str() {
            Some(s) => StoreUrl::parse(s),
            None => parse_store_url(secret_ref::secret(c, f)?.expose()),
        };
        parsed.map_err(|message| c.error_at(f, message)).ok()
    });
    match override_value(ctx.env, env::STORE_URL) {
        Some(v) => match StoreUrl::parse(&v) {
            Ok(url) => Some(url),
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
    }
}

/// A store URL resolved from a secret reference: UTF-8, then parsed. The
/// message never contains the URL: it may carry a password.
fn parse_store_url(bytes: &[u8]) -> Result<StoreUrl, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the store URL is not UTF-8".to_owned())?;
    StoreUrl::parse(text)
}

/// `ca_file`, and `client_cert_file` with `client_key_file`: checked
/// against the URL in effect (TLS files for a plain-TCP store would
/// silently do nothing), and a client certificate goes with its key.
fn tls_files(
    ctx: &mut Ctx<'_>,
    t: Option<&Fields<'_>>,
    url: Option<&StoreUrl>,
) -> (Option<PathBuf>, Option<(PathBuf, PathBuf)>) {
    let ca_file = opt(ctx, t, "ca_file", certificates_file);
    let client_cert_file = opt(ctx, t, "client_cert_file", certificates_file);
    let client_key_file = opt(ctx, t, "client_key_file", key_file);
    let plain = url.is_some_and(|u| !u.is_tls());
    for key in ["ca_file", "client_cert_file", "client_key_file"] {
        if plain && let Some(f) = t.and_then(|t| t.get(key)) {
            ctx.error_at(
                &f,
                "applies to a TLS store URL only (rediss:// or valkeys://)",
            );
        }
    }
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
    (ca_file, client_cert_file.zip(client_key_file))
}

/// Checks that a store URL can reach a Redis Cluster node: a TCP scheme and
/// database 0 (a cluster has no other). Like [`StoreUrl::parse`], the
/// message never contains the URL.
fn check_cluster_url(url: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(url).map_err(|_| "the store URL is not UTF-8".to_owned())?;
    let Some((scheme, rest)) = text.split_once("://") else {
        // Already reported by StoreUrl::parse.
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
