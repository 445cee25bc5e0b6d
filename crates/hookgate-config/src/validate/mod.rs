//! From the parsed document to a [`Config`]: the root, the readers every
//! section shares, and the order sections are built in.
//!
//! Why split: each gateway-wide section has rules of its own, so each has
//! a module ([`server`], [`admin`], [`store`], [`delivery`], [`log`]);
//! listen addresses, which two sections and the environment share, are in
//! [`listen`]; path keys naming files in [`files`]; rules that span
//! sections (`visibility_timeout` versus every subscription's `timeout`,
//! pool sizes versus the subscriptions a source reaches) in [`cross`].
//! `[[sources]]` and `[[subscriptions]]` have their own modules
//! ([`crate::source`], [`crate::subscription`]) and use the shared readers
//! here (`optional`, `read_id`, `check_unique`, `rate_limit`).
//!
//! Every builder reads every key it knows before giving up, so one bad key
//! never hides the next one. A builder returns its section with defaults in
//! place of bad values; the caller discards the whole `Config` if any error
//! was recorded, so a placeholder never escapes.

mod admin;
mod cross;
mod delivery;
mod files;
mod listen;
mod log;
mod server;
mod store;

use crate::model::*;
use crate::raw::{Ctx, Field, Fields};
use crate::{env, source, subscription};
use std::collections::HashMap;
use std::path::Path;

const ROOT_KEYS: &[&str] = &[
    "server",
    "admin",
    "store",
    "delivery",
    "log",
    "sources",
    "subscriptions",
];
const RATE_LIMIT_KEYS: &[&str] = &["per_second", "burst"];

/// Builds the whole configuration. Returns `None` only when the document
/// root could not be read at all; otherwise the caller checks the errors
/// recorded in `ctx`.
pub(crate) fn build(root: &toml_edit::Table, path: &Path, ctx: &mut Ctx<'_>) -> Option<Config> {
    let root_field = ctx.root(root);
    let top = ctx.table_of(&root_field, ROOT_KEYS)?;

    let t = section(ctx, &top, "server", server::SERVER_KEYS);
    let server_at = listen::listen_origin(ctx, t.as_ref(), env::SERVER_LISTEN);
    let server = server::server(ctx, t.as_ref());
    let t = section(ctx, &top, "admin", admin::ADMIN_KEYS);
    let admin_at = listen::listen_origin(ctx, t.as_ref(), env::ADMIN_LISTEN);
    let admin = admin::admin(ctx, t.as_ref());
    listen::check_listeners(ctx, (server.listen, server_at), (admin.listen, admin_at));
    let t = section(ctx, &top, "store", store::STORE_KEYS);
    let store = store::store(ctx, t.as_ref());
    let t = section(ctx, &top, "delivery", delivery::DELIVERY_KEYS);
    let (delivery, visibility) = delivery::delivery(ctx, t.as_ref());
    let t = section(ctx, &top, "log", log::LOG_KEYS);
    let log = log::log(ctx, t.as_ref());

    let sources = match top.get("sources") {
        Some(f) => source::sources(ctx, &f),
        None => Vec::new(),
    };
    let (subscriptions, timeouts) = match top.get("subscriptions") {
        Some(f) => subscription::subscriptions(ctx, &f),
        None => (Vec::new(), Vec::new()),
    };
    if let Some(line) = visibility {
        cross::check_visibility_timeout(ctx, delivery.visibility_timeout, line, &timeouts);
    }
    cross::check_pool_sizes(ctx, &sources, &subscriptions);

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
