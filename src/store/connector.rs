//! Where Redis is and how to trust it: [`RedisConnector`] builds the store's connections (one
//! server, the master a set of Redis Sentinels name, or a Redis Cluster; TLS with an optional
//! CA of its own).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionInfo, IntoConnectionInfo, TlsCertificates, TlsMode};

use super::connection::{PerThread, RedisConnection, STORE_TIMEOUT};
use super::sentinel::SentinelMaster;

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
        Ok(RedisConnection::PerThread(Arc::new(PerThread::new(self.connection(Some(STORE_TIMEOUT))?, self.clone()))))
    }

    /// A new connection of the same kind that shares nothing with the store's: for commands
    /// that block their connection, such as `XREADGROUP … BLOCK ms`. `response_timeout`
    /// bounds each answer; make it longer than any `BLOCK` (or `None` to wait as long as the
    /// server takes). Lazy and reconnecting like [`RedisConnector::shared_connection`]. In
    /// cluster mode a blocking read blocks only the connection to the node that owns the key.
    pub fn dedicated_connection(&self, response_timeout: Option<Duration>) -> anyhow::Result<RedisConnection> {
        self.connection(response_timeout)
    }

    /// A new connection of the configured kind (see [`RedisConnector::dedicated_connection`]).
    pub(super) fn connection(&self, response_timeout: Option<Duration>) -> anyhow::Result<RedisConnection> {
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
