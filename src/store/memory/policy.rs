//! [`PolicyStore`](crate::store::PolicyStore) in memory: the shared sign-in policy.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::SignInPolicy;
use crate::store::{PolicyStore, StoreResult};

#[async_trait]
impl PolicyStore for MemoryStore {
    async fn get_policy(&self) -> StoreResult<Option<SignInPolicy>> {
        Ok(self.lock().policy.clone())
    }

    async fn put_policy(&self, policy: &SignInPolicy, only_if_absent: bool) -> StoreResult<()> {
        let mut state = self.lock();
        if !(only_if_absent && state.policy.is_some()) {
            state.policy = Some(policy.clone());
        }
        Ok(())
    }
}
