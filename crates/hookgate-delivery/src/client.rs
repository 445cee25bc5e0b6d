//! The outbound HTTP client: one keep-alive pool per subscription, so a
//! subscriber that hangs holds only its own connections. Redirects are
//! never followed (a 3xx is a retry, docs/delivery.md). `https` subscribers are
//! reached with rustls: the system's roots, plus the PEM certificates of
//! `[delivery] ca_file` when set.

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long an idle connection to a subscriber is kept for the next
/// delivery: under the 5 s after which Node's and uvicorn's servers close
/// an idle keep-alive connection by default. An attempt sent on a
/// connection the subscriber is closing at that moment fails unread (a
/// transport error: a retry, and a failure for the breaker).
pub const KEEP_IDLE: Duration = Duration::from_secs(4);

/// The client type used for deliveries.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The TLS settings every subscription's client shares.
pub fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped: `ca_file` may be all
    // that is needed (private subscribers).
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        // Read as check-config reads it: valid PEM, one certificate at least.
        let pem = hookgate_config::pem::read(path, hookgate_config::pem::PemKind::Certificates)
            .map_err(|why| format!("delivery.ca_file {why}"))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("delivery.ca_file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("delivery.ca_file {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client for one subscription.
pub fn build(timeout: Duration, max_idle: usize, tls: &rustls::ClientConfig) -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(KEEP_IDLE)
        .pool_max_idle_per_host(max_idle)
        .build(https)
}
