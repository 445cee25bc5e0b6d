//! `[admin]`: the operators' listener, its replay rate and its tokens.
//!
//! Why a module: tokens are a small language of their own (roles, tenant
//! lists, a hash accepted with a warning when it can never match).

use super::listen::listen_override;
use super::{check_unique, opt};
use crate::env;
use crate::model::*;
use crate::raw::{Ctx, Field, Fields};
use hookgate_core::Secret;

pub(super) const ADMIN_KEYS: &[&str] = &["listen", "tokens", "replay_rate"];
const TOKEN_KEYS: &[&str] = &["name", "role", "sha256", "tenants"];

pub(super) fn admin(ctx: &mut Ctx<'_>, t: Option<&Fields<'_>>) -> AdminConfig {
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
    let defaults = AdminConfig::default();
    AdminConfig {
        listen: listen.unwrap_or(defaults.listen),
        tokens,
        replay_rate: replay_rate.unwrap_or(defaults.replay_rate),
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
