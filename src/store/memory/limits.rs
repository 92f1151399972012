//! [`LimitStore`](crate::store::LimitStore) in memory: rate-limit counters.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::store::{LimitStore, RateKey, StoreResult};

#[async_trait]
impl LimitStore for MemoryStore {
    async fn hit_limit(&self, key: &RateKey, window: Duration, cost: u64) -> StoreResult<(u64, Duration)> {
        let mut state = self.lock_for_write();
        let counter = state.limits.entry(key.clone()).or_insert_with(|| Expiring::new(0, window));
        if !counter.live() {
            *counter = Expiring::new(0, window);
        }
        counter.value += cost;
        Ok((counter.value, counter.until.saturating_duration_since(Instant::now())))
    }
}
