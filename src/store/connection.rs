//! How the Redis store talks to Redis: one server, the master a set of Redis Sentinels name,
//! or a Redis Cluster, over `redis://` or `rediss://` (TLS). [`RedisConnector`] builds
//! connections; [`RedisConnection`] is one of them, the same type in every mode, so every
//! store method runs unchanged on each.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Role, Value};

use super::connector::RedisConnector;
use super::sentinel::{PinnedMaster, SentinelMaster};

/// How long the shared connection waits to connect and for each answer. A store that does
/// not answer in time counts as unavailable (503), never as a hung request.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection to Redis: a single server's auto-reconnecting [`ConnectionManager`], a
/// cluster connection that routes each command to the node owning its key's hash slot, or
/// the store's shared connection, which hands each command to the calling thread's own
/// connection where that thread has one. Cloning is cheap and shares the underlying
/// (multiplexed) connections.
#[derive(Clone)]
pub enum RedisConnection {
    /// One server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
    /// The store's connection: see [`RedisConnection::bind_this_thread`].
    PerThread(Arc<PerThread>),
    /// The master Redis Sentinels name, found again after a failover.
    Sentinel(Arc<SentinelMaster>),
    /// One connection to the master the Sentinels named when it was taken
    /// ([`RedisConnection::pinned`]).
    Pinned(PinnedMaster),
}

/// Whether a replica holds a connection's writes ([`RedisConnection::replication`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// The master has no replica connected: nothing can confirm the writes (what that means
    /// is the caller's to decide: see `RedisStore::durable`).
    NoReplicas,
    /// At least one replica acknowledged every write made so far on the connection.
    Confirmed,
    /// The master has replicas, but none acknowledged in time.
    Unconfirmed {
        /// Replicas connected to the master.
        replicas: usize,
    },
}

/// One connection for every thread, and one of its own for each thread bound to it.
pub struct PerThread {
    id: u64,
    shared: RedisConnection,
    connector: RedisConnector,
}

static PER_THREAD_IDS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The calling thread's own connection, and which [`PerThread`] it belongs to.
    static BOUND: RefCell<Option<(u64, RedisConnection)>> = const { RefCell::new(None) };
}

impl RedisConnection {
    /// Gives the calling thread a connection of its own to the same Redis, used from then on
    /// by every command this thread sends through this connection (or a clone of it). Call it
    /// on a thread that runs its own async runtime for its whole life — an HTTP worker: the
    /// connection's driver then runs on that thread, and a command and its answer cost no
    /// wake-up of another thread (on a small or virtualised machine those wake-ups, not
    /// Redis, were what a link request waited on; bench/RESULTS.md). Other threads keep
    /// using the shared connection. A no-op for any other kind of connection, or when the
    /// connection cannot be set up (the shared one is used then).
    pub fn bind_this_thread(&self) {
        let Self::PerThread(per_thread) = self else { return };
        match per_thread.connector.connection(Some(STORE_TIMEOUT)) {
            Ok(own) => BOUND.with_borrow_mut(|bound| *bound = Some((per_thread.id, own))),
            Err(e) => tracing::warn!(error = %e, "no Redis connection of this thread's own; using the shared one"),
        }
    }
}

impl RedisConnection {
    /// Sends `cmd` to every node (one server: that server; a cluster: every node, replicas
    /// too) and returns each node's address with its answer.
    pub async fn on_every_node(&self, cmd: &Cmd) -> redis::RedisResult<Vec<(String, Value)>> {
        match self {
            Self::Single(c) => {
                let answer = cmd.query_async::<Value>(&mut c.clone()).await?;
                Ok(vec![("server".to_owned(), answer)])
            }
            Self::Cluster(c) => {
                use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllNodes, None));
                let answer = c.clone().route_command(cmd.clone(), routing).await?;
                node_answers(answer)
            }
            Self::PerThread(p) => Box::pin(p.shared.on_every_node(cmd)).await,
            // The master the Sentinels name (replicas are not asked).
            Self::Sentinel(_) | Self::Pinned(_) => {
                let answer = cmd.query_async::<Value>(&mut self.clone()).await?;
                Ok(vec![("master".to_owned(), answer)])
            }
        }
    }

    /// Every key matching `pattern`, from every master (`SCAN`, so Redis is never blocked).
    pub async fn scan_keys(&self, pattern: &str) -> redis::RedisResult<Vec<String>> {
        match self {
            Self::Single(_) => scan_node(&mut self.clone(), pattern, None).await,
            Self::Cluster(c) => {
                use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let masters = node_answers(c.clone().route_command(redis::cmd("PING"), routing).await?)?;
                let mut keys = Vec::new();
                for (address, _) in masters {
                    keys.extend(scan_node(&mut Self::Cluster(c.clone()), pattern, Some(&address)).await?);
                }
                Ok(keys)
            }
            Self::PerThread(p) => Box::pin(p.shared.scan_keys(pattern)).await,
            Self::Sentinel(_) | Self::Pinned(_) => scan_node(&mut self.clone(), pattern, None).await,
        }
    }
}

/// A multi-node answer (a map of node address to answer) as pairs.
fn node_answers(answer: Value) -> redis::RedisResult<Vec<(String, Value)>> {
    match answer {
        Value::Map(pairs) => {
            pairs.into_iter().map(|(node, answer)| Ok((redis::from_redis_value::<String>(node)?, answer))).collect()
        }
        other => Ok(vec![("node".to_owned(), other)]),
    }
}

/// `SCAN` through one server, or (`address` = `host:port`) through one node of a cluster.
async fn scan_node(
    conn: &mut RedisConnection,
    pattern: &str,
    address: Option<&str>,
) -> redis::RedisResult<Vec<String>> {
    use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000);
        let (next, batch): (u64, Vec<String>) = match (&mut *conn, address) {
            (RedisConnection::Cluster(c), Some(address)) => {
                let (host, port) = address.rsplit_once(':').unwrap_or((address, ""));
                let port = port.parse().map_err(|_| {
                    redis::RedisError::from((redis::ErrorKind::Client, "a cluster node address has no port"))
                })?;
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.to_owned(), port });
                redis::from_redis_value(c.route_command(scan, routing).await?)?
            }
            (conn, _) => scan.query_async(conn).await?,
        };
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

impl PerThread {
    /// `shared` for every thread, and `connector` to make each bound thread's own.
    pub(super) fn new(shared: RedisConnection, connector: RedisConnector) -> Self {
        Self { id: PER_THREAD_IDS.fetch_add(1, Ordering::Relaxed), shared, connector }
    }

    /// The connection a command from the calling thread goes through.
    fn current(&self) -> RedisConnection {
        BOUND.with_borrow(|bound| match bound {
            Some((id, own)) if *id == self.id => own.clone(),
            _ => self.shared.clone(),
        })
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::PerThread(p) => {
                let mut conn = p.current();
                Box::pin(async move { conn.req_packed_command(cmd).await })
            }
            Self::Sentinel(s) => Box::pin(async move { s.master().await?.req_packed_command(cmd).await }),
            Self::Pinned(p) => p.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::PerThread(p) => {
                let mut conn = p.current();
                Box::pin(async move { conn.req_packed_commands(pipeline, offset, count).await })
            }
            Self::Sentinel(s) => {
                Box::pin(async move { s.master().await?.req_packed_commands(pipeline, offset, count).await })
            }
            Self::Pinned(p) => p.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::PerThread(p) => p.shared.get_db(),
            Self::Sentinel(s) => s.db(),
            Self::Pinned(p) => p.get_db(),
        }
    }
}

impl RedisConnection {
    /// This connection as it is now, for a write and the [`RedisConnection::replication`]
    /// check that must follow it on the same connection (`WAIT` counts what the replicas
    /// acknowledged of the writes made on its own connection). The calling thread's own
    /// connection for the store's; for Sentinel, the connection to the current master, which
    /// fails rather than move to a new master. A single server's connection reconnects by
    /// itself and a cluster's is one connection per node, so both are returned as they are.
    pub async fn pinned(&self) -> RedisResult<RedisConnection> {
        let conn = match self {
            Self::PerThread(p) => p.current(),
            other => other.clone(),
        };
        Ok(match conn {
            Self::Sentinel(s) => Self::Pinned(s.master().await?),
            other => other,
        })
    }

    /// Whether a replica holds the writes made so far on the master that owns `key`: asks
    /// the master for its replicas (`ROLE`) and, when it has any, waits up to `timeout` for
    /// one to acknowledge (`WAIT 1 <ms>`). Call it on a [`RedisConnection::pinned`]
    /// connection, after the writes.
    ///
    /// `WAIT` counts the writes of its own connection. So that it counts every write the
    /// master took before — the caller's, and an earlier one another connection made and no
    /// replica confirmed (a request that answered 503, repeated) — a small write to `mark`
    /// goes first, in the same round trip as `ROLE`: the replication stream is one ordered
    /// log, and a replica that acknowledges the mark holds everything before it. In a
    /// cluster, `ROLE` and `WAIT` go to the master of `key`'s slot and no mark is written
    /// (it would live on another node): there `WAIT` confirms this connection's writes to
    /// that node.
    pub async fn replication(&mut self, key: &str, mark: &str, timeout: Duration) -> RedisResult<Replication> {
        let role: Role = match self {
            Self::Cluster(_) => self.on_master_of(key, redis::cmd("ROLE")).await?,
            _ => {
                let (role,): (Role,) = redis::pipe()
                    .cmd("SET")
                    .arg(mark)
                    .arg(1)
                    .arg("EX")
                    .arg(3600)
                    .ignore()
                    .cmd("ROLE")
                    .query_async(self)
                    .await?;
                role
            }
        };
        let replicas = match role {
            Role::Primary { replicas, .. } => replicas.len(),
            _ => {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
                    "the server that took the write is not a master",
                )));
            }
        };
        if replicas == 0 {
            return Ok(Replication::NoReplicas);
        }
        let mut wait = redis::cmd("WAIT");
        // `WAIT 1 0` would wait for ever: at least one millisecond.
        wait.arg(1).arg(timeout.as_millis().max(1) as u64);
        let acknowledged: usize = self.on_master_of(key, wait).await?;
        Ok(if acknowledged >= 1 { Replication::Confirmed } else { Replication::Unconfirmed { replicas } })
    }

    /// As [`RedisConnection::replication`], for writes that may have gone to any master:
    /// on a cluster every master is asked (`ROLE`, then `WAIT` where it has replicas) and the
    /// writes count as confirmed only when every master with replicas had one acknowledge
    /// them; elsewhere it is [`RedisConnection::replication`] itself (one master, the mark
    /// covering everything before it).
    pub async fn replication_on_every_master(&mut self, mark: &str, timeout: Duration) -> RedisResult<Replication> {
        let Self::Cluster(c) = self else {
            if let Self::PerThread(p) = self {
                return Box::pin(p.current().replication_on_every_master(mark, timeout)).await;
            }
            return self.replication(mark, mark, timeout).await;
        };
        use redis::cluster_routing::MultipleNodeRoutingInfo;
        let every_master = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
        let masters = node_answers(c.route_command(redis::cmd("PING"), every_master).await?)?;
        let mut outcome = Replication::NoReplicas;
        for (address, _) in masters {
            let (host, port) = address.rsplit_once(':').unwrap_or((&address, ""));
            let port = port.parse().map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::Client, "a cluster node address has no port"))
            })?;
            let node = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.to_owned(), port });
            let role: Role = redis::from_redis_value(c.route_command(redis::cmd("ROLE"), node.clone()).await?)?;
            let replicas = match role {
                Role::Primary { replicas, .. } => replicas.len(),
                _ => continue,
            };
            if replicas == 0 {
                continue;
            }
            let mut wait = redis::cmd("WAIT");
            wait.arg(1).arg(timeout.as_millis().max(1) as u64);
            let acknowledged: usize = redis::from_redis_value(c.route_command(wait, node).await?)?;
            if acknowledged == 0 {
                return Ok(Replication::Unconfirmed { replicas });
            }
            outcome = Replication::Confirmed;
        }
        Ok(outcome)
    }

    /// Runs a keyless command where `key` lives: on a cluster, the master of its slot.
    async fn on_master_of<T: redis::FromRedisValue>(&mut self, key: &str, cmd: Cmd) -> RedisResult<T> {
        match self {
            Self::Cluster(c) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
                    key,
                    SlotAddr::Master,
                )));
                let value = c.route_command(cmd, route).await?;
                Ok(redis::from_redis_value(value)?)
            }
            Self::PerThread(p) => Box::pin(p.current().on_master_of(key, cmd)).await,
            other => cmd.query_async(other).await,
        }
    }
}
