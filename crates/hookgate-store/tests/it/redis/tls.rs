//! The store over TLS (`rediss://`): a Redis with a TLS listener whose
//! certificate a throwaway CA signed (testkit `RedisServer::start_tls`).

use crate::support::*;
use hookgate_store::{Settings, Store};
use hookgate_testkit::RedisServer;

fn tls_config(server: &RedisServer, trust_the_ca: bool) -> hookgate_config::StoreConfig {
    let mut cfg = config(server);
    let redis = redis_mut(&mut cfg);
    redis.url = server.tls_url().parse().expect("a valid store url");
    redis.ca_file = trust_the_ca.then(|| server.ca_file().to_path_buf());
    cfg
}

#[tokio::test]
async fn checks_ingests_and_reads_over_tls_with_the_configured_ca() {
    let redis = RedisServer::start_tls().await;
    let store = Store::open(&tls_config(&redis, true), Settings::default()).expect("open store");
    let status = bounded(store.check()).await.expect("check over TLS");
    assert_eq!(
        status.details,
        [("maxmemory_policy", "noeviction".to_owned())]
    );

    let ev = TestEvent::new("stripe", "evt_tls", "payment.succeeded");
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);
    let due = bounded(store.fanout_due("stripe", 10)).await.unwrap();
    assert_eq!(due, [(ev.id.clone(), ev.ty.clone())]);

    // Written where the plain listener sees it: the same Redis.
    let mut c = redis.conn().await;
    let key = format!("hg:{{stripe}}:e:{}", ev.id.as_str());
    assert!(exists(&mut c, &key).await);
}

#[tokio::test]
async fn a_certificate_nobody_trusts_fails_every_call_and_writes_nothing() {
    let redis = RedisServer::start_tls().await;
    // No ca_file: the system roots, which do not hold the test CA.
    let store = Store::open(&tls_config(&redis, false), Settings::default()).expect("open store");
    let ev = TestEvent::new("stripe", "evt_untrusted", "payment.succeeded");
    let err = ingest(&store, "stripe", &[&ev]).await.unwrap_err();
    let text = err.to_string();
    assert!(!text.contains(&redis.tls_url()), "no URL in errors: {text}");
    assert!(bounded(store.ready()).await.is_err());
    let mut c = redis.conn().await;
    assert!(scan(&mut c, "*").await.is_empty(), "nothing written");
}

#[tokio::test]
async fn a_ca_file_that_is_not_pem_is_refused_at_open() {
    let redis = RedisServer::start_tls().await;
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("ca.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let mut cfg = tls_config(&redis, true);
    redis_mut(&mut cfg).ca_file = Some(bogus);
    let err = Store::open(&cfg, Settings::default()).expect_err("refused");
    assert!(err.to_string().contains("ca_file"), "{err}");
}

#[tokio::test]
async fn a_server_asking_for_a_client_certificate_gets_the_configured_one() {
    let redis = RedisServer::start_mtls().await;
    let ev = TestEvent::new("stripe", "evt_mtls", "payment.succeeded");
    // Without a client certificate, the handshake is refused.
    let store = Store::open(&tls_config(&redis, true), Settings::default()).expect("open store");
    assert!(ingest(&store, "stripe", &[&ev]).await.is_err());
    // With one the CA signed, it works.
    let mut cfg = tls_config(&redis, true);
    redis_mut(&mut cfg).client_tls = Some((
        redis.client_cert_file().to_path_buf(),
        redis.client_key_file().to_path_buf(),
    ));
    let store = Store::open(&cfg, Settings::default()).expect("open store");
    assert_eq!(ingest(&store, "stripe", &[&ev]).await.unwrap(), [true]);
    // A key file without a key is refused at open, without quoting it.
    redis_mut(&mut cfg).client_tls = Some((
        redis.client_cert_file().to_path_buf(),
        redis.client_cert_file().to_path_buf(),
    ));
    let err = Store::open(&cfg, Settings::default())
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("client_key_file") && err.contains("no PEM private key"),
        "{err}"
    );
    assert!(!err.contains("BEGIN"), "{err}");
}
