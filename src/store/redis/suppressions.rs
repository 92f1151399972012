//! [`SuppressionStore`](crate::store::SuppressionStore) in Redis: one string per address.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, unavailable};
use crate::store::{StoreResult, Suppression, SuppressionStore};

#[async_trait]
impl SuppressionStore for RedisStore {
    async fn put_suppression(&self, lookup: &str, entry: &Suppression, ttl: Duration) -> StoreResult<bool> {
        // `SET … GET` in one command: the entry is written and what it replaced is known.
        let old: Option<String> = redis::cmd("SET")
            .arg(self.keys.suppression(lookup))
            .arg(to_json(entry)?)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .arg("GET")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(old.is_none())
    }

    async fn get_suppression(&self, lookup: &str) -> StoreResult<Option<Suppression>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.suppression(lookup)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn delete_suppression(&self, lookup: &str) -> StoreResult<bool> {
        let removed: usize = self.conn.clone().del(self.keys.suppression(lookup)).await.map_err(unavailable)?;
        Ok(removed == 1)
    }
}
