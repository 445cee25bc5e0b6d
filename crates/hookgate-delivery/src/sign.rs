//! Outbound signatures (docs/event.md): Standard Webhooks `v1,<base64 HMAC-SHA256>`
//! over `{webhook-id}.{webhook-timestamp}.{body}`, one space-separated entry
//! per subscription secret while a rotation keeps several. Every attempt is
//! signed afresh with its own timestamp, so retries and replays pass the
//! subscriber's tolerance check.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use hookgate_core::Secret;
use sha2::Sha256;

/// The `webhook-signature` value.
pub fn signature(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mut out = String::with_capacity(secrets.len() * 48);
    for secret in secrets {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose()).expect("any key length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("v1,");
        out.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_vector() {
        // The Standard Webhooks specification's example: secret
        // whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, msg_p5jXN8AQM9LWM0D4loKWxJek,
        // timestamp 1614265330, body {"test": 2432232314} signs to
        // v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
        // (standard-webhooks/standard-webhooks, libraries' tests).
        use base64::Engine;
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &[Secret::new(key)],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn one_entry_per_secret() {
        let sig = signature(&[Secret::new("a"), Secret::new("b")], "m", 1, b"{}");
        let parts: Vec<_> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }
}
