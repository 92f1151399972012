//! [`LimitStore`](crate::store::LimitStore) in Redis: rate-limit counters.

use std::time::Duration;

use async_trait::async_trait;

use super::{RedisStore, unavailable};
use crate::store::{LimitHit, LimitOver, LimitStore, RateKey, StoreError, StoreResult, hit_one_by_one};

#[async_trait]
impl LimitStore for RedisStore {
    async fn hit_limit(&self, key: &RateKey, window: Duration, cost: u64) -> StoreResult<(u64, Duration)> {
        // A fixed window in one script call (see `lua/hit_limit.lua`): one command sent, where
        // a pipeline of `INCRBY`, `PEXPIRE … NX` and `PTTL` was three.
        let window_ms = window_ms(window);
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

    async fn hit_limits(&self, hits: &[LimitHit<'_>]) -> StoreResult<Option<LimitOver>> {
        // On a Cluster the counters live in different slots, so each is its own script call.
        if self.connector.is_cluster() {
            return hit_one_by_one(self, hits).await;
        }
        // Elsewhere one script call counts them all (see `lua/hit_limits.lua`).
        let mut invocation = self.limits_script.prepare_invoke();
        for hit in hits {
            invocation.key(self.keys.rate(hit.key)).arg(window_ms(hit.window)).arg(hit.max);
        }
        let over: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await.map_err(unavailable)?;
        match over[..] {
            [] => Ok(None),
            [place, count, left_ms] => Ok(Some(LimitOver {
                index: usize::try_from(place - 1)
                    .ok()
                    .filter(|index| *index < hits.len())
                    .ok_or_else(|| unexpected(&over))?,
                count: u64::try_from(count).map_err(|_| unexpected(&over))?,
                // `PTTL` after `PEXPIRE … NX` in the same step is never negative; 0 if it were.
                left: Duration::from_millis(u64::try_from(left_ms).unwrap_or(0)),
            })),
            // Not what the script answers: no count can be vouched for, so nothing is allowed.
            _ => Err(unexpected(&over)),
        }
    }
}

/// A window in whole milliseconds, at least one (`PEXPIRE` refuses 0).
fn window_ms(window: Duration) -> u64 {
    window.as_millis().max(1) as u64
}

/// A reply of `lua/hit_limits.lua` that is not of its shape.
fn unexpected(reply: &[i64]) -> StoreError {
    StoreError::Corrupt(anyhow::anyhow!("the rate-limit script answered {} numbers", reply.len()))
}
