//! The scheme registry: the name in `scheme = "..."` → the module that
//! verifies it.
//!
//! Every scheme module has the same shape: `NAME`,
//! `DEFAULT_TOLERANCE`/`DEFAULT_DEDUP_WINDOW` where they apply, a `Params`
//! built from the source's config that implements [`Scheme`], free `verify`
//! and `extract` functions, a public `sign` helper that test kits and
//! benches use, and `#[cfg(test)] mod tests` driven by
//! `tests/vectors/<scheme>/`. A scheme whose request carries one event
//! writes its `Scheme` impl as `one_event_scheme!(timed)` (or `untimed`);
//! one that reads nothing but its secrets (and tolerance) writes its
//! `Params` too as `plain_params!(…)`, so the fail-closed build is the same
//! code for all of them.
//! Adding a provider is one new file, one line in [`NAMES`] and one arm in
//! [`build`].
//!
//! What the schemes share lives in `common` (headers, HMAC, tolerance,
//! config, JSON fields), `fields` (where an event's id, type, time and
//! subject stand: in the config for the configurable schemes, as a
//! module's `const EVENT: EventFields` for a fixed provider whose event is
//! plain data), `body_hmac` (one header holding an HMAC of the raw body)
//! and `timestamped` (the verdict after a timestamped header is parsed).
//! Each scheme module keeps what is its provider's own: header names,
//! encodings, signed content, parsing, event ids that are not one field,
//! and the SDK disagreements its module doc resolves.
//!
//! An unknown name is an error, never "no verification" (fail closed).

/// `impl Scheme for Params` for a scheme whose request carries exactly one
/// event: `verify` and `extract` delegate to the module's free functions
/// (`extract` answers a one-element list) and the dedup window is the
/// module's `DEFAULT_DEDUP_WINDOW`; `ack` and `handshake` keep their
/// defaults. `timed` when the module's `verify` takes the clock,
/// `untimed` when it does not. `configurable` for the schemes whose
/// fields are named in the config: a timed `verify`, and `extract` through
/// their `Params::fields`. Schemes with more to say (`adyen`'s batch and
/// ack, `slack`'s handshake) write the impl out.
macro_rules! one_event_scheme {
    (configurable) => {
        one_event_scheme!(timed, fields);
    };
    ($clock:ident) => {
        one_event_scheme!($clock, free);
    };
    ($clock:ident, $extract:ident) => {
        impl $crate::Scheme for Params {
            one_event_scheme!(@verify $clock);
            one_event_scheme!(@extract $extract);

            fn default_dedup_window(&self) -> std::time::Duration {
                DEFAULT_DEDUP_WINDOW
            }
        }
    };
    (@verify timed) => {
        fn verify(
            &self,
            req: &$crate::RawRequest<'_>,
            now_unix: i64,
        ) -> Result<(), $crate::Rejection> {
            verify(self, req, now_unix)
        }
    };
    (@verify untimed) => {
        fn verify(
            &self,
            req: &$crate::RawRequest<'_>,
            _now_unix: i64,
        ) -> Result<(), $crate::Rejection> {
            verify(self, req)
        }
    };
    (@extract free) => {
        fn extract<'a>(
            &self,
            req: &$crate::RawRequest<'a>,
        ) -> Result<Vec<$crate::ProviderEvent<'a>>, $crate::PayloadError> {
            extract(req).map(|event| vec![event])
        }
    };
    (@extract fields) => {
        fn extract<'a>(
            &self,
            req: &$crate::RawRequest<'a>,
        ) -> Result<Vec<$crate::ProviderEvent<'a>>, $crate::PayloadError> {
            self.fields.extract(req).map(|event| vec![event])
        }
    };
}

/// `Params` of a scheme that reads nothing from its source but its secrets
/// (used as configured, several during a rotation; no scheme keys, no
/// `public_url`), its `from_source`, and its [`one_event_scheme!`] impl.
/// `public_url` adds the URL the provider signs (`public_url`) and a
/// `timed` verify. `tolerance` adds the source's `tolerance` (the module's
/// `DEFAULT_TOLERANCE` when unset) and a `timed` verify; `timed` or
/// `untimed` alone says only how `verify` is called. `$doc` is the
/// struct's doc, naming the provider and what its secrets are.
macro_rules! plain_params {
    (tolerance, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct Params {
            secrets: Vec<hookgate_core::Secret>,
            tolerance_secs: i64,
        }

        impl Params {
            /// Builds from the source's config: at least one non-empty
            /// secret, no scheme keys.
            pub fn from_source(
                source: &hookgate_config::SourceConfig,
            ) -> Result<Self, $crate::SchemeError> {
                Ok(Params {
                    secrets: $crate::schemes::common::plain_secrets(source, NAME)?,
                    tolerance_secs: $crate::schemes::common::tolerance_secs(
                        source,
                        DEFAULT_TOLERANCE,
                    ),
                })
            }
        }

        one_event_scheme!(timed);
    };
    (public_url, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct Params {
            secrets: Vec<hookgate_core::Secret>,
            url: $crate::schemes::public_url::PublicUrl,
        }

        impl Params {
            /// Builds from the source's config: at least one non-empty
            /// secret and a valid `public_url`; no scheme keys.
            pub fn from_source(
                source: &hookgate_config::SourceConfig,
            ) -> Result<Self, $crate::SchemeError> {
                let (secrets, url) = $crate::schemes::public_url::secrets_and_url(source, NAME)?;
                Ok(Params { secrets, url })
            }
        }

        one_event_scheme!(timed);
    };
    ($timed:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct Params {
            secrets: Vec<hookgate_core::Secret>,
        }

        impl Params {
            /// Builds from the source's config: at least one non-empty
            /// secret, no scheme keys.
            pub fn from_source(
                source: &hookgate_config::SourceConfig,
            ) -> Result<Self, $crate::SchemeError> {
                Ok(Params {
                    secrets: $crate::schemes::common::plain_secrets(source, NAME)?,
                })
            }
        }

        one_event_scheme!($timed);
    };
}

pub mod adyen;
pub mod adyen_hmac_header;
pub mod basic_auth;
pub(crate) mod body_hmac;
pub mod checkout;
pub(crate) mod common;
pub(crate) mod fields;
pub(crate) mod form;
pub mod github;
pub mod header_token;
pub mod hmac;
pub mod onfido;
pub mod paddle;
pub mod persona;
pub(crate) mod public_url;
pub mod shopify;
pub mod slack;
pub mod square;
pub mod standard_webhooks;
pub mod stripe;
pub mod sumsub;
pub(crate) mod timestamped;
pub mod twilio;

use crate::{Scheme, SchemeError};
use hookgate_config::SourceConfig;

/// Every scheme name [`build`] knows, in the order error messages list them.
pub const NAMES: &[&str] = &[
    stripe::NAME,
    standard_webhooks::NAME,
    adyen::NAME,
    adyen_hmac_header::NAME,
    github::NAME,
    shopify::NAME,
    checkout::NAME,
    onfido::NAME,
    persona::NAME,
    sumsub::NAME,
    slack::NAME,
    paddle::NAME,
    square::NAME,
    twilio::NAME,
    hmac::NAME,
    basic_auth::NAME,
    header_token::NAME,
];

/// Schemes that read `event_id`/`event_type`/`event_time`/`event_subject`
/// themselves; for every other scheme those keys override its identity.
pub const CONFIGURABLE: &[&str] = &[hmac::NAME, basic_auth::NAME, header_token::NAME];

/// Schemes that sign a timestamp and so enforce `tolerance` (`hmac` too,
/// when its `timestamp_header` is set; see [`uses_tolerance`]).
pub const TIMESTAMPED: &[&str] = &[
    stripe::NAME,
    standard_webhooks::NAME,
    slack::NAME,
    paddle::NAME,
    persona::NAME,
];

/// Whether `source`'s scheme reads `tolerance` (for the others it has no
/// effect, which check-config says).
pub fn uses_tolerance(source: &SourceConfig) -> bool {
    TIMESTAMPED.contains(&source.scheme.as_str())
        || (source.scheme == hmac::NAME && source.params.contains_key("timestamp_header"))
}

/// The tolerance `source` enforces: its `tolerance`, else its scheme's
/// default; `None` when the scheme signs no timestamp ([`uses_tolerance`]).
pub fn effective_tolerance(source: &SourceConfig) -> Option<std::time::Duration> {
    if !uses_tolerance(source) {
        return None;
    }
    let default = match source.scheme.as_str() {
        stripe::NAME => stripe::DEFAULT_TOLERANCE,
        standard_webhooks::NAME => standard_webhooks::DEFAULT_TOLERANCE,
        slack::NAME => slack::DEFAULT_TOLERANCE,
        paddle::NAME => paddle::DEFAULT_TOLERANCE,
        persona::NAME => persona::DEFAULT_TOLERANCE,
        _ => hmac::DEFAULT_TOLERANCE,
    };
    Some(source.tolerance.unwrap_or(default))
}

/// What is wrong with `source` without stopping it, as `(key, message)`
/// for check-config to print as warnings (keys under the source, like
/// [`SchemeError`]'s; messages never hold a secret).
pub fn warnings(source: &SourceConfig) -> Vec<(String, String)> {
    match source.scheme.as_str() {
        standard_webhooks::NAME => standard_webhooks::short_keys(source)
            .into_iter()
            .map(|i| {
                (
                    format!("secrets[{i}]"),
                    hookgate_config::SHORT_SIGNING_KEY.to_owned(),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Schemes whose callbacks are batches (identity per item; no override).
pub const BATCH: &[&str] = &[adyen::NAME];

/// Builds the scheme named by `source.scheme`, or fails closed.
pub fn build(source: &SourceConfig) -> Result<Box<dyn Scheme>, SchemeError> {
    match source.scheme.as_str() {
        stripe::NAME => Ok(Box::new(stripe::Params::from_source(source)?)),
        standard_webhooks::NAME => Ok(Box::new(standard_webhooks::Params::from_source(source)?)),
        adyen::NAME => Ok(Box::new(adyen::Params::from_source(source)?)),
        adyen_hmac_header::NAME => Ok(Box::new(adyen_hmac_header::Params::from_source(source)?)),
        github::NAME => Ok(Box::new(github::Params::from_source(source)?)),
        shopify::NAME => Ok(Box::new(shopify::Params::from_source(source)?)),
        checkout::NAME => Ok(Box::new(checkout::Params::from_source(source)?)),
        onfido::NAME => Ok(Box::new(onfido::Params::from_source(source)?)),
        persona::NAME => Ok(Box::new(persona::Params::from_source(source)?)),
        sumsub::NAME => Ok(Box::new(sumsub::Params::from_source(source)?)),
        slack::NAME => Ok(Box::new(slack::Params::from_source(source)?)),
        paddle::NAME => Ok(Box::new(paddle::Params::from_source(source)?)),
        square::NAME => Ok(Box::new(square::Params::from_source(source)?)),
        twilio::NAME => Ok(Box::new(twilio::Params::from_source(source)?)),
        hmac::NAME => Ok(Box::new(hmac::Params::from_source(source)?)),
        basic_auth::NAME => Ok(Box::new(basic_auth::Params::from_source(source)?)),
        header_token::NAME => Ok(Box::new(header_token::Params::from_source(source)?)),
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
        // The list grows with every scheme; its head and separator are fixed.
        let text = err.to_string();
        assert!(
            text.starts_with(
                "sources.src.scheme: unknown scheme \"strype\"; known: stripe, standard-webhooks, "
            ),
            "{text}"
        );
        for name in NAMES {
            assert!(text.contains(name), "{text}");
        }
        // Names are exact: no case folding, no aliases.
        assert!(build(&source("Stripe", &["whsec_x"])).is_err());
        assert!(build(&source("", &["whsec_x"])).is_err());
    }

    #[test]
    fn every_name_builds() {
        for name in NAMES {
            // Adyen keys are hex; every other scheme takes this secret.
            let secret = if name.starts_with("adyen") {
                "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
            } else {
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
            };
            let mut src = source(name, &[secret]);
            // Schemes that need more than a secret (public_url, params).
            common::testing_ext::complete(&mut src);
            assert!(build(&src).is_ok(), "{name}");
        }
    }

    #[test]
    fn effective_tolerance_is_the_sources_else_the_schemes() {
        let secs = Duration::from_secs;
        let of = |scheme: &str, tolerance: Option<u64>| {
            let mut src = source(scheme, &["whsec_x"]);
            common::testing_ext::complete(&mut src);
            src.tolerance = tolerance.map(secs);
            effective_tolerance(&src)
        };
        assert_eq!(of(stripe::NAME, None), Some(secs(300)));
        assert_eq!(of(stripe::NAME, Some(60)), Some(secs(60)));
        assert_eq!(of(standard_webhooks::NAME, None), Some(secs(300)));
        assert_eq!(of(slack::NAME, None), Some(secs(300)));
        assert_eq!(of(paddle::NAME, None), Some(secs(5)));
        assert_eq!(of(persona::NAME, None), Some(secs(300)));
        // No timestamp signed: no tolerance, whatever the source says.
        assert_eq!(of(github::NAME, Some(60)), None);
        assert_eq!(of(hmac::NAME, None), None);
        let mut src = source(hmac::NAME, &["k"]);
        common::testing_ext::complete(&mut src);
        src.params.insert("timestamp_header".into(), "x-ts".into());
        assert_eq!(effective_tolerance(&src), Some(secs(300)));
    }

    #[test]
    fn short_standard_webhooks_keys_are_warned_by_index() {
        // 24 bytes (the spec's minimum), then 5 bytes, then 23 bytes.
        let src = source(
            standard_webhooks::NAME,
            &[
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "whsec_aGVsbG8=",
                "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG0=",
            ],
        );
        let w = warnings(&src);
        let keys: Vec<&str> = w.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["secrets[1]", "secrets[2]"]);
        assert!(w[0].1.contains("shorter than 24 bytes"), "{}", w[0].1);
        assert!(!w[0].1.contains("aGVsbG8"));
        // Other schemes use their secrets as given: nothing to judge.
        assert!(warnings(&source(stripe::NAME, &["short"])).is_empty());
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
