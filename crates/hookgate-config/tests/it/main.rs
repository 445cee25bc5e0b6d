//! One integration-test binary for `hookgate-config`: the file format as an
//! operator writes it, and what comes out (a `Config`, or every error with
//! its line).

mod defaults;
mod env_overrides;
mod errors;
mod files;
mod reference;
mod rules;
mod secrets;
mod store_backend;

use hookgate_config::{Config, ConfigError, MapEnv, parse};
use std::path::Path;

/// The path test configs pretend to be read from.
pub const FILE: &str = "conf/hookgate.toml";

/// A signing key for subscriptions: `whsec_` + base64("hello").
pub const WHSEC: &str = "whsec_aGVsbG8=";

/// A signing key of the shortest length Standard Webhooks allows:
/// `whsec_` + base64 of 24 bytes ("0123456789abcdefghijklmn").
pub const WHSEC_24: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u";

/// The smallest complete file: one source and one subscription.
pub const MINIMAL: &str = r#"
[[sources]]
id = "src"
scheme = "stripe"

[[subscriptions]]
id = "sub"
url = "http://127.0.0.1:7001/events"
events = ["*"]
secret = { value = "whsec_aGVsbG8=" }
"#;

pub fn env(pairs: &[(&str, &str)]) -> MapEnv {
    MapEnv::from_pairs(pairs.iter().copied())
}

/// Parses `text`, panicking with every error if it is refused.
pub fn ok_with(text: &str, env: &MapEnv) -> Config {
    match parse(text, Path::new(FILE), env) {
        Ok(c) => c,
        Err(e) => panic!("expected the config to parse, got:\n{e}"),
    }
}

pub fn ok(text: &str) -> Config {
    ok_with(text, &MapEnv::default())
}

/// Parses `text`, panicking if it is accepted.
pub fn errs_with(text: &str, env: &MapEnv) -> Vec<ConfigError> {
    match parse(text, Path::new(FILE), env) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e.0,
    }
}

pub fn errs(text: &str) -> Vec<ConfigError> {
    errs_with(text, &MapEnv::default())
}

/// Asserts there is exactly one error, for `key`, containing `fragment`,
/// and returns it.
#[track_caller]
pub fn one_err(text: &str, key: &str, fragment: &str) -> ConfigError {
    let errors = errs(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    let e = errors.into_iter().next().unwrap();
    assert_eq!(e.key, key, "{e}");
    assert!(e.message.contains(fragment), "{e}\nwanted: {fragment}");
    e
}

/// `MINIMAL` with `extra` appended to the subscription (TOML keys after the
/// last header land in `[[subscriptions]]`).
pub fn with_sub(extra: &str) -> String {
    format!("{MINIMAL}{extra}\n")
}

/// A file with the subscription of `MINIMAL` and a source made of `body`.
pub fn with_source(body: &str) -> String {
    format!(
        "[[sources]]\n{body}\n\n[[subscriptions]]\nid = \"sub\"\nurl = \"http://h/\"\nevents = [\"*\"]\nsecret = {{ value = \"{WHSEC}\" }}\n"
    )
}
