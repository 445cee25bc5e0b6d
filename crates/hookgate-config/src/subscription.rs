//! `[[subscriptions]]`: one internal consumer each.
//!
//! Besides shape and defaults, this is where outbound signing keys are
//! decoded: `secret` or `secrets` (exactly one) hold Standard Webhooks keys
//! (`whsec_` + base64), and `SubscriptionConfig::secrets` holds the decoded
//! key bytes, so a key that cannot sign is found by `check-config`, not by
//! the first delivery.
//!
//! `ordering` is read into a typed [`Ordering`]: the pointer checked as
//! RFC 6901 and the header name as HTTP allows, so a key that could never
//! be found is refused here instead of silently leaving every event
//! unordered.

use crate::duration::{Zero, duration};
use crate::model::{
    BreakerConfig, DEFAULT_SUBSCRIPTION_MAX_IN_FLIGHT, DEFAULT_SUBSCRIPTION_TIMEOUT,
    MIN_SIGNING_KEY_BYTES, Ordering, RetryPolicy, SHORT_SIGNING_KEY, SubscriptionConfig,
};
use crate::raw::{Ctx, Field};
use crate::secret_ref::{self, decode_standard_webhooks_key};
use crate::validate::{check_unique, optional, rate_limit, read_id};
use hookgate_core::Secret;
use hookgate_core::glob::Pattern;
use std::time::Duration;

const SUBSCRIPTION_KEYS: &[&str] = &[
    "id",
    "tenant",
    "url",
    "events",
    "secret",
    "secrets",
    "timeout",
    "max_in_flight",
    "rate_limit",
    "retry",
    "breaker",
    "ordering",
];
const ORDERING_KEYS: &[&str] = &["pointer", "header"];
const RETRY_KEYS: &[&str] = &["max_attempts", "base_delay", "max_delay", "max_age"];
const BREAKER_KEYS: &[&str] = &["failures", "cooldown"];

/// A subscription's `timeout`, where it was written (or its header when the
/// default applies), for the `visibility_timeout` cross-check. Kept even
/// when another key of the subscription is bad, so that check still runs.
pub(crate) struct TimeoutAt {
    /// The subscription's id, or its path when it has no valid id.
    pub(crate) name: String,
    pub(crate) timeout: Duration,
    pub(crate) line: Option<usize>,
}

/// Reads every `[[subscriptions]]` entry and checks ids are unique.
pub(crate) fn subscriptions(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
) -> (Vec<SubscriptionConfig>, Vec<TimeoutAt>) {
    let mut out = Vec::new();
    let mut timeouts = Vec::new();
    let mut ids = Vec::new();
    for item in ctx.array(field).unwrap_or_default() {
        let Some(mut t) = ctx.table(&item) else {
            continue;
        };
        let id = read_id(ctx, &mut t, "subscriptions");
        if let Some(id) = &id {
            let line = t.get("id").and_then(|f| f.line);
            ids.push((id.clone(), line, t.key_path("id")));
        }
        ctx.check_keys(&t, SUBSCRIPTION_KEYS);
        let name = id.clone().unwrap_or_else(|| item.path.clone());
        let (config, timeout) = subscription(ctx, &t, id);
        out.extend(config);
        timeouts.extend(timeout.map(|(timeout, line)| TimeoutAt {
            name,
            timeout,
            line,
        }));
    }
    check_unique(
        ctx,
        "subscription id",
        ids.iter()
            .map(|(id, line, path)| (id.as_str(), *line, path.clone())),
    );
    (out, timeouts)
}

fn subscription(
    ctx: &mut Ctx<'_>,
    t: &crate::raw::Fields<'_>,
    id: Option<String>,
) -> (
    Option<SubscriptionConfig>,
    Option<(Duration, Option<usize>)>,
) {
    let tenant = match t.get("tenant") {
        Some(f) => ctx.nonempty_string(&f).map(Some),
        None => Some(None),
    };
    let url = match t.get("url") {
        Some(f) => ctx.string(&f).and_then(|s| absolute_http_url(ctx, &f, &s)),
        None => {
            ctx.missing(t, "url", "the http(s) endpoint to deliver to");
            None
        }
    };
    let events = events(ctx, t);
    let secrets = signing_keys(ctx, t);
    let timeout_field = t.get("timeout");
    let timeout_line = timeout_field.as_ref().and_then(|f| f.line).or(t.line);
    let timeout = match &timeout_field {
        Some(f) => duration(ctx, f, Zero::Refused),
        None => Some(DEFAULT_SUBSCRIPTION_TIMEOUT),
    };
    let max_in_flight = match t.get("max_in_flight") {
        Some(f) => ctx.uint(&f, 1, 1 << 20).map(|n| n as usize),
        None => Some(DEFAULT_SUBSCRIPTION_MAX_IN_FLIGHT),
    };
    let rate = match t.get("rate_limit") {
        Some(f) => rate_limit(ctx, &f).map(Some),
        None => Some(None),
    };
    let retry = match t.get("retry") {
        Some(f) => retry(ctx, &f),
        None => Some(RetryPolicy::default()),
    };
    let breaker = match t.get("breaker") {
        Some(f) => breaker(ctx, &f),
        None => Some(BreakerConfig::default()),
    };
    let ordering = match t.get("ordering") {
        Some(f) => {
            let o = ordering(ctx, &f);
            if o.is_some() && max_in_flight == Some(1) {
                ctx.warn_at(
                    &f,
                    "with max_in_flight = 1 only one delivery is in flight at a time, so \
                     ordering keys cannot go in parallel: a slow answer for one key delays \
                     every other key; raise max_in_flight to let keys go side by side",
                );
            }
            o.map(Some)
        }
        None => Some(None),
    };
    let config = || {
        Some(SubscriptionConfig {
            id: id?,
            tenant: tenant?,
            url: url?,
            events: events?,
            secrets: secrets?,
            timeout: timeout?,
            max_in_flight: max_in_flight?,
            rate_limit: rate?,
            retry: retry?,
            breaker: breaker?,
            ordering: ordering?,
        })
    };
    (config(), timeout.map(|d| (d, timeout_line)))
}

/// `events`: at least one pattern, compiled.
fn events(ctx: &mut Ctx<'_>, t: &crate::raw::Fields<'_>) -> Option<Vec<Pattern>> {
    match t.get("events") {
        Some(f) => match ctx.string_list(&f, true) {
            Some(list) if list.is_empty() => {
                ctx.error_at(
                    &f,
                    "must list at least one event pattern, e.g. [\"payment.*\"]",
                );
                None
            }
            other => other.map(|list| list.iter().map(|p| Pattern::new(p)).collect()),
        },
        None => {
            ctx.missing(t, "events", "event type patterns, e.g. [\"payment.*\"]");
            None
        }
    }
}

/// `secret = {...}` or `secrets = [{...}, ...]`, exactly one, each a
/// Standard Webhooks key, returned decoded.
fn signing_keys(ctx: &mut Ctx<'_>, t: &crate::raw::Fields<'_>) -> Option<Vec<Secret>> {
    let raw: Vec<(Secret, Field<'_>)> = match (t.get("secret"), t.get("secrets")) {
        (Some(one), None) => vec![(secret_ref::secret(ctx, &one)?, one)],
        (None, Some(many)) => {
            let items = ctx.array(&many)?;
            if items.is_empty() {
                ctx.error_at(&many, "must hold at least one secret reference");
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for item in items {
                match secret_ref::secret(ctx, &item) {
                    Some(s) => out.push((s, item)),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            out
        }
        (Some(_), Some(many)) => {
            ctx.error_at(
                &many,
                "give either `secret` or `secrets`, not both (`secrets` lists several during a rotation)",
            );
            return None;
        }
        (None, None) => {
            ctx.missing(
                t,
                "secret",
                "a Standard Webhooks signing key, or `secrets` for several",
            );
            return None;
        }
    };
    let mut keys = Vec::with_capacity(raw.len());
    let mut ok = true;
    for (secret, field) in raw {
        match decode_standard_webhooks_key(&secret) {
            Ok(key) => {
                if key.expose().len() < MIN_SIGNING_KEY_BYTES {
                    ctx.warn_at(&field, SHORT_SIGNING_KEY);
                }
                keys.push(key);
            }
            // Not base64: the gateway can still sign with the bytes as
            // given (the config is accepted), but a subscriber's Standard
            // Webhooks library will not verify with such a secret: say so.
            Err(_)
                if !secret_ref::standard_webhooks_key_text(&secret).is_empty()
                    && !secret_ref::is_blank(secret_ref::standard_webhooks_key_text(&secret)) =>
            {
                ctx.warn_at(
                    &field,
                    "not a Standard Webhooks signing key (\"whsec_\" + base64): its bytes are used as the HMAC key as they are, which Standard Webhooks libraries will not verify; use whsec_<base64>",
                );
                keys.push(secret);
            }
            Err(message) => {
                ctx.error_at(&field, message);
                ok = false;
            }
        }
    }
    ok.then_some(keys)
}

/// `retry = { max_attempts, base_delay, max_delay, max_age }`.
fn retry(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<RetryPolicy> {
    let t = ctx.table_of(field, RETRY_KEYS)?;
    let defaults = RetryPolicy::default();
    let max_attempts = match t.get("max_attempts") {
        Some(f) => {
            let n = ctx.uint(&f, 1, u64::from(u32::MAX)).map(|n| n as u32);
            if n.is_some_and(|n| n as usize > crate::ATTEMPT_LOG_CAP) {
                ctx.warn_at(
                    &f,
                    format!(
                        "a delivery's attempt log keeps its last {} attempts: the earlier \
                         ones of a longer retry budget are dropped from it",
                        crate::ATTEMPT_LOG_CAP
                    ),
                );
            }
            n
        }
        None => Some(defaults.max_attempts),
    };
    let d = |ctx: &mut Ctx<'_>, key: &str, default: Duration| match t.get(key) {
        Some(f) => duration(ctx, &f, Zero::Refused),
        None => Some(default),
    };
    let base_delay = d(ctx, "base_delay", defaults.base_delay);
    let max_delay = d(ctx, "max_delay", defaults.max_delay);
    let max_age = d(ctx, "max_age", defaults.max_age);
    let (base_delay, max_delay) = (base_delay?, max_delay?);
    if max_delay < base_delay {
        let line = t.get("max_delay").or_else(|| t.get("base_delay"));
        let (line, key) = match &line {
            Some(f) => (f.line, f.path.clone()),
            None => (t.line, t.key_path("max_delay")),
        };
        let (max, base) = (
            crate::duration::show(max_delay),
            crate::duration::show(base_delay),
        );
        ctx.error(
            line,
            &key,
            format!("max_delay ({max}) must be at least base_delay ({base})"),
        );
        return None;
    }
    Some(RetryPolicy {
        max_attempts: max_attempts?,
        base_delay,
        max_delay,
        max_age: max_age?,
    })
}

/// `breaker = { failures, cooldown }`.
fn breaker(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<BreakerConfig> {
    let t = ctx.table_of(field, BREAKER_KEYS)?;
    let defaults = BreakerConfig::default();
    let failures = optional(ctx, &t, "failures", |c, f| {
        c.uint(f, 1, u64::from(u32::MAX))
    });
    let cooldown = optional(ctx, &t, "cooldown", |c, f| duration(c, f, Zero::Refused));
    Some(BreakerConfig {
        failures: failures?.map_or(defaults.failures, |n| n as u32),
        cooldown: cooldown?.unwrap_or(defaults.cooldown),
    })
}

/// `ordering = "subject"`, `{ pointer = "/json/pointer" }` or
/// `{ header = "Name" }`.
fn ordering(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<Ordering> {
    const WHAT: &str =
        "\"subject\", { pointer = \"/json/pointer\" } or { header = \"Header-Name\" }";
    if let Some(s) = field.node.as_str() {
        if s == "subject" {
            return Some(Ordering::Subject);
        }
        ctx.error_at(field, format!("expected {WHAT}, found {s:?}"));
        return None;
    }
    if !field.node.is_table() {
        let found = field.node.kind();
        ctx.error_at(field, format!("expected {WHAT}, found {found}"));
        return None;
    }
    let t = ctx.table_of(field, ORDERING_KEYS)?;
    match (t.get("pointer"), t.get("header")) {
        (Some(f), None) => {
            let p = ctx.string(&f)?;
            match json_pointer(&p) {
                Ok(()) => Some(Ordering::Pointer(p)),
                Err(message) => {
                    ctx.error_at(&f, message);
                    None
                }
            }
        }
        (None, Some(f)) => {
            let name = ctx.nonempty_string(&f)?;
            match http::HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => Some(Ordering::Header(h)),
                Err(_) => {
                    ctx.error_at(
                        &f,
                        format!(
                            "{name:?} is not a valid header name (letters, digits and \
                             !#$%&'*+-.^_`|~ only)"
                        ),
                    );
                    None
                }
            }
        }
        (Some(_), Some(f)) => {
            ctx.error_at(&f, "give either `pointer` or `header`, not both");
            None
        }
        // Unknown keys were reported by `table_of`.
        (None, None) if !t.all().is_empty() => None,
        (None, None) => {
            ctx.error(
                t.line,
                &field.path,
                format!("expected {WHAT}, found an empty table"),
            );
            None
        }
    }
}

/// Checks an RFC 6901 JSON pointer: starts with `/` (the empty pointer,
/// the whole payload, is refused: a payload is not a key), and `~` is
/// only ever followed by `0` or `1`.
fn json_pointer(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!(
            "a JSON pointer (RFC 6901) starts with \"/\", e.g. \"/data/object/id\"; found {p:?}"
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "in a JSON pointer \"~\" must be followed by 0 (for ~) or 1 (for /); found {p:?}"
            ));
        }
    }
    Ok(())
}

/// Parses `s` as an absolute `http`/`https` URL with a host.
pub(crate) fn absolute_http_url(
    ctx: &mut Ctx<'_>,
    field: &Field<'_>,
    s: &str,
) -> Option<http::Uri> {
    let uri: http::Uri = match s.parse() {
        Ok(u) => u,
        Err(e) => {
            ctx.error_at(
                field,
                format!("not a URL ({e}): expected e.g. \"https://example.com/events\""),
            );
            return None;
        }
    };
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if !scheme_ok || !host_ok {
        ctx.error_at(
            field,
            "expected an absolute http or https URL with a host, e.g. \"https://example.com/events\"",
        );
        return None;
    }
    Some(uri)
}
