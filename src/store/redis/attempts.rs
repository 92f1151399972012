//! [`AttemptStore`](crate::store::AttemptStore) in Redis: sign-in attempts (the link and its code)
//! and each address's link generation.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::domain::AttemptId;
use crate::store::{AttemptStore, GENERATION_TTL, LinkAttempt, Redemption, StoreResult};

#[async_trait]
impl AttemptStore for RedisStore {
    async fn put_attempt(&self, id: &AttemptId, attempt: &LinkAttempt, keep_for: Duration) -> StoreResult<()> {
        // One script call: the hash never exists without its TTL (a MULTI of `HSET` and
        // `EXPIRE` sent four commands).
        self.put_attempt_script
            .key(self.keys.attempt(id))
            .arg(to_json(attempt)?)
            .arg(attempt.expires_at.timestamp_millis())
            .arg(ttl_secs(keep_for))
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn peek_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        Ok(self.run_attempt_script(id, now, "peek", 0).await?.map(|(state, _)| state))
    }

    async fn redeem_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>> {
        Ok(self.run_attempt_script(id, now, "consume", 0).await?.map(|(state, _)| state))
    }

    async fn take_code_try(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        max_tries: u32,
    ) -> StoreResult<Option<(Redemption, u32)>> {
        self.run_attempt_script(id, now, "try", max_tries).await
    }

    async fn kill_attempt(&self, id: &AttemptId) -> StoreResult<()> {
        self.run_attempt_script(id, Utc::now(), "kill", 0).await.map(drop)
    }

    async fn take_number_try(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<(Redemption, u32)>> {
        self.run_attempt_script(id, now, "number", 0).await
    }

    async fn approve_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(matches!(self.run_attempt_script(id, now, "approve", 0).await?, Some((Redemption::Valid(_), _))))
    }

    async fn finish_approved(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(self.attempt_outcome(id, now, "finish").await?.as_deref() == Some("valid"))
    }

    async fn link_generation(&self, lookup: &str) -> StoreResult<u64> {
        let current: Option<u64> =
            self.conn.clone().get(self.keys.link_generation(lookup)).await.map_err(unavailable)?;
        Ok(current.unwrap_or(0))
    }

    async fn supersede_links(&self, lookup: &str, generation: u64) -> StoreResult<()> {
        // A plain `SET … EX`: the generation is drawn by the caller, not counted here.
        let _: () = self
            .conn
            .clone()
            .set_ex(self.keys.link_generation(lookup), generation, GENERATION_TTL.as_secs())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn advance_generation(&self, lookup: &str, expected: u64) -> StoreResult<bool> {
        let advanced: i64 = self
            .advance_script
            .key(self.keys.link_generation(lookup))
            .arg(expected)
            .arg(GENERATION_TTL.as_secs())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(advanced == 1)
    }
}

impl RedisStore {
    async fn run_attempt_script(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        op: &str,
        max_tries: u32,
    ) -> StoreResult<Option<(Redemption, u32)>> {
        let Some((outcome, data, tries)) = self.attempt_reply(id, now, op, max_tries).await? else { return Ok(None) };
        let attempt: LinkAttempt = from_json(&data)?;
        let state = match outcome.as_str() {
            "valid" | "pending" => Redemption::Valid(attempt),
            "expired" => Redemption::Expired(attempt),
            "dead" => Redemption::Dead(attempt),
            "approved" => Redemption::Approved(attempt),
            _ => Redemption::Used(attempt),
        };
        Ok(Some((state, tries)))
    }

    /// The script's outcome word alone (`finish` tells `valid`, consumed now, from `pending`).
    async fn attempt_outcome(&self, id: &AttemptId, now: DateTime<Utc>, op: &str) -> StoreResult<Option<String>> {
        Ok(self.attempt_reply(id, now, op, 0).await?.map(|(outcome, _, _)| outcome))
    }

    async fn attempt_reply(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        op: &str,
        max_tries: u32,
    ) -> StoreResult<Option<(String, String, u32)>> {
        self.attempt_script
            .key(self.keys.attempt(id))
            .arg(now.timestamp_millis())
            .arg(op)
            .arg(max_tries)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}
