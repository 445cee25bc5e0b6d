//! `Receiver`: scripted replies, recording, hang/close, keep-alive accounting.

use std::time::{Duration, Instant};

use hookgate_testkit::http::{self, Client, RequestError, try_request};
use hookgate_testkit::{Receiver, Reply};

use crate::SOON;

#[tokio::test]
async fn scripted_sequence_then_default() {
    let rx = Receiver::start().await;
    rx.push_n(2, Reply::Status(500));
    rx.push(Reply::Status(200));
    rx.set_default(Reply::Status(204));

    let url = rx.url("/hooks/a?x=1");
    let mut statuses = Vec::new();
    for i in 0..4 {
        let body = format!("{{\"n\":{i}}}");
        let resp = http::post(&url, &[("content-type", "application/json")], body).await;
        statuses.push(resp.status);
    }
    assert_eq!(statuses, [500, 500, 200, 204]);

    let got = rx.wait_for(4, SOON).await;
    assert_eq!(rx.count(), 4);
    assert_eq!(got[0].method, ::http::Method::POST);
    assert_eq!(got[0].path, "/hooks/a");
    assert_eq!(got[0].query.as_deref(), Some("x=1"));
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[3].json()["n"], 3);
    assert!(
        got.windows(2).all(|w| w[0].at <= w[1].at),
        "arrival times ordered"
    );
}

#[tokio::test]
async fn headers_and_delay_replies() {
    let rx = Receiver::start().await;
    rx.push(Reply::StatusWithHeaders(
        429,
        vec![("Retry-After".into(), "7".into())],
    ));
    rx.push(Reply::StatusWithBody(503, "busy".into()));
    rx.push(Reply::Delay(Duration::from_millis(200), 201));

    let r = http::post(&rx.url("/"), &[], "a").await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    let r = http::post(&rx.url("/"), &[], "b").await;
    assert_eq!((r.status, r.text().as_str()), (503, "busy"));
    let start = Instant::now();
    let r = http::post(&rx.url("/"), &[], "c").await;
    assert_eq!(r.status, 201);
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn hang_times_out_on_the_client_side_but_is_recorded() {
    let rx = Receiver::start().await;
    rx.push(Reply::Hang);
    let start = Instant::now();
    let result = try_request(
        ::http::Method::POST,
        &rx.url("/slow"),
        &[],
        "x",
        Duration::from_millis(300),
    )
    .await;
    assert!(
        matches!(result, Err(RequestError::Timeout(_))),
        "{result:?}"
    );
    assert!(start.elapsed() < SOON);
    assert_eq!(rx.count(), 1);
    // The hang is per request: the next one gets the default.
    assert_eq!(http::post(&rx.url("/"), &[], "y").await.status, 200);
}

#[tokio::test]
async fn close_drops_the_connection_without_an_answer() {
    let rx = Receiver::start().await;
    rx.push(Reply::Close);
    let result = try_request(::http::Method::POST, &rx.url("/"), &[], "x", SOON).await;
    assert!(
        matches!(result, Err(RequestError::Transport(_))),
        "{result:?}"
    );
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn keep_alive_client_reuses_one_connection() {
    let rx = Receiver::start().await;
    let client = Client::new();
    assert_eq!(client.get(&rx.url("/a"), None).await.status, 200);
    assert_eq!(client.post(&rx.url("/b"), &[], "x").await.status, 200);
    assert_eq!(rx.count(), 2);
    assert_eq!(
        rx.connections(),
        1,
        "second request should reuse the connection"
    );

    // The free functions use a fresh connection each time.
    http::get(&rx.url("/c"), Some("tok")).await;
    http::get(&rx.url("/d"), None).await;
    let got = rx.requests();
    assert_eq!(got[2].header("authorization"), Some("Bearer tok"));
    assert_eq!(got[3].header("authorization"), None);
    assert_eq!(rx.connections(), 3);
}

#[tokio::test]
#[should_panic(expected = "expected 2 request(s) within 100ms, got 1")]
async fn wait_for_says_how_many_arrived() {
    let rx = Receiver::start().await;
    http::post(&rx.url("/"), &[], "only one").await;
    rx.wait_for(2, Duration::from_millis(100)).await;
}

#[tokio::test]
#[should_panic(expected = "not a valid HTTP status")]
async fn invalid_scripted_status_panics_in_the_test() {
    let rx = Receiver::start().await;
    rx.push(Reply::Status(1000));
}

#[tokio::test]
async fn drop_shuts_the_listener_and_hung_connections() {
    let rx = Receiver::start().await;
    rx.set_default(Reply::Hang);
    let addr = rx.addr().to_string();
    let url = rx.url("/");
    let pending =
        tokio::spawn(async move { try_request(::http::Method::GET, &url, &[], "", SOON).await });
    rx.wait_for(1, SOON).await;

    drop(rx);
    // The hung request ends with a transport error, not at its 10 s deadline.
    let result = tokio::time::timeout(SOON, pending).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(RequestError::Transport(_))),
        "{result:?}"
    );
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
}
