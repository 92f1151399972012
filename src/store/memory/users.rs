//! [`UserStore`](crate::store::UserStore) in memory: accounts by the keyed hash of their address,
//! and the apps each signed in to.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::domain::{Email, UserId};
use crate::store::{StoreError, StoreResult, User, UserStore};

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

    async fn put_user(&self, lookup: &str, user: &User) -> StoreResult<()> {
        self.lock().users_by_email.insert(lookup.to_owned(), user.clone());
        Ok(())
    }

    async fn add_user_app(&self, user: &UserId, client_id: &str) -> StoreResult<()> {
        self.lock().user_apps.entry(user.clone()).or_default().insert(client_id.to_owned());
        Ok(())
    }

    async fn user_apps(&self, user: &UserId) -> StoreResult<Vec<String>> {
        Ok(self.lock().user_apps.get(user).map(|s| s.iter().cloned().collect()).unwrap_or_default())
    }
}
