//! [`EmailChangeStore`](crate::store::EmailChangeStore) in memory: every method holds the lock,
//! so a move and what it spends are one step.

use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::domain::{Email, UserId};
use crate::store::{EmailChangeStore, EmailMoveSource, EmailMoved, EmailRevert, PendingEmailChange, StoreResult};

#[async_trait]
impl EmailChangeStore for MemoryStore {
    async fn put_email_change(&self, change: &PendingEmailChange, ttl: Duration) -> StoreResult<()> {
        let entry = Expiring::new((change.clone(), 0), ttl);
        self.lock_for_write().email_changes.insert(change.user_id.clone(), entry);
        Ok(())
    }

    async fn get_email_change(&self, user: &UserId) -> StoreResult<Option<PendingEmailChange>> {
        Ok(self.lock().email_changes.get(user).filter(|e| e.live()).map(|e| e.value.0.clone()))
    }

    async fn take_email_change_try(
        &self,
        user: &UserId,
        max_tries: u32,
    ) -> StoreResult<Option<(PendingEmailChange, u32)>> {
        let mut state = self.lock();
        let Some(entry) = state.email_changes.get_mut(user).filter(|e| e.live()) else { return Ok(None) };
        entry.value.1 += 1;
        let taken = entry.value.clone();
        if taken.1 > max_tries {
            state.email_changes.remove(user);
            return Ok(None);
        }
        Ok(Some(taken))
    }

    async fn put_email_revert(&self, id: &str, revert: &EmailRevert, ttl: Duration) -> StoreResult<()> {
        let mut state = self.lock_for_write();
        let links = state.email_reverts.entry(revert.user_id.clone()).or_default();
        let seq = links.values().map(|e| e.value.seq).max().unwrap_or(0) + 1;
        links.insert(id.to_owned(), Expiring::new(EmailRevert { seq, ..revert.clone() }, ttl));
        Ok(())
    }

    async fn get_email_revert(&self, user: &UserId, id: &str) -> StoreResult<Option<EmailRevert>> {
        let state = self.lock();
        Ok(state.email_reverts.get(user).and_then(|links| links.get(id)).filter(|e| e.live()).map(|e| e.value.clone()))
    }

    async fn move_email(
        &self,
        user: &UserId,
        source: &EmailMoveSource,
        _from_lookup: &str,
        to_lookup: &str,
        to: &Email,
    ) -> StoreResult<EmailMoved> {
        let mut state = self.lock_for_write();
        let spendable = match source {
            EmailMoveSource::Admin => true,
            EmailMoveSource::Change(id) => {
                state.email_changes.get(user).is_some_and(|e| e.live() && &e.value.0.id == id)
            }
            EmailMoveSource::Revert(id) => {
                state.email_reverts.get(user).and_then(|links| links.get(id)).is_some_and(|e| e.live())
            }
        };
        let Some(record) = state.users_by_email.values().find(|u| &u.id == user).cloned() else {
            return Ok(EmailMoved::Gone);
        };
        if !spendable {
            return Ok(EmailMoved::Gone);
        }
        if state.users_by_email.get(to_lookup).is_some_and(|owner| &owner.id != user) {
            return Ok(EmailMoved::Taken);
        }
        match source {
            EmailMoveSource::Admin => {}
            EmailMoveSource::Change(_) => {
                state.email_changes.remove(user);
            }
            EmailMoveSource::Revert(id) => {
                if let Some(links) = state.email_reverts.get_mut(user) {
                    let mine = links.get(id).map(|e| e.value.seq);
                    links.retain(|other, e| other != id && mine.is_some_and(|m| e.value.seq < m));
                }
            }
        }
        // Every entry naming the user goes (the old address's among them), then the new one.
        state.users_by_email.retain(|lookup, u| &u.id != user || lookup == to_lookup);
        let moved = crate::store::User { email: to.clone(), ..record };
        state.users_by_email.insert(to_lookup.to_owned(), moved.clone());
        Ok(EmailMoved::Moved(moved))
    }
}
