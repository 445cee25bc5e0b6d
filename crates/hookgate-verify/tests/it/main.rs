//! hookgate-verify's integration tests: one binary,
//! everything through the public API the ingest pipeline uses
//! (`Verifier::from_source`, `verify`, `extract`).
//!
//! - `hostile_<scheme>` (one per scheme): docs/schemes.md's hostile cases
//!   (tampering, wrong and rotated keys, tolerance boundaries, missing,
//!   empty, duplicated and malformed headers, non-UTF-8 bytes) and the
//!   reason precedence table.
//! - `hostile_sumsub`, `hostile_slack`, `hostile_paddle`, `hostile_square`,
//!   `hostile_twilio`, `hostile_configurable` (hmac, basic-auth,
//!   header-token): the same cases for those schemes, plus the signed URL
//!   (query, default-port variants) for Square and Twilio.
//! - `no_panic`: property tests that arbitrary headers and bodies never
//!   panic and that whatever is signed correctly verifies.
//!
//! The SDKs' own vectors run as unit tests next to each scheme
//! (`src/schemes/<scheme>.rs`, data in `tests/vectors/`).

mod hostile_adyen;
mod hostile_adyen_hmac_header;
mod hostile_checkout;
mod hostile_configurable;
mod hostile_github;
mod hostile_onfido;
mod hostile_paddle;
mod hostile_persona;
mod hostile_shopify;
mod hostile_slack;
mod hostile_square;
mod hostile_standard_webhooks;
mod hostile_stripe;
mod hostile_sumsub;
mod hostile_twilio;
mod no_panic;
mod support;
