//! Identity of events (docs/ingest.md).
//!
//! The idempotency key is `{source_id}:{provider_event_id}`. The event id is
//! `evt_` + the first 26 characters of the lowercase, unpadded RFC 4648
//! base32 of SHA-256(idempotency key). It is a storage format: every gateway
//! version must derive the same id, so the encoder below is written out and
//! pinned by known-answer tests rather than delegated to a crate whose
//! defaults could change.

use sha2::{Digest, Sha256};
use std::fmt;

/// RFC 4648 base32 alphabet, lower-cased.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Characters of base32 kept after the `evt_` prefix (130 bits of the hash).
const ID_CHARS: usize = 26;

/// A stable event id such as `evt_mfrggzdfmztwq2lknnwg23tpoa`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    /// Derives the event id from an idempotency key.
    pub fn derive(idempotency_key: &str) -> Self {
        let digest = Sha256::digest(idempotency_key.as_bytes());
        let mut id = String::with_capacity(4 + ID_CHARS);
        id.push_str("evt_");
        id.push_str(&base32_lower(&digest)[..ID_CHARS]);
        EventId(id)
    }

    /// Parses an id received from outside (admin API paths). Only the exact
    /// shape the gateway produces is accepted, so an id is always safe to
    /// splice into a store key.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("evt_")?;
        let ok = rest.len() == ID_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        ok.then(|| EventId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `{source_id}:{provider_event_id}`.
pub fn idempotency_key(source_id: &str, provider_event_id: &str) -> String {
    let mut key = String::with_capacity(source_id.len() + 1 + provider_event_id.len());
    key.push_str(source_id);
    key.push(':');
    key.push_str(provider_event_id);
    key
}

/// Unpadded RFC 4648 base32, lower case.
fn base32_lower(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &byte in input {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 0x1f) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10, lower-cased and unpadded.
        for (input, expected) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_lower(input.as_bytes()), expected, "input {input:?}");
        }
    }

    #[test]
    fn event_id_is_pinned() {
        // Pinned so a refactor cannot silently change a storage format.
        // Computed independently with coreutils:
        // `printf 'stripe:evt_1' | sha256sum | xxd -r -p | base32 | tr A-Z a-z | cut -c1-26`
        let id = EventId::derive("stripe:evt_1");
        assert_eq!(id.as_str(), "evt_bbwljoode2iw3gwvttnuxod5cd");
        assert_eq!(EventId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id, EventId::derive(&idempotency_key("stripe", "evt_1")));
        assert_ne!(id, EventId::derive("stripe:evt_2"));
    }

    #[test]
    fn parse_rejects_foreign_shapes() {
        for bad in [
            "",
            "evt_",
            "evt_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "evt_abcdefghijklmnopqrstuvwxy1",
            "evt_abcdefghijklmnopqrstuvwxyz2",
            "xyz_abcdefghijklmnopqrstuvwxyz",
            "evt_abcdefghijklmnopqrstuvwx:z",
        ] {
            assert!(EventId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
