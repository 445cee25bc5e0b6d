//! The normalized event (docs/event.md): a CloudEvents 1.0 structured-mode JSON
//! body, built once at ingest and stored as bytes, so every delivery and
//! every retry sends exactly the same body and the provider's payload is
//! embedded unchanged (no re-serialization that could reorder keys or
//! reformat numbers).

use crate::ids::EventId;
use serde::Serialize;

/// `content-type` of a structured CloudEvent.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";

/// One verified provider event, ready to be enveloped.
#[derive(Debug, Clone)]
pub struct NormalizedEvent<'a> {
    /// Stable id derived from the idempotency key.
    pub id: &'a EventId,
    /// The source id (CloudEvents `source` is `hookgate/{source_id}`).
    pub source_id: &'a str,
    /// The normalized type (after the source's type mapping).
    pub ty: &'a str,
    /// Provider's event time, RFC 3339.
    pub time: &'a str,
    /// Provider object id, when the scheme knows one.
    pub subject: Option<&'a str>,
    /// The provider's payload as JSON text, embedded verbatim. Must be a
    /// valid JSON value (the scheme checked it).
    pub data_json: &'a [u8],
}

#[derive(Serialize)]
struct Head<'a> {
    specversion: &'static str,
    id: &'a str,
    source: String,
    #[serde(rename = "type")]
    ty: &'a str,
    time: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    datacontenttype: &'static str,
}

impl NormalizedEvent<'_> {
    /// The CloudEvents 1.0 structured JSON body.
    pub fn to_cloudevent_json(&self) -> Vec<u8> {
        let head = Head {
            specversion: "1.0",
            id: self.id.as_str(),
            source: format!("hookgate/{}", self.source_id),
            ty: self.ty,
            time: self.time,
            subject: self.subject,
            datacontenttype: "application/json",
        };
        let mut out = Vec::with_capacity(self.data_json.len() + 256);
        // Serializing a struct of strings into a Vec cannot fail.
        serde_json::to_writer(&mut out, &head).expect("serialize envelope head");
        out.pop(); // the closing brace; `data` goes last
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(self.data_json);
        out.push(b'}');
        out
    }
}

/// Normalized type: the source's mapping when one matches, else
/// `{source_id}.{provider_type}` (docs/event.md).
pub fn normalized_type(
    source_id: &str,
    provider_type: &str,
    mapping: &std::collections::BTreeMap<String, String>,
) -> String {
    match mapping.get(provider_type) {
        Some(mapped) => mapped.clone(),
        None => format!("{source_id}.{provider_type}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_embeds_payload_verbatim() {
        let id = EventId::derive("stripe:evt_1");
        let data = br#"{"b":1.50,"a":[1,2],"id":"evt_1"}"#;
        let ev = NormalizedEvent {
            id: &id,
            source_id: "stripe",
            ty: "payment.succeeded",
            time: "2023-11-14T22:13:20Z",
            subject: Some("pi_1"),
            data_json: data,
        };
        let body = ev.to_cloudevent_json();
        let text = std::str::from_utf8(&body).unwrap();
        assert!(
            text.ends_with(r#","data":{"b":1.50,"a":[1,2],"id":"evt_1"}}"#),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["source"], "hookgate/stripe");
        assert_eq!(v["type"], "payment.succeeded");
        assert_eq!(v["subject"], "pi_1");
        assert_eq!(v["datacontenttype"], "application/json");
        assert_eq!(v["data"]["id"], "evt_1");
    }

    #[test]
    fn subject_is_omitted_when_unknown() {
        let id = EventId::derive("s:1");
        let ev = NormalizedEvent {
            id: &id,
            source_id: "s",
            ty: "s.t",
            time: "2023-11-14T22:13:20Z",
            subject: None,
            data_json: b"[]",
        };
        let v: serde_json::Value = serde_json::from_slice(&ev.to_cloudevent_json()).unwrap();
        assert!(v.get("subject").is_none());
    }

    #[test]
    fn type_mapping() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(
            "payment_intent.succeeded".to_owned(),
            "payment.succeeded".to_owned(),
        );
        assert_eq!(
            normalized_type("stripe", "payment_intent.succeeded", &map),
            "payment.succeeded"
        );
        assert_eq!(
            normalized_type("stripe", "charge.refunded", &map),
            "stripe.charge.refunded"
        );
    }
}
