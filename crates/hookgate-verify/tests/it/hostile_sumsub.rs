//! Sumsub under hostile input (docs/schemes.md): tampering, wrong and rotated
//! keys, missing/empty/duplicated/malformed headers, hex case, non-UTF-8.

use crate::support::{HeaderCase, headers, outcome, verifier};
use hookgate_verify::Verifier;
use hookgate_verify::schemes::sumsub::{self, DigestAlg};

const KEY: &[u8] = b"SoMe_SeCrEt_KeY";
const BODY: &[u8] =
    br#"{"applicantId":"a1","type":"applicantReviewed","createdAtMs":"2024-01-02 03:04:05.678"}"#;

fn v() -> Verifier {
    verifier(sumsub::NAME, &[KEY], None)
}

fn signed(digest: &str, alg: &str) -> http::HeaderMap {
    headers(&[
        ("x-payload-digest", digest.as_bytes()),
        ("x-payload-digest-alg", alg.as_bytes()),
    ])
}

#[test]
fn each_algorithm_and_tampering() {
    for alg in [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha512] {
        let d = sumsub::sign(KEY, alg, BODY);
        let h = signed(&d, alg.header_value());
        assert_eq!(outcome(&v(), &h, BODY, 0), "valid");
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(outcome(&v(), &h, &tampered, 0), "mismatch");
        // No timestamp: any clock is fine.
        assert_eq!(outcome(&v(), &h, BODY, i64::MIN), "valid");
    }
}

#[test]
fn keys() {
    let d = sumsub::sign(KEY, DigestAlg::Sha256, BODY);
    let h = signed(&d, "HMAC_SHA256_HEX");
    assert_eq!(
        outcome(&verifier(sumsub::NAME, &[b"other"], None), &h, BODY, 0),
        "mismatch"
    );
    assert_eq!(
        outcome(&verifier(sumsub::NAME, &[b"other", KEY], None), &h, BODY, 0),
        "valid"
    );
}

#[test]
fn headers_and_precedence() {
    let d = sumsub::sign(KEY, DigestAlg::Sha256, BODY);
    let d512 = sumsub::sign(KEY, DigestAlg::Sha512, BODY);
    let alg = "HMAC_SHA256_HEX";
    let upper = d.to_uppercase();
    let cases: &[HeaderCase<'_>] = &[
        (&[], "missing"),
        // No algorithm header: HMAC_SHA256_HEX, as Sumsub's example does.
        (&[("x-payload-digest", d.as_bytes())], "valid"),
        (
            &[
                ("x-payload-digest", d.as_bytes()),
                ("x-payload-digest-alg", b""),
            ],
            "valid",
        ),
        (&[("x-payload-digest", d512.as_bytes())], "malformed"),
        (&[("x-payload-digest", upper.as_bytes())], "mismatch"),
        (&[("x-payload-digest-alg", alg.as_bytes())], "missing"),
        (
            &[
                ("x-payload-digest", b""),
                ("x-payload-digest-alg", alg.as_bytes()),
            ],
            "missing",
        ),
        // missing beats malformed
        (&[("x-payload-digest-alg", b"SHA256")], "missing"),
        (&[("x-payload-digest", b"zz")], "malformed"),
        (
            &[
                ("x-payload-digest", d.as_bytes()),
                ("x-payload-digest", d.as_bytes()),
                ("x-payload-digest-alg", alg.as_bytes()),
            ],
            "malformed",
        ),
        (
            &[
                ("x-payload-digest", d.as_bytes()),
                ("x-payload-digest-alg", b"HMAC_SHA256_HEX"),
                ("x-payload-digest-alg", b"HMAC_SHA1_HEX"),
            ],
            "malformed",
        ),
        (
            &[
                ("x-payload-digest", b"\xff"),
                ("x-payload-digest-alg", alg.as_bytes()),
            ],
            "malformed",
        ),
        (
            &[
                ("x-payload-digest", d.as_bytes()),
                ("x-payload-digest-alg", b"SHA256"),
            ],
            "malformed",
        ),
        (
            &[
                ("x-payload-digest", &d.as_bytes()[..62]),
                ("x-payload-digest-alg", alg.as_bytes()),
            ],
            "malformed",
        ),
        (
            &[
                ("X-Payload-Digest", upper.as_bytes()),
                ("X-Payload-Digest-Alg", alg.as_bytes()),
            ],
            "mismatch",
        ),
        (
            &[
                ("X-Payload-Digest", d.as_bytes()),
                ("X-Payload-Digest-Alg", alg.as_bytes()),
            ],
            "valid",
        ),
    ];
    for (pairs, want) in cases {
        assert_eq!(outcome(&v(), &headers(pairs), BODY, 0), *want, "{pairs:?}");
    }
}

#[test]
fn non_utf8_body_is_signed_as_bytes() {
    let body = b"\xff\xfe{}";
    let d = sumsub::sign(KEY, DigestAlg::Sha256, body);
    assert_eq!(
        outcome(&v(), &signed(&d, "HMAC_SHA256_HEX"), body, 0),
        "valid"
    );
}
