//! Parsing of what the Redis scripts store and answer into the shared
//! records.

use crate::{ClaimedDelivery, DeliveryRecord, DeliveryStatus, RouteClaim, StoreError, StoredEvent};
use hookgate_core::EventId;
use redis::Value;
use std::collections::HashMap;

fn text(map: &HashMap<String, Vec<u8>>, k: &str) -> Option<String> {
    map.get(k).and_then(|v| String::from_utf8(v.clone()).ok())
}

pub(crate) fn stored_event(mut map: HashMap<String, Vec<u8>>) -> Option<StoredEvent> {
    let cloudevent = map.remove("ce")?;
    Some(StoredEvent {
        ty: text(&map, "type").unwrap_or_default(),
        received_ms: text(&map, "recv").and_then(|s| s.parse().ok()).unwrap_or(0),
        traceparent: text(&map, "tp").unwrap_or_default(),
        cloudevent,
    })
}

pub(crate) fn delivery_record(map: HashMap<String, String>) -> Option<DeliveryRecord> {
    let status = match map.get("st")?.as_str() {
        "delivered" => DeliveryStatus::Delivered,
        "dead" => DeliveryStatus::Dead,
        _ => DeliveryStatus::Pending,
    };
    let num = |k: &str| map.get(k).and_then(|v| v.parse::<i64>().ok());
    Some(DeliveryRecord {
        status,
        attempts: num("n").unwrap_or(0) as u32,
        reason: map.get("reason").filter(|r| !r.is_empty()).cloned(),
        last_status_code: num("code").map(|c| c as u16),
        dead_at_ms: num("dead_at"),
        reclaims: num("rc").unwrap_or(0) as u32,
    })
}

fn as_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => String::from_utf8(as_bytes(other)?).ok()?.parse().ok(),
    }
}

pub(crate) fn parse_route_claim(reply: Value) -> Result<RouteClaim, StoreError> {
    let bad = || StoreError::Protocol("route claim reply".into());
    let Value::Array(mut parts) = reply else {
        return Err(bad());
    };
    let (Some(next_due), Some(Value::Array(flat)), None) = (parts.pop(), parts.pop(), parts.pop())
    else {
        return Err(bad());
    };
    let mut deliveries = Vec::with_capacity(flat.len() / 6);
    // Rows of six, taken by value: the CloudEvent body moves out of the
    // reply into the delivery without a copy.
    let mut cells = flat.into_iter();
    while let (Some(id), Some(lease), Some(n), Some(first), Some(ce), Some(tp)) = (
        cells.next(),
        cells.next(),
        cells.next(),
        cells.next(),
        cells.next(),
        cells.next(),
    ) {
        let id = as_bytes(&id)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| EventId::parse(&s))
            .ok_or_else(bad)?;
        let cloudevent = match ce {
            Value::BulkString(b) => bytes::Bytes::from(b),
            _ => return Err(bad()),
        };
        deliveries.push(ClaimedDelivery {
            id,
            lease: as_i64(&lease).ok_or_else(bad)?,
            attempts: as_i64(&n).unwrap_or(0).max(0) as u32,
            first_ms: as_i64(&first).unwrap_or(0),
            cloudevent,
            traceparent: as_bytes(&tp)
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default(),
            row: None,
        });
    }
    let next_due_ms = as_bytes(&next_due)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<f64>().ok())
        .map(|f| f as i64);
    Ok(RouteClaim {
        deliveries,
        next_due_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_claim_reply_becomes_deliveries_and_its_bodies_are_moved_not_copied() {
        let id = EventId::derive("stripe:evt_1");
        let body = br#"{"specversion":"1.0"}"#.to_vec();
        let at = body.as_ptr();
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk(id.as_str()),
                Value::Int(1_700_000_060_000),
                bulk("2"),
                bulk("1700000000000"),
                Value::BulkString(body),
                bulk("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ]),
            bulk("1700000001000"),
        ]);
        let claim = parse_route_claim(reply).unwrap();
        let d = &claim.deliveries[0];
        assert_eq!(
            (d.id.clone(), d.lease, d.attempts),
            (id, 1_700_000_060_000, 2)
        );
        assert_eq!(d.first_ms, 1_700_000_000_000);
        assert_eq!(d.cloudevent.as_ptr(), at, "the body was copied");
        assert_eq!(claim.next_due_ms, Some(1_700_000_001_000));
    }

    #[test]
    fn a_claim_reply_of_another_shape_is_a_protocol_error() {
        let row = |ce: Value| {
            Value::Array(vec![
                bulk(EventId::derive("stripe:evt_1").as_str()),
                Value::Int(1),
                bulk("0"),
                bulk("0"),
                ce,
                bulk(""),
            ])
        };
        for reply in [
            Value::Nil,
            Value::Array(vec![]),
            Value::Array(vec![bulk("x"), bulk("")]),
            Value::Array(vec![Value::Array(vec![]), bulk(""), bulk("")]),
            Value::Array(vec![row(Value::Int(5)), bulk("")]),
            Value::Array(vec![row(Value::Nil), bulk("")]),
        ] {
            assert!(
                matches!(
                    parse_route_claim(reply.clone()),
                    Err(StoreError::Protocol(_))
                ),
                "{reply:?}"
            );
        }
        // An empty claim is fine.
        let empty = parse_route_claim(Value::Array(vec![Value::Array(vec![]), bulk("")])).unwrap();
        assert!(empty.deliveries.is_empty() && empty.next_due_ms.is_none());
    }
}
