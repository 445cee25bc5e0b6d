//! What a configuration problem looks like to the operator.
//!
//! Every problem carries the file, the 1-based line when one is known, and a
//! dotted key path, so `hookgate check-config` output reads like a compiler's:
//! `error in config/hookgate.toml:42: sources.stripe.tolerance: expected a
//! duration like "30s"`. The parser never stops at the first problem: all of
//! them are collected into one [`ConfigErrors`], sorted by line.
//!
//! Messages never contain a secret value: code that reads secrets describes
//! what is wrong (not set, not base64, unreadable) and never echoes the input.

/// One configuration error (or warning): where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `sources.stripe.tolerance` (sources and
    /// subscriptions are named by id when they have one, else by index).
    pub key: String,
    /// What is wrong. Never contains a secret value.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "error in {}:{}: {}: {}",
                self.file, line, self.key, self.message
            ),
            None => write!(f, "error in {}: {}: {}", self.file, self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every error found, in file order (errors without a line come last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Sorts problems into file order. The sort is stable, so problems on one
/// line keep the order in which they were found; problems without a line
/// (environment overrides, cross-section checks without a key in the file)
/// go last.
pub(crate) fn sort_by_line(errors: &mut [ConfigError]) {
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
}
