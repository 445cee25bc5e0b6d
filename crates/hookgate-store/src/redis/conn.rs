//! The store's connections: one Redis, or a Redis Cluster, behind one type.
//!
//! [`Conn`] implements redis-rs's async `ConnectionLike`, so scripts
//! (`ScriptInvocation::invoke_async`), commands and pipelines run on either
//! unchanged. On a cluster, redis-rs routes each command by its first key
//! (a script by its first KEYS entry), follows `MOVED`/`ASK` redirects and
//! refreshes its slot map by itself, and sends a pipeline whole to the node
//! of its first keyed command: every pipeline of the store reads keys of one
//! source, so of one hash tag, so of one slot (a pipeline that spanned slots
//! would be refused with a cross-slot error). `SCRIPT LOAD` after a
//! `NOSCRIPT` goes to every node.
//!
//! TLS (`rediss://`) works for both, with the system roots or the PEM
//! certificates of `[store] ca_file` (rustls, as for subscribers).
//!
//! Both kinds are lazy: [`Store::open`](crate::Store::open) connects to
//! nothing, so the gateway starts (and answers 503) while Redis is down and
//! recovers when it returns. A cluster handle is created on first use (it
//! spawns its connection task, which needs the runtime) and then finds the
//! nodes from the seed URL in the background.

use hookgate_config::{RespProtocol, StoreAddress, StoreTopology, StoreUrl};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// A connection to the store: cheap to clone, multiplexed.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One Redis: an auto-reconnecting multiplexed connection.
    Single(ConnectionManager),
    /// A Redis Cluster: one multiplexed connection per node, slot routing.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// `maxmemory-policy` of every node that holds data: the one Redis, or
    /// every cluster master (replicas are not asked: one that is down must
    /// not block writes). `None` for a node that refuses `CONFIG GET` (as
    /// some managed services do). An error means the store (or a master)
    /// could not be reached.
    pub(crate) async fn maxmemory_policies(&mut self) -> RedisResult<Vec<Option<String>>> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg("maxmemory-policy");
        match self {
            Conn::Single(c) => match cmd.query_async::<Vec<String>>(c).await {
                Ok(reply) => Ok(vec![reply.get(1).cloned()]),
                // Not reached, or not let in (a wrong password is not "CONFIG
                // disabled": the check must run once the login works).
                Err(e)
                    if e.is_io_error()
                        || e.is_timeout()
                        || e.is_connection_refusal()
                        || e.is_connection_dropped()
                        || e.kind() == redis::ErrorKind::AuthenticationFailed
                        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS")) =>
                {
                    Err(e)
                }
                // NOPERM, unknown command (renamed), ...: not allowed here.
                Err(_) => Ok(vec![None]),
            },
            Conn::Cluster(c) => {
                // No response policy: one reply per master, keyed by its
                // address; a master's own refusal comes as a ServerError
                // value, an unreachable master fails the whole call.
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let reply = c.route_command(cmd, routing).await?;
                let Value::Map(per_node) = reply else {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::Client,
                        "unexpected CONFIG GET reply from the cluster",
                    )));
                };
                Ok(per_node
                    .into_iter()
                    .map(|(_, v)| match v {
                        Value::ServerError(_) => None,
                        v => redis::from_redis_value::<Vec<String>>(v)
                            .ok()
                            .and_then(|kv| kv.get(1).cloned()),
                    })
                    .collect())
            }
        }
    }
}

impl Conn {
    /// Whether every node that holds data takes writes now: a script that
    /// may write (`#!lua`, no `no-writes` flag) and writes nothing is run
    /// on the one Redis, or on every cluster master. A Redis at its
    /// `maxmemory` with `noeviction` refuses it with `OOM` (as it refuses
    /// every write), though it still answers PING and CONFIG GET.
    pub(crate) async fn write_probe(&mut self) -> RedisResult<()> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg("#!lua\nreturn 1").arg(0);
        match self {
            Conn::Single(c) => cmd.query_async::<Value>(c).await.map(drop),
            Conn::Cluster(c) => {
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let reply = c.route_command(cmd, routing).await?;
                let Value::Map(per_node) = reply else {
                    return Ok(());
                };
                for (_, v) in per_node {
                    if let Value::ServerError(e) = v {
                        return Err(redis::RedisError::from(e));
                    }
                }
                Ok(())
            }
        }
    }
}

/// The Redis client's connection settings for a store URL the config
/// parsed (the client never reads the URL's text).
fn connection_info(url: &StoreUrl) -> RedisResult<redis::ConnectionInfo> {
    use redis::IntoConnectionInfo;
    let addr = match &url.address {
        StoreAddress::Tcp { host, port } => redis::ConnectionAddr::Tcp(host.clone(), *port),
        StoreAddress::Tls {
            host,
            port,
            insecure,
        } => redis::ConnectionAddr::TcpTls {
            host: host.clone(),
            port: *port,
            insecure: *insecure,
            tls_params: None,
        },
        StoreAddress::Unix(path) => redis::ConnectionAddr::Unix(path.clone()),
    };
    let mut settings = redis::RedisConnectionInfo::default()
        .set_db(url.db)
        .set_protocol(match url.protocol {
            RespProtocol::Resp2 => redis::ProtocolVersion::RESP2,
            RespProtocol::Resp3 => redis::ProtocolVersion::RESP3,
        });
    if let Some(user) = &url.username {
        settings = settings.set_username(user);
    }
    if let Some(password) = &url.password {
        // The config decoded it from UTF-8.
        settings = settings.set_password(String::from_utf8_lossy(password.expose()));
    }
    Ok(addr.into_connection_info()?.set_redis_settings(settings))
}

/// At most one reset of a pool's connections per this interval.
const RESET_INTERVAL: Duration = Duration::from_secs(1);

/// The connections of one store handle.
pub(crate) enum Pool {
    // Boxed: one per store handle, and of very different sizes.
    Single(Box<SinglePool>),
    Cluster(Box<ClusterPool>),
}

/// Connections to one Redis, replaced together when one of them finds its
/// connection lost (see [`Pool::failed`]).
pub(crate) struct SinglePool {
    client: redis::Client,
    config: ConnectionManagerConfig,
    conns: RwLock<Vec<ConnectionManager>>,
    last_reset: Mutex<Option<Instant>>,
    /// Whether every connection was connected since the last reset (see
    /// [`Pool::warm`]).
    warm: AtomicBool,
}

/// Cluster connections, created on first use and replaced after the
/// cluster was unreachable (see [`Pool::failed`]).
pub(crate) struct ClusterPool {
    client: ClusterClient,
    config: ClusterConfig,
    size: usize,
    conns: RwLock<Option<Vec<ClusterConnection>>>,
    /// When the connections were last reset.
    last_reset: Mutex<Option<Instant>>,
}

impl Pool {
    /// `size` lazy connections to `url` (never connects here; never puts the
    /// URL, which may carry a password, in an error).
    pub(crate) fn open(
        url: &StoreUrl,
        topology: StoreTopology,
        timeout: Duration,
        size: usize,
        tls: Option<redis::TlsCertificates>,
    ) -> RedisResult<Pool> {
        let certs = tls;
        let url = connection_info(url)?;
        match topology {
            StoreTopology::Single => {
                let client = match certs {
                    Some(certs) => redis::Client::build_with_tls(url, certs)?,
                    None => redis::Client::open(url)?,
                };
                let manager_cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                let conns = SinglePool::connect(&client, &manager_cfg, size)?;
                Ok(Pool::Single(Box::new(SinglePool {
                    client,
                    config: manager_cfg,
                    conns: RwLock::new(conns),
                    last_reset: Mutex::new(None),
                    warm: AtomicBool::new(false),
                })))
            }
            StoreTopology::Cluster => {
                // Retries cover redirects (MOVED after a failover or a slot
                // migration, ASK during one) and reconnects; they are short
                // so a call still fits in `store_timeout`, which bounds it
                // anyway (`Store::timed`).
                let mut builder = ClusterClient::builder([url]);
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(3)
                    .min_retry_wait(10)
                    .max_retry_wait(250)
                    .build()?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                Ok(Pool::Cluster(Box::new(ClusterPool {
                    client,
                    config,
                    size,
                    conns: RwLock::new(None),
                    last_reset: Mutex::new(None),
                })))
            }
        }
    }

    /// Connection `i` (mod the pool size).
    pub(crate) fn get(&self, i: usize) -> Conn {
        match self {
            Pool::Single(pool) => {
                let conns = pool.conns.read().unwrap_or_else(|p| p.into_inner());
                Conn::Single(conns[i % conns.len()].clone())
            }
            Pool::Cluster(pool) => Conn::Cluster(pool.get(i)),
        }
    }

    /// Connects the pooled connections that never connected (one Redis;
    /// once after the pool was opened or replaced), each with a PING.
    ///
    /// Why: the eviction-policy gate trusts the policy it read until a
    /// connection is found lost (a restarted Redis drops every connection
    /// to it, and the next call on each fails and says so). A lazy
    /// connection that first connects after a restart fails nothing: it
    /// would write into the new Redis, whatever its policy, until the
    /// watcher reads it again. Connected right after the policy was read,
    /// every connection is one whose loss is noticed.
    pub(crate) async fn warm(&self) {
        let Pool::Single(pool) = self else {
            return;
        };
        if pool.warm.swap(true, Ordering::AcqRel) {
            return;
        }
        let conns = pool.conns.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut pings = tokio::task::JoinSet::new();
        for mut c in conns {
            pings.spawn(async move {
                // A failure shows again on the connection's next call.
                let _ = redis::cmd("PING").query_async::<String>(&mut c).await;
            });
        }
        while pings.join_next().await.is_some() {}
    }

    /// Tells the pool a call failed with `err`.
    ///
    /// One Redis: a connection found lost (Redis restarted, or the network
    /// dropped it) means every pooled connection is lost too, and each
    /// would fail one call of its own before it reconnects (`/readyz` and
    /// the admin API answered 503 for as many calls as the pool has
    /// connections after a restart). So all are replaced at once, at most
    /// once a second. Refusals do not reset (nothing to reconnect to). A
    /// login Redis refused resets too: a connection whose login failed keeps
    /// answering that failure and never logs in again by itself (only I/O
    /// errors make it reconnect), so once every pooled connection had tried
    /// while the password was wrong (the eviction-policy watcher tries twice
    /// a second) the store stayed unusable after the password was fixed.
    ///
    /// A cluster: a failure that says nodes could not be reached (refused,
    /// dropped, no connection to any node) replaces the connections, at
    /// most once a second, which ends their background tasks: redis-rs 1.x
    /// retries a failed slot-map refresh in a tight loop while a request
    /// waits and no node answers, which burns a core for as long as the
    /// cluster is down. A fresh connection makes one connection attempt per
    /// call instead. Timeouts do not reset (a slow cluster is not helped by
    /// reconnecting).
    pub(crate) fn failed(&self, err: &redis::RedisError) {
        match self {
            Pool::Single(pool) => {
                if connection_lost(err) || login_refused(err) {
                    pool.reset();
                }
            }
            Pool::Cluster(pool) => {
                if err.is_connection_refusal()
                    || err.is_connection_dropped()
                    || err.kind() == redis::ErrorKind::ClusterConnectionNotFound
                    || login_refused(err)
                {
                    pool.reset();
                }
            }
        }
    }
}

/// Whether `err` says the connection under a call was lost (as opposed to
/// refused, timed out or answered with an error): the call may not have
/// reached Redis, and the caller may retry it once on a fresh connection.
pub(crate) fn connection_lost(err: &redis::RedisError) -> bool {
    err.is_connection_dropped() || (err.is_io_error() && !err.is_connection_refusal())
}

/// Whether Redis refused the connection's login (wrong or missing password).
pub(crate) fn login_refused(err: &redis::RedisError) -> bool {
    err.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(err.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// Claims the pool's reset slot: true at most once per [`RESET_INTERVAL`].
fn may_reset(last: &Mutex<Option<Instant>>) -> bool {
    let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < RESET_INTERVAL) {
        return false;
    }
    *last = Some(now);
    true
}

impl SinglePool {
    fn connect(
        client: &redis::Client,
        config: &ConnectionManagerConfig,
        size: usize,
    ) -> RedisResult<Vec<ConnectionManager>> {
        (0..size)
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect()
    }

    fn reset(&self) {
        if !may_reset(&self.last_reset) {
            return;
        }
        // Lazy: the new connections connect on their first call. Calls
        // still holding an old one finish (or fail) on it.
        let size = self.conns.read().unwrap_or_else(|p| p.into_inner()).len();
        match Self::connect(&self.client, &self.config, size) {
            Ok(fresh) => {
                *self.conns.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                self.warm.store(false, Ordering::Release);
            }
            Err(err) => tracing::debug!(
                request_id = %hookgate_core::trace::new_request_id(),
                error = %err,
                "could not replace the store connections"
            ),
        }
    }
}

impl ClusterPool {
    fn get(&self, i: usize) -> ClusterConnection {
        {
            let conns = self.conns.read().unwrap_or_else(|p| p.into_inner());
            if let Some(conns) = conns.as_ref() {
                return conns[i % conns.len()].clone();
            }
        }
        let mut conns = self.conns.write().unwrap_or_else(|p| p.into_inner());
        let conns = conns.get_or_insert_with(|| {
            // Pending: the nodes are found in the background from the seed.
            (0..self.size)
                .map(|_| {
                    self.client
                        .get_pending_async_connection_with_config(self.config.clone())
                })
                .collect()
        });
        conns[i % conns.len()].clone()
    }

    fn reset(&self) {
        if !may_reset(&self.last_reset) {
            return;
        }
        // Dropped here; each task ends once the calls still holding a clone
        // of its handle have returned.
        let old = self.conns.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::connection_info;
    use redis::IntoConnectionInfo;

    /// The settings built from the config's parsed URL are those the
    /// Redis client builds from the same text.
    #[test]
    fn connection_info_is_the_clients_own() {
        for text in [
            "redis://127.0.0.1:6379",
            "redis://h",
            "REDIS://h:7000/3",
            "valkey://user:p%40ss@[::1]:6380/2?protocol=resp3",
            "rediss://:pw@cache.internal:6380/0",
            "rediss://cache#insecure",
            "valkeys://h/1?protocol=2",
            "unix:///run/redis.sock",
            "redis+unix:///run/redis.sock?db=4&user=u&pass=p&protocol=3",
        ] {
            let ours = connection_info(&text.parse().expect("config parses it")).unwrap();
            let theirs = text.into_connection_info().expect("redis-rs parses it");
            assert_eq!(ours.addr(), theirs.addr(), "{text}");
            let (a, b) = (ours.redis_settings(), theirs.redis_settings());
            assert_eq!(a.db(), b.db(), "{text}");
            assert_eq!(a.username(), b.username(), "{text}");
            assert_eq!(a.password(), b.password(), "{text}");
            assert_eq!(a.protocol(), b.protocol(), "{text}");
        }
    }
}
