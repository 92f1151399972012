//! The master a set of Redis Sentinels names, followed through failovers.
//!
//! redis-rs finds the master through the Sentinels (and checks with `ROLE` that it says it
//! is one) but gives a plain connection that stays with that server. [`SentinelMaster`]
//! keeps that connection while it works and drops it at the first sign that the server is
//! no longer the master — a lost connection, a timeout, or a `READONLY` reply from a master
//! demoted to replica (Sentinel also disconnects the clients of a server it demotes). The
//! command that saw it fails (the caller answers 503); the next one asks the Sentinels again.
//! Nothing is retried here: a write whose connection broke may or may not have been applied.
//! A master can also be replaced while it still answers as one (after `SENTINEL FAILOVER`,
//! until the Sentinels demote it): so, at most every [`RECHECK`], a command's use of the
//! master also asks the Sentinels in the background whether it still is the one they name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use super::connection::STORE_TIMEOUT;

/// After a failed search for the master, commands fail at once for this long instead of
/// each asking the Sentinels again (a burst of requests during a failover would otherwise
/// queue behind one another's searches).
const SEARCH_BACKOFF: Duration = Duration::from_millis(100);

/// How often the Sentinels are asked whether the master in use is still theirs.
pub const RECHECK: Duration = Duration::from_secs(1);

/// The current master of one Sentinel-monitored service, and how to find it again.
pub struct SentinelMaster {
    /// Asks the Sentinels; one search at a time.
    resolver: tokio::sync::Mutex<Search>,
    /// The connection to the master found last; `None` until found (again).
    current: Mutex<Option<Current>>,
    found: AtomicU64,
    response_timeout: Option<Duration>,
    db: i64,
}

struct Current {
    /// Which master this is, counting from the first found.
    number: u64,
    conn: MultiplexedConnection,
    /// Its address (`host:port`), to compare with what the Sentinels name.
    addr: String,
    /// When the Sentinels last said (or were last asked whether) it is still theirs.
    checked: Instant,
}

struct Search {
    sentinels: SentinelClient,
    /// When the last search failed, and how.
    failed: Option<(Instant, RedisError)>,
}

/// One connection to the master as it was when taken: every command on it goes to that
/// server, or fails. A write and the `WAIT` that confirms it must share a connection.
#[derive(Clone)]
pub struct PinnedMaster {
    owner: Arc<SentinelMaster>,
    number: u64,
    conn: MultiplexedConnection,
}

impl SentinelMaster {
    /// Follows the master `sentinels` name. `response_timeout` bounds each answer; `db` is
    /// the database selected on the master.
    pub fn new(sentinels: SentinelClient, response_timeout: Option<Duration>, db: i64) -> Self {
        Self {
            resolver: tokio::sync::Mutex::new(Search { sentinels, failed: None }),
            current: Mutex::new(None),
            found: AtomicU64::new(0),
            response_timeout,
            db,
        }
    }

    /// The database selected on the master.
    pub fn db(&self) -> i64 {
        self.db
    }

    fn cached(self: &Arc<Self>) -> Option<PinnedMaster> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let current = current.as_mut()?;
        if current.checked.elapsed() >= RECHECK {
            current.checked = Instant::now();
            tokio::spawn(self.clone().recheck(current.number, current.addr.clone()));
        }
        Some(PinnedMaster { owner: self.clone(), number: current.number, conn: current.conn.clone() })
    }

    /// Asks the Sentinels which master they name; drops master `number` if it is not that
    /// one. Skipped while a search is running; a Sentinel that cannot answer changes nothing.
    async fn recheck(self: Arc<Self>, number: u64, addr: String) {
        let Ok(mut search) = self.resolver.try_lock() else { return };
        let named = tokio::time::timeout(STORE_TIMEOUT, search.sentinels.async_get_client()).await;
        if let Ok(Ok(client)) = named {
            let named = client.get_connection_info().addr().to_string();
            if named != addr {
                self.forget(number, &format!("the Sentinels now name {named} master, not {addr}"));
            }
        }
    }

    /// A connection to the current master, asking the Sentinels if there is none.
    pub async fn master(self: &Arc<Self>) -> RedisResult<PinnedMaster> {
        if let Some(pinned) = self.cached() {
            return Ok(pinned);
        }
        let mut search = self.resolver.lock().await;
        // Another command may have found it while this one waited for the lock.
        if let Some(pinned) = self.cached() {
            return Ok(pinned);
        }
        if let Some((at, e)) = &search.failed
            && at.elapsed() < SEARCH_BACKOFF
        {
            return Err(e.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(STORE_TIMEOUT))
            .set_response_timeout(self.response_timeout);
        let found = tokio::time::timeout(STORE_TIMEOUT, async {
            let client = search.sentinels.async_get_client().await?;
            let addr = client.get_connection_info().addr().to_string();
            Ok((addr, client.get_multiplexed_async_connection_with_config(&config).await?))
        })
        .await
        .unwrap_or_else(|_| {
            Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the Sentinels did not name a reachable master in time",
            )))
        });
        let (addr, conn) = match found {
            Ok(found) => found,
            Err(e) => {
                search.failed = Some((Instant::now(), e.clone()));
                return Err(e);
            }
        };
        search.failed = None;
        let number = self.found.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(%addr, "connected to the Redis master the Sentinels name");
        let current = Current { number, conn: conn.clone(), addr, checked: Instant::now() };
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(current);
        Ok(PinnedMaster { owner: self.clone(), number, conn })
    }

    /// Drops master number `number` (if it is still the current one): the next command
    /// asks the Sentinels again.
    fn forget(&self, number: u64, why: &dyn std::fmt::Display) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| c.number == number) {
            *current = None;
            tracing::warn!(error = %why, "lost the Redis master; asking the Sentinels again");
        }
    }
}

/// Whether an error says the server is gone or no longer the master.
fn lost_master(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || e.kind() == ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        // A MULTI or a pipeline carries the replica's refusal inside its own error.
        || e.to_string().contains("READONLY")
}

fn read_only_reply(value: &Value) -> bool {
    matches!(value, Value::ServerError(e) if e.code() == "READONLY")
}

impl PinnedMaster {
    fn check<T>(&self, result: &RedisResult<T>, read_only: impl Fn(&T) -> bool) {
        match result {
            Err(e) if lost_master(e) => self.owner.forget(self.number, e),
            Ok(value) if read_only(value) => self.owner.forget(self.number, &"a READONLY reply"),
            _ => {}
        }
    }
}

impl ConnectionLike for PinnedMaster {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.conn.req_packed_command(cmd).await;
            self.check(&result, read_only_reply);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.conn.req_packed_commands(pipeline, offset, count).await;
            self.check(&result, |values| values.iter().any(read_only_reply));
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.owner.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demoted_or_unreachable_master_is_left_and_an_ordinary_refusal_is_not() {
        let read_only = RedisError::from((ErrorKind::Server(redis::ServerErrorKind::ReadOnly), "READONLY"));
        assert!(lost_master(&read_only));
        let dropped = RedisError::from(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert!(lost_master(&dropped));
        let timed_out = RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
        assert!(lost_master(&timed_out));
        let wrong_type = RedisError::from((ErrorKind::Server(redis::ServerErrorKind::ResponseError), "WRONGTYPE"));
        assert!(!lost_master(&wrong_type));
    }

    #[test]
    fn a_read_only_reply_inside_a_pipeline_is_recognised() {
        let value = redis::parse_redis_value(b"-READONLY You can't write against a read only replica.\r\n").unwrap();
        assert!(read_only_reply(&value));
        assert!(!read_only_reply(&Value::Okay));
    }
}
