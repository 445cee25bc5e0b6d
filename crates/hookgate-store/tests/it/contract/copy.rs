//! `hookgate store copy`: out of the embedded store into every backend
//! (the target is the conformance parameter), and out of one Redis into the
//! embedded store. Everything alive arrives with its schedule, and a second
//! copy writes nothing.

use crate::support::*;
use hookgate_store::copy::copy;
use hookgate_store::{AuditRecord, DeliveryStatus, Finish, StoreError};

/// Fills a store of kind `from`, copies it into a store of kind `to`
/// twice, and checks what arrived.
async fn copy_between(from: Kind, to: Kind) {
    let from = Fixture::open(from).await;
    let src = &from.store;
    let mk = |n: &str| TestEvent::new("stripe", n, "payment.succeeded");
    let (unfanned, delivered, retrying, dead) = (
        mk("evt_copy_unfanned"),
        mk("evt_copy_delivered"),
        mk("evt_copy_retrying"),
        mk("evt_copy_dead"),
    );
    for e in [&unfanned, &delivered, &retrying, &dead] {
        assert_eq!(ingest(src, "stripe", &[e]).await.unwrap(), [true]);
    }
    let fanned: Vec<_> = [&delivered, &retrying, &dead]
        .iter()
        .map(|e| (e.id.clone(), vec!["ledger"]))
        .collect();
    bounded(src.fanout_commit("stripe", &fanned)).await.unwrap();
    let due_later = hookgate_core::time::now_ms() + 3_600_000;
    for d in claim(src, "stripe", "ledger", 10).await.deliveries {
        let how = if d.id == delivered.id {
            Finish::Delivered
        } else if d.id == retrying.id {
            Finish::Retry { due_ms: due_later }
        } else {
            Finish::Dead {
                reason: "status 410".into(),
            }
        };
        let code = match how {
            Finish::Delivered => 200,
            Finish::Retry { .. } => 503,
            _ => 410,
        };
        assert!(finish(src, "stripe", "ledger", &d, 1, how, Some(code)).await);
    }
    bounded(src.set_paused("ledger", true)).await.unwrap();
    let record = AuditRecord {
        actor: "oncall".into(),
        role: "operator".into(),
        action: "subscription.pause".into(),
        target: "ledger".into(),
        filter: serde_json::json!({}),
        count: 1,
        request_id: "r1".into(),
        at: "2026-12-06T12:00:00.000Z".into(),
    };
    let audit_id = bounded(src.audit_append(&record)).await.unwrap();

    let to = Fixture::open(to).await;
    let dst = &to.store;
    let first = bounded(copy(src, dst, |_| {})).await.expect("copy");
    assert_eq!(first.read, first.written, "{first:?}");
    // 4 claims, 4 events, 3 deliveries, 1 pause flag, 1 audit record.
    assert_eq!(first.read, 13, "{first:?}");

    // Events with their claims; the unfanned one still to be fanned out.
    for e in [&unfanned, &delivered, &retrying, &dead] {
        let got = bounded(dst.event("stripe", &e.id))
            .await
            .unwrap()
            .expect("event copied");
        assert_eq!(got.cloudevent, e.ce);
        assert_eq!(
            ingest(dst, "stripe", &[e]).await.unwrap(),
            [false],
            "claim copied"
        );
    }
    assert_eq!(
        bounded(dst.fanout_due("stripe", 10)).await.unwrap(),
        [(unfanned.id.clone(), unfanned.ty.clone())]
    );
    // Deliveries with their states, schedule and logs.
    let status = |e: &TestEvent| {
        let (dst, id) = (dst.clone(), e.id.clone());
        async move {
            bounded(dst.delivery("stripe", &id, "ledger"))
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(status(&delivered).await.status, DeliveryStatus::Delivered);
    let d = status(&dead).await;
    assert_eq!(
        (d.status, d.reason.as_deref()),
        (DeliveryStatus::Dead, Some("status 410"))
    );
    let r = status(&retrying).await;
    assert_eq!(
        (r.status, r.attempts, r.last_status_code),
        (DeliveryStatus::Pending, 1, Some(503))
    );
    let claim_now = claim(dst, "stripe", "ledger", 10).await;
    assert!(claim_now.deliveries.is_empty(), "the retry is not due yet");
    assert_eq!(claim_now.next_due_ms, Some(due_later));
    assert_eq!(
        bounded(dst.attempts("stripe", &retrying.id, "ledger"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        bounded(dst.dead_letters("stripe", "ledger"))
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        std::slice::from_ref(&dead.id)
    );
    assert!(bounded(dst.paused()).await.unwrap().contains("ledger"));
    let audit = bounded(dst.audit_page(None, 10)).await.unwrap();
    assert_eq!(audit, [(audit_id, record)]);

    // Idempotent: the second copy reads everything and writes nothing.
    let second = bounded(copy(src, dst, |_| {})).await.expect("copy again");
    assert_eq!((second.read, second.written), (13, 0), "{second:?}");
}
async fn the_embedded_store_copies_into_every_backend_once(kind: Kind) {
    copy_between(Kind::Sqlite, kind).await
}
conformance!(the_embedded_store_copies_into_every_backend_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_redis_copies_into_the_embedded_store_once() {
    copy_between(Kind::Redis, Kind::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_is_not_copied_out_and_says_so() {
    let cluster = Fixture::open(Kind::Cluster).await;
    let target = Fixture::open(Kind::Sqlite).await;
    match bounded(copy(&cluster.store, &target.store, |_| {})).await {
        Err(StoreError::Unsupported(why)) => assert!(why.contains("Redis Cluster"), "{why}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

/// Lines of ordering keys move with their places: a held delivery stays
/// behind its head, an event still to be fanned out keeps its place.
async fn ordering_copies_between(from: Kind, to: Kind) {
    let from = Fixture::open(from).await;
    let src = &from.store;
    let mk = |n: &str, key: &str| {
        TestEvent::new("stripe", n, "payment.succeeded").ordered("ledger", key)
    };
    let (a1, a2, a3, b1) = (mk("a1", "A"), mk("a2", "A"), mk("a3", "A"), mk("b1", "B"));
    for e in [&a1, &a2, &a3, &b1] {
        assert_eq!(ingest(src, "stripe", &[e]).await.unwrap(), [true]);
    }
    let fanned: Vec<_> = [&a1, &a2, &b1]
        .iter()
        .map(|e| (e.id.clone(), vec!["ledger"]))
        .collect();
    bounded(src.fanout_commit("stripe", &fanned)).await.unwrap();

    let to = Fixture::open(to).await;
    let dst = &to.store;
    let first = bounded(copy(src, dst, |_| {})).await.expect("copy");
    assert_eq!(first.read, first.written, "{first:?}");
    let second = bounded(copy(src, dst, |_| {})).await.expect("copy again");
    assert_eq!(second.written, 0, "{second:?}");

    let ids = |c: hookgate_store::RouteClaim| {
        let mut ids: Vec<_> = c.deliveries.into_iter().map(|d| d.id).collect();
        ids.sort();
        ids
    };
    let mut heads = vec![a1.id.clone(), b1.id.clone()];
    heads.sort();
    let got = claim(dst, "stripe", "ledger", 10).await;
    let leased = got.deliveries.clone();
    assert_eq!(ids(got), heads, "only the heads are claimable");
    for d in &leased {
        assert!(finish(dst, "stripe", "ledger", d, 1, Finish::Delivered, Some(200)).await);
    }
    let next = claim(dst, "stripe", "ledger", 10).await;
    assert_eq!(ids(next.clone()), std::slice::from_ref(&a2.id));
    bounded(dst.fanout_commit("stripe", &[(a3.id.clone(), vec!["ledger"])]))
        .await
        .unwrap();
    assert!(
        claim(dst, "stripe", "ledger", 10)
            .await
            .deliveries
            .is_empty(),
        "a3 waits for a2"
    );
    assert!(
        finish(
            dst,
            "stripe",
            "ledger",
            &next.deliveries[0],
            1,
            Finish::Delivered,
            Some(200)
        )
        .await
    );
    assert_eq!(
        ids(claim(dst, "stripe", "ledger", 10).await),
        std::slice::from_ref(&a3.id)
    );
}
async fn ordering_copies_from_the_embedded_store_into_every_backend(kind: Kind) {
    ordering_copies_between(Kind::Sqlite, kind).await
}
conformance!(ordering_copies_from_the_embedded_store_into_every_backend);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_copies_from_one_redis_into_the_embedded_store() {
    ordering_copies_between(Kind::Redis, Kind::Sqlite).await
}
