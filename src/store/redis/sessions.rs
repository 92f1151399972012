//! [`SessionStore`](crate::store::SessionStore) in Redis: the session allow-list.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, ttl_secs, unavailable};
use crate::domain::{SessionId, UserId};
use crate::store::{SessionRecord, SessionStore, StoreResult};

#[async_trait]
impl SessionStore for RedisStore {
    async fn put_session(&self, session: &SessionRecord, ttl: Duration) -> StoreResult<()> {
        let secs = ttl_secs(ttl);
        let set = self.keys.sessions(&session.user_id);
        // One MULTI on one hash slot: the session and its place in the user's index appear
        // together, and the index lives as long as its newest session.
        redis::pipe()
            .atomic()
            .set_ex(self.keys.session(&session.user_id, &session.sid), to_json(session)?, secs)
            .sadd(&set, session.sid.as_str())
            .cmd("EXPIRE")
            .arg(&set)
            .arg(secs)
            .arg("GT")
            .cmd("EXPIRE")
            .arg(&set)
            .arg(secs)
            .arg("NX")
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.session(user, sid)).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn delete_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<bool> {
        let key = self.keys.session(user, sid);
        let mut conn = self.critical().await?;
        let (deleted, _): (usize, usize) = redis::pipe()
            .atomic()
            .del(&key)
            .srem(self.keys.sessions(user), sid.as_str())
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &key).await?;
        Ok(deleted > 0)
    }

    async fn list_sessions(&self, user: &UserId) -> StoreResult<Vec<SessionRecord>> {
        let mut conn = self.conn.clone();
        let sids: Vec<String> = conn.smembers(self.keys.sessions(user)).await.map_err(unavailable)?;
        let sids: Vec<SessionId> = sids.iter().filter_map(|s| SessionId::parse(s)).collect();
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = sids.iter().map(|sid| self.keys.session(user, sid)).collect();
        let raw: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(unavailable)?;
        let mut sessions = Vec::new();
        let mut lapsed = Vec::new();
        for (sid, value) in sids.iter().zip(raw) {
            match value {
                Some(value) => sessions.push(from_json::<SessionRecord>(&value)?),
                None => lapsed.push(sid.as_str()),
            }
        }
        if !lapsed.is_empty() {
            // Sessions that timed out leave their id in the index; tidy it while here.
            let _: usize = conn.srem(self.keys.sessions(user), &lapsed).await.map_err(unavailable)?;
        }
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(sessions)
    }

    async fn delete_all_sessions(&self, user: &UserId) -> StoreResult<usize> {
        let session_prefix = self.keys.session_prefix(user);
        let index = self.keys.sessions(user);
        let mut conn = self.critical().await?;
        let n: usize = self
            .delete_all_script
            .key(&index)
            .arg(session_prefix)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.durable(&mut conn, &index).await?;
        Ok(n)
    }

    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()> {
        // SET … XX KEEPTTL: only a live session is rewritten, and its expiry stays.
        let _: Option<String> = redis::cmd("SET")
            .arg(self.keys.session(&session.user_id, &session.sid))
            .arg(to_json(session)?)
            .arg("XX")
            .arg("KEEPTTL")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn add_session_client(&self, user: &UserId, sid: &SessionId, client_id: &str) -> StoreResult<bool> {
        let added: i64 = self
            .session_client_script
            .key(self.keys.session(user, sid))
            .key(self.keys.session_clients(user, sid))
            .arg(client_id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(added == 1)
    }

    async fn take_session_clients(&self, user: &UserId, sid: &SessionId) -> StoreResult<Vec<String>> {
        let key = self.keys.session_clients(user, sid);
        // One MULTI: the apps are read and forgotten together, so two instances ending the
        // same session do not both tell them.
        let (clients, _): (Vec<String>, usize) = redis::pipe()
            .atomic()
            .smembers(&key)
            .del(&key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(clients)
    }
}
