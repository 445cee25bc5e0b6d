//! `[log]`: format, level and the optional OTLP endpoint.
//!
//! Why a module: one per section, so a section's rules are found by name.

use super::opt;
use crate::model::*;
use crate::raw::Ctx;
use crate::raw::Fields;

pub(super) const LOG_KEYS: &[&str] = &["format", "level", "otlp_endpoint"];

pub(super) fn log(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> LogConfig {
    let defaults = LogConfig::default();
    LogConfig {
        format: opt(ctx, t, "format", |c, f| c.choice(f, &["text", "json"]))
            .map_or(defaults.format, |i| [LogFormat::Text, LogFormat::Json][i]),
        level: opt(ctx, t, "level", Ctx::nonempty_string).unwrap_or(defaults.level),
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
