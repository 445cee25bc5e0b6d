//! One scheme's parser and verifier: an [`Input`] becomes a request, the
//! scheme's `Verifier` checks and extracts it, and what came out is held
//! to the promises the verifier crate documents.
//!
//! Checked on every input, besides "never panics":
//! - `verify` is deterministic (same request, same clock, same verdict);
//! - an event `extract` returns has a non-empty id of at most
//!   [`MAX_PROVIDER_EVENT_ID`] bytes, a non-empty type, an RFC 3339 time
//!   when it has one, and `data_json` that is one valid JSON value; the
//!   CloudEvent the gateway would store from it is valid JSON too;
//! - a payload error never quotes the secret;
//! - with `sign` (the default source only): the harness signs the request
//!   as the provider would (the scheme's public signing helper, the
//!   input's clock as timestamp), and the verifier must accept it. Where
//!   other headers the fuzzer wrote take part (Shopify's required headers,
//!   the Standard Webhooks id, Square's and Twilio's URL and form rules,
//!   Adyen's in-body signatures) only the verdicts those headers can
//!   explain are allowed, or nothing is asserted.

use crate::input::{Input, set_header};
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use hookgate_core::event::{NormalizedEvent, normalized_type};
use hookgate_core::{EventId, idempotency_key};
use hookgate_verify::schemes::{
    adyen, adyen_hmac_header, basic_auth, checkout, github, header_token, hmac, onfido, paddle,
    persona, shopify, slack, square, standard_webhooks, stripe, sumsub, twilio,
};
use hookgate_verify::{MAX_PROVIDER_EVENT_ID, ProviderEvent, RawRequest, Rejection, Verifier};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::Duration;

/// The path requests take when the input names none.
pub const DEFAULT_PATH: &str = "/ingest/src";
/// `public_url` of the default Square and Twilio sources.
pub const PUBLIC_URL: &str = "https://gateway.example.com/ingest/src";

/// The default source's secret of `scheme` (the key every `sign` input is
/// signed with). Formats follow the scheme: Adyen keys are hex, Standard
/// Webhooks secrets `whsec_` + base64, Basic credentials `user:password`.
pub fn default_secret(scheme: &str) -> &'static str {
    match scheme {
        adyen::NAME | adyen_hmac_header::NAME => {
            "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
        }
        standard_webhooks::NAME => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        stripe::NAME => "whsec_test_secret",
        basic_auth::NAME => "fuzz-user:fuzz-password",
        _ => "fuzz-secret-It's-a-Secret",
    }
}

/// The scheme keys of the default source of `scheme`.
pub fn default_params(scheme: &str) -> &'static [(&'static str, &'static str)] {
    const IDENTITY: [(&str, &str); 4] = [
        ("event_id", "/id"),
        ("event_type", "header:x-type"),
        ("event_time", "/created"),
        ("event_subject", "/data/id"),
    ];
    match scheme {
        hmac::NAME => &[
            ("header", "x-sig"),
            ("prefix", "sha256="),
            ("signed_content", "{timestamp}.{body}"),
            ("timestamp_header", "x-ts"),
            IDENTITY[0],
            IDENTITY[1],
            IDENTITY[2],
            IDENTITY[3],
        ],
        header_token::NAME => &[
            ("header", "x-token"),
            IDENTITY[0],
            IDENTITY[1],
            IDENTITY[2],
            IDENTITY[3],
        ],
        basic_auth::NAME => &IDENTITY,
        _ => &[],
    }
}

/// The default source of `scheme` (id `src`).
pub fn default_source(scheme: &str) -> SourceConfig {
    let mut src = empty_source(scheme);
    src.secrets = vec![Secret::new(default_secret(scheme).as_bytes())];
    if scheme == square::NAME || scheme == twilio::NAME {
        src.public_url = Some(PUBLIC_URL.to_owned());
    }
    for (k, v) in default_params(scheme) {
        src.params.insert((*k).to_owned(), (*v).to_owned());
    }
    src
}

fn empty_source(scheme: &str) -> SourceConfig {
    SourceConfig {
        id: "src".into(),
        scheme: scheme.into(),
        scheme_line: 1,
        key_lines: BTreeMap::new(),
        secrets: Vec::new(),
        tolerance: None,
        dedup_window: None,
        rate_limit: None,
        types: BTreeMap::new(),
        workers: 1,
        public_url: None,
        params: BTreeMap::new(),
    }
}

/// The source an input's config lines describe.
fn source_of(scheme: &str, config: &[(String, String)]) -> SourceConfig {
    let mut src = empty_source(scheme);
    for (k, v) in config {
        match k.as_str() {
            "secret" => src.secrets.push(Secret::new(v.as_bytes())),
            "public_url" => src.public_url = Some(v.clone()),
            "tolerance" => src.tolerance = v.parse().ok().map(Duration::from_secs),
            _ => {
                src.params.insert(k.clone(), v.clone());
            }
        }
    }
    src
}

/// The default verifier of `scheme`, built once per process.
fn default_verifier(scheme: &str) -> &'static Verifier {
    static CACHE: OnceLock<HashMap<&'static str, Verifier>> = OnceLock::new();
    let map = CACHE.get_or_init(|| {
        hookgate_verify::schemes::NAMES
            .iter()
            .map(|name| {
                let v = Verifier::from_source(&default_source(name))
                    .unwrap_or_else(|e| panic!("default source of {name}: {e}"));
                (*name, v)
            })
            .collect()
    });
    map.get(scheme)
        .unwrap_or_else(|| panic!("unknown scheme {scheme:?}"))
}

/// What `sign` lets the verifier answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Exactly `Ok`.
    Valid,
    /// `Ok`, or `missing`/`malformed` caused by other fuzzed headers.
    ValidUnlessHeaders,
    /// A refusal: `mismatch`, or `missing`/`malformed` caused by other
    /// fuzzed headers (a body that is not UTF-8, which the providers
    /// whose SDKs decode the body before signing cannot have signed).
    Refused,
    /// Anything (the harness cannot tell without re-implementing the
    /// scheme).
    Anything,
}

/// Schemes whose signature covers raw bytes: any body can be signed
/// (sumsub: its module doc says why).
const ANY_BODY: &[&str] = &[
    sumsub::NAME,
    hmac::NAME,
    basic_auth::NAME,
    header_token::NAME,
];

/// Signs `headers`/`body` for the default source of `scheme` at `now`, as
/// the provider would; returns what the verifier may answer, and the body
/// to send (Adyen signs inside it).
pub(crate) fn sign(
    scheme: &str,
    headers: &mut http::HeaderMap,
    path_and_query: &str,
    body: &[u8],
    now: i64,
    public_url: &str,
) -> (Expect, Option<Vec<u8>>) {
    let (expect, signed_body) =
        sign_as_provider(scheme, headers, path_and_query, body, now, public_url);
    let utf8 = std::str::from_utf8(signed_body.as_deref().unwrap_or(body)).is_ok();
    match expect {
        Expect::Valid | Expect::ValidUnlessHeaders if !utf8 && !ANY_BODY.contains(&scheme) => {
            (Expect::Refused, signed_body)
        }
        _ => (expect, signed_body),
    }
}

/// Signs the input as the provider of `scheme` would, so the target can
/// check that a correctly signed request is accepted. Over the ~80-line
/// guideline on purpose: one arm per scheme, each the provider's signing
/// recipe, read side by side.
fn sign_as_provider(
    scheme: &str,
    headers: &mut http::HeaderMap,
    path_and_query: &str,
    body: &[u8],
    now: i64,
    public_url: &str,
) -> (Expect, Option<Vec<u8>>) {
    let secret = default_secret(scheme).as_bytes();
    let query = path_and_query
        .find('?')
        .map_or("", |i| &path_and_query[i..]);
    match scheme {
        stripe::NAME => {
            let v = stripe::signature_header(&[secret], now, body);
            set_header(headers, stripe::HEADER, &v);
            (Expect::Valid, None)
        }
        standard_webhooks::NAME => {
            let key = standard_webhooks::decode_secret(secret).expect("default secret decodes");
            let id = headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .unwrap_or("msg_fuzz")
                .to_owned();
            for h in [
                "svix-id",
                "svix-timestamp",
                "svix-signature",
                "webhook-timestamp",
            ] {
                headers.remove(h);
            }
            set_header(headers, "webhook-id", &id);
            set_header(headers, "webhook-timestamp", &now.to_string());
            let sig = standard_webhooks::sign(key.expose(), &id, now, body);
            set_header(headers, "webhook-signature", &format!("v1,{sig}"));
            (Expect::ValidUnlessHeaders, None)
        }
        adyen::NAME => (Expect::Anything, sign_adyen_items(body)),
        adyen_hmac_header::NAME => {
            let key = adyen::decode_key(secret).expect("default key decodes");
            let v = adyen_hmac_header::sign(key.expose(), body);
            set_header(headers, adyen_hmac_header::HEADER, &v);
            (Expect::Valid, None)
        }
        github::NAME => {
            headers.remove("x-hub-signature");
            set_header(headers, github::HEADER, &github::sign(secret, body));
            (Expect::Valid, None)
        }
        shopify::NAME => {
            set_header(headers, shopify::HEADER, &shopify::sign(secret, body));
            (Expect::ValidUnlessHeaders, None)
        }
        checkout::NAME => {
            set_header(headers, checkout::HEADER, &checkout::sign(secret, body));
            (Expect::Valid, None)
        }
        onfido::NAME => {
            headers.remove("x-signature");
            set_header(headers, onfido::HEADER, &onfido::sign(secret, body));
            (Expect::Valid, None)
        }
        persona::NAME => {
            let v = persona::signature_header(&[secret], now, body);
            set_header(headers, persona::HEADER, &v);
            (Expect::Valid, None)
        }
        sumsub::NAME => {
            let alg = sumsub::DigestAlg::Sha256;
            set_header(
                headers,
                "x-payload-digest",
                &sumsub::sign(secret, alg, body),
            );
            set_header(headers, "x-payload-digest-alg", alg.header_value());
            (Expect::Valid, None)
        }
        slack::NAME => {
            let t = now.to_string();
            set_header(headers, slack::TIMESTAMP_HEADER, &t);
            set_header(
                headers,
                slack::SIGNATURE_HEADER,
                &slack::sign(secret, &t, body),
            );
            (Expect::Valid, None)
        }
        paddle::NAME => {
            let v = paddle::signature_header(secret, now, body);
            set_header(headers, paddle::HEADER, &v);
            (Expect::Valid, None)
        }
        square::NAME => {
            let v = square::sign(secret, &format!("{public_url}{query}"), body);
            set_header(headers, square::HEADER, &v);
            // Square signs UTF-8 bodies; an empty one is refused, and a
            // query is signed as the URL spells it (kept plain here).
            let plain = !body.is_empty() && std::str::from_utf8(body).is_ok() && plain_query(query);
            (
                if plain {
                    Expect::Valid
                } else {
                    Expect::Anything
                },
                None,
            )
        }
        twilio::NAME => {
            let form = headers
                .get_all(http::header::CONTENT_TYPE)
                .iter()
                .map(|v| v.as_bytes())
                .eq([&b"application/x-www-form-urlencoded"[..]]);
            let params: Vec<(String, String)> = if body.is_empty() || !form {
                Vec::new()
            } else {
                form_urlencoded::parse(body).into_owned().collect()
            };
            let v = twilio::sign(secret, &format!("{public_url}{query}"), &params);
            set_header(headers, "x-twilio-signature", &v);
            // Asserted only where the form rules cannot differ: a plain
            // query, an ASCII form body that decodes to ASCII.
            let plain = plain_query(query)
                && !query.contains("bodySHA256")
                && (body.is_empty()
                    || (form
                        && body.is_ascii()
                        && params.iter().all(|(k, v)| k.is_ascii() && v.is_ascii())));
            (
                if plain {
                    Expect::Valid
                } else {
                    Expect::Anything
                },
                None,
            )
        }
        hmac::NAME => {
            let t = now.to_string();
            let mut content = format!("{t}.").into_bytes();
            content.extend_from_slice(body);
            let v = hmac::sign("sha256", hmac::Encoding::Hex, "sha256=", secret, &content)
                .expect("sha256 is known");
            set_header(headers, "x-ts", &t);
            set_header(headers, "x-sig", &v);
            (Expect::Valid, None)
        }
        basic_auth::NAME => {
            let (user, password) = default_secret(scheme).split_once(':').expect("user:pw");
            let v = basic_auth::sign(user, password);
            set_header(headers, "authorization", &v);
            (Expect::Valid, None)
        }
        header_token::NAME => {
            let v = header_token::sign(default_secret(scheme));
            set_header(headers, "x-token", &v);
            (Expect::Valid, None)
        }
        other => panic!("no signer for scheme {other:?}"),
    }
}

/// A query kept out of every URL-encoding rule.
fn plain_query(query: &str) -> bool {
    query
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'?' | b'=' | b'&' | b'-' | b'_' | b'.'))
}

/// An Adyen batch with each item's `additionalData.hmacSignature` set to
/// its signature under the default key; `None` when the body is no batch.
fn sign_adyen_items(body: &[u8]) -> Option<Vec<u8>> {
    let key = adyen::decode_key(default_secret(adyen::NAME).as_bytes())?;
    let mut doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    for entry in doc.get_mut("notificationItems")?.as_array_mut()? {
        let Some(item) = entry.get_mut("NotificationRequestItem") else {
            continue;
        };
        let Some(sig) = adyen::sign_item(key.expose(), item) else {
            continue;
        };
        if let Some(obj) = item.as_object_mut() {
            let extra = obj
                .entry("additionalData")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(extra) = extra.as_object_mut() {
                extra.insert("hmacSignature".into(), sig.into());
            }
        }
    }
    serde_json::to_vec(&doc).ok()
}

/// Fuzz target body for `scheme`: never panics unless a promise is broken.
/// Returns the verdict (`None` when the input's config lines build no
/// source).
pub fn run(scheme: &str, data: &[u8]) -> Option<Result<(), Rejection>> {
    let input = Input::parse(data, DEFAULT_PATH);
    let src = if input.config.is_empty() {
        default_source(scheme)
    } else {
        source_of(scheme, &input.config)
    };
    let built;
    let verifier: &Verifier = if input.config.is_empty() {
        default_verifier(scheme)
    } else {
        match Verifier::from_source(&src) {
            Ok(v) => {
                built = v;
                &built
            }
            Err(e) => {
                // A refused config never quotes its secret either.
                let text = e.to_string();
                assert_not_quoted(&src, &text, "scheme error", |twin| {
                    Verifier::from_source(twin).err().map(|e| e.to_string())
                });
                return None;
            }
        }
    };

    let mut headers = input.headers.clone();
    let mut body = input.body.to_vec();
    let mut expect = Expect::Anything;
    if input.sign && input.config.is_empty() {
        let (e, signed_body) = sign(
            scheme,
            &mut headers,
            &input.path_and_query,
            &body,
            input.now,
            PUBLIC_URL,
        );
        expect = e;
        if let Some(b) = signed_body {
            body = b;
        }
    }
    let req = RawRequest {
        method: &input.method,
        path_and_query: &input.path_and_query,
        headers: &headers,
        body: &body,
    };
    let (verdict, payload_error) = check_request(scheme, verifier, &req, input.now, expect);
    if let Some(text) = payload_error {
        assert_not_quoted(&src, &text, "payload error", |twin| {
            let v = Verifier::from_source(twin).ok()?;
            v.extract(&req).err().map(|e| e.0)
        });
    }
    Some(verdict)
}

/// Asserts that `text`, an error about `src`, quotes none of its secrets.
/// A secret found in it may be a coincidence (the fuzzer copies an error's
/// own wording into the secret, or sends the secret itself): it counts as
/// quoted only when `again`, the same error computed for a twin source
/// whose secret differs in every letter and digit, differs from `text`
/// and quotes the twin.
fn assert_not_quoted(
    src: &SourceConfig,
    text: &str,
    what: &str,
    again: impl Fn(&SourceConfig) -> Option<String>,
) {
    for (i, secret) in src.secrets.iter().enumerate() {
        let secret = secret.expose();
        if secret.len() < 4 || !contains(text.as_bytes(), secret) {
            continue;
        }
        let twin: Vec<u8> = secret
            .iter()
            .map(|&b| match b {
                b'a'..=b'z' => b.to_ascii_uppercase(),
                b'A'..=b'Z' => b.to_ascii_lowercase(),
                b'0'..=b'8' => b + 1,
                b'9' => b'0',
                other => other,
            })
            .collect();
        if twin == secret {
            continue;
        }
        let mut other = src.clone();
        other.secrets[i] = Secret::new(twin.clone());
        // Quoted: the text changed with the secret and shows the twin.
        if let Some(text2) = again(&other) {
            assert!(
                text2 == text || !contains(text2.as_bytes(), &twin),
                "a {what} quotes the secret: {text2}"
            );
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs `verifier` on `req` and asserts what [`run`] promises.
pub(crate) fn check_request(
    scheme: &str,
    verifier: &Verifier,
    req: &RawRequest<'_>,
    now: i64,
    expect: Expect,
) -> (Result<(), Rejection>, Option<String>) {
    let verdict = verifier.verify(req, now);
    assert_eq!(
        verdict,
        verifier.verify(req, now),
        "{scheme}: verify is not deterministic"
    );
    match expect {
        Expect::Valid => assert_eq!(
            verdict,
            Ok(()),
            "{scheme}: a request signed with the scheme's own helper was refused"
        ),
        Expect::ValidUnlessHeaders => assert!(
            matches!(
                verdict,
                Ok(()) | Err(Rejection::Missing | Rejection::Malformed)
            ),
            "{scheme}: a request signed with the scheme's own helper was refused: {verdict:?}"
        ),
        Expect::Refused => assert!(
            matches!(
                verdict,
                Err(Rejection::Mismatch | Rejection::Missing | Rejection::Malformed)
            ),
            "{scheme}: a body that is not UTF-8 was not refused: {verdict:?}"
        ),
        Expect::Anything => {}
    }
    let _ = verifier.handshake(req);
    let _ = verifier.ack();
    match verifier.extract(req) {
        Ok(events) => {
            for ev in &events {
                check_event(scheme, ev);
            }
            (verdict, None)
        }
        Err(e) => (verdict, Some(e.0)),
    }
}

/// The promises of [`ProviderEvent`], and the CloudEvent built from it.
pub(crate) fn check_event(scheme: &str, ev: &ProviderEvent<'_>) {
    let id = &ev.provider_event_id;
    assert!(!id.is_empty(), "{scheme}: empty provider event id");
    assert!(
        id.len() <= MAX_PROVIDER_EVENT_ID,
        "{scheme}: provider event id of {} bytes",
        id.len()
    );
    assert!(
        !ev.provider_type.is_empty(),
        "{scheme}: empty provider type"
    );
    if let Some(t) = &ev.time {
        assert!(
            hookgate_core::time::parse_rfc3339_ns(t).is_some(),
            "{scheme}: event time {t:?} is not RFC 3339"
        );
    }
    assert!(
        serde_json::from_slice::<serde::de::IgnoredAny>(&ev.data_json).is_ok(),
        "{scheme}: data_json is not one JSON value: {:?}",
        String::from_utf8_lossy(&ev.data_json)
    );
    let event_id = EventId::derive(&idempotency_key("src", id));
    let ty = normalized_type("src", &ev.provider_type, &BTreeMap::new());
    let cloudevent = NormalizedEvent {
        id: &event_id,
        source_id: "src",
        ty: &ty,
        time: ev.time.as_deref().unwrap_or("2023-11-14T22:13:20Z"),
        subject: ev.subject.as_deref(),
        data_json: &ev.data_json,
    }
    .to_cloudevent_json();
    assert!(
        serde_json::from_slice::<serde::de::IgnoredAny>(&cloudevent).is_ok(),
        "{scheme}: the CloudEvent is not JSON: {:?}",
        String::from_utf8_lossy(&cloudevent)
    );
}
