//! `[server]`: the public ingest listener's limits and the instance id.
//!
//! Why a module: the body budget's default depends on `max_body_bytes`,
//! and the instance id falls back from the environment to the file to the
//! host name; both rules are the server's alone.

use super::listen::listen_override;
use super::opt;
use crate::duration::{Zero, duration};
use crate::env::{self, override_value};
use crate::model::*;
use crate::raw::{Ctx, Fields};

pub(super) const SERVER_KEYS: &[&str] = &[
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

pub(super) fn server(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> ServerConfig {
    let defaults = ServerConfig::defaults(String::new());
    let listen = opt(ctx, t, "listen", Ctx::socket_addr);
    let listen = listen_override(ctx, env::SERVER_LISTEN, "server.listen").or(listen);
    let max_body_bytes = opt(ctx, t, "max_body_bytes", |c, f| c.uint(f, 1, u64::MAX))
        .unwrap_or(defaults.max_body_bytes);
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
        None => ServerConfig::default_body_buffer_bytes(max_body_bytes),
    };
    ServerConfig {
        listen: listen.unwrap_or(defaults.listen),
        max_body_bytes,
        max_body_buffer_bytes,
        read_timeout: opt(ctx, t, "read_timeout", |c, f| duration(c, f, Zero::Refused))
            .unwrap_or(defaults.read_timeout),
        header_read_timeout: opt(ctx, t, "header_read_timeout", |c, f| {
            duration(c, f, Zero::Refused)
        })
        .unwrap_or(defaults.header_read_timeout),
        max_headers: opt(ctx, t, "max_headers", |c, f| c.uint(f, 1, 10_000))
            .map_or(defaults.max_headers, |n| n as usize),
        // Within hyper's read buffer (8 KiB at least, about 408 KiB at
        // most): a head must fit in it whatever this says, so a larger
        // limit would be a promise the listener cannot keep.
        max_header_bytes: opt(ctx, t, "max_header_bytes", |c, f| {
            c.uint(f, 8192, 400 * 1024)
        })
        .map_or(defaults.max_header_bytes, |n| n as usize),
        shutdown_grace: opt(ctx, t, "shutdown_grace", |c, f| {
            duration(c, f, Zero::Allowed)
        })
        .unwrap_or(defaults.shutdown_grace),
        max_in_flight_per_source: opt(ctx, t, "max_in_flight_per_source", |c, f| {
            c.uint(f, 1, 1 << 20)
        })
        .map_or(defaults.max_in_flight_per_source, |n| n as usize),
        instance_id: instance_id(ctx, t),
    }
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
