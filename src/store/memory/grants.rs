//! [`GrantStore`](crate::store::GrantStore) in memory: oIDC authorization codes and access tokens.

use std::time::Duration;

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::store::{AccessGrant, AuthCode, CodeExchange, GrantStore, StoreResult};

#[async_trait]
impl GrantStore for MemoryStore {
    async fn put_auth_code(&self, id: &str, code: &AuthCode, keep_for: Duration) -> StoreResult<()> {
        self.lock_for_write().auth_codes.insert(id.to_owned(), Expiring::new((code.clone(), None), keep_for));
        Ok(())
    }

    async fn exchange_auth_code(
        &self,
        id: &str,
        client_id: &str,
        access_id: &str,
    ) -> StoreResult<Option<CodeExchange>> {
        let mut state = self.lock();
        let Some(entry) = state.auth_codes.get_mut(id).filter(|e| e.live()) else { return Ok(None) };
        if entry.value.0.client_id != client_id {
            return Ok(Some(CodeExchange::WrongClient));
        }
        Ok(Some(match &entry.value.1 {
            Some(issued) => CodeExchange::Reused(Some(issued.clone())),
            None => {
                entry.value.1 = Some(access_id.to_owned());
                CodeExchange::Fresh(Box::new(entry.value.0.clone()))
            }
        }))
    }

    async fn put_access_grant(&self, id: &str, grant: &AccessGrant, ttl: Duration) -> StoreResult<()> {
        self.lock_for_write().access.insert(id.to_owned(), Expiring::new(grant.clone(), ttl));
        Ok(())
    }

    async fn get_access_grant(&self, id: &str) -> StoreResult<Option<AccessGrant>> {
        Ok(self.lock().access.get(id).filter(|e| e.live()).map(|e| e.value.clone()))
    }

    async fn delete_access_grant(&self, id: &str) -> StoreResult<()> {
        self.lock().access.remove(id);
        Ok(())
    }
}
