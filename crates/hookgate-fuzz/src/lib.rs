//! What the fuzz targets in `fuzz/fuzz_targets/` run, as a library so the
//! committed corpus (`fuzz/corpus/<target>/`) also replays on stable as a
//! normal test (`tests/corpus.rs`) without nightly or `cargo fuzz`.
//!
//! - [`scheme::run`]: one scheme's header parsing, verification and
//!   extraction of id/type/time/subject (targets `scheme_<name>`, one per
//!   scheme of [`hookgate_verify::schemes::NAMES`]);
//! - [`ingest::run`]: the whole ingest path, request bytes in and answer
//!   out (target `ingest`).
//!
//! Both decode the [`input`] format. Each checks the invariants its module
//! doc lists with `assert!`: a broken one is a crash, as a panic is.

pub mod ingest;
pub mod input;
pub mod scheme;

/// The fuzz target name of `scheme`: `scheme_` + the name with `-` as `_`.
pub fn target_name(scheme: &str) -> String {
    format!("scheme_{}", scheme.replace('-', "_"))
}
