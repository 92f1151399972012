//! [`LimitStore`](crate::store::LimitStore) in Redis: rate-limit counters.

use std::time::Duration;

use async_trait::async_trait;

use super::{RedisStore, unavailable};
use crate::store::{LimitStore, RateKey, StoreResult};

#[async_trait]
impl LimitStore for RedisStore {
    async fn hit_limit(&self, key: &RateKey, window: Duration, cost: u64) -> StoreResult<(u64, Duration)> {
        // A fixed window in one script call (see `lua/hit_limit.lua`): one command sent, where
        // a pipeline of `INCRBY`, `PEXPIRE … NX` and `PTTL` was three.
        let window_ms = window.as_millis().max(1) as u64;
        let (count, left_ms): (u64, i64) = self
            .limit_script
            .key(self.keys.rate(key))
            .arg(cost)
            .arg(window_ms)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        // `PTTL` after `PEXPIRE … NX` in the same step is never negative; 0 if it were.
        let left_ms = left_ms.max(0) as u64;
        Ok((count, Duration::from_millis(left_ms)))
    }
}
