//! Step 2, the body: read whole (a signature covers the exact bytes), but
//! bounded in size, in time and, over every connection at once, in memory.
//!
//! This is the step a slow or hostile client can drag out, so it holds
//! nothing of the source, only the bytes it actually sent out of the
//! gateway-wide body budget (docs/ingest.md, "The body budget").

use crate::respond::Rejection;
use bytes::Bytes;
use http::{HeaderMap, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A body read whole, and its share of the body budget: hold the share as
/// long as the body.
pub type ReadBody = (Bytes, Option<OwnedSemaphorePermit>);

/// Reads request bodies within the listener's limits.
#[derive(Debug)]
pub struct BodyReader {
    max_body: u64,
    read_timeout: Duration,
    /// Bytes of request bodies held at once over every connection
    /// (`max_body_buffer_bytes`), one permit a byte. Only bytes received
    /// count: a connection that announced a body and sent nothing costs
    /// none, so stalled clients cannot starve the others of it.
    budget: Arc<Semaphore>,
}

impl BodyReader {
    /// `max_body_bytes`, `read_timeout` and `max_body_buffer_bytes`.
    pub fn new(max_body: u64, read_timeout: Duration, max_buffer: u64) -> Self {
        BodyReader {
            max_body,
            read_timeout,
            budget: Arc::new(Semaphore::new(
                usize::try_from(max_buffer)
                    .unwrap_or(usize::MAX)
                    .min(Semaphore::MAX_PERMITS),
            )),
        }
    }

    /// Reads the body: at most `max_body` bytes (stops reading past it) and
    /// within `read_timeout` from the end of the head, including any wait
    /// for room in the body budget. Returns the body and its share of the
    /// budget, to hold while the body is.
    pub async fn read(
        &self,
        headers: &HeaderMap,
        mut body: Incoming,
    ) -> Result<ReadBody, Rejection> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(self.too_large());
        }
        let max = usize::try_from(self.max_body).unwrap_or(usize::MAX);
        // The buffer never grows past what the client announced (when it
        // did) nor past the limit.
        let ceiling = declared
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(max)
            .min(max);
        let read = async {
            // Nothing is reserved before bytes arrive (an announced length
            // is only a claim); the buffer then at most doubles, and every
            // byte of its capacity is taken from the budget first.
            let mut buf: Vec<u8> = Vec::new();
            let mut held: Option<OwnedSemaphorePermit> = None;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| Rejection::Unreadable)?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let need = buf.len() + data.len();
                if need > max {
                    return Err(self.too_large());
                }
                if need > buf.capacity() {
                    let grown = need.max(buf.capacity().saturating_mul(2).min(ceiling));
                    let permit = self.take_budget(grown - buf.capacity()).await?;
                    match &mut held {
                        Some(h) => h.merge(permit),
                        None => held = Some(permit),
                    }
                    buf.reserve_exact(grown - buf.len());
                }
                buf.extend_from_slice(&data);
            }
            Ok((Bytes::from(buf), held))
        };
        match tokio::time::timeout(self.read_timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(Rejection::Timeout),
        }
    }

    fn too_large(&self) -> Rejection {
        Rejection::TooLarge {
            limit: self.max_body,
        }
    }

    /// Takes `bytes` from the body budget, waiting for room (the caller
    /// bounds the wait by `read_timeout`).
    async fn take_budget(&self, bytes: usize) -> Result<OwnedSemaphorePermit, Rejection> {
        let mut taken: Option<OwnedSemaphorePermit> = None;
        let mut left = bytes;
        while left > 0 {
            let n = left.min(u32::MAX as usize);
            // The semaphore is never closed; a closed one would only mean
            // the listener is going away.
            let permit = self
                .budget
                .clone()
                .acquire_many_owned(n as u32)
                .await
                .map_err(|_| Rejection::Unreadable)?;
            match &mut taken {
                Some(t) => t.merge(permit),
                None => taken = Some(permit),
            }
            left -= n;
        }
        taken.ok_or(Rejection::Unreadable)
    }
}
