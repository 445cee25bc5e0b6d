//! Builders and the vector runner shared by the schemes' unit tests.
//!
//! One runner reads both shapes of `tests/vectors/<scheme>/*.json`: the
//! plain one (headers as an object) and the one of schemes that need more
//! than a secret (headers as a list of pairs, so a case can repeat one;
//! `public_url`, scheme `params`, a request target per case). Every case
//! goes through the public [`Verifier`], as a request would. [`complete`]
//! fills in what a scheme needs beyond a secret for the registry's tests.

use crate::{RawRequest, Rejection, Verifier};
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// A source as the config crate would hand it over (built directly: the
/// parser is someone else's and may not exist yet).
pub(crate) fn source(scheme: &str, secrets: &[&str]) -> SourceConfig {
    SourceConfig {
        id: "src".into(),
        scheme: scheme.into(),
        scheme_line: 1,
        key_lines: BTreeMap::new(),
        secrets: secrets.iter().map(|s| Secret::new(s.as_bytes())).collect(),
        tolerance: None,
        dedup_window: None,
        rate_limit: None,
        types: BTreeMap::new(),
        workers: 32,
        public_url: None,
        params: BTreeMap::new(),
    }
}

/// Fills in what a scheme needs beyond a secret so a registry test can
/// build it: `public_url` for URL-signing schemes, the required params
/// of the configurable ones, and a `user:password` secret for basic-auth.
pub(crate) fn complete(src: &mut hookgate_config::SourceConfig) {
    match src.scheme.as_str() {
        "square" | "twilio" => {
            src.public_url = Some("https://gateway.example.com/ingest/src".into());
        }
        "hmac" | "header-token" | "basic-auth" => {
            if src.scheme != "basic-auth" {
                src.params.insert("header".into(), "x-signature".into());
            } else {
                src.secrets = vec![hookgate_core::Secret::new(&b"user:password"[..])];
            }
            src.params.insert("event_id".into(), "/id".into());
            src.params.insert("event_type".into(), "/type".into());
        }
        _ => {}
    }
}

/// One vector file.
#[derive(Deserialize)]
struct VectorFile {
    secrets: Vec<String>,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    secrets: Option<Vec<String>>,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    path_and_query: Option<String>,
    now: i64,
    #[serde(default)]
    tolerance_secs: Option<u64>,
    headers: Headers,
    body: String,
    expect: String,
}

/// A case's headers: an object, or a list of pairs that may repeat a name.
#[derive(Deserialize)]
#[serde(untagged)]
enum Headers {
    Object(BTreeMap<String, String>),
    Pairs(Vec<(String, String)>),
}

impl Headers {
    fn to_map(&self) -> http::HeaderMap {
        let pairs: Vec<(&String, &String)> = match self {
            Headers::Object(map) => map.iter().collect(),
            Headers::Pairs(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        };
        let mut headers = http::HeaderMap::new();
        for (k, v) in pairs {
            let name = http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
            headers.append(name, http::HeaderValue::from_str(v).expect("header value"));
        }
        headers
    }
}

/// Runs every case of a vector file through the public [`Verifier`].
pub(crate) fn run_vectors(scheme: &str, json: &str) {
    let file: VectorFile = serde_json::from_str(json).expect("vector file parses");
    assert!(!file.cases.is_empty());
    for case in &file.cases {
        let secrets = case.secrets.as_ref().unwrap_or(&file.secrets);
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let mut src = source(scheme, &secrets);
        src.tolerance = case.tolerance_secs.map(Duration::from_secs);
        src.public_url = case.public_url.clone().or_else(|| file.public_url.clone());
        src.params = file.params.clone();
        let verifier = Verifier::from_source(&src).expect("vector source builds");
        let headers = case.headers.to_map();
        let req = RawRequest {
            method: "POST",
            path_and_query: case.path_and_query.as_deref().unwrap_or("/ingest/src"),
            headers: &headers,
            body: case.body.as_bytes(),
        };
        let got = match verifier.verify(&req, case.now) {
            Ok(()) => "valid",
            Err(r) => Rejection::as_str(r),
        };
        assert_eq!(got, case.expect, "vector {:?}", case.name);
    }
}
