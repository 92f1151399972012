//! [`GrantStore`](crate::store::GrantStore) in Redis: oIDC authorization codes and access tokens.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::store::{AccessGrant, AuthCode, CodeExchange, GrantStore, StoreResult};

#[async_trait]
impl GrantStore for RedisStore {
    async fn put_auth_code(&self, id: &str, code: &AuthCode, keep_for: Duration) -> StoreResult<()> {
        let key = self.keys.auth_code(id);
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &[("data", to_json(code)?), ("client", code.client_id.clone())])
            .expire(&key, ttl_secs(keep_for) as i64)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn exchange_auth_code(
        &self,
        id: &str,
        client_id: &str,
        access_id: &str,
    ) -> StoreResult<Option<CodeExchange>> {
        let reply: Option<(String, String)> = self
            .code_script
            .key(self.keys.auth_code(id))
            .arg(access_id)
            .arg(client_id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(match reply {
            None => None,
            Some((outcome, value)) if outcome == "fresh" => Some(CodeExchange::Fresh(Box::new(from_json(&value)?))),
            Some((outcome, _)) if outcome == "wrong_client" => Some(CodeExchange::WrongClient),
            Some((_, access)) => Some(CodeExchange::Reused(Some(access).filter(|a| !a.is_empty()))),
        })
    }

    async fn put_access_grant(&self, id: &str, grant: &AccessGrant, ttl: Duration) -> StoreResult<()> {
        let _: () = self
            .conn
            .clone()
            .set_ex(self.keys.access_token(id), to_json(grant)?, ttl_secs(ttl))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_access_grant(&self, id: &str) -> StoreResult<Option<AccessGrant>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.access_token(id)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn delete_access_grant(&self, id: &str) -> StoreResult<()> {
        let key = self.keys.access_token(id);
        let mut conn = self.critical().await?;
        let _: usize = conn.del(&key).await.map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }
}
