//! Every Redis key the gateway writes, in one place.
//!
//! Layout (`P` = `store.key_prefix`, default `hg`; `S` = source id,
//! `B` = subscription id, `E` = event id, `K` = an ordering key):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:{S}:d:E` | string | dedup marker, TTL = dedup window |
//! | `P:{S}:e:E` | hash | `type`, `ce` (CloudEvent JSON), `tp` (traceparent), `recv` (ms), and for an event with ordering keys `ol` (JSON {B: K}, its places) and `op` (its position); TTL = retention |
//! | `P:{S}:ei` | zset | event index by receive time (admin listing) |
//! | `P:{S}:fq` | zset | fan-out queue (due ms) |
//! | `P:{S}:fl` | zset | fan-out leases (expiry ms): written by earlier versions only, still drained |
//! | `P:{S}:q:B` / `P:{S}:l:B` | zset | route queue (due ms) / leases (expiry ms) |
//! | `P:{S}:dlq:B` | zset | the route's dead letters (dead-at ms) |
//! | `P:{S}:x:E:B` | hash | delivery: `st`, `n`, `first`, `lease`, `rc`, `code`, `reason`, `dead_at`, `done_at`, `requeue` (only while a redeliver waits for the attempt in flight), `ok` (its ordering key), `held` (1 while held behind its key: `st` pending, not queued) |
//! | `P:{S}:os` | string | ordering positions: one `INCR` per event with ordering keys |
//! | `P:{S}:o:B:K` | zset | the line of key K on route B: event ids by position; TTL = retention from its newest entry |
//! | `P:{S}:h:B` | zset | the route's held deliveries (position) |
//! | `P:{S}:ob:B` | zset | the route's blocked keys: K whose head has failed (its budget start ms) |
//! | `P:{S}:a:E:B` | list | attempt log (JSON per attempt), capped |
//! | `P:paused` | hash | paused subscriptions: id → paused-at ms |
//! | `P:audit` | stream | the admin audit log, append-only (`r` = JSON record) |
//!
//! Every key of a source, and of its routes, carries the hash tag `{S}`, so
//! each script touches one Redis Cluster slot. The Lua scripts rebuild the
//! per-delivery names from the base `P:{S}:`: keep both sides in step.
//! Source and subscription ids are restricted by the config to
//! `[A-Za-z0-9_-]`, and event ids to base32, so no id can break out of its
//! segment. An ordering key may hold any character, so it only ever comes
//! last (`o:B:K`, after the subscription id, which has no `:`) or as a zset
//! member; it is bounded by [`hookgate_core::OrderKey`]. This layout is a
//! storage format: change it only compatibly (records of earlier versions,
//! without `ol`/`ok`, stay unordered).

use hookgate_core::EventId;

/// Builds key names for one key prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `P:{S}:`, the base the scripts extend.
    pub fn source_base(&self, source: &str) -> String {
        format!("{}:{{{}}}:", self.prefix, source)
    }

    /// Paused subscriptions.
    pub fn paused(&self) -> String {
        format!("{}:paused", self.prefix)
    }

    /// The audit log stream.
    pub fn audit(&self) -> String {
        format!("{}:audit", self.prefix)
    }

    /// Dedup marker of an event.
    pub fn dedup(&self, source: &str, id: &EventId) -> String {
        format!("{}d:{}", self.source_base(source), id)
    }

    /// Event hash.
    pub fn event(&self, source: &str, id: &EventId) -> String {
        format!("{}e:{}", self.source_base(source), id)
    }

    /// Event index of a source.
    pub fn event_index(&self, source: &str) -> String {
        format!("{}ei", self.source_base(source))
    }

    /// Fan-out queue of a source.
    pub fn fanout_queue(&self, source: &str) -> String {
        format!("{}fq", self.source_base(source))
    }

    /// Fan-out leases of a source.
    pub fn fanout_leases(&self, source: &str) -> String {
        format!("{}fl", self.source_base(source))
    }

    /// Queue of a route.
    pub fn route_queue(&self, source: &str, sub: &str) -> String {
        format!("{}q:{}", self.source_base(source), sub)
    }

    /// Leases of a route.
    pub fn route_leases(&self, source: &str, sub: &str) -> String {
        format!("{}l:{}", self.source_base(source), sub)
    }

    /// Dead letters of a route.
    pub fn route_dlq(&self, source: &str, sub: &str) -> String {
        format!("{}dlq:{}", self.source_base(source), sub)
    }

    /// Delivery hash.
    pub fn delivery(&self, source: &str, id: &EventId, sub: &str) -> String {
        format!("{}x:{}:{}", self.source_base(source), id, sub)
    }

    /// Ordering positions of a source.
    pub fn order_seq(&self, source: &str) -> String {
        format!("{}os", self.source_base(source))
    }

    /// The line of ordering key `key` on a route.
    pub fn line(&self, source: &str, sub: &str, key: &str) -> String {
        format!("{}o:{}:{}", self.source_base(source), sub, key)
    }

    /// Held deliveries of a route.
    pub fn held(&self, source: &str, sub: &str) -> String {
        format!("{}h:{}", self.source_base(source), sub)
    }

    /// Blocked ordering keys of a route.
    pub fn blocked(&self, source: &str, sub: &str) -> String {
        format!("{}ob:{}", self.source_base(source), sub)
    }

    /// Attempt log of a delivery.
    pub fn attempts(&self, source: &str, id: &EventId, sub: &str) -> String {
        format!("{}a:{}:{}", self.source_base(source), id, sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_pinned() {
        let k = Keys::new("hg");
        let id = EventId::derive("stripe:evt_1");
        assert_eq!(k.dedup("stripe", &id), format!("hg:{{stripe}}:d:{id}"));
        assert_eq!(k.event("stripe", &id), format!("hg:{{stripe}}:e:{id}"));
        assert_eq!(k.route_queue("stripe", "ledger"), "hg:{stripe}:q:ledger");
        assert_eq!(
            k.delivery("stripe", &id, "ledger"),
            format!("hg:{{stripe}}:x:{id}:ledger")
        );
        assert_eq!(k.route_dlq("stripe", "ledger"), "hg:{stripe}:dlq:ledger");
        assert_eq!(k.order_seq("stripe"), "hg:{stripe}:os");
        assert_eq!(
            k.line("stripe", "ledger", "pi:1"),
            "hg:{stripe}:o:ledger:pi:1"
        );
        assert_eq!(k.held("stripe", "ledger"), "hg:{stripe}:h:ledger");
        assert_eq!(k.blocked("stripe", "ledger"), "hg:{stripe}:ob:ledger");
    }
}
