//! A throwaway three-master Redis Cluster per test, on free loopback ports.
//!
//! Why this exists: the store's key layout puts every key of a source behind
//! one hash tag so each atomic script stays on one slot, and the gateway can
//! run on a Redis Cluster (`[store] cluster = true`). That is only worth
//! believing against a real cluster, where a command on the wrong node is
//! answered `MOVED` and a script or pipeline that spans slots is refused.
//!
//! What a cluster is: three `redis-server` masters with
//! `--cluster-enabled yes` (persistence off, `noeviction`), each with its
//! own client port and cluster-bus port (`--cluster-port`, Redis >= 7.0;
//! both picked free, never 6379) and its own dir. Each node starts from a
//! `nodes.conf` written for it that lists all three nodes with their
//! addresses, their slots and config epochs 1, 2, 3: node i serves its
//! third of the 16384 slots, the ranges `redis-cli --cluster create` would
//! pick (0-5460, 5461-10922, 10923-16383). So the nodes form the cluster by
//! themselves, the way a cluster comes back after a restart: no
//! `CLUSTER MEET`, no handshakes, no gossip to wait for, no epoch
//! collisions to resolve.
//!
//! When [`RedisCluster::start`] returns, the cluster has settled: on every
//! node `cluster_state:ok`, all 16384 slots assigned and ok, three known
//! nodes, three masters with slots and the same current epoch;
//! `CLUSTER NODES` lists the three nodes as connected masters and nothing
//! else (no handshake, no `fail?`), each node its own range; every node's
//! listing (ids, addresses, config epochs, slots) and `CLUSTER SLOTS` are
//! the same. So a cluster client seeded with any node gets the whole, final
//! slot map at once. It polls for that every 20 ms, bounded.
//! [`RedisCluster::start_again`] and [`RedisCluster::start_node_again`]
//! wait for the same (minus the initial ranges: slots may have moved).
//!
//! Why spares: a master whose cluster state is `fail` does not turn `ok`
//! until 2 s after it started (`CLUSTER_WRITABLE_DELAY`, fixed in Redis),
//! so a cluster cannot settle sooner than 2 s after its processes were
//! spawned. So `start` keeps clusters spawned ahead, from its second call
//! in a test process on (a process that starts one cluster spawns no
//! spare): it takes the oldest spare, usually settled already (then it
//! returns within a few tens of milliseconds), and tops the spares up to
//! as many as it was called before, at most [`SPARE_CLUSTERS`]. The first
//! call, and any that finds no spare left, spawns its own and waits the
//! 2 s. A spare belongs to no test until `start` hands it out, and what it
//! is then does not depend on how long it waited (about 12 MB of memory
//! per node while it waits). (Forming a cluster of nodes that have been up
//! for a while with `CLUSTER ADDSLOTSRANGE` and `CLUSTER MEET` instead
//! would cost 5 s more: a master without slots counts itself in a minority
//! and then refuses to turn `ok` for 5 s after joining. And
//! `redis-cli --cluster create` waits in 1 s steps for gossip: 2 to 7 s in
//! all.)
//!
//! Layout of the temp dir: `node-<i>/` is node i's `--dir` (its
//! `nodes.conf`, so [`RedisCluster::start_again`] brings the same cluster
//! back on the same ports) and `node-<i>.log` its output; the logs and the
//! last state seen are quoted when the cluster fails to come up.
//!
//! Lifetime: [`Drop`] SIGKILLs and reaps every node before the temp dir is
//! removed, also while a failing test unwinds. A spare is watched by a
//! small `sh` (with `grep`, `kill`, `rm` and Linux's `/proc`) that reads a
//! pipe from the test process: when the test process exits, however it
//! ends, the pipe closes and the watcher SIGKILLs the spare's nodes and
//! removes its temp dir. It ignores the signals a Ctrl-C or `timeout`
//! sends the whole process group, so it outlives the test process. It is
//! killed (without acting) when `start` hands the spare out, so a cluster
//! in use is the test's alone. (A test process that is itself SIGKILLed
//! cannot run `Drop`: clusters in use then leak, as a `RedisServer` does.)
//!
//! Code layout: this file spawns, stops and drives the nodes; `settle`
//! waits for them to answer and for the cluster to settle; `spare` keeps
//! the spares.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::time::timeout;

use crate::redis::open_log;

mod settle;
mod spare;

use spare::{refill_spares, take_spare};

/// Masters in the cluster.
pub const CLUSTER_NODES: usize = 3;
/// At most this many clusters are kept spawned ahead (see the module docs).
pub const SPARE_CLUSTERS: usize = 4;
/// The slots node i serves after a start (with config epoch i + 1): the
/// ranges `redis-cli --cluster create` gives three masters (tests rely on
/// which hash tag lands on which node).
const SLOT_RANGES: [(u16, u16); CLUSTER_NODES] = [(0, 5460), (5461, 10922), (10923, 16383)];
/// How long a node gets to answer PING after it is spawned.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the nodes get to settle (see the module docs) once they answer
/// PING; about 2 s after they were spawned is normal.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Whole-cluster attempts (a free port taken by someone else meanwhile).
const ATTEMPTS: usize = 3;

/// Calls of [`RedisCluster::start`] so far in this process.
static STARTS: AtomicUsize = AtomicUsize::new(0);

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
    /// A fresh three-master cluster that has settled (see the module
    /// docs): `cluster_state:ok` on every node, all slots assigned, one slot
    /// map everywhere. Taken from the spares when one is left (about 2 s
    /// faster), else spawned now. Panics (quoting the logs) if
    /// `redis-server` is missing or the cluster does not form within the
    /// bounded waits (three tries, on fresh ports each).
    pub async fn start() -> Self {
        let earlier_starts = STARTS.fetch_add(1, Ordering::Relaxed);
        let mut last_error = String::new();
        for attempt in 0..ATTEMPTS {
            let mut cluster = take_spare().unwrap_or_else(RedisCluster::spawn_fresh);
            if attempt == 0 {
                // None on a process's first call (it may be its only one).
                refill_spares(earlier_starts.min(SPARE_CLUSTERS));
            }
            let all: Vec<usize> = (0..CLUSTER_NODES).collect();
            let result = async {
                cluster.wait_ready(&all).await?;
                cluster.wait_settled(Some(&SLOT_RANGES)).await
            }
            .await;
            match result {
                Ok(()) => return cluster,
                Err(e) => last_error = e,
            }
            // Dropping `cluster` kills its nodes and removes its dir.
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
        let moved = crate::wait::eventually(SETTLE_TIMEOUT, Duration::from_millis(50), || async {
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
    /// until the cluster has settled again (`cluster_state:ok` everywhere,
    /// one slot map).
    pub async fn start_node_again(&mut self, i: usize) {
        self.stop_node(i);
        let result = async {
            self.spawn(i);
            self.wait_ready(&[i]).await?;
            self.wait_settled(None).await
        }
        .await;
        if let Err(e) = result {
            panic!("cluster node {i} did not come back: {e}");
        }
    }

    /// Starts every node again on the same ports with the same `nodes.conf`
    /// (so the same slots, data gone: persistence is off) and waits until
    /// the cluster has settled again (`cluster_state:ok` everywhere, one
    /// slot map). Stops it first if it is running.
    pub async fn start_again(&mut self) {
        self.stop();
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        let result = async {
            for &i in &all {
                self.spawn(i);
            }
            self.wait_ready(&all).await?;
            self.wait_settled(None).await
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

    /// Everything the nodes have logged.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for i in 0..self.nodes.len() {
            out.push_str(&format!("--- node {i} ---\n"));
            out.push_str(&fs::read_to_string(self.log_path(i)).unwrap_or_default());
        }
        out
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}"))
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}.log"))
    }

    /// A new cluster, spawned but not waited for: fresh ports and temp dir,
    /// each node's `nodes.conf` written (see the module docs), all nodes
    /// spawned at once.
    fn spawn_fresh() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookgate-redis-cluster-")
            .tempdir()
            .expect("create temp dir for the redis cluster");
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            dir,
        };
        // Ports held while picking, so the six are distinct.
        let mut held = Vec::new();
        for _ in 0..CLUSTER_NODES {
            let mut pick = || {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
                let port = l.local_addr().expect("local addr").port();
                held.push(l);
                port
            };
            let (port, bus_port) = (pick(), pick());
            assert!(port != 6379 && bus_port != 6379);
            cluster.nodes.push(Node {
                port,
                bus_port,
                child: None,
            });
        }
        drop(held);
        let ids: Vec<String> = cluster.nodes.iter().map(|n| node_id(n.port)).collect();
        for i in 0..CLUSTER_NODES {
            let mut conf = String::new();
            for (j, node) in cluster.nodes.iter().enumerate() {
                let flags = if i == j { "myself,master" } else { "master" };
                let (lo, hi) = SLOT_RANGES[j];
                // id addr flags master ping-sent pong-recv config-epoch
                // link-state slots
                conf.push_str(&format!(
                    "{} 127.0.0.1:{}@{} {flags} - 0 0 {} connected {lo}-{hi}\n",
                    ids[j],
                    node.port,
                    node.bus_port,
                    j + 1
                ));
            }
            conf.push_str(&format!(
                "vars currentEpoch {CLUSTER_NODES} lastVoteEpoch 0\n"
            ));
            let dir = cluster.node_dir(i);
            fs::create_dir(&dir).expect("create cluster node dir");
            fs::write(dir.join("nodes.conf"), conf).expect("write nodes.conf");
        }
        for i in 0..CLUSTER_NODES {
            cluster.spawn(i);
        }
        cluster
    }

    /// Spawns node i (its output appended to its log), not waiting for it.
    fn spawn(&mut self, i: usize) {
        debug_assert!(self.nodes[i].child.is_none(), "spawn over a running node");
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
        self.nodes[i].child = Some(child);
    }
}

/// A random-looking 40-hex-digit cluster node id (unique per process,
/// port and moment).
fn node_id(port: u16) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!(
        "{}-{port}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    hex::encode(&Sha256::digest(seed.as_bytes())[..20])
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
