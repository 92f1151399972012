//! [`IdentityStore`](crate::store::IdentityStore) in memory: whether the store answers, which
//! deployment it holds, and voiding what was live after a restore.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{IdentityStore, StoreIdentity, StoreResult};

#[async_trait]
impl IdentityStore for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn get_identity(&self) -> StoreResult<Option<StoreIdentity>> {
        Ok(self.lock().identity.clone())
    }

    async fn put_identity(&self, identity: &StoreIdentity, only_if_absent: bool) -> StoreResult<bool> {
        let mut state = self.lock();
        if only_if_absent && state.identity.is_some() {
            return Ok(false);
        }
        state.identity = Some(identity.clone());
        Ok(true)
    }

    async fn void_live_state(&self) -> StoreResult<usize> {
        let mut state = self.lock();
        let live_sets = state.user_sessions.len();
        let voided = state.sessions.len()
            + live_sets
            + state.attempts.len()
            + state.pending.len()
            + state.challenges.len()
            + state.enrollments.len()
            + state.auth_codes.len()
            + state.access.len()
            + state.reports.len()
            + state.session_clients.len()
            + state.ceremonies.len()
            + state.email_changes.len()
            + state.email_reverts.len();
        state.sessions.clear();
        state.user_sessions.clear();
        state.attempts.clear();
        state.pending.clear();
        state.challenges.clear();
        state.enrollments.clear();
        state.auth_codes.clear();
        state.access.clear();
        state.reports.clear();
        state.session_clients.clear();
        state.ceremonies.clear();
        state.email_changes.clear();
        state.email_reverts.clear();
        Ok(voided)
    }
}
