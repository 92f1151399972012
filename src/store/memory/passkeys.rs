//! [`PasskeyStore`](crate::store::PasskeyStore) in memory: passkey ceremonies and counters.

use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::domain::UserId;
use crate::store::{PasskeyCeremony, PasskeyStore, StoreResult};

#[async_trait]
impl PasskeyStore for MemoryStore {
    async fn put_passkey_ceremony(&self, id: &str, ceremony: &PasskeyCeremony, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().ceremonies.insert(id.to_owned(), Expiring::new(ceremony.clone(), ttl));
        Ok(())
    }

    async fn take_passkey_ceremony(&self, id: &str) -> StoreResult<Option<PasskeyCeremony>> {
        Ok(self.lock().ceremonies.remove(id).filter(|e| e.live()).map(|e| e.value))
    }

    async fn use_passkey_counter(&self, user: &UserId, credential: &str, counter: u32) -> StoreResult<bool> {
        let mut state = self.lock();
        let key = (user.clone(), credential.to_owned());
        if state.passkey_counters.get(&key).is_some_and(|last| counter <= *last) {
            return Ok(false);
        }
        state.passkey_counters.insert(key, counter);
        Ok(true)
    }

    async fn forget_passkey_counter(&self, user: &UserId, credential: &str) -> StoreResult<()> {
        self.lock().passkey_counters.remove(&(user.clone(), credential.to_owned()));
        Ok(())
    }

    async fn put_passkey_owner(&self, handle: &str, user: &UserId) -> StoreResult<()> {
        self.lock_for_write().passkey_owners.insert(handle.to_owned(), user.clone());
        Ok(())
    }

    async fn passkey_owner(&self, handle: &str) -> StoreResult<Option<UserId>> {
        Ok(self.lock().passkey_owners.get(handle).cloned())
    }
}
