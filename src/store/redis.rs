//! The Redis store (standalone; redis 1.x with a tokio `ConnectionManager`).

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Keys, LinkAttempt, Redemption, SessionRecord, Store, StoreError, StoreResult, User};
use crate::domain::{AttemptId, Email, SessionId, UserId};

/// Consumes a sign-in attempt. One script, so that checking the status and marking it used
/// cannot interleave with another redemption on any instance.
/// KEYS[1] = attempt hash; ARGV[1] = now (unix ms); ARGV[2] = 1 to consume, 0 to only look.
/// Returns nil (unknown) or {outcome, data} with outcome valid | used | expired.
const ATTEMPT_SCRIPT: &str = r"
local fields = redis.call('HMGET', KEYS[1], 'status', 'expires', 'data')
if not fields[1] then return nil end
if fields[1] ~= 'pending' then return {'used', fields[3]} end
if tonumber(fields[2]) <= tonumber(ARGV[1]) then return {'expired', fields[3]} end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'status', 'used') end
return {'valid', fields[3]}
";

/// A store in Redis. Cloning is cheap: the connection manager is shared.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    keys: Keys,
    attempt_script: redis::Script,
}

impl RedisStore {
    /// Connects lazily: the first command opens the connection, so the service starts (and
    /// reports not-ready) while Redis is down, and reconnects by itself.
    pub fn connect(url: &str, keys: Keys) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("invalid REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_lazy_with_config(client, config).context("cannot set up the Redis connection")?;
        Ok(Self { conn, keys, attempt_script: redis::Script::new(ATTEMPT_SCRIPT) })
    }

    /// The key builder in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A handle for direct commands (tests inspect what the store holds through it).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    async fn run_attempt_script(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        consume: bool,
    ) -> StoreResult<Option<Redemption>> {
        let reply: Option<(String, String)> = self
            .attempt_script
            .key(self.keys.attempt(id))
            .arg(now.timestamp_millis())
            .arg(if consume { "1" } else { "0" })
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let Some((outcome, data)) = reply else { return Ok(None) };
        let attempt: LinkAttempt = from_json(&data)?;
        Ok(Some(match outcome.as_str() {
            "valid" => Redemption::Valid(attempt),
            "expired" => Redemption::Expired(attempt),
            _ => Redemption::Used(attempt),
        }))
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.into())
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.into()))
}

fn from_json<T: DeserializeOwned>(raw: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(e.into()))
}

/// Seconds for a Redis TTL, at least one.
fn ttl_secs(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let _: String = self.conn.clone().ping().await.map_err(unavailable)?;
        Ok(())
    }

    async fn put_attempt(&self, id: &AttemptId, attempt: &LinkAttempt, keep_for: Duration) -> StoreResult<()> {
        let key = self.keys.attempt(id);
        let fields = [
            ("data", to_json(attempt)?),
            ("status", "pending".to_owned()),
            ("expires", attempt.expires_at.timestamp_millis().to_string()),
        ];
        // One MULTI: the hash never exists without its TTL.
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &fields)
            .expire(&key, ttl_secs(keep_for) as i64)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn peek_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        self.run_attempt_script(id, now, false).await
    }

    async fn redeem_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        self.run_attempt_script(id, now, true).await
    }

    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User> {
        let mut conn = self.conn.clone();
        let index = self.keys.user_by_email(lookup);
        if let Some(id) = conn.get::<_, Option<String>>(&index).await.map_err(unavailable)? {
            return self.load_user(&id).await;
        }
        let id = UserId::generate().map_err(|e| StoreError::Unavailable(e.into()))?;
        let user = User { id: id.clone(), email: email.clone(), created_at: now };
        // The record is written before the index claims it, so an id found through the index
        // always has a record. If another instance won the race, its user is the one.
        let _: () = conn.set(self.keys.user(&id), to_json(&user)?).await.map_err(unavailable)?;
        let claimed: bool = conn.set_nx(&index, id.as_str()).await.map_err(unavailable)?;
        if claimed {
            return Ok(user);
        }
        let _: usize = conn.del(self.keys.user(&id)).await.map_err(unavailable)?;
        let winner: Option<String> = conn.get(&index).await.map_err(unavailable)?;
        let winner = winner.context("user index vanished").map_err(StoreError::Corrupt)?;
        self.load_user(&winner).await
    }

    async fn put_session(&self, session: &SessionRecord, ttl: Duration) -> StoreResult<()> {
        let secs = ttl_secs(ttl);
        let set = self.keys.sessions(&session.user_id);
        // One MULTI on one hash slot: the session and its place in the user's index appear
        // together, and the index lives as long as its newest session.
        redis::pipe()
            .atomic()
            .set_ex(self.keys.session(&session.user_id, &session.sid), to_json(session)?, secs)
            .sadd(&set, session.sid.as_str())
            .cmd("EXPIRE")
            .arg(&set)
            .arg(secs)
            .arg("GT")
            .cmd("EXPIRE")
            .arg(&set)
            .arg(secs)
            .arg("NX")
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.session(user, sid)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn delete_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<bool> {
        let (deleted, _): (usize, usize) = redis::pipe()
            .atomic()
            .del(self.keys.session(user, sid))
            .srem(self.keys.sessions(user), sid.as_str())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(deleted > 0)
    }
}

impl RedisStore {
    async fn load_user(&self, id: &str) -> StoreResult<User> {
        let id = UserId::parse(id).context("malformed user id in index").map_err(StoreError::Corrupt)?;
        let raw: Option<String> = self.conn.clone().get(self.keys.user(&id)).await.map_err(unavailable)?;
        let raw = raw.context("user index points at no record").map_err(StoreError::Corrupt)?;
        from_json(&raw)
    }
}
