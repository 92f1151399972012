//! [`FactorStore`](crate::store::FactorStore) in Redis: second factors: TOTP, its used steps and
//! pending enrollments, recovery codes.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::domain::UserId;
use crate::store::{FactorKinds, FactorStore, SecondFactors, StoreError, StoreResult, User};

#[async_trait]
impl FactorStore for RedisStore {
    async fn get_factors(&self, user: &UserId) -> StoreResult<SecondFactors> {
        let raw: Option<String> = self.conn.clone().get(self.keys.factors(user)).await.map_err(unavailable)?;
        Ok(raw.as_deref().map(from_json).transpose()?.unwrap_or_default())
    }

    async fn put_factors(&self, user: &UserId, factors: &SecondFactors) -> StoreResult<bool> {
        let record_key = self.keys.user(user);
        let data = to_json(&SecondFactors { revision: factors.revision + 1, ..factors.clone() })?;
        let mut conn = self.critical().await?;
        // Compare-and-set on the factors (their revision: the caller reads again) and on the
        // record (a block or another change written in between is kept: tried again here).
        for _ in 0..8 {
            let raw: Option<String> = conn.get(&record_key).await.map_err(unavailable)?;
            let updated = match &raw {
                Some(raw) => {
                    let mut record: User = from_json(raw)?;
                    record.factor_kinds = FactorKinds::of(factors);
                    to_json(&record)?
                }
                None => String::new(),
            };
            let written: i64 = self
                .factors_script
                .key(self.keys.factors(user))
                .key(&record_key)
                .arg(&data)
                .arg(raw.unwrap_or_default())
                .arg(updated)
                .arg(factors.revision)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            match written {
                1 => return self.durable(&mut conn, &record_key).await.map(|()| true),
                -1 => return Ok(false),
                _ => {}
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!("the user record kept changing while its factors were written")))
    }

    async fn use_totp_step(&self, user: &UserId, step: u64) -> StoreResult<bool> {
        let accepted: i64 = self
            .totp_step_script
            .key(self.keys.totp_step(user))
            .arg(step)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(accepted == 1)
    }

    async fn put_totp_enrollment(&self, user: &UserId, slot: &str, sealed: &str, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.totp_enrollment(user, slot);
        let _: () = self.conn.clone().set_ex(key, sealed, ttl_secs(ttl)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<Option<String>> {
        self.conn.clone().get(self.keys.totp_enrollment(user, slot)).await.map_err(unavailable)
    }

    async fn delete_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<()> {
        let _: usize = self.conn.clone().del(self.keys.totp_enrollment(user, slot)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn set_recovery_codes(&self, user: &UserId, hashes: &[String]) -> StoreResult<()> {
        let key = self.keys.recovery_codes(user);
        // One MULTI: the old set never mixes with the new one.
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key);
        if !hashes.is_empty() {
            pipe.sadd(&key, hashes);
        }
        let mut conn = self.critical().await?;
        pipe.exec_async(&mut conn).await.map_err(unavailable)?;
        self.durable(&mut conn, &key).await
    }

    async fn use_recovery_code(&self, user: &UserId, hash: &str) -> StoreResult<bool> {
        let removed: usize = self.conn.clone().srem(self.keys.recovery_codes(user), hash).await.map_err(unavailable)?;
        Ok(removed == 1)
    }

    async fn recovery_codes_left(&self, user: &UserId) -> StoreResult<usize> {
        self.conn.clone().scard(self.keys.recovery_codes(user)).await.map_err(unavailable)
    }
}
