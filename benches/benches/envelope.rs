//! Event id derivation and CloudEvent envelope building, per event.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hookgate_core::EventId;
use hookgate_core::event::NormalizedEvent;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    group.bench_function("event_id", |b| {
        b.iter(|| EventId::derive(black_box("stripe:evt_1NqQqj2eZvKYlo2C0a1b2c3d")))
    });
    for size in [1024usize, 64 * 1024] {
        let data = format!("{{\"pad\":\"{}\"}}", "x".repeat(size - 10));
        let id = EventId::derive("stripe:evt_1");
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(format!("cloudevent_{}k", size / 1024), |b| {
            b.iter(|| {
                NormalizedEvent {
                    id: &id,
                    source_id: "stripe",
                    ty: "payment.succeeded",
                    time: "2023-11-14T22:13:20Z",
                    subject: Some("pi_1"),
                    data_json: black_box(data.as_bytes()),
                }
                .to_cloudevent_json()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
