//! Listen addresses: the `HOOKGATE_*_LISTEN` overrides, and the check
//! that `[server]` and `[admin]` do not take one socket.
//!
//! Why a module: both sections and the environment meet here, and the
//! overlap rule must know where each address in effect came from.

use crate::env::override_value;
use crate::raw::{Ctx, Fields, parse_socket_addr};

/// Where a `listen` address in effect came from, for the overlap check.
#[derive(Debug, Clone, Copy)]
pub(super) enum ListenOrigin {
    /// Not written anywhere: the default.
    Default,
    /// The file's `listen`, at this line.
    File(Option<usize>),
    /// This `HOOKGATE_*` variable.
    Env(&'static str),
    /// Written but unreadable (already reported): nothing to compare.
    Bad,
}

pub(super) fn listen_origin(
    ctx: &Ctx<'_>,
    t: Option<&Fields<'_>>,
    var: &'static str,
) -> ListenOrigin {
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
pub(super) fn check_listeners(
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

/// Reads a listen-address override; errors name the variable.
pub(super) fn listen_override(
    ctx: &mut Ctx<'_>,
    var: &str,
    key: &str,
) -> Option<std::net::SocketAddr> {
    let value = override_value(ctx.env, var)?;
    match parse_socket_addr(&value) {
        Ok(addr) => Some(addr),
        Err(message) => {
            ctx.error(None, key, format!("environment variable {var}: {message}"));
            None
        }
    }
}
