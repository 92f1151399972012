//! How the Redis store reaches Redis: one server, the master a set of Redis Sentinels name,
//! or a Redis Cluster, over `redis://` or `rediss://` (TLS). [`RedisConnector`] builds connections; [`RedisConnection`] is one of
//! them, the same type in both modes, so every store method runs unchanged on either.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{
    Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Role, TlsCertificates, TlsMode, Value,
};

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

/// Where Redis is and how to trust it; builds connections of the configured kind.
///
/// The store holds one shared connection ([`RedisConnector::shared_connection`]), plus one
/// per bound thread (an HTTP worker: [`RedisConnection::bind_this_thread`]). Work that
/// blocks a connection (`XREADGROUP … BLOCK`, `BLPOP`) must take its own
/// ([`RedisConnector::dedicated_connection`]), or every request waits behind it.
#[derive(Clone)]
pub struct RedisConnector {
    target: Target,
    /// `REDIS_CA_FILE`: PEM roots trusted for `rediss://` instead of the system's.
    ca_pem: Option<Vec<u8>>,
    /// `REDIS_WAIT_TIMEOUT`: how long a critical write waits for a replica's acknowledgement.
    wait_timeout: Duration,
}

/// How long a critical write waits for a replica's acknowledgement unless configured.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone)]
enum Target {
    Single(Box<ConnectionInfo>),
    Cluster(Vec<ConnectionInfo>),
    /// Sentinels and the name of the master they monitor.
    Sentinel(Vec<ConnectionInfo>, String),
}

impl fmt::Debug for RedisConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Node addresses only: URLs may carry passwords.
        let nodes: Vec<String> = match &self.target {
            Target::Single(info) => vec![info.addr().to_string()],
            Target::Cluster(seeds) | Target::Sentinel(seeds, _) => {
                seeds.iter().map(|info| info.addr().to_string()).collect()
            }
        };
        f.debug_struct("RedisConnector")
            .field("cluster", &self.is_cluster())
            .field("nodes", &nodes)
            .field("sentinel", &matches!(self.target, Target::Sentinel(..)))
            .field("private_ca", &self.ca_pem.is_some())
            .field("wait_timeout", &self.wait_timeout)
            .finish()
    }
}

impl RedisConnector {
    /// One server at `url` (`redis://` or `rediss://`). `ca_pem`: CA certificates (PEM) to
    /// trust for `rediss://` instead of the system roots.
    pub fn single(url: &str, ca_pem: Option<Vec<u8>>) -> anyhow::Result<Self> {
        let info = url.into_connection_info().context("invalid Redis URL")?;
        let connector = Self { target: Target::Single(Box::new(info)), ca_pem, wait_timeout: DEFAULT_WAIT_TIMEOUT };
        connector.single_client().context("invalid Redis URL")?;
        Ok(connector)
    }

    /// A Redis Cluster found through `seeds` (any few of its nodes; the rest are discovered).
    /// Every seed must use the same scheme; `ca_pem` as for [`RedisConnector::single`].
    pub fn cluster<S: AsRef<str>>(seeds: &[S], ca_pem: Option<Vec<u8>>) -> anyhow::Result<Self> {
        let seeds = seeds
            .iter()
            .map(|url| url.as_ref().into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .context("invalid Redis Cluster URL")?;
        let connector = Self { target: Target::Cluster(seeds), ca_pem, wait_timeout: DEFAULT_WAIT_TIMEOUT };
        connector.cluster_client(Some(STORE_TIMEOUT)).context("invalid Redis Cluster URLs")?;
        Ok(connector)
    }

    /// The master that the Redis Sentinels at `sentinels` name `master`, followed through
    /// failovers. Every URL must use the same scheme: with `rediss://` the master is reached
    /// over TLS too. The user, password and database in the first URL are used for the
    /// Sentinels and the master alike. `ca_pem` as for [`RedisConnector::single`].
    pub fn sentinel<S: AsRef<str>>(sentinels: &[S], master: &str, ca_pem: Option<Vec<u8>>) -> anyhow::Result<Self> {
        let sentinels = sentinels
            .iter()
            .map(|url| url.as_ref().into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .context("invalid Redis Sentinel URL")?;
        anyhow::ensure!(!sentinels.is_empty(), "no Redis Sentinel URL");
        let connector =
            Self { target: Target::Sentinel(sentinels, master.to_owned()), ca_pem, wait_timeout: DEFAULT_WAIT_TIMEOUT };
        connector.sentinel_client().context("invalid Redis Sentinel URLs")?;
        Ok(connector)
    }

    /// Sets how long a critical write waits for a replica's acknowledgement (`WAIT`).
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// How long a critical write waits for a replica's acknowledgement.
    pub fn wait_timeout(&self) -> Duration {
        self.wait_timeout
    }

    /// True for a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// True when the store is the master Redis Sentinels name.
    pub fn is_sentinel(&self) -> bool {
        matches!(self.target, Target::Sentinel(..))
    }

    /// The store's connection: opened lazily on first use (the service starts, and reports
    /// not-ready, while Redis is down), reconnecting by itself, each connect and answer
    /// bounded by [`STORE_TIMEOUT`]. Multiplexed: share it by cloning.
    /// Threads that run for the store's whole life can take connections of their own
    /// ([`RedisConnection::bind_this_thread`]).
    pub fn shared_connection(&self) -> anyhow::Result<RedisConnection> {
        Ok(RedisConnection::PerThread(Arc::new(PerThread {
            id: PER_THREAD_IDS.fetch_add(1, Ordering::Relaxed),
            shared: self.connection(Some(STORE_TIMEOUT))?,
            connector: self.clone(),
        })))
    }

    /// A new connection of the same kind that shares nothing with the store's: for commands
    /// that block their connection, such as `XREADGROUP … BLOCK ms`. `response_timeout`
    /// bounds each answer; make it longer than any `BLOCK` (or `None` to wait as long as the
    /// server takes). Lazy and reconnecting like [`RedisConnector::shared_connection`]. In
    /// cluster mode a blocking read blocks only the connection to the node that owns the key.
    pub fn dedicated_connection(&self, response_timeout: Option<Duration>) -> anyhow::Result<RedisConnection> {
        self.connection(response_timeout)
    }

    fn connection(&self, response_timeout: Option<Duration>) -> anyhow::Result<RedisConnection> {
        match &self.target {
            Target::Single(_) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(STORE_TIMEOUT))
                    .set_response_timeout(response_timeout)
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                let manager = ConnectionManager::new_lazy_with_config(self.single_client()?, config)
                    .context("cannot set up the Redis connection")?;
                Ok(RedisConnection::Single(manager))
            }
            Target::Cluster(_) => {
                let mut config = ClusterConfig::new().set_connection_timeout(STORE_TIMEOUT);
                if let Some(timeout) = response_timeout {
                    config = config.set_response_timeout(timeout);
                }
                // Pending: nodes are connected in the background; the first command waits for
                // that (within its timeout) and later commands recover lost nodes and slots.
                let client = self.cluster_client(response_timeout)?;
                Ok(RedisConnection::Cluster(client.get_pending_async_connection_with_config(config)))
            }
            Target::Sentinel(sentinels, _) => {
                let db = sentinels[0].redis_settings().db();
                let master = SentinelMaster::new(self.sentinel_client()?, response_timeout, db);
                Ok(RedisConnection::Sentinel(Arc::new(master)))
            }
        }
    }

    fn sentinel_client(&self) -> anyhow::Result<redis::sentinel::SentinelClient> {
        let Target::Sentinel(sentinels, master) = &self.target else { anyhow::bail!("not a Sentinel connector") };
        let first = &sentinels[0];
        let tls = matches!(first.addr(), redis::ConnectionAddr::TcpTls { .. });
        let addrs = sentinels.iter().map(|info| info.addr().clone());
        let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?
            .set_client_to_redis_db(first.redis_settings().db());
        let settings = first.redis_settings();
        if let Some(user) = settings.username() {
            builder = builder.set_client_to_redis_username(user).set_client_to_sentinel_username(user);
        }
        if let Some(password) = settings.password() {
            builder = builder.set_client_to_redis_password(password).set_client_to_sentinel_password(password);
        }
        if tls {
            builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
            if let Some(certs) = self.tls_certificates() {
                builder =
                    builder.set_client_to_redis_certificates(certs.clone()).set_client_to_sentinel_certificates(certs);
            }
        }
        Ok(builder.build()?)
    }

    fn tls_certificates(&self) -> Option<TlsCertificates> {
        self.ca_pem.clone().map(|root| TlsCertificates { client_tls: None, root_cert: Some(root) })
    }

    fn single_client(&self) -> anyhow::Result<redis::Client> {
        let Target::Single(info) = &self.target else { anyhow::bail!("not a single-server connector") };
        let client = match self.tls_certificates() {
            Some(certs) => {
                redis::Client::build_with_tls(info.as_ref().clone(), certs).context("cannot use REDIS_CA_FILE")?
            }
            None => redis::Client::open(info.as_ref().clone())?,
        };
        Ok(client)
    }

    /// `response_timeout` bounds each answer and, through the overall timeout, each request
    /// with its retries and redirections (MOVED / ASK).
    fn cluster_client(&self, response_timeout: Option<Duration>) -> anyhow::Result<ClusterClient> {
        let Target::Cluster(seeds) = &self.target else { anyhow::bail!("not a cluster connector") };
        let mut builder = ClusterClientBuilder::new(seeds.clone())
            .connection_timeout(STORE_TIMEOUT)
            .overall_response_timeout(response_timeout);
        if let Some(timeout) = response_timeout {
            builder = builder.response_timeout(timeout);
        }
        if let Some(certs) = self.tls_certificates() {
            builder = builder.certs(certs);
        }
        Ok(builder.build()?)
    }
}
