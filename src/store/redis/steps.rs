//! [`StepStore`](crate::store::StepStore) in Redis: second-factor steps of sign-ins in progress,
//! and SMS codes.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::store::{ChallengeKey, PendingLogin, SmsChallenge, StepStore, StoreResult};

#[async_trait]
impl StepStore for RedisStore {
    async fn put_pending(&self, id: &str, pending: &PendingLogin, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.pending(id);
        // One MULTI: the step never exists without its TTL.
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &[("data", to_json(pending)?), ("tries", "0".to_owned())])
            .expire(&key, ttl_secs(ttl) as i64)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_pending(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        let raw: Option<String> = self.conn.clone().hget(self.keys.pending(id), "data").await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn take_pending_try(&self, id: &str, max_tries: u32) -> StoreResult<Option<(PendingLogin, u32)>> {
        let reply: Option<(String, u32)> = self
            .pending_try_script
            .key(self.keys.pending(id))
            .arg(max_tries)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        reply.map(|(data, tries)| Ok((from_json(&data)?, tries))).transpose()
    }

    async fn consume_pending(&self, id: &str) -> StoreResult<bool> {
        let deleted: usize = self.conn.clone().del(self.keys.pending(id)).await.map_err(unavailable)?;
        Ok(deleted == 1)
    }

    async fn put_challenge(&self, key: &ChallengeKey, challenge: &SmsChallenge, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.challenge(key);
        // One MULTI: a new code replaces the old one, tries reset, never without a TTL.
        redis::pipe()
            .atomic()
            .del(&key)
            .hset_multiple(&key, &[("data", to_json(challenge)?), ("tries", "0".to_owned())])
            .expire(&key, ttl_secs(ttl) as i64)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_challenge(&self, key: &ChallengeKey) -> StoreResult<Option<SmsChallenge>> {
        let raw: Option<String> =
            self.conn.clone().hget(self.keys.challenge(key), "data").await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn take_challenge_try(&self, key: &ChallengeKey, max_tries: u32) -> StoreResult<Option<(SmsChallenge, u32)>> {
        let reply: Option<(String, u32)> = self
            .pending_try_script
            .key(self.keys.challenge(key))
            .arg(max_tries)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        reply.map(|(data, tries)| Ok((from_json(&data)?, tries))).transpose()
    }

    async fn delete_challenge(&self, key: &ChallengeKey) -> StoreResult<bool> {
        let deleted: usize = self.conn.clone().del(self.keys.challenge(key)).await.map_err(unavailable)?;
        Ok(deleted == 1)
    }
}
