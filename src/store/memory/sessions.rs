//! [`SessionStore`](crate::store::SessionStore) in memory: the session allow-list.

use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::domain::{SessionId, UserId};
use crate::store::{SessionRecord, SessionStore, StoreResult};

#[async_trait]
impl SessionStore for MemoryStore {
    async fn put_session(&self, session: &SessionRecord, ttl: Duration) -> StoreResult<()> {
        let mut state = self.lock_for_write();
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

    async fn list_sessions(&self, user: &UserId) -> StoreResult<Vec<SessionRecord>> {
        let state = self.lock();
        let sids = state.user_sessions.get(user).cloned().unwrap_or_default();
        let mut sessions: Vec<SessionRecord> = sids
            .iter()
            .filter_map(|sid| state.sessions.get(&(user.clone(), sid.clone())))
            .filter(|e| e.live())
            .map(|e| e.value.clone())
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(sessions)
    }

    async fn delete_all_sessions(&self, user: &UserId) -> StoreResult<usize> {
        let mut state = self.lock();
        let sids = state.user_sessions.remove(user).unwrap_or_default();
        Ok(sids.into_iter().filter_map(|sid| state.sessions.remove(&(user.clone(), sid))).filter(|e| e.live()).count())
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let mut state = self.lock();
        if let Some(entry) =
            state.sessions.get_mut(&(session.user_id.clone(), session.sid.clone())).filter(|e| e.live())
        {
            entry.value = session.clone();
        }
        Ok(())
    }

    async fn add_session_client(&self, user: &UserId, sid: &SessionId, client_id: &str) -> StoreResult<bool> {
        let mut state = self.lock_for_write();
        let key = (user.clone(), sid.clone());
        let Some(until) = state.sessions.get(&key).filter(|e| e.live()).map(|e| e.until) else { return Ok(false) };
        let entry = state
            .session_clients
            .entry(key)
            .or_insert_with(|| Expiring { value: std::collections::BTreeSet::new(), until });
        entry.until = until;
        entry.value.insert(client_id.to_owned());
        Ok(true)
    }

    async fn take_session_clients(&self, user: &UserId, sid: &SessionId) -> StoreResult<Vec<String>> {
        let mut state = self.lock();
        let taken = state.session_clients.remove(&(user.clone(), sid.clone())).filter(|e| e.live());
        Ok(taken.map(|e| e.value.into_iter().collect()).unwrap_or_default())
    }
}
