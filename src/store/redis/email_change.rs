//! [`EmailChangeStore`](crate::store::EmailChangeStore) in Redis. The pending change and the
//! revert links sit under the account's tag, so spending one and rewriting the record is one
//! script; the address index entries are untagged (one slot each), so a move claims the new
//! entry first, then rewrites the record, then drops the old entry — as an account's
//! deletion does. Between the steps both addresses lead to the same account.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::domain::{Email, UserId};
use crate::store::{
    EmailChangeStore, EmailMoveSource, EmailMoved, EmailRevert, PendingEmailChange, StoreError, StoreResult, User,
};

/// The revert links hash's counter field.
const REVERT_SEQ: &str = "#seq";

/// How often a move reads the record again when it changed under it (a touch of the factors).
const MOVE_RETRIES: usize = 3;

#[async_trait]
impl EmailChangeStore for RedisStore {
    async fn put_email_change(&self, change: &PendingEmailChange, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.email_change(&change.user_id);
        // One MULTI: the new change never inherits the old one's spent tries.
        let _: () = redis::pipe()
            .atomic()
            .del(&key)
            .hset(&key, "data", to_json(change)?)
            .expire(&key, ttl_secs(ttl) as i64)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_email_change(&self, user: &UserId) -> StoreResult<Option<PendingEmailChange>> {
        let raw: Option<String> =
            self.conn.clone().hget(self.keys.email_change(user), "data").await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn take_email_change_try(
        &self,
        user: &UserId,
        max_tries: u32,
    ) -> StoreResult<Option<(PendingEmailChange, u32)>> {
        // The second-factor steps' try script: count, then read; past the limit, delete.
        let taken: Option<(String, u32)> = self
            .pending_try_script
            .key(self.keys.email_change(user))
            .arg(max_tries)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        taken.map(|(data, tries)| Ok((from_json(&data)?, tries))).transpose()
    }

    async fn put_email_revert(&self, id: &str, revert: &EmailRevert, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.email_reverts(&revert.user_id);
        // Numbered in the hash's own counter (a field no link id can be: ids are base64url).
        let seq: u64 = self.conn.clone().hincr(&key, REVERT_SEQ, 1).await.map_err(unavailable)?;
        let revert = EmailRevert { seq, ..revert.clone() };
        // Each link carries its own expiry; the hash lives as long as the newest.
        let _: () = redis::pipe()
            .atomic()
            .hset(&key, id, to_json(&revert)?)
            .expire(&key, ttl_secs(ttl) as i64)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_email_revert(&self, user: &UserId, id: &str) -> StoreResult<Option<EmailRevert>> {
        let raw: Option<String> =
            self.conn.clone().hget(self.keys.email_reverts(user), id).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn move_email(
        &self,
        user: &UserId,
        source: &EmailMoveSource,
        from_lookup: &str,
        to_lookup: &str,
        to: &Email,
    ) -> StoreResult<EmailMoved> {
        let record_key = self.keys.user(user);
        let (spent_key, mode, spent) = match source {
            EmailMoveSource::Admin => (record_key.clone(), "admin", String::new()),
            EmailMoveSource::Change(id) => {
                let key = self.keys.email_change(user);
                let raw: Option<String> = self.conn.clone().hget(&key, "data").await.map_err(unavailable)?;
                let Some(raw) = raw else { return Ok(EmailMoved::Gone) };
                let change: PendingEmailChange = from_json(&raw)?;
                if &change.id != id {
                    return Ok(EmailMoved::Gone);
                }
                (key, "change", raw)
            }
            EmailMoveSource::Revert(id) => (self.keys.email_reverts(user), "revert", id.clone()),
        };
        // Critical: a changed address must survive a failover (the old one no longer signs in).
        let mut conn = self.critical().await?;
        let to_index = self.keys.user_by_email(to_lookup);
        if !self.claim_index(&mut conn, &to_index, user).await? {
            return Ok(EmailMoved::Taken);
        }
        for _ in 0..MOVE_RETRIES {
            let read: Option<String> = conn.get(&record_key).await.map_err(unavailable)?;
            let Some(read) = read else {
                self.release_index(&mut conn, &to_index, user).await?;
                return Ok(EmailMoved::Gone);
            };
            let mut record: User = from_json(&read)?;
            record.email = to.clone();
            let written = to_json(&record)?;
            // Read after the record: a newer link comes only with a change of the record,
            // which the script notices (and this reads again).
            let newer = match source {
                EmailMoveSource::Revert(id) => self.newer_reverts(&mut conn, &spent_key, id).await?,
                _ => Vec::new(),
            };
            let moved: i64 = self
                .move_email_script
                .key(&spent_key)
                .key(&record_key)
                .arg(mode)
                .arg(&spent)
                .arg(&read)
                .arg(&written)
                .arg(&newer)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            match moved {
                1 => {
                    self.durable(&mut conn, &record_key).await?;
                    if from_lookup != to_lookup {
                        let from_index = self.keys.user_by_email(from_lookup);
                        let _: i64 = self
                            .delete_index_script
                            .key(&from_index)
                            .arg(user.as_str())
                            .invoke_async(&mut conn)
                            .await
                            .map_err(unavailable)?;
                        self.durable(&mut conn, &from_index).await?;
                    }
                    return Ok(EmailMoved::Moved(record));
                }
                0 => continue,
                _ => {
                    // Spent by a concurrent move (whose record now says `to`: its entry stays)
                    // or never there (the entry just claimed goes again).
                    let now: Option<String> = conn.get(&record_key).await.map_err(unavailable)?;
                    let now: Option<User> = now.as_deref().map(from_json).transpose()?;
                    if now.is_none_or(|u| &u.email != to) {
                        self.release_index(&mut conn, &to_index, user).await?;
                    }
                    return Ok(EmailMoved::Gone);
                }
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!("the user record kept changing during a change of address")))
    }
}

impl RedisStore {
    /// Makes the index entry `index` name `user`, unless it names another account that has a
    /// record (an entry naming none is a deletion stopped half-way, finished here). True when
    /// it names `user` now.
    async fn claim_index(&self, conn: &mut super::RedisConnection, index: &str, user: &UserId) -> StoreResult<bool> {
        for _ in 0..2 {
            let claimed: bool = conn.set_nx(index, user.as_str()).await.map_err(unavailable)?;
            if claimed {
                return Ok(true);
            }
            let owner: Option<String> = conn.get(index).await.map_err(unavailable)?;
            let Some(owner) = owner else { continue };
            if owner == user.as_str() {
                return Ok(true);
            }
            if self.try_load_user(&owner).await?.is_some() {
                return Ok(false);
            }
            let _: i64 =
                self.delete_index_script.key(index).arg(&owner).invoke_async(conn).await.map_err(unavailable)?;
        }
        let owner: Option<String> = conn.get(index).await.map_err(unavailable)?;
        owner.context("address index entry vanished twice").map_err(StoreError::Unavailable).map(|o| o == user.as_str())
    }

    /// The ids of the revert links in `key` made after the link `id` (numbered higher).
    async fn newer_reverts(&self, conn: &mut super::RedisConnection, key: &str, id: &str) -> StoreResult<Vec<String>> {
        let mut links: std::collections::HashMap<String, String> = conn.hgetall(key).await.map_err(unavailable)?;
        links.remove(REVERT_SEQ);
        let Some(mine) = links.get(id).map(|raw| from_json::<EmailRevert>(raw)).transpose()? else {
            return Ok(Vec::new());
        };
        let mut newer = Vec::new();
        for (other, raw) in &links {
            if from_json::<EmailRevert>(raw)?.seq > mine.seq {
                newer.push(other.clone());
            }
        }
        Ok(newer)
    }

    /// Drops the index entry `index` if it names `user`.
    async fn release_index(&self, conn: &mut super::RedisConnection, index: &str, user: &UserId) -> StoreResult<()> {
        let _: i64 =
            self.delete_index_script.key(index).arg(user.as_str()).invoke_async(conn).await.map_err(unavailable)?;
        Ok(())
    }
}
