//! `[[sources]]`: one inbound integration each.
//!
//! The parser checks the shape (types, durations, limits, the `types`
//! table, `public_url`) and collects scheme-specific keys listed in
//! [`SCHEME_KEYS`] into `params` as strings. It does not judge the scheme:
//! whether `scheme = "stripe"` exists and whether its params and secrets
//! fit is `hookgate-verify`'s call, which is why `scheme_line` and the line
//! of every other key (`key_lines`) are kept.
//! Secrets may therefore be empty here.

use crate::duration::{Zero, duration};
use crate::model::{DEFAULT_SOURCE_WORKERS, SCHEME_KEYS, SourceConfig};
use crate::raw::{Ctx, Field, Fields};
use crate::secret_ref;
use crate::validate::{check_unique, optional, rate_limit, read_id};
use std::collections::BTreeMap;

const SOURCE_KEYS: &[&str] = &[
    "id",
    "scheme",
    "secrets",
    "tolerance",
    "dedup_window",
    "rate_limit",
    "types",
    "workers",
    "public_url",
];

/// Reads every `[[sources]]` entry and checks ids are unique.
pub(crate) fn sources(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Vec<SourceConfig> {
    let mut out = Vec::new();
    let mut ids = Vec::new();
    for item in ctx.array(field).unwrap_or_default() {
        let (parsed, id) = source(ctx, &item);
        if let Some(id) = id {
            ids.push(id);
        }
        out.extend(parsed);
    }
    check_unique(
        ctx,
        "source id",
        ids.iter()
            .map(|(id, line, path)| (id.as_str(), *line, path.clone())),
    );
    out
}

type IdAt = (String, Option<usize>, String);

/// One source; also returns its id and where it was written (for the
/// uniqueness check), even when another key of the source is bad.
fn source(ctx: &mut Ctx<'_>, field: &Field<'_>) -> (Option<SourceConfig>, Option<IdAt>) {
    let Some(mut t) = ctx.table(field) else {
        return (None, None);
    };
    let id = read_id(ctx, &mut t, "sources");
    let id_at = id.clone().map(|id| {
        let f = t.get("id");
        (id, f.as_ref().and_then(|f| f.line), t.key_path("id"))
    });
    let allowed: Vec<&str> = SOURCE_KEYS.iter().chain(SCHEME_KEYS).copied().collect();
    ctx.check_keys(&t, &allowed);

    let (scheme, scheme_line) = match t.get("scheme") {
        Some(f) => (ctx.nonempty_string(&f), f.line),
        None => {
            ctx.missing(&t, "scheme", "a verification scheme like \"stripe\"");
            (None, None)
        }
    };
    let secrets = optional(ctx, &t, "secrets", secret_ref::secret_list);
    let tolerance = optional(ctx, &t, "tolerance", |c, f| duration(c, f, Zero::Refused));
    let dedup_window = optional(ctx, &t, "dedup_window", |c, f| {
        duration(c, f, Zero::Refused)
    });
    let rate = optional(ctx, &t, "rate_limit", rate_limit);
    let types = optional(ctx, &t, "types", types);
    let workers = optional(ctx, &t, "workers", |c, f| c.uint(f, 1, 1 << 16));
    let public_url = optional(ctx, &t, "public_url", public_url);
    let key_lines = key_lines(ctx, &t, secrets.as_ref().is_some_and(Option::is_some));
    let mut params = BTreeMap::new();
    let mut params_ok = true;
    for key in SCHEME_KEYS {
        if let Some(f) = t.get(key) {
            match ctx.string(&f) {
                Some(v) => {
                    params.insert((*key).to_owned(), v);
                }
                None => params_ok = false,
            }
        }
    }

    let build = || {
        Some(SourceConfig {
            id: id?,
            scheme: scheme?,
            scheme_line: scheme_line?,
            key_lines,
            // Secrets may be empty here: whether a scheme needs one is
            // hookgate-verify's call.
            secrets: secrets?.unwrap_or_default(),
            tolerance: tolerance?,
            dedup_window: dedup_window?,
            rate_limit: rate?,
            types: types?.unwrap_or_default(),
            workers: workers?.map_or(DEFAULT_SOURCE_WORKERS, |n| n as usize),
            public_url: public_url?,
            params: params_ok.then_some(params)?,
        })
    };
    (build(), id_at)
}

/// The line of each key of the source, and of each `secrets[i]` when the
/// list was read (so reading it again reports nothing new).
fn key_lines(ctx: &mut Ctx<'_>, t: &Fields<'_>, secrets_read: bool) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = t
        .all()
        .into_iter()
        .filter_map(|(key, f)| Some((key.to_owned(), f.line?)))
        .collect();
    if secrets_read && let Some(f) = t.get("secrets") {
        for (i, item) in ctx.array(&f).unwrap_or_default().iter().enumerate() {
            if let Some(line) = item.line {
                out.insert(format!("secrets[{i}]"), line);
            }
        }
    }
    out
}

/// `[sources.types]`: provider type -> normalized type, both strings.
fn types(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<BTreeMap<String, String>> {
    let t = ctx.table(field)?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (key, f) in t.all() {
        match ctx.nonempty_string(&f) {
            Some(v) => {
                out.insert(key.to_owned(), v);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `public_url`: absolute `http(s)` with a host and no query (the query of
/// each request is appended to it).
fn public_url(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<String> {
    let s = ctx.string(field)?;
    let uri = crate::subscription::absolute_http_url(ctx, field, &s)?;
    if uri.query().is_some() {
        ctx.error_at(
            field,
            "must not contain a query: the query of each request is appended to it",
        );
        return None;
    }
    Some(s)
}
