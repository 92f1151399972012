//! [`FactorStore`](crate::store::FactorStore) in memory: second factors: TOTP, its used steps and
//! pending enrollments, recovery codes.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::domain::UserId;
use crate::store::{FactorKinds, FactorStore, SecondFactors, StoreResult};

#[async_trait]
impl FactorStore for MemoryStore {
    async fn get_factors(&self, user: &UserId) -> StoreResult<SecondFactors> {
        Ok(self.lock().factors.get(user).cloned().unwrap_or_default())
    }

    async fn put_factors(&self, user: &UserId, factors: &SecondFactors) -> StoreResult<bool> {
        let mut state = self.lock();
        if state.factors.get(user).map_or(0, |stored| stored.revision) != factors.revision {
            return Ok(false);
        }
        let written = SecondFactors { revision: factors.revision + 1, ..factors.clone() };
        state.factors.insert(user.clone(), written);
        if let Some(record) = state.users_by_email.values_mut().find(|u| &u.id == user) {
            record.factor_kinds = FactorKinds::of(factors);
        }
        Ok(true)
    }

    async fn use_totp_step(&self, user: &UserId, step: u64) -> StoreResult<bool> {
        let mut state = self.lock();
        let last = state.totp_steps.get(user).copied();
        if last.is_some_and(|last| step <= last) {
            return Ok(false);
        }
        state.totp_steps.insert(user.clone(), step);
        Ok(true)
    }

    async fn put_totp_enrollment(&self, user: &UserId, slot: &str, sealed: &str, ttl: Duration) -> StoreResult<()> {
        let key = (user.clone(), slot.to_owned());
        self.lock_for_write().enrollments.insert(key, Expiring::new(sealed.to_owned(), ttl));
        Ok(())
    }

    async fn get_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<Option<String>> {
        let key = (user.clone(), slot.to_owned());
        Ok(self.lock().enrollments.get(&key).filter(|e| e.live()).map(|e| e.value.clone()))
    }

    async fn delete_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<()> {
        self.lock().enrollments.remove(&(user.clone(), slot.to_owned()));
        Ok(())
    }

    async fn set_recovery_codes(&self, user: &UserId, hashes: &[String]) -> StoreResult<()> {
        self.lock().recovery.insert(user.clone(), hashes.iter().cloned().collect());
        Ok(())
    }

    async fn use_recovery_code(&self, user: &UserId, hash: &str) -> StoreResult<bool> {
        Ok(self.lock().recovery.get_mut(user).is_some_and(|codes| codes.remove(hash)))
    }

    async fn recovery_codes_left(&self, user: &UserId) -> StoreResult<usize> {
        Ok(self.lock().recovery.get(user).map_or(0, HashSet::len))
    }
}
