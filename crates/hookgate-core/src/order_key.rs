//! Ordering keys: what a subscription with `ordering` delivers one at a
//! time, in order (docs/delivery.md, "Ordering keys").
//!
//! A key comes from the provider (an event's subject, a JSON value, a
//! header), so its length is the provider's choice; the stores keep it in
//! key names and index rows, so it is bounded here, once, for every store.

use sha2::{Digest, Sha256};

/// The longest key kept as it is, in bytes.
pub const ORDER_KEY_MAX: usize = 200;
/// Bytes of a longer key kept before its hash.
const LONG_KEY_HEAD: usize = 128;

/// An event's ordering key, as the stores keep it: never empty, at most
/// [`ORDER_KEY_MAX`] bytes plus a hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderKey(String);

impl OrderKey {
    /// The key for `raw`: `raw` itself when it is at most [`ORDER_KEY_MAX`]
    /// bytes; else its first 128 bytes (cut on a character boundary), `~`
    /// and the hex SHA-256 of the whole, so two long keys stay apart. An
    /// empty value is no key.
    pub fn new(raw: &str) -> Option<Self> {
        if raw.is_empty() {
            return None;
        }
        if raw.len() <= ORDER_KEY_MAX {
            return Some(OrderKey(raw.to_owned()));
        }
        let mut cut = LONG_KEY_HEAD;
        while !raw.is_char_boundary(cut) {
            cut -= 1;
        }
        let digest = Sha256::digest(raw.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(OrderKey(format!("{}~{hex}", &raw[..cut])))
    }

    /// A key read back from a store (trusted: it was made by [`Self::new`]).
    pub fn from_stored(stored: String) -> Self {
        OrderKey(stored)
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OrderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_kept_and_empty_is_none() {
        assert_eq!(OrderKey::new("pi_123").unwrap().as_str(), "pi_123");
        assert!(OrderKey::new("").is_none());
        let max = "k".repeat(ORDER_KEY_MAX);
        assert_eq!(OrderKey::new(&max).unwrap().as_str(), max);
    }

    #[test]
    fn long_keys_are_bounded_and_stay_apart() {
        let a = format!("{}a", "x".repeat(300));
        let b = format!("{}b", "x".repeat(300));
        let (ka, kb) = (OrderKey::new(&a).unwrap(), OrderKey::new(&b).unwrap());
        assert_ne!(ka, kb);
        assert!(ka.as_str().len() <= LONG_KEY_HEAD + 1 + 64);
        // A cut never splits a character.
        let wide = "é".repeat(150);
        assert!(OrderKey::new(&wide).unwrap().as_str().starts_with('é'));
    }
}
