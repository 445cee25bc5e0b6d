//! Hookgate's public listener: `POST /ingest/{source_id}` (docs/ingest.md).
//!
//! Each request goes through the same steps, in this order, each a small
//! function that lets it go on or refuses it with a typed
//! [`respond::Rejection`], whose one answer [`respond`] gives:
//!
//! 1. route: unknown source 404, other method 405;
//! 2. body: larger than `max_body_bytes` 413 (reading stops at the limit),
//!    not complete within `read_timeout` 408; the bytes of every body held
//!    at once count against `max_body_buffer_bytes` (a body waits for
//!    room, within its `read_timeout`);
//! 3. signature, by the source's scheme: 401 with the reason; then one of
//!    the source's `max_in_flight_per_source` slots, 429 when none is free
//!    (taken only now, so a client that never sends its body or cannot
//!    sign holds none);
//! 4. payload: 400 when it is not what the scheme requires;
//! 5. the source's rate limit: 429 with `Retry-After`;
//! 6. one atomic store call claims every idempotency key and stores every
//!    event, with its places in the lines of the subscriptions that order
//!    their deliveries (`order`): 503 with `Retry-After` when the store cannot;
//! 7. 200: accepted / duplicate, or the scheme's fixed acknowledgement.
//!
//! Nothing is acknowledged before step 6 returned. Ingest knows nothing of
//! delivery: it writes only its source's keys, and the source's worker
//! pool takes over from the store. Of subscriptions it knows only which
//! order their deliveries and where their keys are (`order`), because
//! the order of acknowledgement is fixed by its store call.
//!
//! [`pipeline`] runs the steps in this order; `body` reads the body within
//! its bounds; `source` holds what a source needs at run time and the
//! steps that depend only on it; [`respond`] holds the rejections and
//! answers, and the one place they become HTTP answers and metric labels.

mod body;
mod order;
pub mod pipeline;
pub mod respond;
mod source;

pub use pipeline::Ingest;
pub use source::SourceRuntime;

use hookgate_core::shutdown::Drain;
use hookgate_http::ServeOptions;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves the ingest listener until `drain` is cancelled.
pub async fn serve(listener: TcpListener, ingest: Arc<Ingest>, drain: Drain, opts: ServeOptions) {
    hookgate_http::serve(
        listener,
        move |req| {
            let ingest = ingest.clone();
            async move { ingest.handle(req).await }
        },
        drain,
        opts,
    )
    .await
}
