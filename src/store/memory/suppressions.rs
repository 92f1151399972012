//! [`SuppressionStore`](crate::store::SuppressionStore) in memory.

use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::store::{StoreResult, Suppression, SuppressionStore};

#[async_trait]
impl SuppressionStore for MemoryStore {
    async fn put_suppression(&self, lookup: &str, entry: &Suppression, ttl: Duration) -> StoreResult<bool> {
        let old = self.lock_for_write().suppressions.insert(lookup.to_owned(), Expiring::new(entry.clone(), ttl));
        Ok(!old.is_some_and(|e| e.live()))
    }

    async fn get_suppression(&self, lookup: &str) -> StoreResult<Option<Suppression>> {
        Ok(self.lock().suppressions.get(lookup).filter(|e| e.live()).map(|e| e.value.clone()))
    }

    async fn delete_suppression(&self, lookup: &str) -> StoreResult<bool> {
        Ok(self.lock().suppressions.remove(lookup).is_some_and(|e| e.live()))
    }
}
