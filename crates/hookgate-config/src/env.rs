//! Where deploy-time values come from besides the file.
//!
//! The process environment is read only through the [`Env`] trait, so tests
//! pass a [`MapEnv`] instead of mutating global state (`std::env::set_var`
//! is banned in `clippy.toml`; it is also `unsafe` in edition 2024). The
//! same trait resolves `{ env = "NAME" }` secrets.
//!
//! The `HOOKGATE_*` overrides are deliberately few: the values that change
//! between deployments of the same file (listen addresses, the store's
//! backend, URL and path, the instance's identity).

use std::collections::HashMap;

/// Overrides `[server] listen`.
pub const SERVER_LISTEN: &str = "HOOKGATE_SERVER_LISTEN";
/// Overrides `[admin] listen`.
pub const ADMIN_LISTEN: &str = "HOOKGATE_ADMIN_LISTEN";
/// Overrides `[store] url`.
pub const STORE_URL: &str = "HOOKGATE_STORE_URL";
/// Overrides `[store] backend` (`sqlite` or `redis`).
pub const STORE_BACKEND: &str = "HOOKGATE_STORE_BACKEND";
/// Overrides `[store] path` (relative to the working directory).
pub const STORE_PATH: &str = "HOOKGATE_STORE_PATH";
/// Overrides `[server] instance_id`.
pub const INSTANCE_ID: &str = "HOOKGATE_INSTANCE_ID";

/// Where `HOOKGATE_*` overrides are read from. Tests pass a map; the binary
/// passes [`ProcessEnv`]. Nothing here mutates the process environment.
pub trait Env {
    /// The value of variable `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed map of variables, for tests.
///
/// Its `Debug` prints the variable names only: the values are often secrets.
#[derive(Clone, Default)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    /// A map built from `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        MapEnv(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

impl std::fmt::Debug for MapEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_tuple("MapEnv").field(&names).finish()
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// An override's value: `None` when the variable is unset or empty. Empty
/// counts as unset because deploy tools (compose `${VAR}`, systemd
/// `Environment=VAR=`) produce empty values for "not configured".
pub(crate) fn override_value(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.is_empty())
}
