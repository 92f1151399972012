//! [`UserStore`](crate::store::UserStore) in memory: accounts by the keyed hash of their address,
//! and the apps each signed in to.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::domain::{Email, UserId};
use crate::store::{ChallengeKey, StoreError, StoreResult, User, UserStore};

#[async_trait]
impl UserStore for MemoryStore {
    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User> {
        let mut state = self.lock();
        if let Some(user) = state.users_by_email.get(lookup) {
            return Ok(user.clone());
        }
        let id = UserId::generate().map_err(|e| StoreError::Unavailable(e.into()))?;
        let user = User { id, email: email.clone(), created_at: now, blocked: false, factor_kinds: Default::default() };
        state.users_by_email.insert(lookup.to_owned(), user.clone());
        Ok(user)
    }

    async fn find_user(&self, lookup: &str) -> StoreResult<Option<User>> {
        Ok(self.lock().users_by_email.get(lookup).cloned())
    }

    async fn set_blocked(&self, lookup: &str, blocked: bool) -> StoreResult<Option<(UserId, bool)>> {
        let mut state = self.lock();
        let Some(user) = state.users_by_email.get_mut(lookup) else { return Ok(None) };
        let changed = user.blocked != blocked;
        user.blocked = blocked;
        Ok(Some((user.id.clone(), changed)))
    }

    async fn add_user_app(&self, user: &UserId, client_id: &str) -> StoreResult<()> {
        self.lock().user_apps.entry(user.clone()).or_default().insert(client_id.to_owned());
        Ok(())
    }

    async fn user_apps(&self, user: &UserId) -> StoreResult<Vec<String>> {
        Ok(self.lock().user_apps.get(user).map(|s| s.iter().cloned().collect()).unwrap_or_default())
    }

    async fn get_user(&self, user: &UserId) -> StoreResult<Option<User>> {
        Ok(self.lock().users_by_email.values().find(|u| &u.id == user).cloned())
    }

    async fn delete_user(&self, _lookup: &str, user: &UserId) -> StoreResult<bool> {
        // One lock: every key of the user and the index entry go together.
        let mut state = self.lock_for_write();
        let before = state.users_by_email.len();
        state.users_by_email.retain(|_, u| &u.id != user);
        let existed = state.users_by_email.len() != before;
        state.sessions.retain(|(owner, _), _| owner != user);
        state.user_sessions.remove(user);
        state.session_clients.retain(|(owner, _), _| owner != user);
        state.factors.remove(user);
        state.totp_steps.remove(user);
        state.enrollments.retain(|(owner, _), _| owner != user);
        state.recovery.remove(user);
        state.challenges.remove(&ChallengeKey::PhoneEnrollment(user.clone()));
        state.user_audit.remove(user);
        state.user_apps.remove(user);
        state.devices.remove(user);
        state.langs.remove(user);
        state.refresh.retain(|(owner, _), _| owner != user);
        state.passkey_counters.retain(|(owner, _), _| owner != user);
        state.email_changes.remove(user);
        state.email_reverts.remove(user);
        state.passkey_owners.retain(|_, owner| owner != user);
        Ok(existed)
    }
}
