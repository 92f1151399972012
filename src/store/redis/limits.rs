//! [`LimitStore`](crate::store::LimitStore) in Redis: rate-limit counters.

use std::time::Duration;

use async_trait::async_trait;

use super::{RedisStore, unavailable};
use crate::store::{LimitStore, RateKey, StoreResult};

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
