//! [`PolicyStore`](crate::store::PolicyStore) in Redis: the shared sign-in policy.

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, to_json, unavailable};
use crate::domain::SignInPolicy;
use crate::store::{PolicyStore, StoreError, StoreResult};

#[async_trait]
impl PolicyStore for RedisStore {
    async fn get_policy(&self) -> StoreResult<Option<SignInPolicy>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.policy()).await.map_err(unavailable)?;
        // The field at fault travels as the error's source, for the log and the metric.
        raw.as_deref().map(SignInPolicy::from_stored).transpose().map_err(|e| StoreError::Corrupt(e.into()))
    }

    async fn put_policy(&self, policy: &SignInPolicy, only_if_absent: bool) -> StoreResult<()> {
        let key = self.keys.policy();
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(to_json(policy)?);
        if only_if_absent {
            // Seeding the starting policy is not an admin's change: nothing to confirm.
            cmd.arg("NX");
            let _: Option<String> = cmd.query_async(&mut self.conn.clone()).await.map_err(unavailable)?;
            return Ok(());
        }
        let mut conn = self.critical().await?;
        let _: Option<String> = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }
}
