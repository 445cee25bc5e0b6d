//! A throwaway three-master Redis Cluster per test, on free loopback ports.
//!
//! Why this exists: the store's key layout puts every key of a source behind
//! one hash tag so each atomic script stays on one slot, and the gateway can
//! run on a Redis Cluster (`[store] cluster = true`). That is only worth
//! believing against a real cluster, where a command on the wrong node is
//! answered `MOVED` and a script or pipeline that spans slots is refused.
//!
//! What [`RedisCluster::start`] does: three `redis-server` masters with
//! `--cluster-enabled yes` (persistence off, `noeviction`), each with its
//! own client port and cluster-bus port (`--cluster-port`, Redis >= 7.0;
//! both picked free, never 6379) and its own dir for `nodes.conf`; then
//! `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`
//! spreads the 16384 slots over them; then it waits until every node
//! reports `cluster_state:ok`. Every wait is bounded.
//!
//! Layout of the temp dir: `node-<i>/` is node i's `--dir` (its
//! `nodes.conf`, so [`RedisCluster::start_again`] brings the same cluster
//! back on the same ports), `node-<i>.log` its output, and `create.log`
//! the output of `redis-cli --cluster create`; they are quoted when the
//! cluster fails to come up.
//!
//! Lifetime: [`Drop`] SIGKILLs and reaps every node before the temp dir is
//! removed, also while a failing test unwinds.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::time::{Instant, sleep, timeout};

use crate::redis::{open_log, ping};

/// Masters in the cluster.
pub const CLUSTER_NODES: usize = 3;
/// How long a node gets to answer PING after it is spawned.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `redis-cli --cluster create` may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long every node gets to report `cluster_state:ok`.
const STATE_OK_TIMEOUT: Duration = Duration::from_secs(30);
/// Whole-cluster attempts (a free port taken by someone else meanwhile).
const ATTEMPTS: usize = 3;

/// One master: its ports and process.
#[derive(Debug)]
struct Node {
    port: u16,
    bus_port: u16,
    /// `None` only while stopped.
    child: Option<Child>,
}

/// A three-master Redis Cluster of child processes on `127.0.0.1`.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    // Last, so it is removed after the nodes were killed in `Drop`.
    dir: TempDir,
}

impl RedisCluster {
    /// Starts three masters, creates the cluster and waits for
    /// `cluster_state:ok` on every node. Panics (quoting the logs) if
    /// `redis-server` or `redis-cli` is missing or the cluster does not form
    /// within the bounded waits.
    pub async fn start() -> Self {
        let mut last_error = String::new();
        for _ in 0..ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("hookgate-redis-cluster-")
                .tempdir()
                .expect("create temp dir for the redis cluster");
            let mut cluster = RedisCluster {
                nodes: Vec::new(),
                dir,
            };
            match cluster.form().await {
                Ok(()) => return cluster,
                Err(e) => last_error = e,
            }
            // Dropping `cluster` kills whatever started.
        }
        panic!("redis cluster did not form after {ATTEMPTS} attempts: {last_error}");
    }

    /// The seed URL the store is given: `redis://127.0.0.1:<first node>`.
    pub fn url(&self) -> String {
        self.node_url(0)
    }

    /// `redis://127.0.0.1:<port of node i>`.
    pub fn node_url(&self, i: usize) -> String {
        format!("redis://127.0.0.1:{}", self.nodes[i].port)
    }

    /// Client ports of the nodes, in node order.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// A plain (non-cluster) connection to node i, for `CLUSTER ...`
    /// commands and reads of the keys that node holds. Panics if none is
    /// made within 10 s.
    pub async fn node_conn(&self, i: usize) -> redis::aio::MultiplexedConnection {
        let url = self.node_url(i);
        let client = redis::Client::open(url.as_str()).expect("node url is valid");
        match timeout(
            NODE_READY_TIMEOUT,
            client.get_multiplexed_async_connection(),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => panic!("connect to {url}: {e}"),
            Err(_) => panic!("connect to {url}: timed out after {NODE_READY_TIMEOUT:?}"),
        }
    }

    /// A cluster connection (slot routing, redirects followed), for raw
    /// reads of any key. Panics if none is made within 10 s.
    pub async fn conn(&self) -> redis::cluster_async::ClusterConnection {
        let client = redis::cluster::ClusterClient::new([self.url()]).expect("seed url is valid");
        match timeout(NODE_READY_TIMEOUT, client.get_async_connection()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => panic!("connect to the cluster at {}: {e}", self.url()),
            Err(_) => panic!(
                "connect to the cluster at {}: timed out after {NODE_READY_TIMEOUT:?}",
                self.url()
            ),
        }
    }

    /// Index of the node that serves `key`'s slot now (asks node 0 for the
    /// slot and `CLUSTER SLOTS` for its owner).
    pub async fn node_of(&self, key: &str) -> usize {
        let mut c = self.node_conn(0).await;
        let slot: u16 = cmd_bounded(redis::cmd("CLUSTER").arg("KEYSLOT").arg(key), &mut c).await;
        self.node_of_slot(slot).await
    }

    /// Index of the node that serves `slot` now.
    pub async fn node_of_slot(&self, slot: u16) -> usize {
        let mut c = self.node_conn(0).await;
        let ranges: Vec<redis::Value> =
            cmd_bounded(redis::cmd("CLUSTER").arg("SLOTS"), &mut c).await;
        for range in ranges {
            let redis::Value::Array(parts) = range else {
                continue;
            };
            let (Some(lo), Some(hi), Some(master)) = (parts.first(), parts.get(1), parts.get(2))
            else {
                continue;
            };
            let lo: u16 = redis::from_redis_value(lo.clone()).expect("slot range start");
            let hi: u16 = redis::from_redis_value(hi.clone()).expect("slot range end");
            if !(lo..=hi).contains(&slot) {
                continue;
            }
            let (_, port): (String, u16) = match master {
                redis::Value::Array(m) => (
                    redis::from_redis_value(m[0].clone()).expect("master host"),
                    redis::from_redis_value(m[1].clone()).expect("master port"),
                ),
                other => panic!("CLUSTER SLOTS master entry: {other:?}"),
            };
            return self
                .nodes
                .iter()
                .position(|n| n.port == port)
                .unwrap_or_else(|| panic!("slot {slot} is served by unknown port {port}"));
        }
        panic!("slot {slot} is not served by any node");
    }

    /// Moves `slot`, with its keys, to node `to` the way a resharding does
    /// (`IMPORTING`/`MIGRATING`, `MIGRATE`, `SETSLOT NODE` on every node),
    /// so a client that cached the old owner is answered `MOVED`.
    pub async fn move_slot(&self, slot: u16, to: usize) {
        let from = self.node_of_slot(slot).await;
        if from == to {
            return;
        }
        let mut src = self.node_conn(from).await;
        let mut dst = self.node_conn(to).await;
        let src_id: String = cmd_bounded(redis::cmd("CLUSTER").arg("MYID"), &mut src).await;
        let dst_id: String = cmd_bounded(redis::cmd("CLUSTER").arg("MYID"), &mut dst).await;
        let () = cmd_bounded(
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("IMPORTING")
                .arg(&src_id),
            &mut dst,
        )
        .await;
        let () = cmd_bounded(
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("MIGRATING")
                .arg(&dst_id),
            &mut src,
        )
        .await;
        loop {
            let keys: Vec<String> = cmd_bounded(
                redis::cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(slot)
                    .arg(100),
                &mut src,
            )
            .await;
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate
                .arg("127.0.0.1")
                .arg(self.nodes[to].port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys);
            let _: redis::Value = cmd_bounded(&migrate, &mut src).await;
        }
        for i in 0..self.nodes.len() {
            let mut c = self.node_conn(i).await;
            let () = cmd_bounded(
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("NODE")
                    .arg(&dst_id),
                &mut c,
            )
            .await;
        }
        let moved =
            crate::wait::eventually(STATE_OK_TIMEOUT, Duration::from_millis(50), || async {
                self.node_of_slot(slot).await == to
            })
            .await;
        assert!(moved, "slot {slot} did not move to node {to}");
    }

    /// Kills every node (SIGKILL, like a crash) and reaps it. `nodes.conf`
    /// stays, so [`Self::start_again`] brings the same cluster back.
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                // Errors mean it already exited; `wait` still reaps it.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Kills node i alone (SIGKILL): its slots are unserved (there are no
    /// replicas to fail over to) until [`Self::start_node_again`].
    pub fn stop_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node i again (same port, same `nodes.conf`, empty) and waits
    /// for `cluster_state:ok` everywhere.
    pub async fn start_node_again(&mut self, i: usize) {
        self.stop_node(i);
        let result = async {
            self.spawn_node(i).await?;
            self.wait_state_ok().await
        }
        .await;
        if let Err(e) = result {
            panic!("cluster node {i} did not come back: {e}");
        }
    }

    /// Starts every node again on the same ports with the same `nodes.conf`
    /// (so the same slots, data gone: persistence is off) and waits for
    /// `cluster_state:ok` everywhere. Stops it first if it is running.
    pub async fn start_again(&mut self) {
        self.stop();
        let result = async {
            for i in 0..self.nodes.len() {
                self.spawn_node(i).await?;
            }
            self.wait_state_ok().await
        }
        .await;
        if let Err(e) = result {
            panic!("redis cluster did not come back: {e}");
        }
    }

    /// The temp dir holding the nodes' dirs and logs (removed on drop).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Everything the nodes and `redis-cli --cluster create` have logged.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for i in 0..self.nodes.len() {
            out.push_str(&format!("--- node {i} ---\n"));
            out.push_str(&fs::read_to_string(self.log_path(i)).unwrap_or_default());
        }
        out.push_str("--- redis-cli --cluster create ---\n");
        out.push_str(&fs::read_to_string(self.dir.path().join("create.log")).unwrap_or_default());
        out
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}"))
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}.log"))
    }

    /// Picks ports, spawns the nodes, creates the cluster, waits for ok.
    async fn form(&mut self) -> Result<(), String> {
        // Ports held while picking, so the six are distinct.
        let mut held = Vec::new();
        for i in 0..CLUSTER_NODES {
            let mut pick = || {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
                let port = l.local_addr().expect("local addr").port();
                held.push(l);
                port
            };
            let (port, bus_port) = (pick(), pick());
            assert!(port != 6379 && bus_port != 6379);
            fs::create_dir(self.node_dir(i)).map_err(|e| format!("create node dir: {e}"))?;
            self.nodes.push(Node {
                port,
                bus_port,
                child: None,
            });
        }
        drop(held);
        for i in 0..CLUSTER_NODES {
            self.spawn_node(i).await?;
        }
        self.create().await?;
        self.wait_state_ok().await
    }

    /// Spawns node i and waits for PONG.
    async fn spawn_node(&mut self, i: usize) -> Result<(), String> {
        let log = open_log(&self.log_path(i));
        let node = &self.nodes[i];
        let child = Command::new("redis-server")
            .args(["--port", &node.port.to_string()])
            .args(["--cluster-port", &node.bus_port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--maxmemory-policy", "noeviction"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.node_dir(i))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn redis-server (is it installed?): {e}"));
        let port = node.port;
        self.nodes[i].child = Some(child);

        let deadline = Instant::now() + NODE_READY_TIMEOUT;
        loop {
            let exited = self.nodes[i]
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.nodes[i].child = None;
                return Err(format!(
                    "cluster node {i} on port {port} exited with {status}; logs:\n{}",
                    self.logs()
                ));
            }
            if ping(port).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "cluster node {i} on port {port} did not answer PING within \
                     {NODE_READY_TIMEOUT:?}; logs:\n{}",
                    self.logs()
                ));
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// `redis-cli --cluster create`, bounded by [`CREATE_TIMEOUT`].
    async fn create(&mut self) -> Result<(), String> {
        let log = open_log(&self.dir.path().join("create.log"));
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--cluster", "create"]);
        for node in &self.nodes {
            cmd.arg(format!("127.0.0.1:{}", node.port));
        }
        let mut child = cmd
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn redis-cli (is it installed?): {e}"));
        let deadline = Instant::now() + CREATE_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(format!(
                        "redis-cli --cluster create exited with {status}; logs:\n{}",
                        self.logs()
                    ));
                }
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "redis-cli --cluster create did not finish within {CREATE_TIMEOUT:?}; \
                         logs:\n{}",
                        self.logs()
                    ));
                }
                Ok(None) => sleep(Duration::from_millis(50)).await,
                Err(e) => return Err(format!("wait for redis-cli: {e}")),
            }
        }
    }

    /// Waits until every node reports `cluster_state:ok` and knows every
    /// master's slots.
    async fn wait_state_ok(&self) -> Result<(), String> {
        let deadline = Instant::now() + STATE_OK_TIMEOUT;
        let mut last = String::new();
        loop {
            let mut all_ok = true;
            for i in 0..self.nodes.len() {
                match self.cluster_info(i).await {
                    Some(info) if info.contains("cluster_state:ok") => {}
                    Some(info) => {
                        all_ok = false;
                        last = format!("node {i}: {}", info.lines().next().unwrap_or(""));
                    }
                    None => {
                        all_ok = false;
                        last = format!("node {i}: no answer to CLUSTER INFO");
                    }
                }
            }
            if all_ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "cluster not ok within {STATE_OK_TIMEOUT:?} ({last}); logs:\n{}",
                    self.logs()
                ));
            }
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// `CLUSTER INFO` of node i, or `None` if it does not answer in 1 s.
    async fn cluster_info(&self, i: usize) -> Option<String> {
        let url = self.node_url(i);
        let attempt = async {
            let client = redis::Client::open(url.as_str()).ok()?;
            let mut c = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async::<String>(&mut c)
                .await
                .ok()
        };
        timeout(Duration::from_secs(1), attempt)
            .await
            .ok()
            .flatten()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        // Kill and reap before `dir` is removed.
        self.stop();
    }
}

/// Runs one command on a node, failing the test on an error or after 10 s.
async fn cmd_bounded<T: redis::FromRedisValue>(
    cmd: &redis::Cmd,
    conn: &mut redis::aio::MultiplexedConnection,
) -> T {
    match timeout(NODE_READY_TIMEOUT, cmd.query_async::<T>(conn)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("cluster command failed: {e}"),
        Err(_) => panic!("cluster command: no answer within {NODE_READY_TIMEOUT:?}"),
    }
}
