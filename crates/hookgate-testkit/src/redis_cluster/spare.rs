//! Spare clusters: spawned ahead so `start` need not wait the 2 s a fresh
//! cluster takes to turn `ok`, each watched by a small `sh` that cleans it
//! up if the test process exits first (see the parent module's docs). Its
//! own module: a process-wide pool with its own lifetime rules.

use super::RedisCluster;
use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// Clusters spawned ahead, oldest first.
static SPARES: Mutex<VecDeque<Spare>> = Mutex::new(VecDeque::new());

/// A cluster spawned ahead, with the watcher that kills it and removes its
/// dir if the test process exits first.
pub(super) struct Spare {
    /// `None` only once handed out.
    cluster: Option<RedisCluster>,
    watcher: Child,
}

impl Spare {
    fn spawn() -> Self {
        let cluster = RedisCluster::spawn_fresh();
        let mut sh = Command::new("sh");
        // Blocks until the pipe from this process closes (it never writes),
        // then kills the nodes (only if they still are redis-server, in
        // case a pid was reused) and removes the dir. Ctrl-C, `timeout` and
        // the like signal the whole process group: it ignores them, so it
        // outlives the test process and still cleans up.
        sh.arg("-c")
            .arg(
                r#"trap '' HUP INT QUIT TERM; read _; d=$1; shift
                for p; do grep -qa redis-server "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p"; done
                rm -rf "$d""#,
            )
            .arg("hookgate-spare-cluster-watcher")
            .arg(cluster.dir.path());
        for node in &cluster.nodes {
            let pid = node.child.as_ref().expect("just spawned").id();
            sh.arg(pid.to_string());
        }
        let watcher = sh
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sh: {e}"));
        Spare {
            cluster: Some(cluster),
            watcher,
        }
    }

    /// The cluster, no longer watched.
    fn into_cluster(mut self) -> RedisCluster {
        self.cluster.take().expect("a spare is handed out once")
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        // The watcher first, so it never acts (its pipe closes as it dies);
        // then the cluster, if still here, drops: nodes killed, dir removed.
        let _ = self.watcher.kill();
        let _ = self.watcher.wait();
    }
}

/// The oldest spare, if any.
pub(super) fn take_spare() -> Option<RedisCluster> {
    let spare = SPARES.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
    spare.map(Spare::into_cluster)
}

/// Spawns spares until there are `target`.
pub(super) fn refill_spares(target: usize) {
    let mut spares = SPARES.lock().unwrap_or_else(|p| p.into_inner());
    while spares.len() < target {
        spares.push_back(Spare::spawn());
    }
}
