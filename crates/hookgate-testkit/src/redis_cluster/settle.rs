//! Waiting for a cluster: for its nodes to answer PING, then for it to
//! settle (see the parent module's docs for what settled means), with the
//! `CLUSTER NODES` parsing that compares the nodes' views. Its own module
//! because it is the one delicate part of starting a cluster, and the part
//! a failure to start quotes.

use super::{NODE_READY_TIMEOUT, RedisCluster, SETTLE_TIMEOUT};
use crate::redis::ping;
use redis::aio::MultiplexedConnection;
use std::time::Duration;
use tokio::time::{Instant, sleep, timeout};

/// How often the nodes are asked while they settle.
const SETTLE_POLL: Duration = Duration::from_millis(20);
/// How long one of those questions may take.
const SETTLE_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

impl RedisCluster {
    /// Waits until each of the nodes `which` answers PONG; an error if one
    /// exits or does not answer within [`NODE_READY_TIMEOUT`].
    pub(super) async fn wait_ready(&mut self, which: &[usize]) -> Result<(), String> {
        let deadline = Instant::now() + NODE_READY_TIMEOUT;
        for &i in which {
            let port = self.nodes[i].port;
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
                    break;
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
        Ok(())
    }

    /// Polls every [`SETTLE_POLL`] until the cluster has settled (see the
    /// module docs), with node i serving `ranges[i]` if given; an error
    /// saying what was last seen unsettled, quoting the logs, after
    /// [`SETTLE_TIMEOUT`].
    pub(super) async fn wait_settled(
        &mut self,
        ranges: Option<&[(u16, u16)]>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut conns: Vec<Option<MultiplexedConnection>> =
            (0..self.nodes.len()).map(|_| None).collect();
        loop {
            for i in 0..self.nodes.len() {
                let exited = self.nodes[i]
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    self.nodes[i].child = None;
                    return Err(format!(
                        "cluster node {i} on port {} exited with {status}; logs:\n{}",
                        self.nodes[i].port,
                        self.logs()
                    ));
                }
            }
            let why = match self.settled(&mut conns, ranges).await {
                Ok(()) => return Ok(()),
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "cluster not settled within {SETTLE_TIMEOUT:?}: {why}; logs:\n{}",
                    self.logs()
                ));
            }
            sleep(SETTLE_POLL).await;
        }
    }

    /// One look at every node: `Ok` if the cluster has settled, else what
    /// is not (yet).
    async fn settled(
        &self,
        conns: &mut [Option<MultiplexedConnection>],
        ranges: Option<&[(u16, u16)]>,
    ) -> Result<(), String> {
        let n = self.nodes.len().to_string();
        // The cheap question first: it fails for the first 2 s anyway.
        let mut epochs = Vec::new();
        for i in 0..self.nodes.len() {
            let info: String = self.settle_query(conns, i, &["CLUSTER", "INFO"]).await?;
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                    .unwrap_or("(missing)")
                    .to_owned()
            };
            for (name, want) in [
                ("cluster_state", "ok"),
                ("cluster_slots_assigned", "16384"),
                ("cluster_slots_ok", "16384"),
                ("cluster_known_nodes", n.as_str()),
                ("cluster_size", n.as_str()),
            ] {
                let seen = field(name);
                if seen != want {
                    return Err(format!("node {i}: {name}:{seen}, not {want}"));
                }
            }
            epochs.push(field("cluster_current_epoch"));
        }
        if epochs.iter().any(|e| *e != epochs[0]) {
            return Err(format!("current epochs differ: {epochs:?}"));
        }

        let mut first: Option<Vec<NodeView>> = None;
        for i in 0..self.nodes.len() {
            let text: String = self.settle_query(conns, i, &["CLUSTER", "NODES"]).await?;
            let view = parse_cluster_nodes(&text);
            self.check_view(&view, ranges)
                .map_err(|e| format!("node {i}: {e}; CLUSTER NODES:\n{text}"))?;
            match &first {
                None => first = Some(view),
                Some(v0) if *v0 == view => {}
                Some(v0) => {
                    return Err(format!("node {i} sees {view:?}, node 0 sees {v0:?}"));
                }
            }
        }

        let mut first: Option<Vec<String>> = None;
        for i in 0..self.nodes.len() {
            let slots: redis::Value = self.settle_query(conns, i, &["CLUSTER", "SLOTS"]).await?;
            // One entry per range, in each node's own order: sorted here.
            let mut ranges: Vec<String> = match slots {
                redis::Value::Array(items) => items.iter().map(|r| format!("{r:?}")).collect(),
                other => return Err(format!("node {i}: CLUSTER SLOTS answered {other:?}")),
            };
            ranges.sort();
            match &first {
                None => first = Some(ranges),
                Some(r0) if *r0 == ranges => {}
                Some(r0) => {
                    return Err(format!(
                        "node {i}: CLUSTER SLOTS {ranges:?}, node 0: {r0:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether one node's `CLUSTER NODES` shows exactly our nodes, as
    /// connected masters and nothing else, with node i serving `ranges[i]`
    /// if given.
    fn check_view(&self, view: &[NodeView], ranges: Option<&[(u16, u16)]>) -> Result<(), String> {
        if view.len() != self.nodes.len() {
            return Err(format!("{} nodes listed", view.len()));
        }
        for v in view {
            let Some(i) = self
                .nodes
                .iter()
                .position(|n| v.addr == format!("127.0.0.1:{}@{}", n.port, n.bus_port))
            else {
                return Err(format!("unknown node {} at {:?}", v.id, v.addr));
            };
            if v.flags != "master" || v.link != "connected" {
                return Err(format!("node {i} is {} and {}", v.flags, v.link));
            }
            if let Some(ranges) = ranges {
                let (lo, hi) = ranges[i];
                if v.slots != [format!("{lo}-{hi}")] {
                    return Err(format!("node {i} serves {:?}, not {lo}-{hi}", v.slots));
                }
            }
        }
        Ok(())
    }

    /// One question to node i while the cluster settles, on a connection
    /// kept across polls (made again after an error), bounded by
    /// [`SETTLE_QUERY_TIMEOUT`].
    async fn settle_query<T: redis::FromRedisValue>(
        &self,
        conns: &mut [Option<MultiplexedConnection>],
        i: usize,
        args: &[&str],
    ) -> Result<T, String> {
        let url = self.node_url(i);
        let slot = &mut conns[i];
        let attempt = async {
            if slot.is_none() {
                let client = redis::Client::open(url.as_str())?;
                *slot = Some(client.get_multiplexed_async_connection().await?);
            }
            let conn = slot.as_mut().expect("connected above");
            command(args).query_async::<T>(conn).await
        };
        let error = match timeout(SETTLE_QUERY_TIMEOUT, attempt).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {SETTLE_QUERY_TIMEOUT:?}"),
        };
        conns[i] = None;
        Err(format!("node {i}: {}: {error}", args.join(" ")))
    }
}

/// One line of `CLUSTER NODES`, minus what changes by the second (pings)
/// and what depends on who is asked (`myself`).
#[derive(Debug, PartialEq, Eq)]
struct NodeView {
    id: String,
    /// `ip:port@bus-port` (a `,hostname` suffix dropped).
    addr: String,
    /// Flags without `myself`, e.g. `master`, `master,fail?`, `handshake`.
    flags: String,
    config_epoch: String,
    link: String,
    /// Slots and ranges served, e.g. `["0-5460"]` (migration marks dropped).
    slots: Vec<String>,
}

/// `CLUSTER NODES` as [`NodeView`]s sorted by node id.
fn parse_cluster_nodes(text: &str) -> Vec<NodeView> {
    let mut out: Vec<NodeView> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let get = |k: usize| f.get(k).copied().unwrap_or("").to_owned();
            let flags: Vec<&str> = f
                .get(2)
                .copied()
                .unwrap_or("")
                .split(',')
                .filter(|flag| *flag != "myself")
                .collect();
            NodeView {
                id: get(0),
                addr: get(1).split(',').next().unwrap_or("").to_owned(),
                flags: flags.join(","),
                config_epoch: get(6),
                link: get(7),
                slots: f
                    .iter()
                    .skip(8)
                    .filter(|s| !s.starts_with('['))
                    .map(|s| (*s).to_owned())
                    .collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// A command from its words.
fn command(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd
}
