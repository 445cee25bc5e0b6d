//! The scheme registry: the name in `scheme = "..."` → the module that
//! verifies it.
//!
//! Every scheme module has the same shape (STYLE convention 2): `NAME`,
//! `DEFAULT_TOLERANCE`/`DEFAULT_DEDUP_WINDOW` where they apply, a `Params`
//! built from the source's config that implements [`Scheme`], free `verify`
//! and `extract` functions, a public `sign` helper that test kits and
//! benches use, and `#[cfg(test)] mod tests` driven by
//! `tests/vectors/<scheme>/`. Adding a provider is one new file, one line in
//! [`NAMES`] and one arm in [`build`].
//!
//! An unknown name is an error, never "no verification" (fail closed).

pub(crate) mod common;
pub mod standard_webhooks;
pub mod stripe;

use crate::{Scheme, SchemeError};
use hookgate_config::SourceConfig;

/// Every scheme name [`build`] knows, in the order error messages list them.
pub const NAMES: &[&str] = &[stripe::NAME, standard_webhooks::NAME];

/// Builds the scheme named by `source.scheme`, or fails closed.
pub fn build(source: &SourceConfig) -> Result<Box<dyn Scheme>, SchemeError> {
    match source.scheme.as_str() {
        stripe::NAME => Ok(Box::new(stripe::Params::from_source(source)?)),
        standard_webhooks::NAME => Ok(Box::new(standard_webhooks::Params::from_source(source)?)),
        other => Err(common::scheme_error(
            source,
            "scheme",
            format!("unknown scheme {other:?}; known: {}", NAMES.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verifier;
    use common::testing::source;
    use std::time::Duration;

    #[test]
    fn unknown_scheme_fails_closed() {
        let err = build(&source("strype", &["whsec_x"])).unwrap_err();
        assert_eq!(err.key, "scheme");
        assert_eq!(
            err.to_string(),
            "sources.src.scheme: unknown scheme \"strype\"; known: stripe, standard-webhooks"
        );
        // Names are exact: no case folding, no aliases.
        assert!(build(&source("Stripe", &["whsec_x"])).is_err());
        assert!(build(&source("", &["whsec_x"])).is_err());
    }

    #[test]
    fn every_name_builds() {
        for name in NAMES {
            let src = source(name, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
            assert!(build(&src).is_ok(), "{name}");
        }
    }

    #[test]
    fn dedup_window_defaults_and_overrides() {
        let mut src = source(stripe::NAME, &["whsec_x"]);
        let week = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(Verifier::from_source(&src).unwrap().dedup_window(), week);
        src.dedup_window = Some(Duration::from_secs(60));
        assert_eq!(
            Verifier::from_source(&src).unwrap().dedup_window(),
            Duration::from_secs(60)
        );
        let src = source(
            standard_webhooks::NAME,
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        );
        assert_eq!(Verifier::from_source(&src).unwrap().dedup_window(), week);
    }
}
