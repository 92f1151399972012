//! [`IdentityStore`](crate::store::IdentityStore) in Redis: whether the store answers, which
//! deployment it holds, and voiding what was live after a restore.

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, from_json, to_json, unavailable};
use crate::store::{IdentityStore, StoreIdentity, StoreResult};

#[async_trait]
impl IdentityStore for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let _: String = self.conn.clone().ping().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_identity(&self) -> StoreResult<Option<StoreIdentity>> {
        let raw: Option<String> = self.conn.clone().get(self.keys.store_identity()).await.map_err(unavailable)?;
        raw.as_deref().map(from_json).transpose()
    }

    async fn put_identity(&self, identity: &StoreIdentity, only_if_absent: bool) -> StoreResult<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys.store_identity()).arg(to_json(identity)?);
        if only_if_absent {
            // A first identity (`store init`, a development start): a store that loses it again
            // is empty and refused, so there is nothing to confirm.
            cmd.arg("NX");
            let written: Option<String> = cmd.query_async(&mut self.conn.clone()).await.map_err(unavailable)?;
            return Ok(written.is_some());
        }
        // Critical (`store adopt`, `store restored`): a failover must not undo an adoption or
        // a new "not before". Confirmed on every master, so that what the command wrote before
        // on this connection (a re-seeded policy, in another slot) is confirmed too.
        let mut conn = self.critical().await?;
        let written: Option<String> = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        self.durable_on_every_master(&mut conn).await?;
        Ok(written.is_some())
    }

    async fn void_live_state(&self) -> StoreResult<usize> {
        // SCAN on every master, then UNLINK key by key (each goes to its own slot's node), all
        // on one connection, then one confirmation on every master: a failover must not bring
        // back a voided session or link.
        let pattern = format!("{}*", escape_glob(self.keys.prefix()));
        let keys = self.conn.scan_keys(&pattern).await.map_err(unavailable)?;
        let mut conn = self.critical().await?;
        let mut voided = 0;
        for key in keys.iter().filter(|key| self.keys.is_live_state(key)) {
            let removed: usize = conn.unlink(key).await.map_err(unavailable)?;
            voided += removed;
        }
        self.durable_on_every_master(&mut conn).await?;
        Ok(voided)
    }
}

/// `prefix` with Redis glob characters escaped, for `SCAN … MATCH`.
fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
