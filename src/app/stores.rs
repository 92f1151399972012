//! The store and the outbox's queue, of the configured kind (memory or Redis), and the check
//! that a production Redis cannot lose data.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Durability, Settings};
use crate::store::{
    Keys, MemoryQueue, MemoryStore, OutboxStore, RedisConnection, RedisQueue, RedisStore, Store,
    check_durability as check_redis_durability,
};
use crate::store_tools::redis_connector;

/// What the configured store kind gives the service.
pub(super) struct Stores {
    /// The store.
    pub(super) store: Arc<dyn Store>,
    /// The outbox's queue.
    pub(super) queue: Arc<dyn OutboxStore>,
    /// Whether the queue drains at stop (the memory queue: nobody else can deliver it).
    pub(super) drain_on_stop: bool,
    /// The Redis connection each HTTP worker takes its own of.
    pub(super) per_worker: Option<RedisConnection>,
}

/// The store and queue of `STORE` (memory, or Redis under `REDIS_KEY_PREFIX`). A store that
/// does not answer yet is logged, not fatal: requests get 503 until it does.
pub(super) async fn open(settings: &Settings) -> anyhow::Result<Stores> {
    let keys = Keys::new(settings.key_prefix.clone());
    let stores = match redis_connector(&settings.store, settings.redis_wait_timeout)? {
        None => Stores {
            store: Arc::new(MemoryStore::new()),
            queue: Arc::new(MemoryQueue::new()),
            drain_on_stop: true,
            per_worker: None,
        },
        Some(connector) => {
            let store = RedisStore::new(connector, keys.clone())?;
            if let Err(e) = store.load_scripts().await {
                tracing::warn!(error = %e, "the store's scripts are not loaded yet; the first calls load them");
            }
            // The worker's blocking reads get a connection of their own (its timeout outlasts BLOCK).
            let blocking = store.dedicated_connection(Some(Duration::from_secs(5)))?;
            let queue = RedisQueue::new(store.connection(), blocking, keys);
            let per_worker = Some(store.connection());
            Stores { store: Arc::new(store), queue: Arc::new(queue), drain_on_stop: false, per_worker }
        }
    };
    if let Err(e) = stores.store.ping().await {
        tracing::warn!(error = %e, "the store is not reachable yet; requests will get 503 until it is");
    }
    Ok(stores)
}

/// Production refuses a Redis that can lose data: with `REDIS_DURABILITY=check`, every node
/// must run the append-only file (fsync every second or always) and `noeviction`; one message
/// names each setting to fix. `managed` skips the check (`CONFIG GET` refused) with a warning.
/// Returns the connection `/readyz` asks again.
pub(super) async fn check_durability(
    settings: &Settings,
    redis: Option<&RedisConnection>,
) -> anyhow::Result<Option<RedisConnection>> {
    let Some(conn) = redis.filter(|_| settings.is_production()) else { return Ok(None) };
    if settings.durability == Durability::Managed {
        tracing::warn!(
            "REDIS_DURABILITY=managed: Redis persistence and eviction are not checked; the operator declares AOF \
             (appendfsync everysec or always) and maxmemory-policy noeviction on every node"
        );
        return Ok(None);
    }
    match check_redis_durability(conn).await {
        Ok(problems) if problems.is_empty() => Ok(Some(conn.clone())),
        Ok(problems) => {
            let mut message =
                format!("latchkey cannot start: Redis can lose data ({} setting(s) need attention):\n", problems.len());
            for problem in &problems {
                message.push_str(&format!("  - {problem}\n"));
            }
            message.push_str(
                "  (deploy/redis.conf has these settings; a managed Redis that refuses CONFIG GET: REDIS_DURABILITY=managed)",
            );
            anyhow::bail!(message)
        }
        Err(e) => {
            tracing::warn!(error = %e, "Redis is not reachable yet, so its durability was not checked; /readyz checks it");
            Ok(Some(conn.clone()))
        }
    }
}
