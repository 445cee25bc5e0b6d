//! Moving a deployment from one store to another (`hookgate store copy`).
//!
//! A store's contents leave as [`Record`]s, a page at a time
//! ([`crate::Backend::export`]), and enter the other store
//! ([`crate::Backend::import`]) in the same order: claims, events,
//! deliveries (with their schedules and attempt logs), the ordering keys'
//! lines, pause flags, the audit log. Only what is still alive leaves (within retention, claims
//! within their dedup window), with its absolute expiry, so it lives as
//! long in the new store as it would have in the old one.
//!
//! Idempotent: a record the target already holds is left as it is (the
//! target may have moved on since an earlier copy), so running the copy
//! again adds what is missing and repeats nothing; audit records are keyed
//! by their ids. A lease held when the copy was taken is copied as a
//! delivery due now (the source store takes its leases back when it is
//! opened for the copy, since its gateway must be stopped).

use crate::{AttemptRecord, AuditRecord, OrderSlot, Store, StoreError};
use hookgate_core::{EventId, OrderKey};

/// A delivery's state in a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopiedState {
    /// Waiting; due at the ms given.
    Queued(i64),
    /// Delivered at the ms given.
    Delivered(i64),
    /// Dead-lettered at the ms given.
    Dead(i64),
    /// Held behind an earlier event of its ordering key; queued (due then)
    /// when it becomes its line's head.
    Held,
}

/// One item of a store's contents.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A dedup claim, held until `until_ms`.
    Claim {
        source: String,
        id: EventId,
        until_ms: i64,
    },
    /// A stored event, kept until `keep_until_ms`; in the fan-out queue
    /// (due at `fanout_due_ms`) until it is fanned out.
    Event {
        source: String,
        id: EventId,
        ty: String,
        cloudevent: Vec<u8>,
        traceparent: String,
        received_ms: i64,
        keep_until_ms: i64,
        fanout_due_ms: Option<i64>,
        /// Its ordering keys by subscription (the places themselves are
        /// [`Record::Line`]s); read by its fan-out.
        order: Vec<OrderSlot>,
    },
    /// A delivery, kept until `keep_until_ms`.
    Delivery {
        source: String,
        sub: String,
        id: EventId,
        state: CopiedState,
        attempts: u32,
        first_ms: i64,
        reclaims: u32,
        last_status_code: Option<u16>,
        reason: Option<String>,
        replayed_at_ms: Option<i64>,
        keep_until_ms: i64,
        log: Vec<AttemptRecord>,
        /// Its ordering key on this route, if it has one.
        key: Option<OrderKey>,
    },
    /// A place in an ordering key's line (after the deliveries: a line
    /// names its events' deliveries). Positions order a line; a target
    /// store keeps them, and takes later positions above them.
    Line {
        source: String,
        sub: String,
        key: OrderKey,
        id: EventId,
        position: i64,
    },
    /// A paused subscription.
    Paused { sub: String, at_ms: i64 },
    /// An audit record and its id (`<ms>-<seq>`).
    Audit { id: String, record: AuditRecord },
}

/// A page of an export: its records, and where the next page starts
/// (`None`: this was the last).
#[derive(Debug, Clone, Default)]
pub struct ExportPage {
    /// The records, in import order.
    pub records: Vec<Record>,
    /// The cursor of the next page, opaque to callers.
    pub next: Option<String>,
}

/// What a copy moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Records read from the source.
    pub read: u64,
    /// Records the target did not hold yet and now does.
    pub written: u64,
}

/// Records per page.
const PAGE: usize = 500;

/// Copies everything alive in `from` into `to`; `progress` is told the
/// running totals after each page.
pub async fn copy(
    from: &Store,
    to: &Store,
    mut progress: impl FnMut(Copied),
) -> Result<Copied, StoreError> {
    let mut total = Copied::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = from.export(cursor.as_deref(), PAGE).await?;
        total.read += page.records.len() as u64;
        if !page.records.is_empty() {
            total.written += to.import(&page.records).await?;
        }
        progress(total);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(total),
        }
    }
}
