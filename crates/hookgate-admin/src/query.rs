//! Query strings, cursors and times of the admin API.

use crate::error::ApiError;
use hookgate_core::time::parse_rfc3339_ms;
use std::collections::HashMap;

/// Default and largest page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;

/// Parsed query parameters; unknown names are refused so a typo in a
/// filter never silently widens a replay.
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses `raw`, allowing only `allowed` names.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {k:?}; allowed: {}",
                    allowed.join(", ")
                )));
            }
            map.insert(k.into_owned(), v.into_owned());
        }
        Ok(Query(map))
    }

    /// A parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `limit`, bounded.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "limit must be 1..={MAX_LIMIT}"
                ))),
            },
        }
    }

    /// A time parameter as unix ms.
    pub fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        parse_time(name, self.get(name))
    }
}

/// Parses an optional RFC 3339 time.
pub fn parse_time(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value {
        None => Ok(None),
        Some(s) => parse_rfc3339_ms(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be an RFC 3339 time"))),
    }
}

/// A position in a list merged over sources: (time ms, source index, id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// Sort time.
    pub ms: i64,
    /// Index of the source in the config.
    pub source: usize,
    /// Event id.
    pub id: String,
}

impl Cursor {
    /// Opaque text form.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.ms, self.source, self.id)
    }

    /// Parses the text form.
    pub fn decode(s: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad_request("cursor is not one this API returned");
        let mut parts = s.splitn(3, '.');
        let ms = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let source = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let id = parts
            .next()
            .filter(|p| !p.is_empty())
            .ok_or_else(bad)?
            .to_owned();
        Ok(Cursor { ms, source, id })
    }
}
