//! Test helpers: sources built as struct literals (the config parser is
//! developed separately) and requests from header lists.

use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use hookgate_verify::{RawRequest, Rejection, Verifier};
use std::collections::BTreeMap;
use std::time::Duration;

/// A source for `scheme` with `secrets` (rotation when several).
pub fn source(scheme: &str, secrets: &[&[u8]]) -> SourceConfig {
    SourceConfig {
        id: "src".into(),
        scheme: scheme.into(),
        scheme_line: 1,
        key_lines: BTreeMap::new(),
        secrets: secrets.iter().map(|s| Secret::new(*s)).collect(),
        tolerance: None,
        dedup_window: None,
        rate_limit: None,
        types: BTreeMap::new(),
        workers: 32,
        public_url: None,
        params: BTreeMap::new(),
    }
}

/// The verifier for `scheme` with `secrets` and an optional tolerance.
pub fn verifier(scheme: &str, secrets: &[&[u8]], tolerance: Option<u64>) -> Verifier {
    let mut src = source(scheme, secrets);
    src.tolerance = tolerance.map(Duration::from_secs);
    Verifier::from_source(&src).expect("source builds")
}

/// Headers from (name, raw value bytes) pairs, appended in order (so a
/// repeated name is a duplicated header).
pub fn headers(pairs: &[(&str, &[u8])]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            http::HeaderValue::from_bytes(value).expect("header value"),
        );
    }
    map
}

/// Verifies `body` with `headers` at `now` and names the outcome as the 401
/// body would (`valid` on success).
pub fn outcome(v: &Verifier, headers: &http::HeaderMap, body: &[u8], now: i64) -> &'static str {
    let req = request(headers, body);
    match v.verify(&req, now) {
        Ok(()) => "valid",
        Err(r) => Rejection::as_str(r),
    }
}

/// A POST request with `headers` and `body`.
pub fn request<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
    RawRequest {
        method: "POST",
        path_and_query: "/ingest/src",
        headers,
        body,
    }
}

/// One row of a header table: (header pairs, expected outcome).
pub type HeaderCase<'a> = (&'a [(&'a str, &'a [u8])], &'a str);

/// The header-state rows every scheme with one signature header shares
/// (docs/schemes.md), run through `v` with `body` at `now`: no header and an empty
/// one are `missing`; the header sent twice (`good`, then `second`) is
/// `malformed`; `non_ascii`, when given, is a value that is not visible
/// ASCII and so `malformed`.
pub fn assert_single_header_states(
    v: &Verifier,
    header: &str,
    good: &[u8],
    second: &[u8],
    non_ascii: Option<&[u8]>,
    body: &[u8],
    now: i64,
) {
    assert_eq!(outcome(v, &headers(&[]), body, now), "missing");
    assert_eq!(outcome(v, &headers(&[(header, b"")]), body, now), "missing");
    let twice = headers(&[(header, good), (header, second)]);
    assert_eq!(outcome(v, &twice, body, now), "malformed");
    if let Some(bad) = non_ascii {
        let h = headers(&[(header, bad)]);
        assert_eq!(outcome(v, &h, body, now), "malformed", "{bad:?}");
    }
}
