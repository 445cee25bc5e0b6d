//! The events listing's keyset paging (`event_index_after`), on every
//! backend: what the admin API's events listing and the console's Events
//! page read, however deep they page.

use crate::support::*;
use hookgate_core::EventId;
use hookgate_store::ListOrder;
use std::time::Duration;

/// Keyset paging (`event_index_after`): resuming strictly past a (receive
/// ms, id) gives exactly the rest of the listing in either order, ties of
/// one millisecond included (a batch shares its receive time), whatever
/// the page size, within inclusive bounds, and from a position that names
/// no stored event.
async fn the_event_listing_pages_by_keyset(kind: Kind) {
    let fx = Fixture::open(kind).await;
    let store = &fx.store;
    let batch: Vec<TestEvent> = (0..6)
        .map(|i| TestEvent::new("stripe", &format!("evt_batch_{i}"), "payment.succeeded"))
        .collect();
    let refs: Vec<&TestEvent> = batch.iter().collect();
    assert_eq!(ingest(store, "stripe", &refs).await.unwrap(), [true; 6]);
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(3)).await;
        let ev = TestEvent::new("stripe", &format!("evt_single_{i}"), "payment.succeeded");
        assert_eq!(ingest(store, "stripe", &[&ev]).await.unwrap(), [true]);
    }
    let other = TestEvent::new("github", "evt_gh", "github.push");
    assert_eq!(ingest(store, "github", &[&other]).await.unwrap(), [true]);

    let all = all_events(store, "stripe").await;
    assert_eq!(all.len(), 9);
    assert!(
        all.windows(2).any(|w| w[0].1 == w[1].1),
        "a batch shares its receive time: {all:?}"
    );
    let key = |e: &(EventId, i64)| (e.1, e.0.as_str().to_owned());

    for order in [ListOrder::OldestFirst, ListOrder::NewestFirst] {
        let mut want = all.clone();
        if order == ListOrder::NewestFirst {
            want.reverse();
        }
        // Page by page, each resuming after the last entry of the one before.
        for size in [1, 2, 4, 100] {
            let mut got: Vec<(EventId, i64)> = Vec::new();
            loop {
                let after = got.last().map(|(id, ms)| (*ms, id));
                let page =
                    bounded(store.event_index_after("stripe", (0, i64::MAX), order, after, size))
                        .await
                        .unwrap();
                assert!(page.len() <= size);
                let done = page.len() < size;
                got.extend(page);
                if done {
                    break;
                }
            }
            assert_eq!(got, want, "{order:?} pages of {size}");
        }
        // From every position, and from ones between stored ids, with and
        // without bounds: exactly what lies past it in that order.
        let past = |at: &(i64, String), e: &(EventId, i64)| match order {
            ListOrder::OldestFirst => key(e) > *at,
            ListOrder::NewestFirst => key(e) < *at,
        };
        let (lo, hi) = (all[1].1, all[7].1);
        let mut positions: Vec<(i64, String)> = all.iter().map(key).collect();
        // Valid ids that are not stored, just below and above stored ones.
        let with_last = |id: &str, c: char| format!("{}{c}", &id[..id.len() - 1]);
        for e in &all {
            for c in ['2', 'z'] {
                let near = with_last(e.0.as_str(), c);
                if !all.iter().any(|x| x.0.as_str() == near) {
                    positions.push((e.1, near));
                }
            }
        }
        positions.push((all[0].1 - 1, with_last(all[0].0.as_str(), '2')));
        for at in &positions {
            let id = EventId::parse(&at.1).expect("a valid event id");
            for (range, bounded_want) in [
                ((0, i64::MAX), want.clone()),
                (
                    (lo, hi),
                    want.iter()
                        .filter(|e| (lo..=hi).contains(&e.1))
                        .cloned()
                        .collect(),
                ),
            ] {
                let got = bounded(store.event_index_after(
                    "stripe",
                    range,
                    order,
                    Some((at.0, &id)),
                    100,
                ))
                .await
                .unwrap();
                let expect: Vec<(EventId, i64)> = bounded_want
                    .iter()
                    .filter(|e| past(at, e))
                    .cloned()
                    .collect();
                assert_eq!(got, expect, "{order:?} past {at:?} in {range:?}");
            }
        }
    }
    // Another source's index is its own.
    let gh =
        bounded(store.event_index_after("github", (0, i64::MAX), ListOrder::OldestFirst, None, 10))
            .await
            .unwrap();
    assert_eq!(gh.len(), 1);
    assert_eq!(gh[0].0, other.id);
}
conformance!(the_event_listing_pages_by_keyset);
