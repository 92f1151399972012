//! [`StepStore`](crate::store::StepStore) in memory: second-factor steps of sign-ins in progress,
//! and SMS codes.

use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::store::{ChallengeKey, PendingLogin, SmsChallenge, StepStore, StoreResult};

#[async_trait]
impl StepStore for MemoryStore {
    async fn put_pending(&self, id: &str, pending: &PendingLogin, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().pending.insert(id.to_owned(), Expiring::new((pending.clone(), 0), ttl));
        Ok(())
    }

    async fn get_pending(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        Ok(self.lock().pending.get(id).filter(|e| e.live()).map(|e| e.value.0.clone()))
    }

    async fn take_pending_try(&self, id: &str, max_tries: u32) -> StoreResult<Option<(PendingLogin, u32)>> {
        let mut state = self.lock();
        let Some(entry) = state.pending.get_mut(id).filter(|e| e.live()) else { return Ok(None) };
        entry.value.1 += 1;
        let (pending, tries) = entry.value.clone();
        if tries > max_tries {
            state.pending.remove(id);
            return Ok(None);
        }
        Ok(Some((pending, tries)))
    }

    async fn consume_pending(&self, id: &str) -> StoreResult<bool> {
        Ok(self.lock().pending.remove(id).is_some_and(|e| e.live()))
    }

    async fn put_challenge(&self, key: &ChallengeKey, challenge: &SmsChallenge, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().challenges.insert(key.clone(), Expiring::new((challenge.clone(), 0), ttl));
        Ok(())
    }

    async fn get_challenge(&self, key: &ChallengeKey) -> StoreResult<Option<SmsChallenge>> {
        Ok(self.lock().challenges.get(key).filter(|e| e.live()).map(|e| e.value.0.clone()))
    }

    async fn take_challenge_try(&self, key: &ChallengeKey, max_tries: u32) -> StoreResult<Option<(SmsChallenge, u32)>> {
        let mut state = self.lock();
        let Some(entry) = state.challenges.get_mut(key).filter(|e| e.live()) else { return Ok(None) };
        entry.value.1 += 1;
        let (challenge, tries) = entry.value.clone();
        if tries > max_tries {
            state.challenges.remove(key);
            return Ok(None);
        }
        Ok(Some((challenge, tries)))
    }

    async fn delete_challenge(&self, key: &ChallengeKey) -> StoreResult<bool> {
        Ok(self.lock().challenges.remove(key).is_some_and(|e| e.live()))
    }
}
