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
//!
//! The fixed providers describe their events with the same idea, as data
//! ([`EventFields`]): where the id, type, time and subject stand (a JSON
//! path into the body or a header) and how the time is written. Their
//! rules are the ones their modules had by hand, not the configurable
//! ones above (a fixed field is a string, never an integer, and a 400
//! names it as ``field `data.id` ``, the wording those modules always
//! used), so the two extractors share the idea and the helpers in
//! `common`, not one code path: merging them would change either side's
//! 400s. What is not data stays in the scheme's module: ids joined from
//! several fields or hashed from the body (onfido, sumsub, adyen,
//! adyen-hmac-header, slack, twilio), a header that must agree with its
//! fallback (standard-webhooks), bodies that are forms or batches.

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

// === fixed providers ===

/// Where one field of a fixed provider's event stands.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At {
    /// A path of object keys into the JSON body, as a JSON pointer without
    /// escapes (`/data/object/id`).
    Json(&'static str),
    /// The first of these headers that is sent (looked up
    /// case-insensitively; spelled as errors name them).
    Header(&'static [&'static str]),
}

/// How a fixed provider writes its event time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Time {
    /// An RFC 3339 string, kept verbatim; anything else is `None` (the
    /// receive time stands in: a verified event is never refused for its
    /// clock format).
    Rfc3339OrNone,
    /// An RFC 3339 string, or absent or `null`; anything else is a 400.
    Rfc3339,
    /// Unix seconds (a JSON integer) or an RFC 3339 string, or absent or
    /// `null`; anything else, or a time RFC 3339 cannot write, is a 400.
    UnixOrRfc3339,
}

/// Which strings a fixed provider's subject takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject {
    /// Any string, the empty one too.
    AnyString,
    /// A non-empty string; an empty one is no subject.
    NonEmpty,
}

/// A fixed provider's event as data: where [`EventFields::extract`] finds
/// the id (required, checked by [`common::event_id`]), the type
/// (required), the time and the subject (optional). The body must be a
/// JSON object whatever the fields say; it is parsed when the first JSON
/// field is read, so a missing header is reported before a bad body when
/// the header is read first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventFields {
    pub(crate) id: At,
    pub(crate) kind: At,
    pub(crate) time: Option<(At, Time)>,
    pub(crate) subject: Option<(At, Subject)>,
}

/// The body, parsed once, when a field first needs it.
struct Body<'r> {
    raw: &'r [u8],
    obj: Option<serde_json::Map<String, Value>>,
}

impl Body<'_> {
    fn obj(&mut self) -> Result<&serde_json::Map<String, Value>, PayloadError> {
        if self.obj.is_none() {
            self.obj = Some(common::json_object(self.raw)?);
        }
        Ok(self.obj.as_ref().expect("just parsed"))
    }
}

impl At {
    /// How errors name the field: ``field `data.id` `` or ``header `Name` ``.
    fn describe(self, found: usize) -> String {
        match self {
            At::Json(path) => format!("field `{}`", dotted(path)),
            At::Header(names) => format!("header `{}`", names[found]),
        }
    }

    /// A required string: its value and the index of the header it came
    /// from (0 for JSON).
    fn required(
        self,
        req: &RawRequest<'_>,
        body: &mut Body<'_>,
    ) -> Result<(String, usize), PayloadError> {
        match self {
            At::Json(path) => required_at(body.obj()?, path).map(|v| (v, 0)),
            At::Header(names) => names
                .iter()
                .enumerate()
                .find_map(|(i, name)| common::header_str(req.headers, name).map(|v| (v, i)))
                .ok_or_else(|| match names {
                    [one] => PayloadError(format!("header `{one}` is missing, empty or repeated")),
                    _ => PayloadError(format!("headers `{}` are missing", names.join("` and `"))),
                }),
        }
    }

    /// An optional value, for time and subject: a header only when sent
    /// once, non-empty and visible ASCII; a JSON path only through objects.
    fn optional(
        self,
        req: &RawRequest<'_>,
        body: &mut Body<'_>,
    ) -> Result<Option<Value>, PayloadError> {
        match self {
            At::Json(path) => {
                let mut keys = path.split('/').skip(1);
                let first = keys.next().expect("a path names at least one key");
                let mut here = body.obj()?.get(first);
                for key in keys {
                    here = here.and_then(|v| v.get(key));
                }
                Ok(here.cloned())
            }
            At::Header(names) => Ok(names
                .iter()
                .find_map(|name| common::header_str(req.headers, name))
                .map(Value::String)),
        }
    }
}

/// `/data/attributes/name` → `data.attributes.name`.
fn dotted(path: &str) -> String {
    path.trim_start_matches('/').replace('/', ".")
}

/// The non-empty string at `path` (a JSON pointer without escapes) in
/// `obj`. Every object on the way must be one (``field `data` must be an
/// object``); the last key's errors are [`common::required_str`]'s, after
/// the path of the object holding it (``data: field `id` is missing``).
pub(crate) fn required_at(
    obj: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<String, PayloadError> {
    let keys: Vec<&str> = path.split('/').skip(1).collect();
    let (last, parents) = keys.split_last().expect("a path names at least one key");
    let mut here = obj;
    for (depth, key) in parents.iter().enumerate() {
        let Some(Value::Object(next)) = here.get(*key) else {
            return Err(PayloadError(format!(
                "field `{}` must be an object",
                keys[..=depth].join(".")
            )));
        };
        here = next;
    }
    common::required_str(here, last).map_err(|e| match parents {
        [] => e,
        _ => PayloadError(format!("{}: {}", parents.join("."), e.0)),
    })
}

impl EventFields {
    /// The one event of `req`, its body kept as sent.
    pub(crate) fn extract<'a>(
        &self,
        req: &RawRequest<'a>,
    ) -> Result<ProviderEvent<'a>, PayloadError> {
        let mut body = Body {
            raw: req.body,
            obj: None,
        };
        let (id, found) = self.id.required(req, &mut body)?;
        let provider_event_id = common::event_id(id, &self.id.describe(found))?;
        let (provider_type, _) = self.kind.required(req, &mut body)?;
        let time = match self.time {
            None => None,
            Some((at, format)) => {
                let value = at.optional(req, &mut body)?;
                time(value.as_ref(), format, &at.describe(0))?
            }
        };
        let subject = match self.subject {
            None => None,
            Some((at, rule)) => match (at.optional(req, &mut body)?, rule) {
                (Some(Value::String(s)), Subject::AnyString) => Some(s),
                (Some(Value::String(s)), Subject::NonEmpty) if !s.is_empty() => Some(s),
                _ => None,
            },
        };
        // The body is a JSON object even when no field is read from it.
        body.obj()?;
        Ok(ProviderEvent {
            provider_event_id,
            provider_type,
            time,
            subject,
            data_json: Cow::Borrowed(req.body),
        })
    }
}

/// The event time `value` written as `format` says; `what` names it in a 400.
fn time(value: Option<&Value>, format: Time, what: &str) -> Result<Option<String>, PayloadError> {
    let rfc3339 = |s: &str| hookgate_core::time::parse_rfc3339_ms(s).is_some();
    match (format, value) {
        (_, Some(Value::String(s))) if rfc3339(s) => Ok(Some(s.clone())),
        (Time::Rfc3339OrNone, _) | (_, None | Some(Value::Null)) => Ok(None),
        (Time::Rfc3339, Some(_)) => Err(PayloadError(format!("{what} must be an RFC 3339 time"))),
        (Time::UnixOrRfc3339, Some(Value::Number(n))) => {
            common::json_unix_rfc3339(n, what).map(Some)
        }
        (Time::UnixOrRfc3339, Some(_)) => Err(PayloadError(format!(
            "{what} must be a unix time or an RFC 3339 string"
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
    #[test]
    fn fixed_fields_name_what_is_wrong() {
        const NESTED: EventFields = EventFields {
            id: At::Json("/data/id"),
            kind: At::Json("/data/attributes/name"),
            time: Some((At::Json("/data/at"), Time::Rfc3339)),
            subject: Some((At::Json("/data/attributes/sub"), Subject::NonEmpty)),
        };
        let h = http::HeaderMap::new();
        let err = |body: &str| NESTED.extract(&req(&h, body.as_bytes())).unwrap_err().0;
        assert_eq!(err(r#"{"data":1}"#), "field `data` must be an object");
        assert_eq!(err(r#"{"data":{"id":""}}"#), "data: field `id` is empty");
        assert_eq!(
            err(r#"{"data":{"id":"e","attributes":[]}}"#),
            "field `data.attributes` must be an object"
        );
        assert_eq!(
            err(r#"{"data":{"id":"e","attributes":{"name":7}}}"#),
            "data.attributes: field `name` must be a string"
        );
        assert_eq!(
            err(r#"{"data":{"id":"e","at":"x","attributes":{"name":"t"}}}"#),
            "field `data.at` must be an RFC 3339 time"
        );
        let ev = NESTED
            .extract(&req(
                &h,
                br#"{"data":{"id":"e","at":null,"attributes":{"name":"t","sub":""}}}"#,
            ))
            .unwrap();
        assert_eq!((ev.time, ev.subject), (None, None));

        const HEADERS: EventFields = EventFields {
            id: At::Header(&["X-A", "X-B"]),
            kind: At::Header(&["X-T"]),
            time: Some((At::Header(&["X-At"]), Time::Rfc3339OrNone)),
            subject: Some((At::Json("/s"), Subject::AnyString)),
        };
        let mut h = http::HeaderMap::new();
        let err = |h: &http::HeaderMap| HEADERS.extract(&req(h, b"[]")).unwrap_err().0;
        assert_eq!(err(&h), "headers `X-A` and `X-B` are missing");
        h.insert("x-b", http::HeaderValue::from_static("b"));
        assert_eq!(err(&h), "header `X-T` is missing, empty or repeated");
        h.insert("x-t", http::HeaderValue::from_static("t"));
        h.insert("x-at", http::HeaderValue::from_static("yesterday"));
        // Headers first, then the body must be a JSON object.
        assert_eq!(err(&h), "body must be a JSON object");
        let ev = HEADERS.extract(&req(&h, br#"{"s":""}"#)).unwrap();
        assert_eq!(ev.provider_event_id, "b");
        assert_eq!((ev.time, ev.subject.as_deref()), (None, Some("")));
    }
}
