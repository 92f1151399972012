//! [`AuditStore`](crate::store::AuditStore) in Redis: the audit log.

use async_trait::async_trait;

use super::{RedisStore, from_json, to_json, unavailable};
use crate::domain::{AuditEvent, UserId};
use crate::store::{AuditStore, GLOBAL_AUDIT_CAP, StoreResult, USER_AUDIT_CAP};

#[async_trait]
impl AuditStore for RedisStore {
    async fn append_event(&self, event: &AuditEvent) -> StoreResult<()> {
        let data = to_json(event)?;
        let xadd = |key: String, cap: usize| event_xadd(key, cap, &data);
        let global = xadd(self.keys.audit(), GLOBAL_AUDIT_CAP);
        let Some(user) = &event.user else {
            return global.exec_async(&mut self.conn.clone()).await.map_err(unavailable);
        };
        let personal = xadd(self.keys.user_audit(user), USER_AUDIT_CAP);
        self.append_both(global, personal).await
    }

    async fn append_event_evenly(&self, event: &AuditEvent) -> StoreResult<()> {
        if event.user.is_some() {
            return self.append_event(event).await;
        }
        let data = to_json(event)?;
        let global = event_xadd(self.keys.audit(), GLOBAL_AUDIT_CAP, &data);
        // The personal write an account would get, to a stream that is never created.
        let mut nobody = redis::cmd("XADD");
        nobody.arg(self.keys.no_user_audit()).arg("NOMKSTREAM");
        nobody.arg("MAXLEN").arg("~").arg(USER_AUDIT_CAP).arg("*").arg("data").arg(&data);
        self.append_both(global, nobody).await
    }

    async fn user_events(&self, user: &UserId, count: usize) -> StoreResult<Vec<AuditEvent>> {
        self.read_events(&self.keys.user_audit(user), "+", count).await
    }

    async fn global_events(&self, before: Option<&str>, count: usize) -> StoreResult<Vec<AuditEvent>> {
        // An exclusive upper bound: `(id` (Redis >= 6.2).
        let end = before.map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        self.read_events(&self.keys.audit(), &end, count).await
    }
}

impl RedisStore {
    /// A log's events up to `end`, newest first.
    async fn read_events(&self, key: &str, end: &str, count: usize) -> StoreResult<Vec<AuditEvent>> {
        type Entry = (String, std::collections::HashMap<String, String>);
        let entries: Vec<Entry> = redis::cmd("XREVRANGE")
            .arg(key)
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        entries
            .into_iter()
            .map(|(id, fields)| {
                let mut event: AuditEvent = from_json(fields.get("data").map_or("", String::as_str))?;
                event.id = id;
                Ok(event)
            })
            .collect()
    }

    /// Writes an event to the global log and a personal one.
    async fn append_both(&self, global: redis::Cmd, personal: redis::Cmd) -> StoreResult<()> {
        // Two streams in different hash slots: sent as two concurrent commands, not one
        // pipeline (a cluster refuses a pipeline across slots). Not atomic, and it never was
        // (a plain pipeline): an event may reach one log and not the other if Redis fails
        // between them; the caller sees the error either way.
        let (mut a, mut b) = (self.conn.clone(), self.conn.clone());
        tokio::try_join!(global.exec_async(&mut a), personal.exec_async(&mut b)).map_err(unavailable)?;
        Ok(())
    }
}

/// `XADD key MAXLEN ~ cap * data <event>`: one audit log entry.
fn event_xadd(key: String, cap: usize, data: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("MAXLEN").arg("~").arg(cap).arg("*").arg("data").arg(data);
    cmd
}
