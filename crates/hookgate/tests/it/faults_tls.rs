//! An `https` subscriber behind a private CA: delivered and signed with
//! `[delivery] ca_file`; without it, every attempt is a TLS error that the
//! attempt log records (and is retried, never delivered in clear).

use super::support::*;
use crate::common::event_id;
use hookgate_testkit::assert_eventually;
use std::time::Duration;

#[tokio::test]
async fn https_subscriber_with_its_ca_in_ca_file_gets_signed_deliveries() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
    let sub = Subscriber::start_tls(ca.server.clone()).await;
    let w = World::start_with(
        &[SubSpec::new("secure", &sub.url("/events"))],
        &format!("ca_file = \"{}\"", ca_file.display()),
    )
    .await;

    assert_eq!(w.stripe("tls_ok_1").await, 200);
    let id = event_id("stripe", "tls_ok_1");
    assert_eventually(
        "delivery over https",
        Duration::from_secs(10),
        POLL,
        || async { !sub.hits().is_empty() },
    )
    .await;
    let hit = &sub.hits()[0];
    assert_eq!(hit.id, id);
    assert_eq!(hit.source, "hookgate/stripe");
    assert!(hit.signature_ok, "webhook-signature verifies");
    let d = w
        .api
        .wait_delivery(
            "stripe",
            &id,
            "secure",
            "is delivered",
            Duration::from_secs(5),
            |d| d.status == "delivered",
        )
        .await;
    assert_eq!(d.attempts.len(), 1, "{d:?}");
    assert_eq!(d.attempts[0].status_code, Some(200), "{d:?}");
    assert_eq!(sub.handshake_failures(), 0);
}

#[tokio::test]
async fn https_subscriber_without_its_ca_is_a_tls_error_in_the_attempt_log() {
    let ca = TestCa::new();
    let sub = Subscriber::start_tls(ca.server.clone()).await;
    let w = World::start(&[SubSpec::new("secure", &sub.url("/events"))]).await;

    assert_eq!(w.stripe("tls_bad_1").await, 200);
    let id = event_id("stripe", "tls_bad_1");
    assert_eventually(
        "two attempts recorded",
        Duration::from_secs(10),
        POLL,
        || async { w.attempt_log("stripe", &id, "secure").await.len() >= 2 },
    )
    .await;
    for a in w.attempt_log("stripe", &id, "secure").await {
        // It says TLS (rustls's own text only names the certificate).
        let err = a.error.as_deref().unwrap_or_default();
        assert!(
            err.starts_with("connect error: ") && err.contains("TLS: invalid peer certificate"),
            "attempt error names the TLS failure: {a:?}"
        );
        assert_eq!(a.status_code, None, "{a:?}");
    }
    assert!(sub.hits().is_empty(), "no request got through");
    assert!(sub.handshake_failures() >= 2);
    let d = w.delivery("stripe", &id, "secure").await;
    assert_eq!(d.status, "pending", "retried: {d:?}");
}
