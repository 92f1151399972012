//! [`DeviceStore`](crate::store::DeviceStore) in Redis: known devices and "this wasn't me" links.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::domain::UserId;
use crate::store::{DeviceStore, Report, StoreResult};

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

    async fn set_user_lang(&self, user: &UserId, tag: &str) -> StoreResult<()> {
        self.conn.clone().set(self.keys.user_lang(user), tag).await.map_err(unavailable)
    }

    async fn user_lang(&self, user: &UserId) -> StoreResult<Option<String>> {
        self.conn.clone().get(self.keys.user_lang(user)).await.map_err(unavailable)
    }

    async fn count_devices(&self, user: &UserId) -> StoreResult<usize> {
        self.conn.clone().scard(self.keys.devices(user)).await.map_err(unavailable)
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
