//! Ordering keys at ingest: each stored event's places in line, one per
//! subscription with `ordering` that wants its type (docs/delivery.md,
//! "Ordering keys").
//!
//! The places must be taken in the same atomic store call that
//! acknowledges the event: that call is what fixes the order of
//! acknowledgement the guarantee is about, and fan-out, which runs later
//! in the source's pool, can no longer tell which event came first. So
//! ingest, which otherwise knows nothing of subscriptions, computes the
//! keys here.
//!
//! Most deployments use no ordering at all: the list of ordered
//! subscriptions is built once per source at start, and when it is empty
//! an event costs one check of an empty slice and an empty `Vec` (no
//! allocation). A key is taken only from what the gateway already holds:
//! the scheme's subject, the payload it verified, the request's headers.

use hookgate_config::{Ordering, SubscriptionConfig};
use hookgate_core::OrderKey;
use hookgate_core::glob::Pattern;
use hookgate_store::OrderSlot;
use hookgate_verify::ProviderEvent;
use http::HeaderMap;
use serde_json::Value;

/// The subscriptions of one source that order their deliveries, as
/// ingest needs them: id, patterns, where the key is.
#[derive(Debug, Default)]
pub(crate) struct OrderedSubs {
    subs: Vec<OrderedSub>,
}

#[derive(Debug)]
struct OrderedSub {
    id: String,
    events: Vec<Pattern>,
    by: Ordering,
}

impl OrderedSubs {
    /// The subscriptions with `ordering` among `subs`. Every subscription
    /// is a route of every source, so this is the same list for each
    /// source; it is kept per source so a source's hot path reads only its
    /// own state.
    pub(crate) fn new(subs: &[SubscriptionConfig]) -> Self {
        OrderedSubs {
            subs: subs
                .iter()
                .filter_map(|s| {
                    Some(OrderedSub {
                        id: s.id.clone(),
                        events: s.events.clone(),
                        by: s.ordering.clone()?,
                    })
                })
                .collect(),
        }
    }

    /// Whether no subscription orders its deliveries.
    pub(crate) fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// The places in line of one event of normalized type `ty`: one per
    /// ordered subscription that wants the type and finds a key. Empty
    /// (and not allocated) when there is none.
    pub(crate) fn slots(
        &self,
        ty: &str,
        event: &ProviderEvent<'_>,
        headers: &HeaderMap,
    ) -> Vec<OrderSlot> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        // The payload is parsed at most once per event, and only for a
        // pointer of a subscription that wants the type.
        let mut data: Option<Option<Value>> = None;
        for sub in &self.subs {
            if !sub.events.iter().any(|p| p.matches(ty)) {
                continue;
            }
            let key = match &sub.by {
                Ordering::Subject => event.subject.as_deref().and_then(OrderKey::new),
                Ordering::Header(name) => headers
                    .get(name)
                    .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
                    .and_then(OrderKey::new),
                Ordering::Pointer(pointer) => data
                    .get_or_insert_with(|| serde_json::from_slice(&event.data_json).ok())
                    .as_ref()
                    .and_then(|d| d.pointer(pointer))
                    .and_then(key_of_value),
            };
            if let Some(key) = key {
                out.push(OrderSlot {
                    sub: sub.id.clone(),
                    key,
                });
            }
        }
        out
    }
}

/// A JSON value as a key: a string as it is, a number as its JSON text;
/// anything else (object, array, boolean, null) is no key.
fn key_of_value(v: &Value) -> Option<OrderKey> {
    match v {
        Value::String(s) => OrderKey::new(s),
        Value::Number(n) => OrderKey::new(&n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::borrow::Cow;

    fn sub(id: &str, events: &[&str], by: Option<Ordering>) -> OrderedSub {
        OrderedSub {
            id: id.to_owned(),
            events: events.iter().map(|p| Pattern::new(p)).collect(),
            by: by.unwrap_or(Ordering::Subject),
        }
    }

    fn event<'a>(subject: Option<&str>, data: &'a str) -> ProviderEvent<'a> {
        ProviderEvent {
            provider_event_id: "evt_1".to_owned(),
            provider_type: "payment_intent.succeeded".to_owned(),
            time: None,
            subject: subject.map(str::to_owned),
            data_json: Cow::Borrowed(data.as_bytes()),
        }
    }

    fn keys(slots: &[OrderSlot]) -> Vec<(&str, &str)> {
        slots
            .iter()
            .map(|s| (s.sub.as_str(), s.key.as_str()))
            .collect()
    }

    const TY: &str = "payment.succeeded";

    #[test]
    fn the_subject_is_the_key() {
        let subs = OrderedSubs {
            subs: vec![sub("ledger", &["payment.*"], Some(Ordering::Subject))],
        };
        let slots = subs.slots(TY, &event(Some("pi_1"), "{}"), &HeaderMap::new());
        assert_eq!(keys(&slots), [("ledger", "pi_1")]);
        // No subject, or an empty one: no key, delivered unordered.
        assert!(
            subs.slots(TY, &event(None, "{}"), &HeaderMap::new())
                .is_empty()
        );
        assert!(
            subs.slots(TY, &event(Some(""), "{}"), &HeaderMap::new())
                .is_empty()
        );
    }

    #[test]
    fn a_pointer_reads_strings_and_numbers_of_the_payload() {
        let by = |p: &str| Some(Ordering::Pointer(p.to_owned()));
        let subs = OrderedSubs {
            subs: vec![
                sub("nested", &["*"], by("/data/object/customer")),
                sub("numeric", &["*"], by("/account/id")),
                sub("escaped", &["*"], by("/a~1b")),
                sub("object", &["*"], by("/data")),
                sub("missing", &["*"], by("/nope")),
                sub("null", &["*"], by("/gone")),
            ],
        };
        let data =
            r#"{"data":{"object":{"customer":"cus_9"}},"account":{"id":42},"a/b":1.5,"gone":null}"#;
        let slots = subs.slots(TY, &event(None, data), &HeaderMap::new());
        assert_eq!(
            keys(&slots),
            [("nested", "cus_9"), ("numeric", "42"), ("escaped", "1.5")]
        );
        // A payload that is not JSON has no pointer keys.
        assert!(
            subs.slots(TY, &event(None, "not json"), &HeaderMap::new())
                .is_empty()
        );
    }

    #[test]
    fn a_header_is_found_whatever_its_case() {
        let subs = OrderedSubs {
            subs: vec![sub(
                "s",
                &["*"],
                Some(Ordering::Header(http::HeaderName::from_static(
                    "x-account-id",
                ))),
            )],
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            http::HeaderName::from_bytes(b"X-Account-ID").unwrap(),
            HeaderValue::from_static("acct_7"),
        );
        let slots = subs.slots(TY, &event(None, "{}"), &headers);
        assert_eq!(keys(&slots), [("s", "acct_7")]);
        // Not UTF-8: no key.
        headers.insert(
            "x-account-id",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert!(subs.slots(TY, &event(None, "{}"), &headers).is_empty());
        assert!(
            subs.slots(TY, &event(None, "{}"), &HeaderMap::new())
                .is_empty()
        );
    }

    #[test]
    fn only_subscriptions_that_want_the_type_get_a_slot() {
        let subs = OrderedSubs {
            subs: vec![
                sub("payments", &["payment.*"], None),
                sub("refunds", &["refund.*"], None),
                sub("all", &["*"], None),
            ],
        };
        let slots = subs.slots(TY, &event(Some("pi_1"), "{}"), &HeaderMap::new());
        assert_eq!(keys(&slots), [("payments", "pi_1"), ("all", "pi_1")]);
        let slots = subs.slots(
            "charge.failed",
            &event(Some("ch_1"), "{}"),
            &HeaderMap::new(),
        );
        assert_eq!(keys(&slots), [("all", "ch_1")]);
    }

    #[test]
    fn a_long_key_is_bounded() {
        let subs = OrderedSubs {
            subs: vec![sub("s", &["*"], None)],
        };
        let long = "k".repeat(1000);
        let slots = subs.slots(TY, &event(Some(&long), "{}"), &HeaderMap::new());
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].key, OrderKey::new(&long).unwrap());
        assert!(slots[0].key.as_str().len() < 200);
    }

    #[test]
    fn without_ordered_subscriptions_nothing_is_allocated() {
        let none = OrderedSubs::new(&[]);
        assert!(none.is_empty());
        let slots = none.slots(TY, &event(Some("pi_1"), "{}"), &HeaderMap::new());
        assert_eq!(slots.capacity(), 0);
        // Ordered subscriptions that do not want the type cost no
        // allocation either.
        let other = OrderedSubs {
            subs: vec![sub("refunds", &["refund.*"], None)],
        };
        let slots = other.slots(TY, &event(Some("pi_1"), "{}"), &HeaderMap::new());
        assert_eq!(slots.capacity(), 0);
    }
}
