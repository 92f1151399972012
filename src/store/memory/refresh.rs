//! [`RefreshStore`](crate::store::RefreshStore) in memory: refresh token families.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::domain::UserId;
use crate::store::{RefreshFamily, RefreshStore, Rotation, SPENT_KEPT, StoreResult};

/// A stored family: its record, the current token's hash and the spent ones (newest first).
pub(super) struct FamilyEntry {
    family: RefreshFamily,
    current: String,
    spent: VecDeque<String>,
}

#[async_trait]
impl RefreshStore for MemoryStore {
    async fn put_refresh_family(&self, family: &RefreshFamily, token_id: &str, ttl: Duration) -> StoreResult<()> {
        let entry = FamilyEntry { family: family.clone(), current: token_id.to_owned(), spent: VecDeque::new() };
        let key = (family.user_id.clone(), family.id.clone());
        self.lock_for_write().refresh.insert(key, Expiring::new(entry, ttl));
        Ok(())
    }

    async fn get_refresh_family(&self, user: &UserId, family: &str) -> StoreResult<Option<RefreshFamily>> {
        let state = self.lock();
        let entry = state.refresh.get(&(user.clone(), family.to_owned())).filter(|e| e.live());
        Ok(entry.map(|e| e.value.family.clone()))
    }

    async fn rotate_refresh_token(
        &self,
        user: &UserId,
        family: &str,
        client_id: &str,
        presented: &str,
        next: &str,
    ) -> StoreResult<Rotation> {
        let mut state = self.lock();
        let key = (user.clone(), family.to_owned());
        let Some(entry) = state.refresh.get_mut(&key).filter(|e| e.live()).map(|e| &mut e.value) else {
            return Ok(Rotation::Unknown);
        };
        if entry.family.client_id != client_id {
            return Ok(Rotation::WrongClient);
        }
        if entry.current == presented {
            let spent = std::mem::replace(&mut entry.current, next.to_owned());
            entry.spent.push_front(spent);
            entry.spent.truncate(SPENT_KEPT);
            return Ok(Rotation::Rotated(Box::new(entry.family.clone())));
        }
        if entry.spent.iter().any(|s| s == presented) {
            let family = entry.family.clone();
            state.refresh.remove(&key);
            return Ok(Rotation::Reused(Box::new(family)));
        }
        Ok(Rotation::Unknown)
    }

    async fn delete_refresh_family(&self, user: &UserId, family: &str) -> StoreResult<bool> {
        let removed = self.lock().refresh.remove(&(user.clone(), family.to_owned()));
        Ok(removed.is_some_and(|e| e.live()))
    }

    async fn list_refresh_families(&self, user: &UserId) -> StoreResult<Vec<RefreshFamily>> {
        let state = self.lock();
        let mut families: Vec<RefreshFamily> = state
            .refresh
            .iter()
            .filter(|((owner, _), e)| owner == user && e.live())
            .map(|(_, e)| e.value.family.clone())
            .collect();
        families.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(families)
    }

    async fn delete_refresh_families(&self, user: &UserId) -> StoreResult<usize> {
        let mut state = self.lock();
        let mut live = 0;
        state.refresh.retain(|(owner, _), e| {
            let mine = owner == user;
            live += usize::from(mine && e.live());
            !mine
        });
        Ok(live)
    }
}
