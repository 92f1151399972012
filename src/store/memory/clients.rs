//! [`ClientStore`](crate::store::ClientStore) in memory: oIDC clients registered at run time.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::Client;
use crate::store::{ClientStore, StoreResult};

#[async_trait]
impl ClientStore for MemoryStore {
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        Ok(self.lock().clients.get(id).cloned())
    }

    async fn put_client(&self, client: &Client) -> StoreResult<()> {
        self.lock().clients.insert(client.id.clone(), client.clone());
        Ok(())
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let mut clients: Vec<Client> = self.lock().clients.values().cloned().collect();
        clients.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(clients)
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        Ok(self.lock().clients.remove(id).is_some())
    }
}
