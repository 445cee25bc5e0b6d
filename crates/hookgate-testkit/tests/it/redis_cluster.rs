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

/// The slot ranges a fresh cluster's nodes serve, in node order.
const RANGES: [(i64, i64); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

#[tokio::test]
async fn as_soon_as_start_returns_every_node_gives_the_whole_slot_map() {
    // Several in a row, so some are spawned by the call and some come from
    // the spares (see the module docs): they must not differ.
    for _ in 0..4 {
        let cluster = RedisCluster::start().await;
        let ports = cluster.ports();
        let mut ids = Vec::new();
        for i in 0..3 {
            let mut c = cluster.node_conn(i).await;
            let id: String = redis::cmd("CLUSTER")
                .arg("MYID")
                .query_async(&mut c)
                .await
                .unwrap();
            ids.push(id);
        }
        for i in 0..3 {
            let mut c = cluster.node_conn(i).await;
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut c)
                .await
                .unwrap();
            for want in [
                "cluster_state:ok",
                "cluster_slots_assigned:16384",
                "cluster_known_nodes:3",
                "cluster_size:3",
                "cluster_current_epoch:3",
            ] {
                assert!(info.contains(want), "node {i}: no {want} in {info}");
            }
            // Node j serves its third, config epoch j + 1, on every node's map.
            let slots: Vec<(i64, i64, (String, u16, String))> = {
                let raw: Vec<redis::Value> = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                let mut out: Vec<_> = raw
                    .into_iter()
                    .map(|r| {
                        let redis::Value::Array(parts) = r else {
                            panic!("node {i}: CLUSTER SLOTS entry {r:?}");
                        };
                        let lo: i64 = redis::from_redis_value(parts[0].clone()).unwrap();
                        let hi: i64 = redis::from_redis_value(parts[1].clone()).unwrap();
                        let redis::Value::Array(m) = &parts[2] else {
                            panic!("node {i}: master entry {:?}", parts[2]);
                        };
                        let master: (String, u16, String) = (
                            redis::from_redis_value(m[0].clone()).unwrap(),
                            redis::from_redis_value(m[1].clone()).unwrap(),
                            redis::from_redis_value(m[2].clone()).unwrap(),
                        );
                        (lo, hi, master)
                    })
                    .collect();
                out.sort();
                out
            };
            let want: Vec<_> = (0..3)
                .map(|j| {
                    let (lo, hi) = RANGES[j];
                    (lo, hi, ("127.0.0.1".to_owned(), ports[j], ids[j].clone()))
                })
                .collect();
            assert_eq!(slots, want, "node {i}");
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut c)
                .await
                .unwrap();
            for line in nodes.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                let j = ids.iter().position(|id| id == f[0]).expect("a known id");
                let flags = f[2].replace("myself,", "");
                assert_eq!(
                    (flags.as_str(), f[6], f[7]),
                    ("master", (j + 1).to_string().as_str(), "connected"),
                    "node {i}: {line}"
                );
            }
        }

        // A cluster client seeded with any node reaches every node's keys at
        // once, and nothing is left over from before.
        for seed in 0..3 {
            let client = redis::cluster::ClusterClient::new([cluster.node_url(seed)]).unwrap();
            let mut cc = client.get_async_connection().await.unwrap();
            for tag in ["stripe", "github", "shopify"] {
                let key = format!("hg:{{{tag}}}:seed{seed}");
                let before: Option<String> = cc.get(&key).await.unwrap();
                assert_eq!(before, None);
                let () = cc.set(&key, "v").await.unwrap();
            }
        }
        for i in 0..3 {
            let mut c = cluster.node_conn(i).await;
            let keys: i64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
            assert_eq!(keys, 3, "node {i}: one key per seed");
            assert!(cluster.dir().join(format!("node-{i}/nodes.conf")).exists());
        }
    }
}

/// Set for the child process that runs `spares_child`.
const SPARES_CHILD: &str = "HOOKGATE_TESTKIT_SPARES_CHILD";

/// The child's part of `spares_die_with_the_test_process_even_when_it_is_killed`
/// (the same test, run again in a child process with [`SPARES_CHILD`]
/// set): starts two clusters (so one spare is kept), drops them, prints the
/// spare's nodes (`SPARE <pid> <dir>`) and waits to be killed.
async fn spares_child() {
    drop(RedisCluster::start().await);
    drop(RedisCluster::start().await);
    // Every redis-server child left is a spare's node; its cwd is its dir.
    // (One that could not bind its port has exited: no cwd, not listed.)
    let out = std::process::Command::new("pgrep")
        .args(["-P", &std::process::id().to_string(), "redis-server"])
        .output()
        .expect("run pgrep");
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Ok(dir) = std::fs::read_link(format!("/proc/{pid}/cwd")) {
            println!("SPARE {pid} {}", dir.parent().unwrap().display());
        }
    }
    println!("READY");
    tokio::time::sleep(Duration::from_secs(60)).await;
}

/// Runs `spares_child` in a child process of its own process group,
/// returns the spare's nodes (pid, temp dir) once it printed them, and the
/// child.
async fn child_with_a_spare() -> (tokio::process::Child, Vec<(String, std::path::PathBuf)>) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "redis_cluster::spares_die_with_the_test_process_even_when_it_is_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SPARES_CHILD, "1")
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut spares = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.ends_with("READY") {
                return;
            }
            // The first may follow the harness's "test ... " on its line.
            if let Some((_, rest)) = line.split_once("SPARE ") {
                let (pid, dir) = rest.split_once(' ').unwrap();
                spares.push((pid.to_owned(), std::path::PathBuf::from(dir)));
            }
        }
        panic!("the child ended before READY");
    };
    tokio::time::timeout(crate::SOON, read)
        .await
        .expect("the child printed its spares");
    assert!(!spares.is_empty(), "the child kept no spare");
    for (pid, dir) in &spares {
        assert!(is_redis_server(pid), "{pid}");
        assert!(dir.exists(), "{}", dir.display());
    }
    (child, spares)
}

fn is_redis_server(pid: &str) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains("redis-server")
}

/// Waits until no spare node runs and no spare dir is left.
async fn assert_spares_gone(spares: &[(String, std::path::PathBuf)], how: &str) {
    let gone = hookgate_testkit::wait::eventually(crate::SOON, Duration::from_millis(20), || {
        let all_gone = spares
            .iter()
            .all(|(pid, dir)| !is_redis_server(pid) && !dir.exists());
        async move { all_gone }
    })
    .await;
    assert!(
        gone,
        "a spare outlived the test process ({how}): {spares:?}"
    );
}

#[tokio::test]
async fn spares_die_with_the_test_process_even_when_it_is_killed() {
    if std::env::var_os(SPARES_CHILD).is_some() {
        return spares_child().await;
    }
    let ((mut killed, killed_spares), (mut interrupted, interrupted_spares)) =
        tokio::join!(child_with_a_spare(), child_with_a_spare());

    // SIGKILL: no Drop, no exit; the nodes themselves get no signal.
    killed.kill().await.unwrap();
    // Ctrl-C: SIGINT to the whole process group, the watchers' included.
    let pgid = interrupted.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = tokio::time::timeout(crate::SOON, interrupted.wait()).await;

    assert_spares_gone(&killed_spares, "SIGKILL").await;
    assert_spares_gone(&interrupted_spares, "SIGINT to its group").await;
}
