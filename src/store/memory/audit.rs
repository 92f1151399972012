//! [`AuditStore`](crate::store::AuditStore) in memory: the audit log.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::{AuditEvent, UserId};
use crate::store::{AuditStore, GLOBAL_AUDIT_CAP, StoreResult, USER_AUDIT_CAP};

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_event(&self, event: &AuditEvent) -> StoreResult<()> {
        let mut state = self.lock();
        state.audit_seq += 1;
        let mut event = event.clone();
        event.id = format!("{}-0", state.audit_seq);
        if let Some(user) = &event.user {
            let log = state.user_audit.entry(user.clone()).or_default();
            log.push_back(event.clone());
            while log.len() > USER_AUDIT_CAP {
                log.pop_front();
            }
        }
        state.audit.push_back(event);
        while state.audit.len() > GLOBAL_AUDIT_CAP {
            state.audit.pop_front();
        }
        Ok(())
    }

    async fn user_events(&self, user: &UserId, count: usize) -> StoreResult<Vec<AuditEvent>> {
        let state = self.lock();
        Ok(state.user_audit.get(user).map(|log| log.iter().rev().take(count).cloned().collect()).unwrap_or_default())
    }

    async fn global_events(&self, before: Option<&str>, count: usize) -> StoreResult<Vec<AuditEvent>> {
        let seq = |id: &str| id.split('-').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        let limit = before.map_or(u64::MAX, seq);
        let state = self.lock();
        Ok(state.audit.iter().rev().filter(|e| seq(&e.id) < limit).take(count).cloned().collect())
    }
}
