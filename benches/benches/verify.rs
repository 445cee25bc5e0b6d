//! Signature verification per scheme, for 1 KiB and 64 KiB bodies: the
//! per-request CPU cost of step 3 of ingest. Every request is checked to
//! verify before it is measured, so a broken signer fails loudly instead of
//! timing a rejection.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookgate_benches::{SCHEMES, signed_request};
use hookgate_verify::{RawRequest, Verifier};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let now = hookgate_core::time::now_unix();
    let mut group = c.benchmark_group("verify");
    for size in [1024usize, 64 * 1024] {
        for scheme in SCHEMES {
            let (src, headers, body) = signed_request(scheme, size, now);
            group.throughput(Throughput::Bytes(body.len() as u64));
            let verifier = Verifier::from_source(&src).expect("bench source builds");
            let req = RawRequest {
                method: "POST",
                path_and_query: "/ingest/bench",
                headers: &headers,
                body: &body,
            };
            verifier
                .verify(&req, now)
                .unwrap_or_else(|r| panic!("{scheme}: bench request rejected: {}", r.as_str()));
            group.bench_with_input(
                BenchmarkId::new(*scheme, format!("{}KiB", size / 1024)),
                &req,
                |b, req| b.iter(|| verifier.verify(black_box(req), now)),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
