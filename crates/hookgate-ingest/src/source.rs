//! One source at run time, and the steps that depend only on it: the
//! signature, its in-flight slot, the payload and its rate limit.
//!
//! Each step returns `Result<_, Rejection>`, so the pipeline reads as the
//! list of docs/ingest.md; what a rejection answers is decided in
//! [`crate::respond`], not here.

use crate::order::OrderedSubs;
use crate::respond::{Answer, Rejection};
use hookgate_config::{SourceConfig, SubscriptionConfig};
use hookgate_core::rate_limit::TokenBucket;
use hookgate_verify::{ProviderEvent, RawRequest, SchemeError, Verifier};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One source, ready to take callbacks.
#[derive(Debug)]
pub struct SourceRuntime {
    pub(crate) id: String,
    pub(crate) verifier: Verifier,
    /// The config's map from provider types to normalized ones.
    pub(crate) types: BTreeMap<String, String>,
    rate: Option<TokenBucket>,
    /// Verified requests of this source being handled now (payload, rate
    /// limit, store write), bounded so one flooding provider cannot hold
    /// every store call of the listener. Taken only after the body was
    /// read and its signature verified: a client that has not proved it
    /// speaks for the provider holds none (a slow or silent one would
    /// otherwise deny the provider its own source).
    in_flight: Arc<Semaphore>,
    /// The subscriptions that order their deliveries (usually none), for
    /// the events' places in line.
    pub(crate) ordered: OrderedSubs,
}

/// What a verified callback carries.
pub enum Payload<'a> {
    /// A provider handshake, answered and stored nowhere.
    Handshake(Answer),
    /// One or more events to store.
    Events(Vec<ProviderEvent<'a>>),
}

impl SourceRuntime {
    /// Builds the source's verifier (a scheme error stops the gateway) with
    /// `max_in_flight` slots; `subs` are the subscriptions (each a route
    /// of every source).
    pub fn new(
        src: &SourceConfig,
        max_in_flight: usize,
        subs: &[SubscriptionConfig],
    ) -> Result<Self, SchemeError> {
        Ok(SourceRuntime {
            id: src.id.clone(),
            verifier: Verifier::from_source(src)?,
            types: src.types.clone(),
            rate: src
                .rate_limit
                .map(|r| TokenBucket::new(r.per_second, r.burst)),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            ordered: OrderedSubs::new(subs),
        })
    }

    /// Step 3, the signature, by the source's scheme.
    pub fn verify(&self, raw: &RawRequest<'_>) -> Result<(), Rejection> {
        self.verifier
            .verify(raw, hookgate_core::time::now_unix())
            .map_err(Rejection::Signature)
    }

    /// One of the source's in-flight slots, to hold until the answer is
    /// decided; none free = this source is flooding with verified
    /// callbacks: shed it before the store.
    pub fn take_slot(&self) -> Result<OwnedSemaphorePermit, Rejection> {
        self.in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| Rejection::Overloaded)
    }

    /// Step 4, the payload: a verified handshake (Slack's
    /// `url_verification`) to answer, or the events the scheme extracts
    /// (at least one).
    pub fn payload<'a>(&self, raw: &RawRequest<'a>) -> Result<Payload<'a>, Rejection> {
        if let Some((content_type, body)) = self.verifier.handshake(raw) {
            return Ok(Payload::Handshake(Answer::Handshake { content_type, body }));
        }
        match self.verifier.extract(raw) {
            Ok(events) if !events.is_empty() => Ok(Payload::Events(events)),
            Ok(_) => Err(Rejection::InvalidPayload(
                "the callback carries no event".into(),
            )),
            Err(e) => Err(Rejection::InvalidPayload(e.0)),
        }
    }

    /// Step 5, the source's rate limit: one token per event, so a batch
    /// costs what it carries.
    pub fn rate_limit(&self, events: usize) -> Result<(), Rejection> {
        match &self.rate {
            Some(bucket) => bucket
                .try_take(events as f64)
                .map_err(Rejection::RateLimited),
            None => Ok(()),
        }
    }
}
