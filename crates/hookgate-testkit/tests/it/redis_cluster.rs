//! `RedisCluster`: forms, spreads keys over its nodes, answers MOVED,
//! stops and comes back, moves a slot, cleans up.

use std::time::Duration;

use hookgate_testkit::RedisCluster;
use redis::AsyncCommands;

/// Running redis-server processes for `port` (see redis_server.rs).
fn redis_processes_on(port: u16) -> String {
    let out = std::process::Command::new("pgrep")
        .args(["-af", &format!("redis-server.*[: ]{port}( |$)")])
        .output()
        .expect("run pgrep");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn forms_three_masters_that_share_the_slots_and_route_by_hash_tag() {
    let cluster = RedisCluster::start().await;
    let ports = cluster.ports();
    assert_eq!(ports.len(), 3);
    assert!(
        !ports.contains(&6379),
        "must never use the shared Redis port"
    );
    assert_eq!(cluster.url(), format!("redis://127.0.0.1:{}", ports[0]));

    for i in 0..3 {
        let mut c = cluster.node_conn(i).await;
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(info.contains("cluster_state:ok"), "node {i}: {info}");
        assert!(info.contains("cluster_known_nodes:3"), "node {i}: {info}");
    }

    // {stripe} (slot 321), {github} (10239), {shopify} (15137): one per node.
    let mut owners = Vec::new();
    for tag in ["stripe", "github", "shopify"] {
        owners.push(cluster.node_of(&format!("hg:{{{tag}}}:fq")).await);
    }
    owners.sort();
    assert_eq!(owners, [0, 1, 2]);

    // The cluster client routes by slot; a plain connection to the wrong
    // node is answered MOVED.
    let mut cc = cluster.conn().await;
    let () = cc.set("hg:{github}:k", "v").await.unwrap();
    let v: String = cc.get("hg:{github}:k").await.unwrap();
    assert_eq!(v, "v");
    let owner = cluster.node_of("hg:{github}:k").await;
    let mut wrong = cluster.node_conn((owner + 1) % 3).await;
    let err = wrong
        .get::<_, Option<String>>("hg:{github}:k")
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_ascii_uppercase().contains("MOVED"),
        "{err}"
    );
}

#[tokio::test]
async fn stop_refuses_and_start_again_brings_the_same_cluster_back_empty() {
    let mut cluster = RedisCluster::start().await;
    let ports = cluster.ports();
    let owner = cluster.node_of("hg:{stripe}:fq").await;
    {
        let mut cc = cluster.conn().await;
        let () = cc.set("hg:{stripe}:k", "v").await.unwrap();
    }

    cluster.stop();
    let client = redis::Client::open(cluster.url()).unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .expect("a refused connect fails fast");
    assert!(refused.is_err(), "connected to a stopped cluster node");

    cluster.start_again().await;
    assert_eq!(cluster.ports(), ports);
    assert_eq!(cluster.node_of("hg:{stripe}:fq").await, owner);
    let mut cc = cluster.conn().await;
    // Persistence is off: the slots come back, the data does not.
    let v: Option<String> = cc.get("hg:{stripe}:k").await.unwrap();
    assert_eq!(v, None);
}

#[tokio::test]
async fn move_slot_takes_the_keys_along() {
    let cluster = RedisCluster::start().await;
    let mut cc = cluster.conn().await;
    let () = cc.set("hg:{stripe}:a", "1").await.unwrap();
    let () = cc.set("hg:{stripe}:b", "2").await.unwrap();
    let from = cluster.node_of("hg:{stripe}:a").await;
    let to = (from + 1) % 3;
    let mut c = cluster.node_conn(0).await;
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("hg:{stripe}:a")
        .query_async(&mut c)
        .await
        .unwrap();

    cluster.move_slot(slot, to).await;
    assert_eq!(cluster.node_of("hg:{stripe}:a").await, to);
    let mut dst = cluster.node_conn(to).await;
    let a: Option<String> = dst.get("hg:{stripe}:a").await.unwrap();
    let b: Option<String> = dst.get("hg:{stripe}:b").await.unwrap();
    assert_eq!((a.as_deref(), b.as_deref()), (Some("1"), Some("2")));
}

#[tokio::test]
async fn drop_leaves_no_process_and_no_temp_dir() {
    let cluster = RedisCluster::start().await;
    let ports = cluster.ports();
    let dir = cluster.dir();
    for port in &ports {
        assert!(!redis_processes_on(*port).is_empty(), "node {port} runs");
    }
    drop(cluster);
    for port in &ports {
        let left = redis_processes_on(*port);
        assert!(
            left.is_empty(),
            "a cluster node outlived its handle: {left}"
        );
    }
    assert!(!dir.exists(), "temp dir {} was not removed", dir.display());
}
