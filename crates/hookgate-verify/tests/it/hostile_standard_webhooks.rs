//! Hostile requests against `scheme = "standard-webhooks"` (and Svix).

use crate::support::{headers, outcome, request, source, verifier};
use hookgate_verify::schemes::standard_webhooks::{self, decode_secret, sign};
use hookgate_verify::{MAX_PROVIDER_EVENT_ID, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Another valid secret (svix-webhooks' test secret).
const OTHER: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const NOW: i64 = 1_614_265_330;
const BODY: &[u8] =
    br#"{"type":"invoice.paid","timestamp":"2021-02-25T15:02:10Z","data":{"id":"in_1"}}"#;

fn v() -> Verifier {
    verifier(standard_webhooks::NAME, &[SECRET.as_bytes()], None)
}

fn sig_with(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
    let key = decode_secret(secret.as_bytes()).unwrap();
    format!("v1,{}", sign(key.expose(), id, ts, body))
}

fn sig(ts: i64, body: &[u8]) -> String {
    sig_with(SECRET, ID, ts, body)
}

/// The three standard headers.
fn std3(id: &str, ts: &str, sig: &str) -> http::HeaderMap {
    headers(&[
        ("webhook-id", id.as_bytes()),
        ("webhook-timestamp", ts.as_bytes()),
        ("webhook-signature", sig.as_bytes()),
    ])
}

fn signed(ts: i64, body: &[u8]) -> http::HeaderMap {
    std3(ID, &ts.to_string(), &sig(ts, body))
}

#[test]
fn valid_with_either_header_family() {
    assert_eq!(outcome(&v(), &signed(NOW, BODY), BODY, NOW), "valid");
    let ts = NOW.to_string();
    let s = sig(NOW, BODY);
    let svix = headers(&[
        ("Svix-Id", ID.as_bytes()),
        ("Svix-Timestamp", ts.as_bytes()),
        ("Svix-Signature", s.as_bytes()),
    ]);
    assert_eq!(outcome(&v(), &svix, BODY, NOW), "valid");
    let upper = headers(&[
        ("WEBHOOK-ID", ID.as_bytes()),
        ("Webhook-Timestamp", ts.as_bytes()),
        ("webhook-SIGNATURE", s.as_bytes()),
    ]);
    assert_eq!(outcome(&v(), &upper, BODY, NOW), "valid");
}

#[test]
fn tampering_mismatches() {
    let h = signed(NOW, BODY);
    let mut body = BODY.to_vec();
    body[3] ^= 0x20;
    assert_eq!(outcome(&v(), &h, &body, NOW), "mismatch");
    // Each signed part matters: id and timestamp too.
    let s = sig(NOW, BODY);
    assert_eq!(
        outcome(&v(), &std3("msg_other", &NOW.to_string(), &s), BODY, NOW),
        "mismatch"
    );
    assert_eq!(
        outcome(&v(), &std3(ID, &(NOW - 1).to_string(), &s), BODY, NOW),
        "mismatch"
    );
    // A flipped base64 character.
    let flipped = s.replacen('g', "h", 1);
    assert_eq!(
        outcome(&v(), &std3(ID, &NOW.to_string(), &flipped), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn wrong_key_mismatches() {
    let h = std3(ID, &NOW.to_string(), &sig_with(OTHER, ID, NOW, BODY));
    assert_eq!(outcome(&v(), &h, BODY, NOW), "mismatch");
}

#[test]
fn rotation_accepts_old_and_new_secret() {
    let both = verifier(
        standard_webhooks::NAME,
        &[OTHER.as_bytes(), SECRET.as_bytes()],
        None,
    );
    assert_eq!(outcome(&both, &signed(NOW, BODY), BODY, NOW), "valid");
    let new_sig = sig_with(OTHER, ID, NOW, BODY);
    assert_eq!(
        outcome(&both, &std3(ID, &NOW.to_string(), &new_sig), BODY, NOW),
        "valid"
    );
    // The sender signs with both keys during its own rotation.
    let multi = format!("{} {new_sig}", sig(NOW, BODY));
    let only_new = verifier(standard_webhooks::NAME, &[OTHER.as_bytes()], None);
    assert_eq!(
        outcome(&only_new, &std3(ID, &NOW.to_string(), &multi), BODY, NOW),
        "valid"
    );
    // Old secret removed: its signature alone is rejected.
    assert_eq!(
        outcome(&only_new, &signed(NOW, BODY), BODY, NOW),
        "mismatch"
    );
}

#[test]
fn tolerance_boundaries() {
    let v = v();
    let at = |ts: i64| outcome(&v, &signed(ts, BODY), BODY, NOW);
    assert_eq!(at(NOW - 299), "valid");
    // Exactly `tolerance` is accepted both ways (`now - ts > tolerance`,
    // `ts > now + tolerance`); one second more is stale.
    assert_eq!(at(NOW - 300), "valid");
    assert_eq!(at(NOW - 301), "stale");
    assert_eq!(at(NOW + 300), "valid");
    assert_eq!(at(NOW + 301), "stale", "too new is stale too");
    assert_eq!(at(0), "stale");
    assert_eq!(at(i64::MAX), "stale");
    let short = verifier(standard_webhooks::NAME, &[SECRET.as_bytes()], Some(10));
    assert_eq!(outcome(&short, &signed(NOW - 10, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &signed(NOW - 11, BODY), BODY, NOW), "stale");
    assert_eq!(outcome(&short, &signed(NOW + 10, BODY), BODY, NOW), "valid");
    assert_eq!(outcome(&short, &signed(NOW + 11, BODY), BODY, NOW), "stale");
}

#[test]
fn missing_empty_duplicated() {
    let ts = NOW.to_string();
    let s = sig(NOW, BODY);
    assert_eq!(outcome(&v(), &headers(&[]), BODY, NOW), "missing");
    assert_eq!(outcome(&v(), &std3("", &ts, &s), BODY, NOW), "missing");
    assert_eq!(outcome(&v(), &std3(ID, "", &s), BODY, NOW), "missing");
    assert_eq!(outcome(&v(), &std3(ID, &ts, ""), BODY, NOW), "missing");
    // Duplicates of any of the three.
    for dup in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut h = signed(NOW, BODY);
        let value = h.get(dup).unwrap().clone();
        h.append(dup, value);
        assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed", "{dup}");
    }
    // Both families with different values: the libraries disagree.
    let mut h = signed(NOW, BODY);
    h.insert("svix-id", "msg_other".parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    // ...and with the same values: fine.
    let mut h = signed(NOW, BODY);
    h.insert("svix-id", ID.parse().unwrap());
    assert_eq!(outcome(&v(), &h, BODY, NOW), "valid");
}

#[test]
fn malformed_headers() {
    let ts = NOW.to_string();
    let good = sig(NOW, BODY);
    let b64 = good.trim_start_matches("v1,");
    for (t, s) in [
        ("hello", good.clone()),
        ("1614265330.0", good.clone()),
        ("1e9", good.clone()),
        (" 1614265330", good.clone()),
        ("-1", good.clone()),
        ("99999999999999999999", good.clone()),
        (&ts, format!("{good}  {good}")),    // empty entry
        (&ts, format!("{good},x")),          // two commas
        (&ts, b64.to_owned()),               // no version
        (&ts, format!("v2,{b64}")),          // no v1 entry
        (&ts, format!("v1,{}", &b64[..43])), // padding dropped
        (&ts, format!("v1,{b64}!")),         // non-base64 character
        (&ts, format!("v1,{}", b64.replace('+', "-"))), // url-safe alphabet
    ] {
        assert_eq!(
            outcome(&v(), &std3(ID, t, &s), BODY, NOW),
            "malformed",
            "{t:?} {s:?}"
        );
    }
}

#[test]
fn lenient_forms_the_libraries_agree_on() {
    let good = sig(NOW, BODY);
    // Unknown versions are skipped, decoys do not hurt.
    let s = format!(
        "v1a,abc v2,{} v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {good}",
        &good[3..]
    );
    assert_eq!(
        outcome(&v(), &std3(ID, &NOW.to_string(), &s), BODY, NOW),
        "valid"
    );
    // `+ts` parses as ts everywhere and signs as formatted.
    assert_eq!(
        outcome(&v(), &std3(ID, &format!("+{NOW}"), &good), BODY, NOW),
        "valid"
    );
}

#[test]
fn non_utf8_bytes() {
    let ts = NOW.to_string();
    let s = sig(NOW, BODY);
    let h = headers(&[
        ("webhook-id", b"msg_\xff"),
        ("webhook-timestamp", ts.as_bytes()),
        ("webhook-signature", s.as_bytes()),
    ]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    let h = headers(&[
        ("webhook-id", ID.as_bytes()),
        ("webhook-timestamp", ts.as_bytes()),
        ("webhook-signature", b"v1,\xc3\xa9"),
    ]);
    assert_eq!(outcome(&v(), &h, BODY, NOW), "malformed");
    // A body that is not UTF-8: the Python and Rust libraries refuse it.
    let body = b"{\"type\":\"\xff\"}";
    assert_eq!(outcome(&v(), &signed(NOW, body), body, NOW), "mismatch");
}

#[test]
fn reason_precedence() {
    let ts = NOW.to_string();
    let old = NOW - 10_000;
    let good = sig(NOW, BODY);
    let old_good = sig(old, BODY);
    let table: &[(&str, [&str; 3], &[u8], &str)] = &[
        ("missing > malformed", ["", "hello", "v1"], BODY, "missing"),
        ("missing > mismatch", [ID, &ts, ""], b"\xff", "missing"),
        (
            "malformed > mismatch",
            [ID, "hello", "v1,AAAA"],
            BODY,
            "malformed",
        ),
        (
            "malformed > stale",
            [ID, &old.to_string(), "v1"],
            BODY,
            "malformed",
        ),
        (
            "mismatch > stale",
            [ID, &old.to_string(), &good],
            BODY,
            "mismatch",
        ),
        ("stale", [ID, &old.to_string(), &old_good], BODY, "stale"),
        ("valid", [ID, &ts, &good], BODY, "valid"),
    ];
    for (name, [id, t, s], body, want) in table {
        assert_eq!(outcome(&v(), &std3(id, t, s), body, NOW), *want, "{name}");
    }
}

#[test]
fn extraction() {
    let h = signed(NOW, BODY);
    let events = v().extract(&request(&h, BODY)).unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.provider_event_id, ID);
    assert_eq!(e.provider_type, "invoice.paid");
    assert_eq!(e.time.as_deref(), Some("2021-02-25T15:02:10Z"));
    assert_eq!(e.subject, None);
    assert_eq!(&*e.data_json, BODY);

    // Svix header names, no body timestamp: the header's time.
    let body = br#"{"type":"user.created","data":{}}"#;
    let ts = NOW.to_string();
    let h = headers(&[("svix-id", b"msg_svix"), ("svix-timestamp", ts.as_bytes())]);
    let e = &v().extract(&request(&h, body)).unwrap()[0];
    assert_eq!(e.provider_event_id, "msg_svix");
    assert_eq!(e.time.as_deref(), Some("2021-02-25T15:02:10Z"));
}

#[test]
fn extraction_errors() {
    let h = signed(NOW, BODY);
    for (body, want) in [
        (&b"nope"[..], "body is not valid JSON"),
        (b"\"str\"", "body must be a JSON object"),
        (b"null", "body must be a JSON object"),
        (b"{}", "field `type` is missing"),
        (br#"{"type":3}"#, "field `type` must be a string"),
        (br#"{"type":""}"#, "field `type` is empty"),
    ] {
        let err = v().extract(&request(&h, body)).unwrap_err();
        assert!(
            err.0.starts_with(want),
            "{:?}: {}",
            String::from_utf8_lossy(body),
            err.0
        );
    }
    let long = "m".repeat(MAX_PROVIDER_EVENT_ID + 1);
    let h = std3(&long, &NOW.to_string(), "v1,AAAA");
    let err = v().extract(&request(&h, BODY)).unwrap_err();
    assert!(err.0.contains("webhook-id"), "{}", err.0);
    assert!(err.0.contains("longer than 512"), "{}", err.0);
}

#[test]
fn bad_secrets_fail_at_start_without_echoing_them() {
    for bad in [
        &b"whsec_not base64"[..],
        b"whsec_",
        b"\xff\xfe",
        b"whsec_abc!",
    ] {
        let err =
            Verifier::from_source(&source(standard_webhooks::NAME, &[SECRET.as_bytes(), bad]))
                .unwrap_err();
        assert_eq!(err.key, "secrets[1]");
        let text = err.to_string();
        assert!(
            !text.contains("base64\"") && !text.contains("abc!"),
            "{text}"
        );
    }
    let err = Verifier::from_source(&source(standard_webhooks::NAME, &[])).unwrap_err();
    assert_eq!(err.key, "secrets");
    let v = v();
    assert!(!format!("{v:?}").contains("MfKQ9"));
}

/// Many `v1,` entries: up to 8 the verdict is the usual one (one HMAC per
/// key, compared with each), beyond that `malformed`.
#[test]
fn many_v1_entries() {
    let good = sig(NOW, BODY);
    let junk = sig_with(OTHER, ID, NOW, BODY);
    let header = |n_junk: usize, with_good: bool| {
        let mut entries = vec![junk.clone(); n_junk];
        if with_good {
            entries.push(good.clone());
        }
        outcome(
            &v(),
            &std3(ID, &NOW.to_string(), &entries.join(" ")),
            BODY,
            NOW,
        )
    };
    // Any number, as the libraries: one HMAC per key, compared with each.
    assert_eq!(header(7, true), "valid");
    assert_eq!(header(5000, true), "valid");
    assert_eq!(header(5000, false), "mismatch");
    // Other versions do not count.
    let v2s = format!("{good}{}", " v2,abc".repeat(5000));
    assert_eq!(
        outcome(&v(), &std3(ID, &NOW.to_string(), &v2s), BODY, NOW),
        "valid"
    );
}
