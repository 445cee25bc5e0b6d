//! Reading a provider's JSON body after verification: the body as an
//! object, required and optional string fields, event ids and times.
//!
//! Kept apart from the verification helpers because its failures are the
//! payload's (a 400 with a `PayloadError` naming the field), never a
//! rejection of the signature; the rules here (an empty id is none, a time
//! RFC 3339 cannot write is a 400, a time in another format is dropped
//! where the provider's own format is not pinned) hold for every scheme.

use crate::{MAX_PROVIDER_EVENT_ID, PayloadError};
use serde_json::{Map, Value};

/// The body as a JSON object.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, PayloadError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(PayloadError("body must be a JSON object".into())),
        Err(e) => Err(PayloadError(format!("body is not valid JSON: {e}"))),
    }
}

/// A required non-empty string field.
pub(crate) fn required_str(obj: &Map<String, Value>, key: &str) -> Result<String, PayloadError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(PayloadError(format!("field `{key}` is empty"))),
        Some(_) => Err(PayloadError(format!("field `{key}` must be a string"))),
        None => Err(PayloadError(format!("field `{key}` is missing"))),
    }
}

/// Unix seconds from the payload or a header as RFC 3339, or a 400 naming
/// `what` when the time is outside the years 0000 to 9999 that RFC 3339
/// can write: an impossible time is the payload's fault, not something to
/// replace silently with the receive time (docs/ingest.md step 4).
pub(crate) fn unix_rfc3339(secs: i64, what: &str) -> Result<String, PayloadError> {
    hookgate_core::time::rfc3339_secs(secs).ok_or_else(|| out_of_range(secs, what))
}

/// [`unix_rfc3339`] for a JSON number; one that is not an integer is a 400.
pub(crate) fn json_unix_rfc3339(
    n: &serde_json::Number,
    what: &str,
) -> Result<String, PayloadError> {
    match n.as_i64() {
        Some(secs) => unix_rfc3339(secs, what),
        // An integer all the same, only further out than an i64 reaches.
        None if n.is_u64() => Err(out_of_range(n, what)),
        None => Err(PayloadError(format!("{what} must be an integer"))),
    }
}

/// The 400 of [`unix_rfc3339`], also for integers too large to parse.
pub(crate) fn out_of_range(secs: impl std::fmt::Display, what: &str) -> PayloadError {
    PayloadError(format!(
        "{what} is out of range: {secs} unix seconds is not a time RFC 3339 can express (years 0000 to 9999)"
    ))
}

/// Checks a provider event id: non-empty and at most
/// [`MAX_PROVIDER_EVENT_ID`] bytes, so a hostile id cannot bloat keys.
pub(crate) fn event_id(id: String, what: &str) -> Result<String, PayloadError> {
    if id.is_empty() {
        return Err(PayloadError(format!("{what} is empty")));
    }
    if id.len() > MAX_PROVIDER_EVENT_ID {
        return Err(PayloadError(format!(
            "{what} is longer than {MAX_PROVIDER_EVENT_ID} bytes"
        )));
    }
    Ok(id)
}

/// An optional string field read for extraction: `Some` only for a
/// non-empty string.
pub(crate) fn optional_str(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A provider time kept verbatim when it is RFC 3339, else `None` (the
/// gateway then uses the receive time: a verified event is never refused
/// for its clock format).
pub(crate) fn rfc3339_or_none(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if hookgate_core::time::parse_rfc3339_ms(s).is_some() => {
            Some(s.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_outside_rfc3339_are_a_400() {
        let ok = |secs| unix_rfc3339(secs, "field `t`");
        assert_eq!(ok(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(ok(-62_167_219_200).unwrap(), "0000-01-01T00:00:00Z");
        assert_eq!(ok(253_402_300_799).unwrap(), "9999-12-31T23:59:59Z");
        for secs in [-62_167_219_201, 253_402_300_800, i64::MIN, i64::MAX] {
            let err = ok(secs).unwrap_err().0;
            assert!(
                err.starts_with("field `t` is out of range: ") && err.contains(&secs.to_string()),
                "{err}"
            );
        }
        let num = |json: &str| serde_json::from_str::<serde_json::Number>(json).unwrap();
        assert_eq!(
            json_unix_rfc3339(&num("1700000000"), "x").unwrap(),
            "2023-11-14T22:13:20Z"
        );
        let err = json_unix_rfc3339(&num("18446744073709551615"), "x")
            .unwrap_err()
            .0;
        assert!(
            err.starts_with("x is out of range: 18446744073709551615 "),
            "{err}"
        );
        let err = json_unix_rfc3339(&num("1.5"), "x").unwrap_err().0;
        assert_eq!(err, "x must be an integer");
    }
}
