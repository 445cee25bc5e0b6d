//! Pause and resume on one instance against its own pause watcher, with a
//! real store (the embedded one, in a temp dir).
//!
//! The watcher re-reads the stored flags every `poll_interval`. A read that
//! began before an operator's pause must not undo the pause when it lands
//! after it (before the fix, a paused subscription was resumed for one poll
//! interval now and then and sent what it should have held).

use hookgate_config::{MapEnv, parse};
use hookgate_core::shutdown::Drain;
use hookgate_delivery::Delivery;
use hookgate_store::{Settings, Store};
use std::path::Path;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_of_the_pause_flags_never_undoes_a_pause() {
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[store]
path = "{}"
[delivery]
poll_interval = "1ms"
[[sources]]
id = "src"
scheme = "stripe"
secrets = [{{ value = "whsec_test" }}]
[[subscriptions]]
id = "sub"
url = "http://127.0.0.1:9/"
events = ["*"]
secret = {{ value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }}
"#,
        dir.path().join("hookgate.db").display()
    );
    let cfg = parse(&toml, Path::new("test.toml"), &MapEnv::default()).expect("config");
    let store = Store::open(&cfg.store, Settings::from_config(&cfg)).expect("store");
    let drain = Drain::new();
    let delivery =
        Delivery::start(&cfg, store.clone(), &drain, Default::default()).expect("delivery starts");

    // Each round pauses (stored first, then applied here, as the admin API
    // does) while the watcher keeps reading the flags, and checks that the
    // pause holds for a few of its polls; then resumes the same way.
    let mut undone = 0;
    for _ in 0..100 {
        store.set_paused("sub", true).await.expect("stored");
        delivery.set_paused("sub", true);
        let until = Instant::now() + Duration::from_millis(8);
        while Instant::now() < until {
            if delivery.is_paused("sub") != Some(true) {
                undone += 1;
                break;
            }
            tokio::task::yield_now().await;
        }
        store.set_paused("sub", false).await.expect("stored");
        delivery.set_paused("sub", false);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drain.shutdown(Duration::from_secs(5)).await;
    assert_eq!(undone, 0, "rounds in which a stale read undid the pause");
}
