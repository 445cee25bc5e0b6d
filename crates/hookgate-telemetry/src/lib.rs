//! The gateway's telemetry: every metric named and described once
//! ([`metric`]), the observable happenings as typed events that log and
//! count together ([`event`]), and trace export ([`otlp`]).
//!
//! Trace export (docs/operations.md): one span per ingest request and one per delivery
//! attempt, in the W3C trace the `traceparent` headers already carry, sent
//! to an OpenTelemetry collector over OTLP/HTTP with the JSON encoding.
//!
//! Why by hand and not the OpenTelemetry SDK: the gateway already has its
//! trace context (ingest continues or starts it, every attempt sends a child
//! `traceparent`), so all that is missing is shipping two kinds of finished
//! spans; the OTLP JSON mapping is small and stable, and the SDK's exporter
//! would bring a second HTTP client stack. Export never slows the hot path:
//! [`Tracer::record`] is a `try_send` into a bounded queue (spans are
//! dropped and counted when it is full), and a background task batches and
//! posts them.

pub mod event;
pub mod metric;
pub mod otlp;

pub use otlp::{Kind, SpanData, Tracer};
