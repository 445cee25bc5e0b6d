//! The outbound HTTP client: one keep-alive pool per subscription, so a
//! subscriber that hangs holds only its own connections. Redirects are
//! never followed (a 3xx is a retry, SPEC §4).

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// The client type used for deliveries.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client for one subscription.
pub fn build(timeout: Duration, max_idle: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(max_idle)
        .build(connector)
}
