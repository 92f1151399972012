//! The in-memory store: one process, lost on restart. For development and tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{LinkAttempt, Redemption, SessionRecord, Store, StoreResult, User};
use crate::domain::{AttemptId, Email, SessionId, UserId};

/// A value and the moment the store forgets it.
struct Expiring<T> {
    value: T,
    until: Instant,
}

impl<T> Expiring<T> {
    fn new(value: T, ttl: Duration) -> Self {
        Self { value, until: Instant::now() + ttl }
    }

    fn live(&self) -> bool {
        Instant::now() < self.until
    }
}

/// A stored attempt and whether it has been consumed.
struct AttemptEntry {
    attempt: LinkAttempt,
    used: bool,
}

#[derive(Default)]
struct State {
    attempts: HashMap<AttemptId, Expiring<AttemptEntry>>,
    users_by_email: HashMap<String, User>,
    sessions: HashMap<(UserId, SessionId), Expiring<SessionRecord>>,
    user_sessions: HashMap<UserId, HashSet<SessionId>>,
}

/// The store as maps behind one mutex; every method is atomic because it holds the lock.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Classifies an attempt against `now`, the same way the Redis script does.
fn classify(entry: &AttemptEntry, now: DateTime<Utc>) -> Redemption {
    let attempt = entry.attempt.clone();
    if entry.used {
        Redemption::Used(attempt)
    } else if now >= entry.attempt.expires_at {
        Redemption::Expired(attempt)
    } else {
        Redemption::Valid(attempt)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn put_attempt(&self, id: &AttemptId, attempt: &LinkAttempt, keep_for: Duration) -> StoreResult<()> {
        let entry = AttemptEntry { attempt: attempt.clone(), used: false };
        self.lock().attempts.insert(id.clone(), Expiring::new(entry, keep_for));
        Ok(())
    }

    async fn peek_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        let state = self.lock();
        Ok(state.attempts.get(id).filter(|e| e.live()).map(|e| classify(&e.value, now)))
    }

    async fn redeem_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        let mut state = self.lock();
        let Some(entry) = state.attempts.get_mut(id).filter(|e| e.live()) else {
            return Ok(None);
        };
        let outcome = classify(&entry.value, now);
        if matches!(outcome, Redemption::Valid(_)) {
            entry.value.used = true;
        }
        Ok(Some(outcome))
    }

    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User> {
        let mut state = self.lock();
        if let Some(user) = state.users_by_email.get(lookup) {
            return Ok(user.clone());
        }
        let id = UserId::generate().map_err(|e| super::StoreError::Unavailable(e.into()))?;
        let user = User { id, email: email.clone(), created_at: now };
        state.users_by_email.insert(lookup.to_owned(), user.clone());
        Ok(user)
    }

    async fn put_session(&self, session: &SessionRecord, ttl: Duration) -> StoreResult<()> {
        let mut state = self.lock();
        let key = (session.user_id.clone(), session.sid.clone());
        state.sessions.insert(key, Expiring::new(session.clone(), ttl));
        state.user_sessions.entry(session.user_id.clone()).or_default().insert(session.sid.clone());
        Ok(())
    }

    async fn get_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let state = self.lock();
        let key = (user.clone(), sid.clone());
        Ok(state.sessions.get(&key).filter(|e| e.live()).map(|e| e.value.clone()))
    }

    async fn delete_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<bool> {
        let mut state = self.lock();
        let existed = state.sessions.remove(&(user.clone(), sid.clone())).is_some_and(|e| e.live());
        if let Some(set) = state.user_sessions.get_mut(user) {
            set.remove(sid);
        }
        Ok(existed)
    }
}
