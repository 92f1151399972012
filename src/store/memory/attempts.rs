//! [`AttemptStore`](crate::store::AttemptStore) in memory: sign-in attempts (the link and its code)
//! and each address's link generation.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AttemptEntry, Expiring, MemoryStore, Status};
use crate::domain::AttemptId;
use crate::store::{AttemptStore, GENERATION_TTL, LinkAttempt, Redemption, StoreResult};

#[async_trait]
impl AttemptStore for MemoryStore {
    async fn put_attempt(&self, id: &AttemptId, attempt: &LinkAttempt, keep_for: Duration) -> StoreResult<()> {
        let entry = AttemptEntry { attempt: attempt.clone(), status: Status::Pending, tries: 0, number_tries: 0 };
        self.lock_for_write().attempts.insert(id.clone(), Expiring::new(entry, keep_for));
        Ok(())
    }

    async fn peek_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        let mut state = self.lock();
        Ok(Self::live_attempt(&mut state, id).map(|e| classify(e, now)))
    }

    async fn redeem_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        let mut state = self.lock();
        let Some(entry) = Self::live_attempt(&mut state, id) else { return Ok(None) };
        let outcome = classify(entry, now);
        if matches!(outcome, Redemption::Valid(_)) {
            entry.status = Status::Used;
        }
        Ok(Some(outcome))
    }

    async fn take_code_try(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        max_tries: u32,
    ) -> StoreResult<Option<(Redemption, u32)>> {
        let mut state = self.lock();
        let Some(entry) = Self::live_attempt(&mut state, id) else { return Ok(None) };
        let outcome = classify(entry, now);
        if !matches!(outcome, Redemption::Valid(_)) {
            return Ok(Some((outcome, entry.tries)));
        }
        entry.tries += 1;
        if entry.tries > max_tries {
            entry.status = Status::Dead;
            return Ok(Some((Redemption::Dead(entry.attempt.clone()), entry.tries)));
        }
        Ok(Some((outcome, entry.tries)))
    }

    async fn kill_attempt(&self, id: &AttemptId) -> StoreResult<()> {
        let mut state = self.lock();
        if let Some(entry) = Self::live_attempt(&mut state, id).filter(|e| e.status == Status::Pending) {
            entry.status = Status::Dead;
        }
        Ok(())
    }

    async fn take_number_try(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<(Redemption, u32)>> {
        let mut state = self.lock();
        let Some(entry) = Self::live_attempt(&mut state, id) else { return Ok(None) };
        let outcome = classify(entry, now);
        if matches!(outcome, Redemption::Valid(_)) {
            entry.number_tries += 1;
        }
        Ok(Some((outcome, entry.number_tries)))
    }

    async fn approve_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.lock();
        let Some(entry) = Self::live_attempt(&mut state, id) else { return Ok(false) };
        let approved = matches!(classify(entry, now), Redemption::Valid(_));
        if approved {
            entry.status = Status::Approved;
        }
        Ok(approved)
    }

    async fn finish_approved(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.lock();
        let Some(entry) = Self::live_attempt(&mut state, id) else { return Ok(false) };
        let finished = matches!(classify(entry, now), Redemption::Approved(_));
        if finished {
            entry.status = Status::Used;
        }
        Ok(finished)
    }

    async fn link_generation(&self, lookup: &str) -> StoreResult<u64> {
        Ok(self.lock().generations.get(lookup).filter(|g| g.live()).map_or(0, |g| g.value))
    }

    async fn supersede_links(&self, lookup: &str, generation: u64) -> StoreResult<()> {
        self.lock().generations.insert(lookup.to_owned(), Expiring::new(generation, GENERATION_TTL));
        Ok(())
    }

    async fn advance_generation(&self, lookup: &str, expected: u64) -> StoreResult<bool> {
        let mut state = self.lock();
        let current = state.generations.get(lookup).filter(|g| g.live()).map_or(0, |g| g.value);
        if current != expected {
            return Ok(false);
        }
        state.generations.insert(lookup.to_owned(), Expiring::new(current + 1, GENERATION_TTL));
        Ok(true)
    }
}

/// Classifies an attempt against `now`, the same way the Redis script does.
fn classify(entry: &AttemptEntry, now: DateTime<Utc>) -> Redemption {
    let attempt = entry.attempt.clone();
    match entry.status {
        Status::Used => Redemption::Used(attempt),
        Status::Dead => Redemption::Dead(attempt),
        Status::Pending if now >= entry.attempt.expires_at => Redemption::Expired(attempt),
        Status::Pending => Redemption::Valid(attempt),
        Status::Approved if now >= entry.attempt.expires_at => Redemption::Expired(attempt),
        Status::Approved => Redemption::Approved(attempt),
    }
}
