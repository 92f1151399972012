//! The Redis store, on one server or a Redis Cluster (see [`RedisConnector`]).
//!
//! Cluster rule: every Lua script and every MULTI touches keys of one hash slot only (the
//! keys share a hash tag, see `keys.rs`); redis-rs routes such a script or MULTI to the node
//! owning that slot. A non-atomic pipeline is also sent to one node, so commands on keys of
//! different slots are sent separately instead (`append_event`).
//!
//! Critical writes — revocations (sessions, access tokens, clients, a block, a forgotten
//! device), second-factor changes and policy changes — are confirmed by a replica before
//! they count as done ([`RedisStore::durable`]): a failover must not bring back a session
//! that was ended or a factor that was removed.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::GENERATION_TTL;
use super::connection::{RedisConnection, RedisConnector, Replication};
use super::{
    AccessGrant, AttemptStore, AuditStore, AuthCode, ChallengeKey, ClientStore, CodeExchange, DeviceStore, FactorStore,
    GrantStore, IdentityStore, Keys, LimitStore, LinkAttempt, PendingLogin, PolicyStore, RateKey, Redemption, Report,
    SecondFactors, SessionRecord, SessionStore, SmsChallenge, StepStore, StoreError, StoreResult, User, UserStore,
};
use crate::domain::{AttemptId, AuditEvent, Client, Email, SessionId, SignInPolicy, UserId};

/// Reads or changes a sign-in attempt. One script, so that checking the status and changing
/// it cannot interleave with another request on any instance.
/// KEYS[1] = attempt hash (`status`, `expires`, `data`, `tries`).
/// ARGV[1] = now (unix ms); ARGV[2] = peek | consume | try | kill; ARGV[3] = max code tries.
/// Returns nil (unknown) or {outcome, data, tries}, outcome = valid | used | dead | expired.
const ATTEMPT_SCRIPT: &str = r"
local f = redis.call('HMGET', KEYS[1], 'status', 'expires', 'data', 'tries')
if not f[1] then return nil end
local op = ARGV[2]
local tries = tonumber(f[4] or '0')
if f[1] ~= 'pending' then return {f[1], f[3], tries} end
if op == 'kill' then
  redis.call('HSET', KEYS[1], 'status', 'dead')
  return {'dead', f[3], tries}
end
if tonumber(f[2]) <= tonumber(ARGV[1]) then return {'expired', f[3], tries} end
if op == 'consume' then redis.call('HSET', KEYS[1], 'status', 'used') end
if op == 'try' then
  tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
  if tries > tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'status', 'dead')
    return {'dead', f[3], tries}
  end
end
return {'valid', f[3], tries}
";

/// Moves an address's link generation on only if it still is what the caller saw, so two
/// sign-ins racing on different links of one address cannot both win.
/// KEYS[1] = generation; ARGV[1] = expected; ARGV[2] = TTL seconds. Returns 1 or 0.
const ADVANCE_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], current + 1, 'EX', ARGV[2])
return 1
";

/// Spends one guess on a pending second-factor step or an SMS code; past the limit it is
/// deleted. KEYS[1] = hash (`data`, `tries`); ARGV[1] = max tries. Returns nil or {data, tries}.
const PENDING_TRY_SCRIPT: &str = r"
local data = redis.call('HGET', KEYS[1], 'data')
if not data then return nil end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if tries > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return nil
end
return {data, tries}
";

/// Accepts a TOTP time step only if it is later than every step accepted before, so a code
/// (or an earlier one) is never accepted twice, even by two instances at once.
/// KEYS[1] = last step; ARGV[1] = step. Returns 1 (accepted) or 0.
const TOTP_STEP_SCRIPT: &str = r"
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

/// Uses an authorization code once: the first caller marks it used and records the access
/// token it issues; later callers learn that id (to revoke it).
/// A code presented by another client is left alone (a stranger cannot burn it).
/// KEYS[1] = code hash (`data`, `client`, `access`); ARGV[1] = access token id; ARGV[2] = client.
/// Returns nil, {'fresh', data}, {'reused', access id or ''} or {'wrong_client', ''}.
const CODE_SCRIPT: &str = r"
local f = redis.call('HMGET', KEYS[1], 'data', 'access', 'client')
if not f[1] then return nil end
if f[3] ~= ARGV[2] then return {'wrong_client', ''} end
if f[2] then return {'reused', f[2]} end
redis.call('HSET', KEYS[1], 'access', ARGV[1])
return {'fresh', f[1]}
";

/// Ends every session of a user: the index and each session go in one step (one hash slot).
/// KEYS[1] = the user's session set; ARGV[1] = the session key prefix (…:session:).
/// The session keys are not declared (they are known only after SMEMBERS), which Redis
/// allows, also in a cluster, because they share KEYS[1]'s hash tag `{u:<id>}` and so its
/// slot; the cluster contract test holds that.
const DELETE_ALL_SESSIONS_SCRIPT: &str = r"
local sids = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, sid in ipairs(sids) do n = n + redis.call('DEL', ARGV[1] .. sid) end
redis.call('DEL', KEYS[1])
return n
";

/// Replaces a user's second factors and, if the user record is still what the caller read,
/// rewrites it with the factors' kinds — one step on one slot (`{u:<id>}`), so the record
/// never disagrees with the factors it describes. KEYS[1] = factors, KEYS[2] = user record;
/// ARGV[1] = factors JSON, ARGV[2] = the record as read ('' for none), ARGV[3] = the new record.
/// Returns 1, or 0 (nothing written) when the record changed in between (the caller retries).
const FACTORS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if current ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
return 1
";

/// A store in Redis. Cloning is cheap: the connection is shared.
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    connector: RedisConnector,
    keys: Keys,
    attempt_script: redis::Script,
    advance_script: redis::Script,
    delete_all_script: redis::Script,
    pending_try_script: redis::Script,
    totp_step_script: redis::Script,
    code_script: redis::Script,
    factors_script: redis::Script,
}

impl RedisStore {
    /// One server at `url`, trusting the system roots for `rediss://`; see [`RedisStore::new`].
    pub fn connect(url: &str, keys: Keys) -> anyhow::Result<Self> {
        Self::new(RedisConnector::single(url, None)?, keys)
    }

    /// A store on what `connector` reaches (one server or a cluster). Connects lazily: the
    /// first command opens the connection, so the service starts (and reports not-ready)
    /// while Redis is down, and reconnects by itself.
    pub fn new(connector: RedisConnector, keys: Keys) -> anyhow::Result<Self> {
        Ok(Self {
            conn: connector.shared_connection()?,
            connector,
            keys,
            attempt_script: redis::Script::new(ATTEMPT_SCRIPT),
            advance_script: redis::Script::new(ADVANCE_SCRIPT),
            delete_all_script: redis::Script::new(DELETE_ALL_SESSIONS_SCRIPT),
            pending_try_script: redis::Script::new(PENDING_TRY_SCRIPT),
            totp_step_script: redis::Script::new(TOTP_STEP_SCRIPT),
            code_script: redis::Script::new(CODE_SCRIPT),
            factors_script: redis::Script::new(FACTORS_SCRIPT),
        })
    }

    /// The key builder in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A handle on the store's shared connection, for direct commands (tests inspect what the
    /// store holds through it). Never block it: see [`RedisStore::dedicated_connection`].
    pub fn connection(&self) -> RedisConnection {
        self.conn.clone()
    }

    /// A new connection to the same Redis (server or cluster) that shares nothing with the
    /// store's, for commands that block (`XREADGROUP … BLOCK`). See
    /// [`RedisConnector::dedicated_connection`] for `response_timeout`.
    pub fn dedicated_connection(&self, response_timeout: Option<Duration>) -> anyhow::Result<RedisConnection> {
        self.connector.dedicated_connection(response_timeout)
    }

    /// The connection a critical write and its [`RedisStore::durable`] check share.
    async fn critical(&self) -> StoreResult<RedisConnection> {
        self.conn.pinned().await.map_err(unavailable)
    }

    /// Confirms the critical writes made on `conn` (from [`RedisStore::critical`]; `key` is
    /// one they wrote, to find the master that took them): when the master has replicas, one
    /// must acknowledge them within `REDIS_WAIT_TIMEOUT`, or the store counts as unavailable
    /// (503). The write is then on the master but not confirmed durable: a failover could
    /// still undo it, so nothing tells the user it is done.
    ///
    /// Through Sentinels, a master with no replica connected is not confirmed either: the
    /// Sentinels exist to promote a replica, and the one they would promote (down or cut off
    /// now) does not hold the write, so a failover would bring back what it revoked. One
    /// server or a cluster without replicas has nothing to wait for.
    async fn durable(&self, conn: &mut RedisConnection, key: &str) -> StoreResult<()> {
        let timeout = self.connector.wait_timeout();
        let replication = conn.replication(key, &self.keys.durability_mark(), timeout).await.map_err(unavailable)?;
        self.confirmed(replication)
    }

    /// As [`RedisStore::durable`], for writes on `conn` that may have reached any master (a
    /// cluster's: every master with replicas must have one acknowledge them).
    async fn durable_on_every_master(&self, conn: &mut RedisConnection) -> StoreResult<()> {
        let timeout = self.connector.wait_timeout();
        let replication =
            conn.replication_on_every_master(&self.keys.durability_mark(), timeout).await.map_err(unavailable)?;
        self.confirmed(replication)
    }

    /// What a replication check means for a critical write (see [`RedisStore::durable`]).
    fn confirmed(&self, replication: Replication) -> StoreResult<()> {
        let not_confirmed = match replication {
            Replication::NoReplicas if self.connector.is_sentinel() => {
                "the master the Sentinels name has no replica connected: a critical write no replica holds is not \
                 confirmed durable (a failover to a replica would undo it)"
                    .to_owned()
            }
            Replication::NoReplicas | Replication::Confirmed => return Ok(()),
            Replication::Unconfirmed { replicas } => format!(
                "no replica (of {replicas}) acknowledged a critical write within {} ms: not confirmed durable",
                self.connector.wait_timeout().as_millis()
            ),
        };
        Err(StoreError::Unavailable(NotConfirmed(not_confirmed).into()))
    }

    async fn run_attempt_script(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        op: &str,
        max_tries: u32,
    ) -> StoreResult<Option<(Redemption, u32)>> {
        let reply: Option<(String, String, u32)> = self
            .attempt_script
            .key(self.keys.attempt(id))
            .arg(now.timestamp_millis())
            .arg(op)
            .arg(max_tries)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let Some((outcome, data, tries)) = reply else { return Ok(None) };
        let attempt: LinkAttempt = from_json(&data)?;
        let state = match outcome.as_str() {
            "valid" => Redemption::Valid(attempt),
            "expired" => Redemption::Expired(attempt),
            "dead" => Redemption::Dead(attempt),
            _ => Redemption::Used(attempt),
        };
        Ok(Some((state, tries)))
    }
}

/// Why a critical write counts as not done: it is on the master, but no replica confirmed it
/// (the source of [`StoreError::Unavailable`]: a 503 in a request, "run it again" in a command).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotConfirmed(String);

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
impl IdentityStore for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let _: String = self.conn.clone().ping().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_identity(&self) -> StoreResult<Option<super::StoreIdentity>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.store_identity()).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn put_identity(&self, identity: &super::StoreIdentity, only_if_absent: bool) -> StoreResult<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys.store_identity()).arg(to_json(identity)?);
        if only_if_absent {
            // A first identity (`store init`, a development start): a store that loses it again
            // is empty and refused, so there is nothing to confirm.
            cmd.arg("NX");
            let written: Option<String> = cmd.query_async(&mut self.conn.clone()).await.map_err(unavailable)?;
            return Ok(written.is_some());
        }
        // Critical (`store adopt`, `store restored`): a failover must not undo an adoption or
        // a new "not before". Confirmed on every master, so that what the command wrote before
        // on this connection (a re-seeded policy, in another slot) is confirmed too.
        let mut conn = self.critical().await?;
        let written: Option<String> = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        self.durable_on_every_master(&mut conn).await?;
        Ok(written.is_some())
    }

    async fn void_live_state(&self) -> StoreResult<usize> {
        // SCAN on every master, then UNLINK key by key (each goes to its own slot's node), all
        // on one connection, then one confirmation on every master: a failover must not bring
        // back a voided session or link.
        let pattern = format!("{}*", escape_glob(self.keys.prefix()));
        let keys = self.conn.scan_keys(&pattern).await.map_err(unavailable)?;
        let mut conn = self.critical().await?;
        let mut voided = 0;
        for key in keys.iter().filter(|key| self.keys.is_live_state(key)) {
            let removed: usize = conn.unlink(key).await.map_err(unavailable)?;
            voided += removed;
        }
        self.durable_on_every_master(&mut conn).await?;
        Ok(voided)
    }
}

#[async_trait]
impl AttemptStore for RedisStore {
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
        Ok(self.run_attempt_script(id, now, "peek", 0).await?.map(|(state, _)| state))
    }

    async fn redeem_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        Ok(self.run_attempt_script(id, now, "consume", 0).await?.map(|(state, _)| state))
    }

    async fn take_code_try(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        max_tries: u32,
    ) -> StoreResult<Option<(Redemption, u32)>> {
        self.run_attempt_script(id, now, "try", max_tries).await
    }

    async fn kill_attempt(&self, id: &AttemptId) -> StoreResult<()> {
        self.run_attempt_script(id, Utc::now(), "kill", 0).await.map(drop)
    }

    async fn link_generation(&self, lookup: &str, bump: bool) -> StoreResult<u64> {
        let key = self.keys.link_generation(lookup);
        let mut conn = self.conn.clone();
        if !bump {
            let current: Option<u64> = conn.get(&key).await.map_err(unavailable)?;
            return Ok(current.unwrap_or(0));
        }
        let (generation,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, GENERATION_TTL.as_secs() as i64)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(generation)
    }

    async fn advance_generation(&self, lookup: &str, expected: u64) -> StoreResult<bool> {
        let advanced: i64 = self
            .advance_script
            .key(self.keys.link_generation(lookup))
            .arg(expected)
            .arg(GENERATION_TTL.as_secs())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(advanced == 1)
    }
}

#[async_trait]
impl LimitStore for RedisStore {
    async fn hit_limit(&self, key: &RateKey, window: Duration, cost: u64) -> StoreResult<(u64, Duration)> {
        // A fixed window: the hit that creates the counter starts it. Three plain commands in
        // one round trip, not a script (a Lua call costs Redis several times these three):
        // `PEXPIRE … NX` gives the counter its window only if it has none, so whichever hit
        // finds it without one (the first, or the next if a connection dropped in between)
        // sets it, and no counter outlives its window by more than one hit. Redis >= 7.0.
        let key = self.keys.rate(key);
        let window_ms = window.as_millis().max(1) as u64;
        let (count, left_ms): (u64, i64) = redis::pipe()
            .incr(&key, cost)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(window_ms)
            .arg("NX")
            .ignore()
            .pttl(&key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        // -2: the window ended between the commands (the count is the old window's, and a
        // new one starts with the next hit); -1 cannot follow `PEXPIRE NX`, but would mean a
        // window with no end yet.
        let left_ms = match left_ms {
            -2 => 0,
            ms if ms < 0 => window_ms,
            ms => ms as u64,
        };
        Ok((count, Duration::from_millis(left_ms)))
    }
}

#[async_trait]
impl UserStore for RedisStore {
    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User> {
        let mut conn = self.conn.clone();
        let index = self.keys.user_by_email(lookup);
        if let Some(id) = conn.get::<_, Option<String>>(&index).await.map_err(unavailable)? {
            return self.load_user(&id).await;
        }
        let id = UserId::generate().map_err(|e| StoreError::Unavailable(e.into()))?;
        let user = User {
            id: id.clone(),
            email: email.clone(),
            created_at: now,
            blocked: false,
            factor_kinds: Default::default(),
        };
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

    async fn find_user(&self, lookup: &str) -> StoreResult<Option<User>> {
        let id: Option<String> = self.conn.clone().get(self.keys.user_by_email(lookup)).await.map_err(unavailable)?;
        match id {
            Some(id) => self.load_user(&id).await.map(Some),
            None => {
                // The second read an account costs, of a record nobody has: an unknown
                // address takes the same commands and round trips as a known one.
                let _: Option<String> = self.conn.clone().get(self.keys.no_user()).await.map_err(unavailable)?;
                Ok(None)
            }
        }
    }

    async fn put_user(&self, _lookup: &str, user: &User) -> StoreResult<()> {
        // Critical: a block (`blocked`) must survive a failover.
        let key = self.keys.user(&user.id);
        let mut conn = self.critical().await?;
        let _: () = conn.set(&key, to_json(user)?).await.map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }

    async fn add_user_app(&self, user: &UserId, client_id: &str) -> StoreResult<()> {
        let _: usize = self.conn.clone().sadd(self.keys.user_apps(user), client_id).await.map_err(unavailable)?;
        Ok(())
    }

    async fn user_apps(&self, user: &UserId) -> StoreResult<Vec<String>> {
        let mut apps: Vec<String> = self.conn.clone().smembers(self.keys.user_apps(user)).await.map_err(unavailable)?;
        apps.sort();
        Ok(apps)
    }
}

#[async_trait]
impl DeviceStore for RedisStore {
    async fn add_device(&self, user: &UserId, device: &str) -> StoreResult<(bool, usize)> {
        let key = self.keys.devices(user);
        // One MULTI on one slot: the count before and the add agree.
        let (before, added): (usize, usize) = redis::pipe()
            .atomic()
            .scard(&key)
            .sadd(&key, device)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok((added == 1, before))
    }

    async fn remove_device(&self, user: &UserId, device: &str) -> StoreResult<()> {
        let key = self.keys.devices(user);
        let mut conn = self.critical().await?;
        let _: usize = conn.srem(&key, device).await.map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }

    async fn put_report(&self, id: &str, report: &Report, ttl: Duration) -> StoreResult<()> {
        let _: () = self
            .conn
            .clone()
            .set_ex(self.keys.report(id), to_json(report)?, ttl_secs(ttl))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_report(&self, id: &str) -> StoreResult<Option<Report>> {
        // GETDEL: a report link works once.
        let raw: Option<String> = self.conn.clone().get_del(self.keys.report(id)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn peek_report(&self, id: &str) -> StoreResult<Option<Report>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.report(id)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }
}

#[async_trait]
impl SessionStore for RedisStore {
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
        let key = self.keys.session(user, sid);
        let mut conn = self.critical().await?;
        let (deleted, _): (usize, usize) = redis::pipe()
            .atomic()
            .del(&key)
            .srem(self.keys.sessions(user), sid.as_str())
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &key).await?;
        Ok(deleted > 0)
    }

    async fn list_sessions(&self, user: &UserId) -> StoreResult<Vec<SessionRecord>> {
        let mut conn = self.conn.clone();
        let sids: Vec<String> = conn.smembers(self.keys.sessions(user)).await.map_err(unavailable)?;
        let sids: Vec<SessionId> = sids.iter().filter_map(|s| SessionId::parse(s)).collect();
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = sids.iter().map(|sid| self.keys.session(user, sid)).collect();
        let raw: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(unavailable)?;
        let mut sessions = Vec::new();
        let mut lapsed = Vec::new();
        for (sid, value) in sids.iter().zip(raw) {
            match value {
                Some(value) => sessions.push(from_json::<SessionRecord>(&value)?),
                None => lapsed.push(sid.as_str()),
            }
        }
        if !lapsed.is_empty() {
            // Sessions that timed out leave their id in the index; tidy it while here.
            let _: usize = conn.srem(self.keys.sessions(user), &lapsed).await.map_err(unavailable)?;
        }
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(sessions)
    }

    async fn delete_all_sessions(&self, user: &UserId) -> StoreResult<usize> {
        let session_prefix = self.keys.session_prefix(user);
        let index = self.keys.sessions(user);
        let mut conn = self.critical().await?;
        let n: usize = self
            .delete_all_script
            .key(&index)
            .arg(session_prefix)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &index).await?;
        Ok(n)
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        // SET … XX KEEPTTL: only a live session is rewritten, and its expiry stays.
        let _: Option<String> = redis::cmd("SET")
            .arg(self.keys.session(&session.user_id, &session.sid))
            .arg(to_json(session)?)
            .arg("XX")
            .arg("KEEPTTL")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl PolicyStore for RedisStore {
    async fn get_policy(&self) -> StoreResult<Option<SignInPolicy>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.policy()).await.map_err(unavailable)?;
        // The field at fault travels as the error's source, for the log and the metric.
        raw.as_deref().map(SignInPolicy::from_stored).transpose().map_err(|e| StoreError::Corrupt(e.into()))
    }

    async fn put_policy(&self, policy: &SignInPolicy, only_if_absent: bool) -> StoreResult<()> {
        let key = self.keys.policy();
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(to_json(policy)?);
        if only_if_absent {
            // Seeding the starting policy is not an admin's change: nothing to confirm.
            cmd.arg("NX");
            let _: Option<String> = cmd.query_async(&mut self.conn.clone()).await.map_err(unavailable)?;
            return Ok(());
        }
        let mut conn = self.critical().await?;
        let _: Option<String> = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }
}

#[async_trait]
impl FactorStore for RedisStore {
    async fn get_factors(&self, user: &UserId) -> StoreResult<SecondFactors> {
        let raw: Option<String> = self.conn.clone().get(self.keys.factors(user)).await.map_err(unavailable)?;
        Ok(raw.as_deref().map(from_json).transpose()?.unwrap_or_default())
    }

    async fn put_factors(&self, user: &UserId, factors: &SecondFactors) -> StoreResult<()> {
        let record_key = self.keys.user(user);
        let data = to_json(factors)?;
        let mut conn = self.critical().await?;
        // Compare-and-set on the record: a block or another change written in between is kept.
        for _ in 0..8 {
            let raw: Option<String> = conn.get(&record_key).await.map_err(unavailable)?;
            let updated = match &raw {
                Some(raw) => {
                    let mut record: User = from_json(raw)?;
                    record.factor_kinds = super::FactorKinds::of(factors);
                    to_json(&record)?
                }
                None => String::new(),
            };
            let written: i64 = self
                .factors_script
                .key(self.keys.factors(user))
                .key(&record_key)
                .arg(&data)
                .arg(raw.unwrap_or_default())
                .arg(updated)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if written == 1 {
                return self.durable(&mut conn, &record_key).await;
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!("the user record kept changing while its factors were written")))
    }

    async fn use_totp_step(&self, user: &UserId, step: u64) -> StoreResult<bool> {
        let accepted: i64 = self
            .totp_step_script
            .key(self.keys.totp_step(user))
            .arg(step)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(accepted == 1)
    }

    async fn put_totp_enrollment(&self, user: &UserId, slot: &str, sealed: &str, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.totp_enrollment(user, slot);
        let _: () = self.conn.clone().set_ex(key, sealed, ttl_secs(ttl)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<Option<String>> {
        self.conn.clone().get(self.keys.totp_enrollment(user, slot)).await.map_err(unavailable)
    }

    async fn delete_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<()> {
        let _: usize = self.conn.clone().del(self.keys.totp_enrollment(user, slot)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn set_recovery_codes(&self, user: &UserId, hashes: &[String]) -> StoreResult<()> {
        let key = self.keys.recovery_codes(user);
        // One MULTI: the old set never mixes with the new one.
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key);
        if !hashes.is_empty() {
            pipe.sadd(&key, hashes);
        }
        let mut conn = self.critical().await?;
        pipe.exec_async(&mut conn).await.map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }

    async fn use_recovery_code(&self, user: &UserId, hash: &str) -> StoreResult<bool> {
        let removed: usize = self.conn.clone().srem(self.keys.recovery_codes(user), hash).await.map_err(unavailable)?;
        Ok(removed == 1)
    }

    async fn recovery_codes_left(&self, user: &UserId) -> StoreResult<usize> {
        self.conn.clone().scard(self.keys.recovery_codes(user)).await.map_err(unavailable)
    }
}

#[async_trait]
impl StepStore for RedisStore {
    async fn put_pending(&self, id: &str, pending: &PendingLogin, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.pending(id);
        // One MULTI: the step never exists without its TTL.
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &[("data", to_json(pending)?), ("tries", "0".to_owned())])
            .expire(&key, ttl_secs(ttl) as i64)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_pending(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        let raw: Option<String> = self.conn.clone().hget(self.keys.pending(id), "data").await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn take_pending_try(&self, id: &str, max_tries: u32) -> StoreResult<Option<(PendingLogin, u32)>> {
        let reply: Option<(String, u32)> = self
            .pending_try_script
            .key(self.keys.pending(id))
            .arg(max_tries)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        reply.map(|(data, tries)| Ok((from_json(&data)?, tries))).transpose()
    }

    async fn consume_pending(&self, id: &str) -> StoreResult<bool> {
        let deleted: usize = self.conn.clone().del(self.keys.pending(id)).await.map_err(unavailable)?;
        Ok(deleted == 1)
    }

    async fn put_challenge(&self, key: &ChallengeKey, challenge: &SmsChallenge, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.challenge(key);
        // One MULTI: a new code replaces the old one, tries reset, never without a TTL.
        redis::pipe()
            .atomic()
            .del(&key)
            .hset_multiple(&key, &[("data", to_json(challenge)?), ("tries", "0".to_owned())])
            .expire(&key, ttl_secs(ttl) as i64)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_challenge(&self, key: &ChallengeKey) -> StoreResult<Option<SmsChallenge>> {
        let raw: Option<String> =
            self.conn.clone().hget(self.keys.challenge(key), "data").await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn take_challenge_try(&self, key: &ChallengeKey, max_tries: u32) -> StoreResult<Option<(SmsChallenge, u32)>> {
        let reply: Option<(String, u32)> = self
            .pending_try_script
            .key(self.keys.challenge(key))
            .arg(max_tries)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        reply.map(|(data, tries)| Ok((from_json(&data)?, tries))).transpose()
    }

    async fn delete_challenge(&self, key: &ChallengeKey) -> StoreResult<bool> {
        let deleted: usize = self.conn.clone().del(self.keys.challenge(key)).await.map_err(unavailable)?;
        Ok(deleted == 1)
    }
}

#[async_trait]
impl GrantStore for RedisStore {
    async fn put_auth_code(&self, id: &str, code: &AuthCode, keep_for: Duration) -> StoreResult<()> {
        let key = self.keys.auth_code(id);
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &[("data", to_json(code)?), ("client", code.client_id.clone())])
            .expire(&key, ttl_secs(keep_for) as i64)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn exchange_auth_code(
        &self,
        id: &str,
        client_id: &str,
        access_id: &str,
    ) -> StoreResult<Option<CodeExchange>> {
        let reply: Option<(String, String)> = self
            .code_script
            .key(self.keys.auth_code(id))
            .arg(access_id)
            .arg(client_id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(match reply {
            None => None,
            Some((outcome, value)) if outcome == "fresh" => Some(CodeExchange::Fresh(Box::new(from_json(&value)?))),
            Some((outcome, _)) if outcome == "wrong_client" => Some(CodeExchange::WrongClient),
            Some((_, access)) => Some(CodeExchange::Reused(Some(access).filter(|a| !a.is_empty()))),
        })
    }

    async fn put_access_grant(&self, id: &str, grant: &AccessGrant, ttl: Duration) -> StoreResult<()> {
        let _: () = self
            .conn
            .clone()
            .set_ex(self.keys.access_token(id), to_json(grant)?, ttl_secs(ttl))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_access_grant(&self, id: &str) -> StoreResult<Option<AccessGrant>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.access_token(id)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn delete_access_grant(&self, id: &str) -> StoreResult<()> {
        let key = self.keys.access_token(id);
        let mut conn = self.critical().await?;
        let _: usize = conn.del(&key).await.map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }
}

#[async_trait]
impl ClientStore for RedisStore {
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.client(id)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn put_client(&self, client: &Client) -> StoreResult<()> {
        // One MULTI on one slot (`{clients}`): a client is never listed without its record.
        let key = self.keys.client(&client.id);
        let mut conn = self.critical().await?;
        redis::pipe()
            .atomic()
            .set(&key, to_json(client)?)
            .sadd(self.keys.clients(), &client.id)
            .exec_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = conn.smembers(self.keys.clients()).await.map_err(unavailable)?;
        ids.sort();
        let mut clients = Vec::new();
        for id in ids {
            if let Some(client) = self.get_client(&id).await? {
                clients.push(client);
            }
        }
        Ok(clients)
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        // One MULTI on one slot (`{clients}`), as in put_client.
        let key = self.keys.client(id);
        let mut conn = self.critical().await?;
        let (deleted, _): (usize, usize) = redis::pipe()
            .atomic()
            .del(&key)
            .srem(self.keys.clients(), id)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &key).await?;
        Ok(deleted == 1)
    }
}

#[async_trait]
impl AuditStore for RedisStore {
    async fn append_event(&self, event: &AuditEvent) -> StoreResult<()> {
        let data = to_json(event)?;
        let xadd = |key: String, cap: usize| event_xadd(key, cap, &data);
        let global = xadd(self.keys.audit(), super::GLOBAL_AUDIT_CAP);
        let Some(user) = &event.user else {
            return global.exec_async(&mut self.conn.clone()).await.map_err(unavailable);
        };
        let personal = xadd(self.keys.user_audit(user), super::USER_AUDIT_CAP);
        self.append_both(global, personal).await
    }

    async fn append_event_evenly(&self, event: &AuditEvent) -> StoreResult<()> {
        if event.user.is_some() {
            return self.append_event(event).await;
        }
        let data = to_json(event)?;
        let global = event_xadd(self.keys.audit(), super::GLOBAL_AUDIT_CAP, &data);
        // The personal write an account would get, to a stream that is never created.
        let mut nobody = redis::cmd("XADD");
        nobody.arg(self.keys.no_user_audit()).arg("NOMKSTREAM");
        nobody.arg("MAXLEN").arg("~").arg(super::USER_AUDIT_CAP).arg("*").arg("data").arg(&data);
        self.append_both(global, nobody).await
    }

    async fn user_events(&self, user: &UserId, count: usize) -> StoreResult<Vec<AuditEvent>> {
        self.read_events(&self.keys.user_audit(user), "+", count).await
    }

    async fn global_events(&self, before: Option<&str>, count: usize) -> StoreResult<Vec<AuditEvent>> {
        // An exclusive upper bound: `(id` (Redis >= 6.2).
        let end = before.map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        self.read_events(&self.keys.audit(), &end, count).await
    }
}

/// `prefix` with Redis glob characters escaped, for `SCAN … MATCH`.
fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisStore {
    async fn read_events(&self, key: &str, end: &str, count: usize) -> StoreResult<Vec<AuditEvent>> {
        type Entry = (String, std::collections::HashMap<String, String>);
        let entries: Vec<Entry> = redis::cmd("XREVRANGE")
            .arg(key)
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        entries
            .into_iter()
            .map(|(id, fields)| {
                let mut event: AuditEvent = from_json(fields.get("data").map_or("", String::as_str))?;
                event.id = id;
                Ok(event)
            })
            .collect()
    }

    /// Writes an event to the global log and a personal one.
    async fn append_both(&self, global: redis::Cmd, personal: redis::Cmd) -> StoreResult<()> {
        // Two streams in different hash slots: sent as two concurrent commands, not one
        // pipeline (a cluster refuses a pipeline across slots). Not atomic, and it never was
        // (a plain pipeline): an event may reach one log and not the other if Redis fails
        // between them; the caller sees the error either way.
        let (mut a, mut b) = (self.conn.clone(), self.conn.clone());
        tokio::try_join!(global.exec_async(&mut a), personal.exec_async(&mut b)).map_err(unavailable)?;
        Ok(())
    }

    async fn load_user(&self, id: &str) -> StoreResult<User> {
        let id = UserId::parse(id).context("malformed user id in index").map_err(StoreError::Corrupt)?;
        let raw: Option<String> = self.conn.clone().get(self.keys.user(&id)).await.map_err(unavailable)?;
        let raw = raw.context("user index points at no record").map_err(StoreError::Corrupt)?;
        from_json(&raw)
    }
}

/// `XADD key MAXLEN ~ cap * data <event>`: one audit log entry.
fn event_xadd(key: String, cap: usize, data: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("MAXLEN").arg("~").arg(cap).arg("*").arg("data").arg(data);
    cmd
}
