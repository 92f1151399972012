//! [`RefreshStore`](crate::store::RefreshStore) in Redis: refresh token families, each a hash
//! under its user's tag with its spent-token list, and the user's index of them.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::domain::UserId;
use crate::store::{RefreshFamily, RefreshStore, Rotation, SPENT_KEPT, StoreResult};

#[async_trait]
impl RefreshStore for RedisStore {
    async fn put_refresh_family(&self, family: &RefreshFamily, token_id: &str, ttl: Duration) -> StoreResult<()> {
        let key = self.keys.refresh_family(&family.user_id, &family.id);
        let index = self.keys.refresh_families(&family.user_id);
        let secs = ttl_secs(ttl) as i64;
        // One MULTI on `{u:<id>}`: a family never exists without its TTL or its index entry. The
        // index lives as long as its longest family (NX for a new index, GT to extend one).
        redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[("data", to_json(family)?), ("client", family.client_id.clone()), ("current", token_id.to_owned())],
            )
            .expire(&key, secs)
            .sadd(&index, &family.id)
            .cmd("EXPIRE")
            .arg(&index)
            .arg(secs)
            .arg("NX")
            .cmd("EXPIRE")
            .arg(&index)
            .arg(secs)
            .arg("GT")
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_refresh_family(&self, user: &UserId, family: &str) -> StoreResult<Option<RefreshFamily>> {
        let raw: Option<String> = redis::cmd("HGET")
            .arg(self.keys.refresh_family(user, family))
            .arg("data")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn rotate_refresh_token(
        &self,
        user: &UserId,
        family: &str,
        client_id: &str,
        presented: &str,
        next: &str,
    ) -> StoreResult<Rotation> {
        let index = self.keys.refresh_families(user);
        // A reuse revokes the family: a critical write, confirmed by a replica before the
        // answer says it is done.
        let mut conn = self.critical().await?;
        let (outcome, data): (String, String) = self
            .refresh_script
            .key(self.keys.refresh_family(user, family))
            .key(self.keys.refresh_spent(user, family))
            .key(&index)
            .arg(presented)
            .arg(next)
            .arg(client_id)
            .arg(family)
            .arg(SPENT_KEPT)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(match outcome.as_str() {
            "rotated" => Rotation::Rotated(Box::new(from_json(&data)?)),
            "reused" => {
                self.durable(&mut conn, &index).await?;
                Rotation::Reused(Box::new(from_json(&data)?))
            }
            "wrong_client" => Rotation::WrongClient,
            _ => Rotation::Unknown,
        })
    }

    async fn delete_refresh_family(&self, user: &UserId, family: &str) -> StoreResult<bool> {
        let key = self.keys.refresh_family(user, family);
        let mut conn = self.critical().await?;
        let (deleted, _, _): (usize, usize, usize) = redis::pipe()
            .atomic()
            .del(&key)
            .del(self.keys.refresh_spent(user, family))
            .srem(self.keys.refresh_families(user), family)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &key).await?;
        Ok(deleted > 0)
    }

    async fn list_refresh_families(&self, user: &UserId) -> StoreResult<Vec<RefreshFamily>> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = conn.smembers(self.keys.refresh_families(user)).await.map_err(unavailable)?;
        ids.sort();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One pipeline on `{u:<id>}`; a family that ended meanwhile (its key gone, its index
        // entry not yet) is skipped.
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hget(self.keys.refresh_family(user, id), "data");
        }
        let raw: Vec<Option<String>> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        raw.into_iter().flatten().map(|data| from_json(&data)).collect()
    }

    async fn delete_refresh_families(&self, user: &UserId) -> StoreResult<usize> {
        let index = self.keys.refresh_families(user);
        let mut conn = self.critical().await?;
        let n: usize = self
            .delete_refresh_script
            .key(&index)
            .arg(self.keys.refresh_family_prefix(user))
            .arg(self.keys.refresh_spent_prefix(user))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &index).await?;
        Ok(n)
    }
}
