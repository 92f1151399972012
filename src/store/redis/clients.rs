//! [`ClientStore`](crate::store::ClientStore) in Redis: oIDC clients registered at run time.

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, unavailable};
use crate::domain::Client;
use crate::store::{ClientStore, StoreResult};

#[async_trait]
impl ClientStore for RedisStore {
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.client(id)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn put_client(&self, client: &Client) -> StoreResult<()> {
        // One MULTI on one slot (`{clients}`): a client is never listed without its record.
        let key = self.keys.client(&client.id);
        let mut conn = self.critical().await?;
        redis::pipe()
            .atomic()
            .set(&key, to_json(client)?)
            .sadd(self.keys.clients(), &client.id)
            .exec_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = conn.smembers(self.keys.clients()).await.map_err(unavailable)?;
        ids.sort();
        let mut clients = Vec::new();
        for id in ids {
            if let Some(client) = self.get_client(&id).await? {
                clients.push(client);
            }
        }
        Ok(clients)
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        // One MULTI on one slot (`{clients}`), as in put_client.
        let key = self.keys.client(id);
        let mut conn = self.critical().await?;
        let (deleted, _): (usize, usize) = redis::pipe()
            .atomic()
            .del(&key)
            .srem(self.keys.clients(), id)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &key).await?;
        Ok(deleted == 1)
    }
}
