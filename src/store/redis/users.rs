//! [`UserStore`](crate::store::UserStore) in Redis: accounts by the keyed hash of their address,
//! and the apps each signed in to.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, unavailable};
use crate::domain::{Email, UserId};
use crate::store::{FactorStore, StoreError, StoreResult, User, UserStore};

/// How many times a block is tried against other writes to the user's record.
const BLOCK_TRIES: u32 = 64;

#[async_trait]
impl UserStore for RedisStore {
    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User> {
        let mut conn = self.conn.clone();
        let index = self.keys.user_by_email(lookup);
        if let Some(id) = conn.get::<_, Option<String>>(&index).await.map_err(unavailable)? {
            if let Some(user) = self.try_load_user(&id).await? {
                return Ok(user);
            }
            // An index entry naming no record: a deletion stopped between its two steps (every
            // key of a user shares one slot, so a record is never lost alone). Finish it.
            let _: i64 =
                self.delete_index_script.key(&index).arg(&id).invoke_async(&mut conn).await.map_err(unavailable)?;
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
            // An entry naming no record is a deletion stopped half-way: no account.
            Some(id) => self.try_load_user(&id).await,
            None => {
                // The second read an account costs, of a record nobody has: an unknown
                // address takes the same commands and round trips as a known one.
                let _: Option<String> = self.conn.clone().get(self.keys.no_user()).await.map_err(unavailable)?;
                Ok(None)
            }
        }
    }

    async fn set_blocked(&self, lookup: &str, blocked: bool) -> StoreResult<Option<(UserId, bool)>> {
        // The index entry alone: the record is read in the loop below.
        let id: Option<String> = self.conn.clone().get(self.keys.user_by_email(lookup)).await.map_err(unavailable)?;
        let Some(id) = id else { return Ok(None) };
        let id = UserId::parse(&id).context("malformed user id in index").map_err(StoreError::Corrupt)?;
        // Critical: a block must survive a failover.
        let key = self.keys.user(&id);
        let mut conn = self.critical().await?;
        // Compare-and-set on the record as read, so a change written in between is kept. A
        // block is the administrator's security action: it tries as hard as a factor removal
        // (64 tries, a growing pause after each lost one), so that the owner's own changes to
        // the record cannot keep it out.
        for tries in 0..BLOCK_TRIES {
            if tries > 0 {
                tokio::time::sleep(Duration::from_micros(100 * u64::from(tries))).await;
            }
            let raw: Option<String> = conn.get(&key).await.map_err(unavailable)?;
            let Some(raw) = raw else { return Ok(None) };
            let mut record: User = from_json(&raw)?;
            let changed = record.blocked != blocked;
            record.blocked = blocked;
            let written: i64 = self
                .replace_user_script
                .key(&key)
                .arg(&raw)
                .arg(to_json(&record)?)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            match written {
                1 => return self.durable(&mut conn, &key).await.map(|()| Some((record.id, changed))),
                -1 => return Ok(None),
                _ => {}
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!("the user record kept changing while its block was written")))
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

    async fn get_user(&self, user: &UserId) -> StoreResult<Option<User>> {
        self.try_load_user(user.as_str()).await
    }

    async fn delete_user(&self, lookup: &str, user: &UserId) -> StoreResult<bool> {
        // Critical: a deleted account must not come back with a failover. The user's keys go
        // first, in one step (one slot), so whatever happens next nothing can sign in to it;
        // the index entry, in another slot, second.
        let record = self.keys.user(user);
        // One signature counter per passkey, named by the credential ids the factors list.
        let factors = self.get_factors(user).await?;
        // The WebAuthn handle index entry (another slot) goes after the user's keys, like the
        // address index.
        let handle: Option<String> =
            self.conn.clone().get(self.keys.passkey_handle(user)).await.map_err(unavailable)?;
        let mut keys = self.keys.user_fixed_keys(user);
        keys.extend(factors.passkeys.iter().map(|p| self.keys.passkey_counter(user, &p.id)));
        let mut conn = self.critical().await?;
        let existed: i64 = self
            .delete_user_script
            .key(keys)
            .arg(self.keys.session_prefix(user))
            .arg(self.keys.session_clients_prefix(user))
            .arg(self.keys.refresh_family_prefix(user))
            .arg(self.keys.refresh_spent_prefix(user))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &record).await?;
        let index = self.keys.user_by_email(lookup);
        let _: i64 = self
            .delete_index_script
            .key(&index)
            .arg(user.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &index).await?;
        if let Some(handle) = handle {
            let owner = self.keys.passkey_owner(&handle);
            let _: i64 = self
                .delete_index_script
                .key(&owner)
                .arg(user.as_str())
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        Ok(existed == 1)
    }
}

impl RedisStore {
    /// The user record an index entry points at.
    async fn load_user(&self, id: &str) -> StoreResult<User> {
        let user = self.try_load_user(id).await?;
        user.context("user index points at no record").map_err(StoreError::Corrupt)
    }

    /// The user record of `id`, if there is one.
    pub(super) async fn try_load_user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = UserId::parse(id).context("malformed user id in index").map_err(StoreError::Corrupt)?;
        let raw: Option<String> = self.conn.clone().get(self.keys.user(&id)).await.map_err(unavailable)?;
        raw.map(|raw| from_json(&raw)).transpose()
    }
}
