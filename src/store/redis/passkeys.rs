//! [`PasskeyStore`](crate::store::PasskeyStore) in Redis: a ceremony is one string under its own
//! tag, taken with GETDEL; a credential's counter sits under its user's tag.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::domain::UserId;
use crate::store::{PasskeyCeremony, PasskeyStore, StoreResult};

#[async_trait]
impl PasskeyStore for RedisStore {
    async fn put_passkey_ceremony(&self, id: &str, ceremony: &PasskeyCeremony, ttl: Duration) -> StoreResult<()> {
        let data = to_json(ceremony)?;
        self.conn.clone().set_ex(self.keys.passkey_ceremony(id), data, ttl_secs(ttl)).await.map_err(unavailable)
    }

    async fn take_passkey_ceremony(&self, id: &str) -> StoreResult<Option<PasskeyCeremony>> {
        // GETDEL: reading and deleting in one command, so a challenge is answered once.
        let raw: Option<String> =
            self.conn.clone().get_del(self.keys.passkey_ceremony(id)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn use_passkey_counter(&self, user: &UserId, credential: &str, counter: u32) -> StoreResult<bool> {
        // The TOTP step script does the same comparison: accept only a value above the last.
        let accepted: i64 = self
            .totp_step_script
            .key(self.keys.passkey_counter(user, credential))
            .arg(counter)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(accepted == 1)
    }

    async fn forget_passkey_counter(&self, user: &UserId, credential: &str) -> StoreResult<()> {
        self.conn.clone().del(self.keys.passkey_counter(user, credential)).await.map_err(unavailable)
    }

    async fn put_passkey_owner(&self, handle: &str, user: &UserId) -> StoreResult<()> {
        // Two slots, two commands: the user's side first, so an account deleted in between
        // still finds (and removes) the entry.
        let mut conn = self.conn.clone();
        let () = conn.set(self.keys.passkey_handle(user), handle).await.map_err(unavailable)?;
        conn.set(self.keys.passkey_owner(handle), user.as_str()).await.map_err(unavailable)
    }

    async fn passkey_owner(&self, handle: &str) -> StoreResult<Option<UserId>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.passkey_owner(handle)).await.map_err(unavailable)?;
        Ok(raw.as_deref().and_then(UserId::parse))
    }
}
