//! Classifying one attempt's result (docs/delivery.md) and picking the retry delay:
//! the delivery worker's own CPU per attempt, which should stay negligible
//! next to the HTTP round trip it follows. Each case is checked once before
//! it is timed, so a changed rule fails loudly instead of timing another
//! branch. `SystemTime::now()` is inside the timed call, as in the worker.

use criterion::{Criterion, criterion_group, criterion_main};
use hookgate_delivery::backoff;
use hookgate_delivery::classify::{Classified, classify_error, classify_status};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::hint::black_box;
use std::time::{Duration, SystemTime};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));

    let none = HeaderMap::new();
    let mut seconds = HeaderMap::new();
    seconds.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
    // Far ahead, so it stays a positive delay whenever this runs.
    let mut date = HeaderMap::new();
    date.insert(
        header::RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2099 07:28:00 GMT"),
    );
    let cases: [(&str, u16, &HeaderMap); 4] = [
        ("status_200", 200, &none),
        ("status_503_retry_after_secs", 503, &seconds),
        ("status_429_retry_after_date", 429, &date),
        ("status_410", 410, &none),
    ];
    for (name, code, headers) in cases {
        let status = StatusCode::from_u16(code).expect("valid status");
        let seen = classify_status(status, headers, SystemTime::now());
        let ok = match code {
            200 => seen == Classified::Delivered,
            503 => {
                matches!(seen, Classified::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(120))
            }
            429 => {
                matches!(seen, Classified::Retry { retry_after: Some(d), .. } if d > Duration::ZERO)
            }
            _ => matches!(seen, Classified::Dead { .. }),
        };
        assert!(ok, "{name}: unexpected {seen:?}");
        group.bench_function(name, |b| {
            b.iter(|| classify_status(black_box(status), black_box(headers), SystemTime::now()))
        });
    }

    let error = "connect error: Connection refused (os error 111)";
    assert!(matches!(classify_error(error), Classified::Retry { .. }));
    group.bench_function("error_connect_refused", |b| {
        b.iter(|| classify_error(black_box(error)))
    });

    // The computed path (no Retry-After): exponential cap, then full jitter.
    let (base, max) = (Duration::from_secs(1), Duration::from_secs(3600));
    assert!(backoff::delay(base, max, 5, None) <= backoff::cap(base, max, 5));
    group.bench_function("backoff_delay", |b| {
        b.iter(|| backoff::delay(black_box(base), black_box(max), black_box(5), None))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
