//! Secrets that never print.
//!
//! Signing secrets, admin token hashes and store passwords are wrapped in
//! [`Secret`] from the moment they are read. `Debug` and `Display` print
//! `**REDACTED**`; the bytes are reachable only through [`Secret::expose`],
//! which makes every use greppable.

use std::fmt;
use subtle::ConstantTimeEq;

/// Secret bytes with a redacting `Debug`/`Display`.
#[derive(Clone, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    /// The secret bytes. Call sites are the audit surface: keep them few.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time equality with `other`.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(&self.0, other)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

/// Constant-time comparison of two byte strings. Lengths are not secret
/// (signatures have a fixed public length), contents are.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = Secret::new("whsec_topsecret");
        assert_eq!(format!("{s:?} {s}"), "**REDACTED** **REDACTED**");
        assert!(s.ct_eq(b"whsec_topsecret"));
        assert!(!s.ct_eq(b"whsec_topsecreT"));
        assert!(!s.ct_eq(b"whsec_"));
    }
}
