//! Secret references: how a secret gets from the deployment into a [`Secret`].
//!
//! A secret is never written as a bare string. It is one of:
//! - `{ env = "NAME" }`: the environment variable `NAME` (read through
//!   [`Env`](crate::Env)); unset or empty is an error naming the variable;
//! - `{ file = "path" }`: the file's bytes, the path relative to the config
//!   file's directory; ONE trailing `"\n"` or `"\r\n"` is stripped, because
//!   `echo secret > file` and Kubernetes secret volumes both leave one;
//! - `{ value = "..." }`: literal, for local demos only (a warning says so).
//!
//! Whatever the form, a value that is empty or only whitespace once
//! resolved is an error: it is an unset variable or an empty file in
//! disguise (`FOO=" "`, a file holding a blank line), never a key anyone
//! meant, and an HMAC keyed with it is one anybody can compute.
//!
//! The value is wrapped in [`Secret`] as soon as it is read. No message in
//! this module contains the value, nor the text of a bare string written
//! where a reference was expected (that text is most likely the secret).

use crate::raw::{Ctx, Field, Node};
use base64::Engine as _;
use hookgate_core::Secret;

const FORMS: &str =
    "expected a secret reference: { env = \"NAME\" }, { file = \"path\" } or { value = \"...\" }";

/// Reads `field` as a secret reference and resolves it to raw bytes.
pub(crate) fn secret(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<Secret> {
    if !field.node.is_table() {
        let found = field.node.kind();
        let hint = if matches!(field.node, Node::Value(toml_edit::Value::String(_))) {
            " (a bare string is refused so secrets stay out of config files)"
        } else {
            ""
        };
        ctx.error_at(field, format!("{FORMS}, found {found}{hint}"));
        return None;
    }
    let table = ctx.table_of(field, &["env", "file", "value"])?;
    let forms: Vec<_> = ["env", "file", "value"]
        .iter()
        .filter_map(|k| table.get(k).map(|f| (*k, f)))
        .collect();
    let [(form, inner)] = forms.as_slice() else {
        if forms.len() > 1 {
            ctx.error_at(
                field,
                format!("{FORMS}: give exactly one of env, file, value"),
            );
        } else if table.all().is_empty() {
            ctx.error_at(field, FORMS);
        }
        // With only unknown keys, `table_of` has already said so.
        return None;
    };
    // Strings only. The value itself is not echoed on a type error.
    let Some(text) = inner.node.as_str() else {
        let found = inner.node.kind();
        ctx.error_at(inner, format!("expected a string, found {found}"));
        return None;
    };
    match *form {
        "env" => from_env(ctx, inner, text),
        "file" => from_file(ctx, inner, text),
        _ => from_value(ctx, inner, text),
    }
}

/// Reads `field` as a list of secret references (`secrets = [...]`).
pub(crate) fn secret_list(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<Vec<Secret>> {
    let items = ctx.array(field)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in &items {
        match secret(ctx, item) {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn from_env(ctx: &mut Ctx<'_>, field: &Field<'_>, name: &str) -> Option<Secret> {
    if name.is_empty() {
        ctx.error_at(field, "the environment variable name must not be empty");
        return None;
    }
    match ctx.env.var(name) {
        None => {
            ctx.error_at(field, format!("environment variable {name} is not set"));
            None
        }
        Some(v) if v.is_empty() => {
            ctx.error_at(
                field,
                format!("environment variable {name} is set but empty"),
            );
            None
        }
        Some(v) if is_blank(v.as_bytes()) => {
            ctx.error_at(
                field,
                format!("environment variable {name} holds only whitespace"),
            );
            None
        }
        Some(v) => Some(Secret::new(v)),
    }
}

fn from_file(ctx: &mut Ctx<'_>, field: &Field<'_>, path: &str) -> Option<Secret> {
    if path.is_empty() {
        ctx.error_at(field, "the file path must not be empty");
        return None;
    }
    let full = ctx.base_dir.join(path);
    match std::fs::read(&full) {
        Ok(mut bytes) => {
            strip_one_newline(&mut bytes);
            if bytes.is_empty() {
                let shown = full.display();
                ctx.error_at(field, format!("secret file {shown} is empty"));
                return None;
            }
            if is_blank(&bytes) {
                let shown = full.display();
                ctx.error_at(field, format!("secret file {shown} holds only whitespace"));
                return None;
            }
            Some(Secret::new(bytes))
        }
        Err(e) => {
            // io::Error's text is about the file (not found, denied), never
            // its content.
            let shown = full.display();
            ctx.error_at(field, format!("cannot read secret file {shown}: {e}"));
            None
        }
    }
}

fn from_value(ctx: &mut Ctx<'_>, field: &Field<'_>, value: &str) -> Option<Secret> {
    if value.is_empty() {
        ctx.error_at(field, "must not be empty");
        return None;
    }
    if is_blank(value.as_bytes()) {
        ctx.error_at(field, "must not be only whitespace");
        return None;
    }
    ctx.warn_at(
        field,
        "a literal { value = ... } secret is for local demos only: use { env = ... } or { file = ... }",
    );
    Some(Secret::new(value))
}

/// Whether `bytes` is non-empty text made of whitespace only (spaces,
/// tabs, newlines, any Unicode white space): such a "secret" is a mistake.
pub(crate) fn is_blank(bytes: &[u8]) -> bool {
    !bytes.is_empty() && std::str::from_utf8(bytes).is_ok_and(|s| s.trim().is_empty())
}

/// Removes one trailing `"\r\n"` or `"\n"`, and nothing else: a secret may
/// legitimately end in whitespace.
fn strip_one_newline(bytes: &mut Vec<u8>) {
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
}

/// A Standard Webhooks key's text after its optional `whsec_` prefix.
pub(crate) fn standard_webhooks_key_text(secret: &Secret) -> &[u8] {
    let raw = secret.expose();
    raw.strip_prefix(b"whsec_").unwrap_or(raw)
}

/// Decodes a Standard Webhooks signing key: an optional `whsec_` prefix,
/// then standard (padded) base64. The error never contains the key.
pub(crate) fn decode_standard_webhooks_key(secret: &Secret) -> Result<Secret, &'static str> {
    let encoded = standard_webhooks_key_text(secret);
    if is_blank(encoded) {
        return Err("the signing key is only whitespace");
    }
    match base64::engine::general_purpose::STANDARD.decode(encoded) {
        Ok(key) if key.is_empty() => Err("the signing key is empty after decoding"),
        Ok(key) => Ok(Secret::new(key)),
        Err(_) => Err(
            "not a Standard Webhooks signing key: expected \"whsec_\" followed by standard base64",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_exactly_one_newline() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"abc\n", b"abc"),
            (b"abc\r\n", b"abc"),
            (b"abc\n\n", b"abc\n"),
            (b"abc ", b"abc "),
            (b"abc\r", b"abc\r"),
        ];
        for (input, want) in cases {
            let mut v = input.to_vec();
            strip_one_newline(&mut v);
            assert_eq!(v, want);
        }
    }

    #[test]
    fn decodes_whsec_keys() {
        let key = decode_standard_webhooks_key(&Secret::new("whsec_aGVsbG8=")).unwrap();
        assert_eq!(key.expose(), b"hello");
        let key = decode_standard_webhooks_key(&Secret::new("aGVsbG8=")).unwrap();
        assert_eq!(key.expose(), b"hello");
        assert!(decode_standard_webhooks_key(&Secret::new("whsec_not base64!")).is_err());
        assert!(decode_standard_webhooks_key(&Secret::new("whsec_")).is_err());
        assert!(decode_standard_webhooks_key(&Secret::new("whsec_ \t ")).is_err());
    }

    #[test]
    fn blank_means_whitespace_only() {
        assert!(is_blank(b" "));
        assert!(is_blank(b"\t\r\n "));
        assert!(is_blank("\u{a0}\u{2003}".as_bytes()));
        assert!(!is_blank(b""));
        assert!(!is_blank(b" x "));
        assert!(!is_blank(b"\xff "));
    }
}
