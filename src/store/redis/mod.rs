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

mod attempts;
mod audit;
mod clients;
mod devices;
mod email_change;
mod factors;
mod grants;
mod identity;
mod limits;
mod passkeys;
mod policy;
mod queue;
mod refresh;
mod sessions;
mod steps;
mod suppressions;
mod users;

pub use queue::RedisQueue;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::connection::{RedisConnection, Replication};
use super::connector::RedisConnector;
use crate::store::{Keys, StoreError, StoreResult};

/// A store in Redis. Cloning is cheap: the connection is shared.
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    connector: RedisConnector,
    keys: Keys,
    attempt_script: redis::Script,
    advance_script: redis::Script,
    put_attempt_script: redis::Script,
    limit_script: redis::Script,
    limits_script: redis::Script,
    delete_all_script: redis::Script,
    pending_try_script: redis::Script,
    totp_step_script: redis::Script,
    code_script: redis::Script,
    factors_script: redis::Script,
    replace_user_script: redis::Script,
    session_client_script: redis::Script,
    refresh_script: redis::Script,
    delete_refresh_script: redis::Script,
    delete_user_script: redis::Script,
    delete_index_script: redis::Script,
    move_email_script: redis::Script,
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
            // Reads or changes a sign-in attempt. One script, so that checking the status and changing
            // it cannot interleave with another request on any instance.
            // KEYS[1] = attempt hash (`status`, `expires`, `data`, `tries`).
            // ARGV[1] = now (unix ms); ARGV[2] = peek | consume | try | kill; ARGV[3] = max code tries.
            // Returns nil (unknown) or {outcome, data, tries}, outcome = valid | used | dead | expired.
            attempt_script: redis::Script::new(include_str!("lua/attempt.lua")),
            // Moves an address's link generation on only if it still is what the caller saw, so two
            // sign-ins racing on different links of one address cannot both win.
            // KEYS[1] = generation; ARGV[1] = expected; ARGV[2] = TTL seconds. Returns 1 or 0.
            advance_script: redis::Script::new(include_str!("lua/advance_generation.lua")),
            // Writes a new attempt with its TTL in one step. KEYS[1] = attempt hash; ARGV[1] =
            // data, ARGV[2] = expires (unix ms), ARGV[3] = TTL seconds.
            put_attempt_script: redis::Script::new(include_str!("lua/put_attempt.lua")),
            // Counts hits on a rate-limit counter, starting its window with the first.
            // KEYS[1] = counter; ARGV[1] = cost, ARGV[2] = window ms. Returns {count, ms left}.
            limit_script: redis::Script::new(include_str!("lua/hit_limit.lua")),
            // Counts a hit on several counters in order, stopping at the first over its maximum.
            // KEYS[i] = counter; ARGV[2i-1], ARGV[2i] = its window ms and maximum.
            // Returns {} or {i, count, ms left}. Not on a Redis Cluster (the counters' slots differ).
            limits_script: redis::Script::new(include_str!("lua/hit_limits.lua")),
            // Ends every session of a user: the index and each session go in one step (one hash slot).
            // KEYS[1] = the user's session set; ARGV[1] = the session key prefix (…:session:).
            // The session keys are not declared (they are known only after SMEMBERS), which Redis
            // allows, also in a cluster, because they share KEYS[1]'s hash tag `{u:<id>}` and so its
            // slot; the cluster contract test holds that.
            delete_all_script: redis::Script::new(include_str!("lua/delete_all_sessions.lua")),
            // Spends one guess on a pending second-factor step or an SMS code; past the limit it is
            // deleted. KEYS[1] = hash (`data`, `tries`); ARGV[1] = max tries. Returns nil or {data, tries}.
            pending_try_script: redis::Script::new(include_str!("lua/take_try.lua")),
            // Accepts a TOTP time step only if it is later than every step accepted before, so a code
            // (or an earlier one) is never accepted twice, even by two instances at once.
            // KEYS[1] = last step; ARGV[1] = step. Returns 1 (accepted) or 0.
            totp_step_script: redis::Script::new(include_str!("lua/use_totp_step.lua")),
            // Uses an authorization code once: the first caller marks it used and records the access
            // token it issues; later callers learn that id (to revoke it).
            // A code presented by another client is left alone (a stranger cannot burn it).
            // KEYS[1] = code hash (`data`, `client`, `access`); ARGV[1] = access token id; ARGV[2] = client.
            // Returns nil, {'fresh', data}, {'reused', access id or ''} or {'wrong_client', ''}.
            code_script: redis::Script::new(include_str!("lua/exchange_code.lua")),
            // Replaces a user's second factors and, if the user record is still what the caller read,
            // rewrites it with the factors' kinds — one step on one slot (`{u:<id>}`), so the record
            // never disagrees with the factors it describes. KEYS[1] = factors, KEYS[2] = user record;
            // ARGV[1] = factors JSON, ARGV[2] = the record as read ('' for none), ARGV[3] = the new record.
            // Returns 1, or 0 (nothing written) when the record changed in between (the caller retries).
            factors_script: redis::Script::new(include_str!("lua/put_factors.lua")),
            // KEYS[1] = a user's record; ARGV[1] = the record as read, ARGV[2] = the new one.
            // Returns 1, 0 (nothing written: it changed since, the caller retries) or -1 (gone).
            replace_user_script: redis::Script::new(include_str!("lua/replace_user.lua")),
            // Records an app in a session's set of apps told at its end, only while the session
            // lives, expiring with it: checking and recording in one step (one slot, `{u:<id>}`),
            // so a session that ends meanwhile either has the app in its set or refuses it.
            // KEYS[1] = the session, KEYS[2] = its apps; ARGV[1] = the client id. Returns 1 or 0.
            session_client_script: redis::Script::new(include_str!("lua/add_session_client.lua")),
            // Presents a refresh token: the current one is spent (remembered in the spent list,
            // capped) and the next made current; a spent one revokes the family and drops it from
            // the index; another client's call changes nothing. One step on `{u:<id>}`, so of
            // concurrent calls with one token exactly one rotates.
            // KEYS[1] = family hash (`data`, `client`, `current`), KEYS[2] = spent list,
            // KEYS[3] = the user's family index; ARGV[1] = presented hash, ARGV[2] = next hash,
            // ARGV[3] = client, ARGV[4] = family id, ARGV[5] = spent hashes kept.
            // Returns {'rotated', data}, {'reused', data}, {'wrong_client', ''} or {'unknown', ''}.
            refresh_script: redis::Script::new(include_str!("lua/rotate_refresh.lua")),
            // Revokes every refresh family of a user: the index, each family and its spent list in
            // one step. KEYS[1] = the index; ARGV[1] = family key prefix, ARGV[2] = spent list
            // prefix. The undeclared keys share KEYS[1]'s hash tag `{u:<id>}` (as for sessions).
            delete_refresh_script: redis::Script::new(include_str!("lua/delete_refresh_families.lua")),
            // Deletes every key of a user in one step on `{u:<id>}`: the fixed keys are declared
            // (record first), each session, its app set, each refresh family and its spent list
            // are found through their indexes and share the tag. KEYS = `Keys::user_fixed_keys`;
            // ARGV[1..4] = session, session apps, refresh family and spent list prefixes.
            // Returns 1 when the record existed.
            delete_user_script: redis::Script::new(include_str!("lua/delete_user.lua")),
            // Removes an address's index entry only while it names the deleted user (a single
            // key, so it runs anywhere). KEYS[1] = the entry; ARGV[1] = the user id.
            delete_index_script: redis::Script::new(include_str!("lua/delete_user_index.lua")),
            // Spends a pending change of address (or a revert link) and rewrites the user record
            // with the new address in one step on `{u:<id>}`, if the record is still what the
            // caller read: of concurrent redemptions of one link exactly one moves. KEYS[1] = what
            // is spent, KEYS[2] = the record; ARGV = mode, what was read of KEYS[1], the record
            // as read, the new record. Returns 1, 0 (record changed: read again) or -1 (spent).
            move_email_script: redis::Script::new(include_str!("lua/move_email.lua")),
        })
    }

    /// Loads the scripts of a link request into Redis (on a cluster, every node), so that
    /// even the first request after a start sends each as one `EVALSHA`. Should Redis lose
    /// them (a restart, a failover, `SCRIPT FLUSH`), the first call after that loads its
    /// script again by itself.
    pub async fn load_scripts(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        for script in [&self.limits_script, &self.limit_script, &self.put_attempt_script, &self.attempt_script] {
            script.prepare_invoke().load_async(&mut conn).await.map_err(unavailable)?;
        }
        Ok(())
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
