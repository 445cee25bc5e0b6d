//! Every Redis key the gateway writes, in one place.
//!
//! Layout (`P` = `store.key_prefix`, default `hg`; `S` = source id,
//! `B` = subscription id, `E` = event id):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:{S}:d:E` | string | dedup marker, TTL = dedup window |
//! | `P:{S}:e:E` | hash | `type`, `ce` (CloudEvent JSON), `tp` (traceparent), `recv` (ms); TTL = retention |
//! | `P:{S}:ei` | zset | event index by receive time (admin listing) |
//! | `P:{S}:fq` | zset | fan-out queue (due ms) |
//! | `P:{S}:fl` | zset | fan-out leases (expiry ms): written by earlier versions only, still drained |
//! | `P:{S}:q:B` / `P:{S}:l:B` | zset | route queue (due ms) / leases (expiry ms) |
//! | `P:{S}:dlq:B` | zset | the route's dead letters (dead-at ms) |
//! | `P:{S}:x:E:B` | hash | delivery: `st`, `n`, `first`, `lease`, `rc`, `code`, `reason`, `dead_at`, `done_at`, `requeue` (only while a redeliver waits for the attempt in flight) |
//! | `P:{S}:a:E:B` | list | attempt log (JSON per attempt), capped |
//! | `P:paused` | hash | paused subscriptions: id → paused-at ms |
//! | `P:audit` | stream | the admin audit log, append-only (`r` = JSON record) |
//!
//! Every key of a source, and of its routes, carries the hash tag `{S}`, so
//! each script touches one Redis Cluster slot. The Lua scripts rebuild the
//! per-delivery names from the base `P:{S}:`: keep both sides in step.
//! Source and subscription ids are restricted by the config to
//! `[A-Za-z0-9_-]`, and event ids to base32, so no id can break out of its
//! segment. This layout is a storage format: change it only compatibly.

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
    }
}
