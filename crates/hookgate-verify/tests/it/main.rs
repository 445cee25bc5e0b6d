//! hookgate-verify's integration tests: one binary (STYLE convention 12),
//! everything through the public API the ingest pipeline uses
//! (`Verifier::from_source`, `verify`, `extract`).
//!
//! - `hostile_stripe`, `hostile_standard_webhooks`: SPEC §5's hostile cases
//!   (tampering, wrong and rotated keys, tolerance boundaries, missing,
//!   empty, duplicated and malformed headers, non-UTF-8 bytes) and the
//!   reason precedence table.
//! - `no_panic`: property tests that arbitrary headers and bodies never
//!   panic and that whatever is signed correctly verifies.
//!
//! The SDKs' own vectors run as unit tests next to each scheme
//! (`src/schemes/<scheme>.rs`, data in `tests/vectors/`).

mod hostile_standard_webhooks;
mod hostile_stripe;
mod no_panic;
mod support;
