//! Hookgate's configuration: one TOML file in, a validated [`Config`] out.
//!
//! ## Overview
//!
//! [`load`] reads a file and [`parse`] validates its text. Both return
//! either a [`Config`] in which every value has been checked (durations
//! parsed, secrets resolved, ids well-formed, URLs parsed, defaults applied)
//! or [`ConfigErrors`]: **every** problem in the file at once, each naming
//! the file, the 1-based line and the key path:
//!
//! ```text
//! error in config/hookgate.toml:42: sources.stripe.tolerance: expected a duration like "30s" ...
//! ```
//!
//! Problems that do not stop the gateway (a placeholder admin token hash, a
//! literal `{ value = ... }` secret) are returned as [`Config::warnings`].
//!
//! The rules, in short (docs/configuration.md; each key's default is documented on the
//! fields in [`model`] and in `config/hookgate.example.toml`):
//! - unknown keys are rejected at every level, with the list of allowed keys;
//! - durations are strings with a unit (`"30s"`, `"7d"`);
//! - secrets are references, `{ env = "NAME" }`, `{ file = "path" }` or
//!   `{ value = "..." }`, never bare strings, and never printed;
//! - `HOOKGATE_SERVER_LISTEN`, `HOOKGATE_ADMIN_LISTEN` and
//!   `HOOKGATE_STORE_URL` override the file, read through [`Env`].
//!
//! ## Layout
//!
//! The parse runs in two stages: `toml_edit` keeps the span of every key
//! and value, then the section builders read that tree with typed readers
//! that record errors instead of returning early.
//! - `raw`: the span-keeping walk: lines, key paths, typed readers.
//! - `duration`, `secret_ref`: the two value kinds with rules of their own.
//! - `store_url`: `[store] url` parsed into a [`StoreUrl`], so the config
//!   needs no Redis client to check one.
//! - `validate`: the root and the readers sections share; a module per
//!   gateway-wide section (`[server]`, `[admin]`, `[store]`, `[delivery]`,
//!   `[log]`), listen addresses, path keys naming files, and the checks that
//!   span sections.
//! - [`model`]: the finished values, and the one home of every default.
//! - `source`, `subscription`: `[[sources]]` and `[[subscriptions]]`.
//! - [`mod@env`]: the [`Env`] trait and the `HOOKGATE_*` override names.
//! - `error`: [`ConfigError`] and [`ConfigErrors`].
//!
//! Whether a source's `scheme` exists and fits its params is checked by
//! `hookgate-verify`, which is why [`SourceConfig::scheme_line`] is kept.

mod duration;
pub mod env;
mod error;
pub mod model;
pub mod pem;
mod raw;
mod secret_ref;
mod source;
mod store_url;
mod subscription;
mod validate;

pub use duration::show as show_duration;
pub use env::{Env, MapEnv, ProcessEnv};
pub use error::{ConfigError, ConfigErrors};
pub use model::*;

/// Attempts kept per delivery in its attempt log (the oldest go first);
/// check-config warns about a `max_attempts` above it.
pub const ATTEMPT_LOG_CAP: usize = 100;
use std::path::{Path, PathBuf};

/// Reads and validates the file at `path`.
pub fn load(path: &Path, env: &dyn Env) -> Result<Config, ConfigErrors> {
    load_with_sources(path, env).map_err(|(errors, _)| errors)
}

/// [`load`], but a file with errors also hands back the sources that
/// parsed, so `check-config` can judge their schemes in the same run
/// instead of hiding those errors until the others are fixed.
pub fn load_with_sources(
    path: &Path,
    env: &dyn Env,
) -> Result<Config, (ConfigErrors, Vec<SourceConfig>)> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_with_sources(&text, path, env),
        Err(e) => Err((
            ConfigErrors(vec![ConfigError {
                file: path.display().to_string(),
                line: None,
                key: "(file)".to_owned(),
                message: format!("cannot read the configuration file: {e}"),
            }]),
            Vec::new(),
        )),
    }
}

/// Validates `text` as if read from `path` (relative `{ file = ... }`
/// secrets resolve against `path`'s directory).
pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Config, ConfigErrors> {
    parse_with_sources(text, path, env).map_err(|(errors, _)| errors)
}

/// [`parse`], with the sources that parsed on failure (see
/// [`load_with_sources`]).
/// The dotted path of the key a "duplicate key" parse error points at: the
/// key itself, under the table header above it (or the header itself when
/// a table is declared twice).
fn duplicate_key(text: &str, message: &str, span: std::ops::Range<usize>) -> Option<String> {
    if message != "duplicate key" {
        return None;
    }
    let unquote = |k: &str| k.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
    let key = unquote(text.get(span.clone())?);
    if key.is_empty() {
        return None;
    }
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim_start();
    if line.starts_with('[') {
        // A table (or array of tables) header: its own name is the path.
        let name = line.trim_start_matches('[').split(']').next().unwrap_or("");
        return Some(name.split('.').map(unquote).collect::<Vec<_>>().join("."));
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim_start)
        .find(|l| l.starts_with('['))
        .map(|h| {
            let name = h.trim_start_matches('[').split(']').next().unwrap_or("");
            name.split('.').map(unquote).collect::<Vec<_>>().join(".")
        });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key,
    })
}

pub fn parse_with_sources(
    text: &str,
    path: &Path,
    env: &dyn Env,
) -> Result<Config, (ConfigErrors, Vec<SourceConfig>)> {
    let file = path.display().to_string();
    let base_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut ctx = raw::Ctx::new(file, text, base_dir, env);

    let doc = match toml_edit::Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            // Only the message and the span: `TomlError`'s Display quotes
            // the offending line, which may hold a secret.
            let line = ctx.line_of(e.span());
            let message = e.message().trim_end().to_owned();
            match e
                .span()
                .and_then(|span| duplicate_key(text, &message, span))
            {
                // The key a duplicate names (keys are never secrets).
                Some(key) => ctx.error(line, &key, "duplicate key: already set above".to_owned()),
                None => ctx.error(line, "(syntax)", format!("invalid TOML: {message}")),
            }
            let (errors, _) = ctx.finish();
            return Err((ConfigErrors(errors), Vec::new()));
        }
    };

    let config = validate::build(doc.as_table(), path, &mut ctx);
    let failed = ctx.has_errors();
    let (mut errors, mut warnings) = ctx.finish();
    match config {
        Some(mut config) if !failed => {
            error::sort_by_line(&mut warnings);
            config.warnings = warnings;
            Ok(config)
        }
        _ => {
            error::sort_by_line(&mut errors);
            let sources = config.map(|c| c.sources).unwrap_or_default();
            Err((ConfigErrors(errors), sources))
        }
    }
}
