//! The contract's writes on Redis: ingest, fan-out, route claim, take-back
//! and finish, each one script call; ingest and finish go through the
//! group-commit queues (`batch`). Apart from the connection setup in
//! `mod.rs` because they are what the store does, not how it connects.

use super::{Batched, RedisStore, batch, records};
use crate::contract::Attempted;
use crate::{
    ATTEMPT_LOG_CAP, Finish, LeaseOwner, NewEvent, OrderSlot, RECLAIM_LIMIT, RouteClaim, StoreError,
};
use hookgate_core::time::now_ms;
use hookgate_core::{EventId, OrderKey};
use redis::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// An event's places, one per subscription (the first, should a caller
/// name a subscription twice: a delivery has one key, so it stands in one
/// line of its route).
fn places(order: &[OrderSlot]) -> Vec<&OrderSlot> {
    let mut out: Vec<&OrderSlot> = Vec::with_capacity(order.len());
    for slot in order {
        if !out.iter().any(|s| s.sub == slot.sub) {
            out.push(slot);
        }
    }
    out
}

/// An event's places as its hash's `ol`: the JSON object {subscription:
/// key}; empty when it has none.
pub(crate) fn order_json(order: &[OrderSlot]) -> Vec<u8> {
    if order.is_empty() {
        return Vec::new();
    }
    let map: serde_json::Map<String, serde_json::Value> = places(order)
        .into_iter()
        .map(|s| (s.sub.clone(), serde_json::Value::from(s.key.as_str())))
        .collect();
    serde_json::Value::Object(map).to_string().into_bytes()
}

/// The places an event's `ol` names; none when it is absent or not a JSON
/// object of non-empty strings (never an error: such an event is delivered
/// unordered).
pub(crate) fn parse_order(ol: Option<&[u8]>) -> Vec<OrderSlot> {
    let Some(Ok(serde_json::Value::Object(map))) =
        ol.map(serde_json::from_slice::<serde_json::Value>)
    else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(sub, key)| {
            let key = OrderKey::from_stored(key.as_str()?.to_owned());
            (!key.as_str().is_empty()).then_some(OrderSlot { sub, key })
        })
        .collect()
}

impl RedisStore {
    /// Atomic dedup + durable enqueue of one callback's events (all of one
    /// source). Returns, per event, true if stored, false if a duplicate.
    pub async fn ingest(
        &self,
        source: &str,
        dedup_window: Duration,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        self.ensure_writable().await?;
        let keys = &self.inner.keys;
        let ttl = (dedup_window.as_millis().max(1) as u64)
            .to_string()
            .into_bytes();
        let retention = self.inner.settings.retention_ms().to_string().into_bytes();
        let mut job_keys = Vec::with_capacity(2 * events.len());
        let mut args = Vec::with_capacity(8 * events.len());
        for ev in events {
            job_keys.push(keys.dedup(source, ev.id));
            job_keys.push(keys.event(source, ev.id));
            args.push(ev.id.as_str().as_bytes().to_vec());
            args.push(ev.ty.as_bytes().to_vec());
            args.push(ev.cloudevent.to_vec());
            args.push(ev.traceparent.as_bytes().to_vec());
            args.push(ttl.clone());
            args.push(retention.clone());
            // Places in line: none costs two empty arguments and no command.
            args.push(order_json(ev.order));
            let places = places(ev.order);
            args.push(places.len().to_string().into_bytes());
            for slot in places {
                args.push(slot.sub.as_bytes().to_vec());
                args.push(slot.key.as_str().as_bytes().to_vec());
            }
        }
        let flags = self
            .batched(Batched::Ingest, source, job_keys, args, events.len())
            .await?;
        if flags.len() != events.len() {
            return Err(StoreError::Protocol("ingest reply length".into()));
        }
        Ok(flags.into_iter().map(|f| f == 1).collect())
    }

    /// Reads up to `max` due events of a source's fan-out queue queued at
    /// least `min_age` ago: (event id, normalized type) pairs. Nothing is
    /// leased: the events stay queued until [`Self::fanout_commit`] takes
    /// them.
    pub async fn fanout_due(
        &self,
        source: &str,
        max: usize,
        min_age: Duration,
    ) -> Result<Vec<(EventId, String)>, StoreError> {
        let keys = &self.inner.keys;
        let mut inv = self.inner.scripts.fanout_due.prepare_invoke();
        inv.key(keys.fanout_queue(source))
            .key(keys.fanout_leases(source))
            .key(keys.event_index(source));
        let now = now_ms();
        inv.arg(now)
            .arg(max)
            .arg(format!("{}e:", keys.source_base(source)))
            .arg(self.inner.settings.retention_ms())
            .arg(now.saturating_sub(min_age.as_millis() as i64));
        let mut c = self.conn();
        let flat: Vec<String> = self.timed(inv.invoke_async(&mut c)).await?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            let id = EventId::parse(&pair[0])
                .ok_or_else(|| StoreError::Protocol("fan-out queue holds a foreign id".into()))?;
            out.push((id, pair[1].clone()));
        }
        Ok(out)
    }

    /// Takes read events off the fan-out queue and creates their
    /// deliveries, atomically; an event another worker already took is
    /// skipped, so each is fanned out once. `items` pairs each event with
    /// the ids of the subscriptions it goes to (possibly none). Returns how
    /// many events this call fanned out.
    pub async fn fanout_commit(
        &self,
        source: &str,
        items: &[(EventId, Vec<&str>)],
    ) -> Result<usize, StoreError> {
        if items.is_empty() {
            return Ok(0);
        }
        let keys = &self.inner.keys;
        let mut inv = self.inner.scripts.fanout_commit.prepare_invoke();
        inv.key(keys.fanout_queue(source));
        inv.arg(now_ms())
            .arg(self.inner.settings.retention_ms())
            .arg(keys.source_base(source));
        for (id, subs) in items {
            inv.arg(id.as_str()).arg(subs.len());
            for sub in subs {
                inv.arg(*sub);
            }
        }
        let mut c = self.conn();
        let fanned: i64 = self.timed(inv.invoke_async(&mut c)).await?;
        Ok(fanned.max(0) as usize)
    }

    /// Leases up to `max` due deliveries of a route, to `owner` (recorded
    /// in each delivery's record, see `scripts/route_claim.lua`).
    pub async fn route_claim(
        &self,
        source: &str,
        sub: &str,
        max: usize,
        owner: Option<&LeaseOwner>,
    ) -> Result<RouteClaim, StoreError> {
        let keys = &self.inner.keys;
        let mut inv = self.inner.scripts.route_claim.prepare_invoke();
        inv.key(keys.route_queue(source, sub))
            .key(keys.route_leases(source, sub))
            .key(keys.route_dlq(source, sub));
        inv.arg(now_ms())
            .arg(self.inner.settings.lease_ms())
            .arg(max)
            .arg(RECLAIM_LIMIT)
            .arg(keys.source_base(source))
            .arg(sub)
            .arg(self.inner.settings.retention_ms())
            .arg(ATTEMPT_LOG_CAP);
        if let Some(owner) = owner {
            inv.arg(&owner.instance).arg(&owner.run);
        }
        let mut c = self.conn();
        let reply: Value = self.timed(inv.invoke_async(&mut c)).await?;
        records::parse_route_claim(reply)
    }

    /// Takes back the leases `owner.instance` held in its earlier runs on
    /// `routes` (see `scripts/route_takeback.lua`): each route's leases are
    /// looked at a page at a time, in one script call per page.
    pub async fn take_back(
        &self,
        owner: &LeaseOwner,
        routes: &[(&str, &str)],
    ) -> Result<u64, StoreError> {
        const PAGE: usize = 500;
        // A route holds at most a few thousand leases (every instance's
        // in-flight deliveries); this bounds the loop whatever it holds.
        const MAX_PAGES: usize = 10_000;
        let keys = &self.inner.keys;
        let mut total = 0u64;
        for (source, sub) in routes {
            let mut offset = 0usize;
            for _ in 0..MAX_PAGES {
                let mut inv = self.inner.scripts.route_takeback.prepare_invoke();
                inv.key(keys.route_queue(source, sub))
                    .key(keys.route_leases(source, sub))
                    .key(keys.route_dlq(source, sub));
                inv.arg(now_ms())
                    .arg(self.inner.settings.lease_ms())
                    .arg(RECLAIM_LIMIT)
                    .arg(keys.source_base(source))
                    .arg(*sub)
                    .arg(self.inner.settings.retention_ms())
                    .arg(ATTEMPT_LOG_CAP)
                    .arg(&owner.instance)
                    .arg(&owner.run)
                    .arg(offset)
                    .arg(PAGE);
                let mut c = self.conn();
                let (taken, seen): (u64, usize) = self.timed(inv.invoke_async(&mut c)).await?;
                total += taken;
                if seen < PAGE {
                    break;
                }
                // What was taken left the set; the rest of the page stays.
                offset += seen.saturating_sub(taken as usize);
            }
        }
        Ok(total)
    }

    /// Records an attempt and its outcome for a leased delivery. Returns
    /// false when the lease had been taken over (nothing written).
    pub async fn route_finish(
        &self,
        source: &str,
        sub: &str,
        done: &Attempted<'_>,
    ) -> Result<bool, StoreError> {
        let Attempted {
            id,
            lease,
            attempts: attempts_after,
            finish,
            record: attempt,
            row: _,
        } = *done;
        let keys = &self.inner.keys;
        let job_keys = vec![
            keys.route_queue(source, sub),
            keys.route_leases(source, sub),
            keys.route_dlq(source, sub),
            keys.delivery(source, id, sub),
            keys.attempts(source, id, sub),
        ];
        let (outcome, due, reason) = match finish {
            Finish::Delivered => ("delivered", 0, ""),
            Finish::Retry { due_ms } => ("retry", *due_ms, ""),
            Finish::Dead { reason } => ("dead", 0, reason.as_str()),
            Finish::Release => ("release", 0, ""),
        };
        let attempt_json = match attempt {
            Some(a) => serde_json::to_vec(a).map_err(|e| StoreError::Protocol(e.to_string()))?,
            None => Vec::new(),
        };
        let code = attempt
            .and_then(|a| a.status_code)
            .map(|c| c.to_string())
            .unwrap_or_default();
        let args = vec![
            id.as_str().as_bytes().to_vec(),
            lease.to_string().into_bytes(),
            outcome.as_bytes().to_vec(),
            due.to_string().into_bytes(),
            attempts_after.to_string().into_bytes(),
            attempt_json,
            code.into_bytes(),
            reason.as_bytes().to_vec(),
            self.inner.settings.retention_ms().to_string().into_bytes(),
            ATTEMPT_LOG_CAP.to_string().into_bytes(),
            keys.source_base(source).into_bytes(),
            sub.as_bytes().to_vec(),
        ];
        let done = self
            .batched(Batched::Finish, source, job_keys, args, 1)
            .await?;
        Ok(done == [1])
    }

    /// Queues one job on the (write, source) group-commit queue and waits
    /// for its share of the reply, all within `store_timeout`.
    async fn batched(
        &self,
        kind: Batched,
        source: &str,
        keys: Vec<String>,
        args: Vec<Vec<u8>>,
        replies: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let (done, reply) = oneshot::channel();
        let job = batch::Job {
            keys,
            args,
            replies,
            done,
        };
        let wait = async {
            if let Err(mpsc::error::SendError(job)) =
                self.queue(kind, source, false).send(job).await
            {
                // The queue's worker is gone (its runtime ended): a new one.
                self.queue(kind, source, true)
                    .send(job)
                    .await
                    .map_err(|_| StoreError::Unavailable("store queue closed".into()))?;
            }
            reply
                .await
                .map_err(|_| StoreError::Unavailable("store call abandoned".into()))?
        };
        match tokio::time::timeout(self.inner.timeout, wait).await {
            Ok(result) => result,
            // The caller answers 503 (and the error is counted) though the
            // call it waited for may still succeed late (it started after
            // the job queued): a store slower than `store_timeout` must show
            // in the errors the StoreErrors alert watches.
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {:?}",
                self.inner.timeout
            ))),
        }
    }

    /// The (write, source) queue, started on first use (or anew).
    fn queue(&self, kind: Batched, source: &str, renew: bool) -> mpsc::Sender<batch::Job> {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queues = &mut queues[kind as usize];
        if !renew && let Some(tx) = queues.get(source) {
            return tx.clone();
        }
        // The worker holds the store weakly: dropping the last handle
        // drops the senders, which ends the worker.
        let weak = Arc::downgrade(&self.inner);
        let id = source.to_owned();
        let tx = batch::spawn(kind.op(), move |jobs| {
            let weak = weak.clone();
            let source = id.clone();
            async move {
                let reply = match weak.upgrade() {
                    Some(inner) => RedisStore { inner }.run_batch(kind, &source, &jobs).await,
                    None => Err(StoreError::Unavailable("store closed".into())),
                };
                batch::answer(jobs, reply);
            }
        });
        queues.insert(source.to_owned(), tx.clone());
        tx
    }

    /// One batched script call: the script's own KEYS and `now`, then each
    /// job's keys and args in order.
    async fn run_batch(
        &self,
        kind: Batched,
        source: &str,
        jobs: &[batch::Job],
    ) -> Result<Vec<i64>, StoreError> {
        let keys = &self.inner.keys;
        let scripts = &self.inner.scripts;
        let mut inv = match kind {
            Batched::Ingest => {
                let mut inv = scripts.ingest.prepare_invoke();
                inv.key(keys.fanout_queue(source))
                    .key(keys.event_index(source));
                inv
            }
            Batched::Finish => scripts.route_finish.prepare_invoke(),
        };
        inv.arg(now_ms());
        for job in jobs {
            for k in &job.keys {
                inv.key(k);
            }
            for a in &job.args {
                inv.arg(a);
            }
        }
        let mut c = self.conn();
        match self.bounded(inv.invoke_async(&mut c)).await {
            Ok(flat) => Ok(flat),
            // A pooled connection went stale (Redis restarted): once more,
            // on the reconnected handle. Safe whether or not the first call
            // ran: a repeated ingest finds its events stored and reports
            // duplicates (a duplicate is only ever reported for a stored
            // event); a repeated finish finds its lease gone and changes
            // nothing.
            Err((_, true)) => {
                // The Redis behind it may be a restarted one with an
                // evicting policy: read it before writing there.
                if kind == Batched::Ingest {
                    self.ensure_writable().await?;
                }
                self.timed(inv.invoke_async(&mut c)).await
            }
            Err((err, false)) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(sub: &str, key: &str) -> OrderSlot {
        OrderSlot {
            sub: sub.to_owned(),
            key: OrderKey::new(key).unwrap(),
        }
    }

    #[test]
    fn places_round_trip_one_per_subscription() {
        let order = [
            slot("ledger", "pi:1\"}"),
            slot("audit", "é"),
            slot("ledger", "x"),
        ];
        let json = order_json(&order);
        let mut back = parse_order(Some(&json));
        back.sort_by(|a, b| a.sub.cmp(&b.sub));
        assert_eq!(back, [slot("audit", "é"), slot("ledger", "pi:1\"}")]);
        assert!(order_json(&[]).is_empty());
    }

    #[test]
    fn unreadable_places_are_none() {
        for bad in [
            &b"not json"[..],
            b"[1]",
            b"{\"ledger\":5}",
            b"{\"ledger\":\"\"}",
            b"",
        ] {
            assert!(parse_order(Some(bad)).is_empty(), "{bad:?}");
        }
        assert!(parse_order(None).is_empty());
    }
}
