//! The operator web console (docs/console.md): plain HTML, CSS and
//! JavaScript modules under `assets/`, embedded in the binary with
//! `include_bytes!` and served by the admin listener under `/console/`.
//!
//! Why this shape:
//! - **No build step.** The assets are the files a browser runs, so
//!   `cargo build` needs no Node and a reader edits exactly what ships.
//! - **Embedded, same origin.** The gateway serves the console itself on
//!   the admin listener, next to the API it calls: nothing is fetched from
//!   elsewhere, it works air-gapped, and `connect-src 'self'` suffices.
//! - **No ambient credentials.** The console signs in with an admin API
//!   bearer token kept in `sessionStorage` and sent in the `Authorization`
//!   header only; no cookie is ever set, so a cross-site request carries
//!   nothing (no CSRF), and roles and tenants are the API's own.
//! - **Strict headers on every answer** ([`SECURITY_HEADERS`]): a Content
//!   Security Policy with no inline script or style, `nosniff`, no
//!   referrer, no framing. The scripts build the page with
//!   `createElement`/`textContent` only, so a payload or a subscriber's
//!   answer is always shown as text.
//!
//! This crate knows nothing of the gateway: [`respond`] maps a path to an
//! answer, and `hookgate-admin` routes `/console` and `/console/*` to it.

use hookgate_http::Body;
use http::{HeaderValue, Method, Response, StatusCode, header};

/// The headers put on every console answer, asset, redirect or error alike.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// The path prefix the console is served under.
pub const PREFIX: &str = "/console/";

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path under [`PREFIX`] (`""` is the page itself).
    pub path: &'static str,
    /// Its bytes, as in `assets/`.
    pub body: &'static [u8],
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Strong validator: FNV-1a of the bytes, computed at compile time.
    pub etag: u64,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($path:literal, $file:literal, $ty:expr) => {{
        const BODY: &[u8] = include_bytes!(concat!("../assets/", $file));
        Asset {
            path: $path,
            body: BODY,
            content_type: $ty,
            etag: fnv1a(BODY),
        }
    }};
}

/// Every file the console serves; anything else under [`PREFIX`] is a 404.
pub const ASSETS: &[Asset] = &[
    asset!("", "index.html", HTML),
    asset!("console.css", "console.css", CSS),
    asset!("favicon.svg", "favicon.svg", SVG),
    asset!("app.js", "app.js", JS),
    asset!("api.js", "api.js", JS),
    asset!("dom.js", "dom.js", JS),
    asset!("pages/overview.js", "pages/overview.js", JS),
    asset!("pages/events.js", "pages/events.js", JS),
    asset!("pages/event.js", "pages/event.js", JS),
    asset!("pages/subscriptions.js", "pages/subscriptions.js", JS),
    asset!("pages/dead_letters.js", "pages/dead_letters.js", JS),
    asset!("pages/audit.js", "pages/audit.js", JS),
    asset!("pages/ordering.js", "pages/ordering.js", JS),
];

/// FNV-1a 64 over `bytes` (a `const fn`, so every ETag is fixed at build).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The asset at `path` (the part after [`PREFIX`]).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "index.html" { "" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// Answers a request for `path` (the full request path, `/console` or
/// under [`PREFIX`]) with `method` and the request's `If-None-Match`.
///
/// `/console` redirects to `/console/`; a known asset is a 200 (or 304
/// when the ETag matches) with `Cache-Control: no-cache`, so a browser
/// revalidates and a new gateway's console is picked up at once; anything
/// else is a plain-text 404. Only GET and HEAD are allowed (405).
pub fn respond(method: &Method, path: &str, if_none_match: Option<&str>) -> Response<Body> {
    let mut resp = answer(method, path, if_none_match);
    let headers = resp.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    resp
}

fn answer(method: &Method, path: &str, if_none_match: Option<&str>) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    if path == "/console" {
        let mut resp = plain(StatusCode::PERMANENT_REDIRECT, "see /console/\n");
        resp.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static(PREFIX));
        return resp;
    }
    let Some(asset) = path.strip_prefix(PREFIX).and_then(asset) else {
        return plain(StatusCode::NOT_FOUND, "no such console file\n");
    };
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = if_none_match.is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim() == etag || t.trim() == "*" || t.trim() == format!("W/{etag}"))
    });
    let mut resp = if fresh {
        let mut r = Response::new(Body::default());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let body = if method == Method::HEAD {
            Body::default()
        } else {
            Body::from(asset.body)
        };
        let mut r = Response::new(body);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Response<Body> {
        respond(&Method::GET, path, None)
    }

    #[test]
    fn every_answer_carries_the_security_headers() {
        for path in [
            "/console/",
            "/console",
            "/console/nope.js",
            "/console/app.js",
        ] {
            let resp = get(path);
            for (name, value) in SECURITY_HEADERS {
                assert_eq!(resp.headers()[*name], *value, "{path} {name}");
            }
        }
        let post = respond(&Method::POST, "/console/", None);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(post.headers().contains_key("content-security-policy"));
    }

    #[test]
    fn paths_map_to_assets_redirects_and_404s() {
        let page = get("/console/");
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[header::CONTENT_TYPE], HTML);
        assert_eq!(get("/console/index.html").status(), StatusCode::OK);
        assert_eq!(get("/console/app.js").headers()[header::CONTENT_TYPE], JS);
        let redirect = get("/console");
        assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(redirect.headers()[header::LOCATION], "/console/");
        for missing in [
            "/console/nope.js",
            "/console/../Cargo.toml",
            "/console/pages/",
            "/console/app.js/",
        ] {
            assert_eq!(get(missing).status(), StatusCode::NOT_FOUND, "{missing}");
        }
    }

    #[test]
    fn etags_revalidate() {
        let first = get("/console/app.js");
        let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(first.headers()[header::CACHE_CONTROL], "no-cache");
        let again = respond(&Method::GET, "/console/app.js", Some(&etag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = respond(&Method::GET, "/console/app.js", Some("\"0\""));
        assert_eq!(other.status(), StatusCode::OK);
    }

    /// The scripts never hand data to an HTML parser: no `innerHTML`,
    /// `outerHTML`, `insertAdjacentHTML`, `document.write` or `eval`, and
    /// the page has no inline script or style for the CSP to refuse.
    #[test]
    fn assets_use_no_html_sinks_and_no_inline_code() {
        for a in ASSETS {
            let text = std::str::from_utf8(a.body).unwrap();
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "setAttribute('on",
                "style=",
            ] {
                assert!(!text.contains(sink), "{} uses {sink}", a.path);
            }
            if a.content_type == HTML {
                assert!(!text.contains("<script>"), "inline script in {}", a.path);
                assert!(!text.contains("<style"), "inline style in {}", a.path);
            }
        }
    }

    #[test]
    fn every_module_imported_is_served() {
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(a.body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let spec = line.split(['\'', '"']).nth(1).unwrap();
                let base = a.path.rsplit_once('/').map_or("", |(dir, _)| dir);
                let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(asset(&target).is_some(), "{} imports {spec}", a.path);
            }
        }
    }
}
