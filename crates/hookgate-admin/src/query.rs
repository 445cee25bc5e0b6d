//! Query strings, cursors and times of the admin API.
//!
//! Every cursor is validated here before it reaches the store: a cursor the
//! API did not hand out is the caller's mistake (400), never a store error
//! (503).

use crate::error::ApiError;
use hookgate_core::time::parse_rfc3339_ns;
use std::collections::HashMap;

/// Default and largest page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;

/// Parameters holding an RFC 3339 time (see [`restore_offset_plus`]).
const TIME_PARAMS: &[&str] = &["since", "until"];

/// The answer to a cursor that is not one this API returned.
fn bad_cursor() -> ApiError {
    ApiError::bad_request("cursor is not one this API returned")
}

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
            let v = if TIME_PARAMS.contains(&k.as_ref()) {
                restore_offset_plus(&v)
            } else {
                v.into_owned()
            };
            map.insert(k.into_owned(), v);
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
        self.limit_up_to(MAX_LIMIT)
    }

    /// `limit`, at most `max` (a list whose items cost more to read than
    /// a row each).
    pub fn limit_up_to(&self, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT.min(max)),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!("limit must be 1..={max}"))),
            },
        }
    }

    /// A time parameter as unix ms.
    pub fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        parse_time(name, self.get(name))
    }
}

/// A time whose offset's `+` was sent unencoded (`?since=2026-11-24T02:20:00+00:00`)
/// arrives form-decoded as a space: put the `+` back. Only a space right
/// before a trailing `HH:MM` is touched.
fn restore_offset_plus(value: &str) -> String {
    let b = value.as_bytes();
    let n = b.len();
    let offset_like = n > 6
        && b[n - 6] == b' '
        && b[n - 3] == b':'
        && [1, 2, 4, 5].iter().all(|i| b[n - 6 + i].is_ascii_digit());
    if offset_like {
        format!("{}+{}", &value[..n - 6], &value[n - 5..])
    } else {
        value.to_owned()
    }
}

/// Parses an optional RFC 3339 time.
///
/// Stored times are whole milliseconds and both bounds are inclusive: a
/// `since` with digits below the millisecond rounds up, an `until` rounds
/// down, so `since=…14.5015Z` does not admit a time of `…14.501Z`.
pub fn parse_time(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(s) = value else { return Ok(None) };
    let ns = parse_rfc3339_ns(s)
        .ok_or_else(|| ApiError::bad_request(format!("{name} must be an RFC 3339 time")))?;
    let ms = if name == "since" {
        ns.div_euclid(1_000_000) + i128::from(ns.rem_euclid(1_000_000) != 0)
    } else {
        ns.div_euclid(1_000_000)
    };
    i64::try_from(ms)
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("{name} is out of range")))
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

    /// Parses the text form: `{ms}.{source}.{event id}`, each part exactly
    /// as [`Cursor::encode`] writes it.
    pub fn decode(s: &str) -> Result<Self, ApiError> {
        let mut parts = s.splitn(3, '.');
        let ms = parts.next().and_then(number).ok_or_else(bad_cursor)?;
        let source = parts.next().and_then(number).ok_or_else(bad_cursor)?;
        let id = parts
            .next()
            .and_then(hookgate_core::EventId::parse)
            .ok_or_else(bad_cursor)?
            .to_string();
        Ok(Cursor { ms, source, id })
    }
}

/// Plain ASCII digits that fit `T` (no sign, no spaces).
fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The audit log's cursor: a Redis stream id `ms-seq` (or `ms`), each part
/// fitting `u64`, returned in canonical form.
pub fn audit_cursor(s: &str) -> Result<String, ApiError> {
    let (ms, seq) = match s.split_once('-') {
        Some((ms, seq)) => (ms, Some(seq)),
        None => (s, None),
    };
    let ms: u64 = number(ms).ok_or_else(bad_cursor)?;
    match seq {
        None => Ok(ms.to_string()),
        Some(seq) => {
            let seq: u64 = number(seq).ok_or_else(bad_cursor)?;
            Ok(format!("{ms}-{seq}"))
        }
    }
}

/// A position in the subscription list: the last subscription of a page,
/// as `{config index}.{id}`. The id decides where the next page starts; the
/// index only when that subscription left the config between two pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionCursor {
    /// Index of the subscription in the config.
    pub index: usize,
    /// Subscription id.
    pub id: String,
}

impl SubscriptionCursor {
    /// Opaque text form.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.index, self.id)
    }

    /// Parses the text form; the id must be a valid subscription id
    /// (`[A-Za-z0-9_-]{1,64}`).
    pub fn decode(s: &str) -> Result<Self, ApiError> {
        let (index, id) = s.split_once('.').ok_or_else(bad_cursor)?;
        let index = number(index).ok_or_else(bad_cursor)?;
        let id_ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(bad_cursor());
        }
        Ok(SubscriptionCursor {
            index,
            id: id.to_owned(),
        })
    }
}

/// The last possible stream id: nothing comes after it (Redis refuses it
/// as an exclusive start).
pub const LAST_AUDIT_CURSOR: &str = "18446744073709551615-18446744073709551615";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_cursors() {
        assert_eq!(audit_cursor("1700000000000-0").unwrap(), "1700000000000-0");
        assert_eq!(audit_cursor("5").unwrap(), "5");
        assert_eq!(audit_cursor("007-01").unwrap(), "7-1");
        assert_eq!(
            audit_cursor(LAST_AUDIT_CURSOR).unwrap(),
            format!("{}-{}", u64::MAX, u64::MAX)
        );
        for bad in [
            "-",
            "1-2-3",
            "1-",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.5",
            "18446744073709551616",
            "1-18446744073709551616",
            "abc",
        ] {
            assert!(audit_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn list_cursors() {
        let c = Cursor {
            ms: 1_700_000_000_000,
            source: 2,
            id: "evt_eatb4lm3qrsgpe6zst6g3dfsiw".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "-",
            "1-2-3",
            "-5.0.evt_eatb4lm3qrsgpe6zst6g3dfsiw",
            "+5.0.evt_eatb4lm3qrsgpe6zst6g3dfsiw",
            "5.-1.evt_eatb4lm3qrsgpe6zst6g3dfsiw",
            "99999999999999999999.0.evt_eatb4lm3qrsgpe6zst6g3dfsiw",
            "5.0.",
            "5.0.not_an_event",
            "5.0",
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subscription_cursors() {
        let c = SubscriptionCursor {
            index: 3,
            id: "ledger-v2_x".into(),
        };
        assert_eq!(SubscriptionCursor::decode(&c.encode()).unwrap(), c);
        let long = format!("0.{}", "a".repeat(65));
        for bad in [
            "-",
            "ledger",
            "1.",
            ".ledger",
            "-1.ledger",
            "1.led.ger",
            "1.a b",
            &long,
        ] {
            assert!(SubscriptionCursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sub_millisecond_bounds_round_inward() {
        // Stored times are whole ms; both bounds are inclusive.
        let t = |name, v| parse_time(name, Some(v)).unwrap().unwrap();
        let base = t("until", "2026-11-24T05:51:14.501Z");
        assert_eq!(t("since", "2026-11-24T05:51:14.5015Z"), base + 1);
        assert_eq!(t("until", "2026-11-24T05:51:14.5015Z"), base);
        assert_eq!(t("since", "2026-11-24T05:51:14.501Z"), base);
        assert_eq!(t("since", "2026-11-24T05:51:14.501000000Z"), base);
        // Before 1970 too (rounding is toward the bound's inside).
        assert_eq!(t("since", "1969-12-31T23:59:59.9995Z"), 0);
        assert_eq!(t("until", "1969-12-31T23:59:59.9995Z"), -1);
    }

    #[test]
    fn time_offsets_survive_form_decoding() {
        let q = Query::parse(
            Some("since=2026-11-24T02:20:00+00:00&until=2026-11-24T04:20:00+02:00"),
            &["since", "until"],
        )
        .unwrap();
        let at = parse_time("x", Some("2026-11-24T02:20:00Z")).unwrap();
        assert_eq!(q.time("since").unwrap(), at);
        assert_eq!(q.time("until").unwrap(), at);
        // Encoded `+` and `Z` are unchanged.
        let q = Query::parse(
            Some("since=2026-11-24T02:20:00%2B00:00&until=2026-11-24T02:20:00Z"),
            &["since", "until"],
        )
        .unwrap();
        assert_eq!(q.time("since").unwrap(), at);
        assert_eq!(q.time("until").unwrap(), at);
        // A space that is not before a trailing offset is left alone.
        let q = Query::parse(Some("since=2026-11-24+02:20:00Z"), &["since"]).unwrap();
        assert_eq!(q.get("since"), Some("2026-11-24 02:20:00Z"));
        // Only time parameters are touched.
        let q = Query::parse(Some("type=a+00:00"), &["type"]).unwrap();
        assert_eq!(q.get("type"), Some("a 00:00"));
    }
}
