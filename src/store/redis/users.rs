//! [`UserStore`](crate::store::UserStore) in Redis: accounts by the keyed hash of their address,
//! and the apps each signed in to.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, unavailable};
use crate::domain::{Email, UserId};
use crate::store::{StoreError, StoreResult, User, UserStore};

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

impl RedisStore {
    /// The user record an index entry points at.
    async fn load_user(&self, id: &str) -> StoreResult<User> {
        let id = UserId::parse(id).context("malformed user id in index").map_err(StoreError::Corrupt)?;
        let raw: Option<String> = self.conn.clone().get(self.keys.user(&id)).await.map_err(unavailable)?;
        let raw = raw.context("user index points at no record").map_err(StoreError::Corrupt)?;
        from_json(&raw)
    }
}
