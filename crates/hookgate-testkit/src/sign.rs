//! Signing and verification helpers written from the providers' public docs.
//!
//! Why this exists: the gateway's own `hookgate-verify` and delivery signer
//! must not grade their own homework. Tests sign inbound callbacks here, and
//! check what subscribers receive with [`verify_standard_webhooks`], which
//! follows the official Standard Webhooks libraries, so a bug shared by the
//! gateway's signer and verifier cannot hide. Nothing here imports gateway
//! code, and each scheme is pinned by one vector computed outside Rust (see
//! the unit tests).
//!
//! Sources:
//! - Stripe: <https://docs.stripe.com/webhooks#verify-manually>
//!   (`Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256("{t}.{body}")>`; the key
//!   is the `whsec_...` string's raw bytes, prefix included).
//! - Standard Webhooks: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>
//!   (`webhook-signature: v1,<base64 HMAC-SHA256("{id}.{ts}.{body}")>`; the key
//!   is the base64 part of `whsec_<base64>`, decoded).
//! - GitHub: <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>
//!   (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body)>`).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Seconds since the Unix epoch, from the system clock.
pub fn now_unix() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is before 1970");
    i64::try_from(elapsed.as_secs()).expect("unix time fits in i64")
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

// === Stripe ===

/// The value of a `Stripe-Signature` header: `t=<ts>,v1=<hex>`, where the hex
/// is HMAC-SHA256 of `"{ts}.{body}"` keyed with the secret's raw bytes
/// (Stripe uses the whole `whsec_...` string as the key; it is not decoded).
pub fn stripe_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b".", body]);
    format!("t={ts},v1={}", hex::encode(mac))
}

// === GitHub ===

/// The value of an `X-Hub-Signature-256` header: `sha256=<hex HMAC-SHA256(body)>`.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
    )
}

// === Standard Webhooks ===

/// Decodes a Standard Webhooks secret (`whsec_<base64>`, prefix optional, as
/// the official libraries accept both) into the HMAC key.
fn standard_webhooks_key(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    BASE64
        .decode(b64)
        .map_err(|e| format!("secret is not whsec_<base64>: {e}"))
}

/// The value of a `webhook-signature` header with one entry: `v1,<base64>`,
/// HMAC-SHA256 of `"{msg_id}.{timestamp}.{body}"` keyed with the decoded
/// secret.
///
/// Panics if `secret` is not `whsec_<base64>` (a bug in the test itself).
pub fn standard_webhooks_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let key = standard_webhooks_key(secret).unwrap_or_else(|e| panic!("{e}"));
    let ts = timestamp.to_string();
    let mac = hmac_sha256(&key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", BASE64.encode(mac))
}

/// The three headers a Standard Webhooks sender sets, ready for
/// [`crate::http::post`]: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
pub fn standard_webhooks_headers(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        ("webhook-id", msg_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            standard_webhooks_signature(secret, msg_id, timestamp, body),
        ),
    ]
}

/// Verifies a Standard Webhooks request the way the official libraries do:
///
/// 1. `webhook-id`, `webhook-timestamp` and `webhook-signature` must be present;
/// 2. the timestamp must be an integer within `tolerance_secs` of `now`, in
///    either direction ("too old" / "too new");
/// 3. `webhook-signature` is a space-separated list of `<version>,<base64>`
///    entries; entries of other versions are skipped, and the request is valid
///    if any `v1` entry matches (several entries appear during a rotation).
///
/// Returns a short reason on failure, for test assertions and messages.
pub fn verify_standard_webhooks(
    secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), String> {
    let header = |name: &str| -> Result<&str, String> {
        headers
            .get(name)
            .ok_or_else(|| format!("missing header {name}"))?
            .to_str()
            .map_err(|_| format!("header {name} is not visible ASCII"))
    };
    let msg_id = header("webhook-id")?;
    let ts_raw = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;

    let ts: i64 = ts_raw
        .trim()
        .parse()
        .map_err(|_| format!("webhook-timestamp {ts_raw:?} is not an integer"))?;
    if now.saturating_sub(ts) > tolerance_secs {
        return Err(format!("timestamp too old: {ts}, now {now}"));
    }
    if ts.saturating_sub(now) > tolerance_secs {
        return Err(format!("timestamp too new: {ts}, now {now}"));
    }

    let key = standard_webhooks_key(secret)?;
    let signed = [
        msg_id.as_bytes(),
        b".",
        ts_raw.trim().as_bytes(),
        b".",
        body,
    ];
    for entry in signatures.split(' ').filter(|e| !e.is_empty()) {
        let Some((version, sig)) = entry.split_once(',') else {
            continue;
        };
        if version != "v1" {
            continue;
        }
        let Ok(sig) = BASE64.decode(sig) else {
            continue;
        };
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        for part in signed {
            mac.update(part);
        }
        // `verify_slice` compares in constant time, like the official libraries.
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err("no matching v1 signature".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_vector() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_test_secret",
        //   b"1700000000." + b"{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\"}",
        //   hashlib.sha256).hexdigest())'
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
        assert_eq!(
            stripe_signature("whsec_test_secret", 1_700_000_000, body),
            "t=1700000000,v1=22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31"
        );
    }

    #[test]
    fn standard_webhooks_vector() {
        // The example from the Standard Webhooks / Svix docs, re-checked with
        // python3 -c 'import hmac,hashlib,base64;
        //   k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        //   m=b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + b"{\"test\": 2432232314}";
        //   print(base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()).decode())'
        let sig = standard_webhooks_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn github_vector() {
        // The example from GitHub's docs, re-checked with
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"It'"'"'s a Secret to Everybody",
        //   b"Hello, World!", hashlib.sha256).hexdigest())'
        assert_eq!(
            github_signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn verify_rejects_bad_secret_format() {
        let mut headers = http::HeaderMap::new();
        for (k, v) in standard_webhooks_headers("whsec_AAAA", "msg_1", 10, b"{}") {
            headers.insert(k, v.parse().unwrap());
        }
        let err = verify_standard_webhooks("whsec_!!", &headers, b"{}", 10, 300).unwrap_err();
        assert!(err.contains("whsec_"), "{err}");
    }
}
