//! Event fields named in the config (`event_id`, `event_type`,
//! `event_time`, `event_subject`) for the configurable schemes (`hmac`,
//! `basic-auth`, `header-token`; docs/schemes.md "event id/type by header or JSON
//! pointer").
//!
//! A field is `header:<Name>` (the request header, case-insensitive) or an
//! RFC 6901 JSON pointer into the body such as `/data/id`. A pointer that
//! lands on a string takes it as is; on an integer, its decimal form;
//! anything else is a 400. `event_id` and `event_type` are required in the
//! config (there is nothing to deduplicate on otherwise); time and subject
//! are optional.

use super::{common, form};
use crate::{PayloadError, ProviderEvent, RawRequest, SchemeError};
use hookgate_config::SourceConfig;
use serde_json::Value;
use std::borrow::Cow;

/// Where one field comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    /// A request header (lowercased name).
    Header(http::HeaderName),
    /// A JSON pointer into the body.
    Pointer(String),
}

impl Field {
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        if let Some(name) = raw.strip_prefix("header:") {
            return http::HeaderName::from_bytes(name.as_bytes())
                .map(Field::Header)
                .map_err(|_| format!("{name:?} is not a valid header name"));
        }
        if raw.starts_with('/') {
            return Ok(Field::Pointer(raw.to_owned()));
        }
        Err("expected \"header:<Name>\" or a JSON pointer such as \"/data/id\"".into())
    }

    /// The field's value, `None` when absent.
    pub(crate) fn get(
        &self,
        req: &RawRequest<'_>,
        json: Option<&Value>,
    ) -> Result<Option<String>, PayloadError> {
        match self {
            Field::Header(name) => match common::header(req.headers, name.as_str()) {
                common::Header::Absent => Ok(None),
                common::Header::Invalid => Err(PayloadError(format!(
                    "header `{name}` is repeated or not visible ASCII"
                ))),
                common::Header::Value(v) => Ok(Some(v.to_owned())),
            },
            Field::Pointer(p) => match json.and_then(|j| j.pointer(p)) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
                Some(_) => Err(PayloadError(format!(
                    "`{p}` must be a string or an integer"
                ))),
            },
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Field::Header(name) => format!("header `{name}`"),
            Field::Pointer(p) => format!("`{p}`"),
        }
    }
}

/// The four fields of a configurable source.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    id: Field,
    kind: Field,
    time: Option<Field>,
    subject: Option<Field>,
}

/// Keys [`Fields::from_source`] reads.
pub(crate) const KEYS: &[&str] = &["event_id", "event_type", "event_time", "event_subject"];

impl Fields {
    /// Reads the four keys; `event_id` and `event_type` are required.
    pub(crate) fn from_source(source: &SourceConfig, scheme: &str) -> Result<Self, SchemeError> {
        let get = |key: &str, required: bool| -> Result<Option<Field>, SchemeError> {
            match source.params.get(key) {
                None if required => Err(common::scheme_error(
                    source,
                    key,
                    format!(
                        "scheme {scheme:?} needs {key} (\"header:<Name>\" or a JSON pointer such as \"/id\")"
                    ),
                )),
                None => Ok(None),
                Some(raw) => Field::parse(raw)
                    .map(Some)
                    .map_err(|why| common::scheme_error(source, key, why)),
            }
        };
        Ok(Fields {
            // `required = true` returns Some or an error.
            id: get("event_id", true)?.expect("required"),
            kind: get("event_type", true)?.expect("required"),
            time: get("event_time", false)?,
            subject: get("event_subject", false)?,
        })
    }

    /// Extracts one event. The body must be JSON, or a form when the
    /// request says so (it then becomes a JSON object, docs/event.md).
    pub(crate) fn extract<'a>(
        &self,
        req: &RawRequest<'a>,
    ) -> Result<ProviderEvent<'a>, PayloadError> {
        let (json, data_json): (Value, Cow<'a, [u8]>) = if form::is_form(req.headers) {
            let bytes = form::to_json(&form::pairs(req.body));
            // We just serialized it.
            let value = serde_json::from_slice(&bytes).expect("form JSON parses");
            (value, Cow::Owned(bytes))
        } else {
            match serde_json::from_slice::<Value>(req.body) {
                Ok(v) => (v, Cow::Borrowed(req.body)),
                Err(e) => return Err(PayloadError(format!("body is not valid JSON: {e}"))),
            }
        };
        let required = |f: &Field| -> Result<String, PayloadError> {
            match f.get(req, Some(&json))? {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(PayloadError(format!(
                    "{} is missing or empty",
                    f.describe()
                ))),
            }
        };
        let provider_event_id = common::event_id(required(&self.id)?, &self.id.describe())?;
        let provider_type = required(&self.kind)?;
        let time = match &self.time {
            None => None,
            Some(f) => match f.get(req, Some(&json))? {
                None => None,
                Some(v) => Some(to_rfc3339(&v, &f.describe())?),
            },
        };
        let subject = match &self.subject {
            None => None,
            Some(f) => f.get(req, Some(&json))?.filter(|s| !s.is_empty()),
        };
        Ok(ProviderEvent {
            provider_event_id,
            provider_type,
            time,
            subject,
            data_json,
        })
    }
}

/// Unix seconds (digits) or an RFC 3339 string → RFC 3339; anything else,
/// or unix seconds RFC 3339 cannot express, is a 400 naming `what`.
pub(crate) fn to_rfc3339(v: &str, what: &str) -> Result<String, PayloadError> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return match v.parse::<i64>() {
            Ok(secs) => common::unix_rfc3339(secs, what),
            // Digits all the same, only more than an i64 holds.
            Err(_) => Err(common::out_of_range(v, what)),
        };
    }
    match hookgate_core::time::parse_rfc3339_ms(v) {
        Some(_) => Ok(v.to_owned()),
        None => Err(PayloadError(format!(
            "{what} must be unix seconds or an RFC 3339 time"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::source;

    fn req<'a>(h: &'a http::HeaderMap, body: &'a [u8]) -> RawRequest<'a> {
        RawRequest {
            method: "POST",
            path_and_query: "/ingest/src",
            headers: h,
            body,
        }
    }

    #[test]
    fn fields_from_header_and_pointer() {
        let mut src = source("hmac", &["k"]);
        src.params
            .insert("event_id".into(), "header:X-Event-Id".into());
        src.params.insert("event_type".into(), "/type".into());
        src.params.insert("event_time".into(), "/at".into());
        src.params.insert("event_subject".into(), "/data/id".into());
        let fields = Fields::from_source(&src, "hmac").unwrap();
        let mut h = http::HeaderMap::new();
        h.insert("x-event-id", http::HeaderValue::from_static("e1"));
        let body = br#"{"type":"a.b","at":1700000000,"data":{"id":42}}"#;
        let ev = fields.extract(&req(&h, body)).unwrap();
        assert_eq!(ev.provider_event_id, "e1");
        assert_eq!(ev.provider_type, "a.b");
        assert_eq!(ev.time.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(ev.subject.as_deref(), Some("42"));
        assert!(matches!(ev.data_json, Cow::Borrowed(_)));
        // Missing id header → 400.
        let empty = http::HeaderMap::new();
        assert!(fields.extract(&req(&empty, body)).is_err());
        // Wrong types → 400.
        assert!(fields.extract(&req(&h, br#"{"type":{}}"#)).is_err());
        assert!(
            fields
                .extract(&req(&h, br#"{"type":"t","at":"yesterday"}"#))
                .is_err()
        );
        assert!(fields.extract(&req(&h, b"not json")).is_err());
    }

    #[test]
    fn event_time_out_of_rfc3339_range_says_so() {
        let mut src = source("hmac", &["k"]);
        src.params.insert("event_id".into(), "/id".into());
        src.params.insert("event_type".into(), "/t".into());
        src.params.insert("event_time".into(), "/at".into());
        let fields = Fields::from_source(&src, "hmac").unwrap();
        let h = http::HeaderMap::new();
        let at = |at: &str| {
            let body = format!(r#"{{"id":"1","t":"x","at":{at}}}"#);
            fields
                .extract(&req(&h, body.as_bytes()))
                .map(|e| e.time)
                .map_err(|e| e.0)
        };
        assert_eq!(
            at("253402300799").unwrap().as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        for big in ["253402300800", "\"99999999999999999999\""] {
            let err = at(big).unwrap_err();
            assert!(err.starts_with("`/at` is out of range: "), "{big}: {err}");
        }
        assert_eq!(
            at("\"yesterday\"").unwrap_err(),
            "`/at` must be unix seconds or an RFC 3339 time"
        );
    }

    #[test]
    fn form_bodies_become_json() {
        let mut src = source("hmac", &["k"]);
        src.params.insert("event_id".into(), "/id".into());
        src.params.insert("event_type".into(), "/t".into());
        let fields = Fields::from_source(&src, "hmac").unwrap();
        let mut h = http::HeaderMap::new();
        h.insert(
            "content-type",
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let ev = fields.extract(&req(&h, b"id=9&t=x+y")).unwrap();
        assert_eq!(ev.provider_event_id, "9");
        assert_eq!(ev.provider_type, "x y");
        assert_eq!(&*ev.data_json, br#"{"id":"9","t":"x y"}"#);
    }

    #[test]
    fn config_errors() {
        let src = source("hmac", &["k"]);
        assert_eq!(
            Fields::from_source(&src, "hmac").unwrap_err().key,
            "event_id"
        );
        let mut src = source("hmac", &["k"]);
        src.params.insert("event_id".into(), "id".into());
        src.params.insert("event_type".into(), "/t".into());
        assert_eq!(
            Fields::from_source(&src, "hmac").unwrap_err().key,
            "event_id"
        );
        src.params
            .insert("event_id".into(), "header:bad name".into());
        assert_eq!(
            Fields::from_source(&src, "hmac").unwrap_err().key,
            "event_id"
        );
        src.params.insert("event_id".into(), "/id".into());
        src.params.insert("event_time".into(), "time".into());
        assert_eq!(
            Fields::from_source(&src, "hmac").unwrap_err().key,
            "event_time"
        );
    }
}
