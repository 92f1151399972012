//! `latchkey store init | adopt | restored`: what an operator runs against the configured
//! store (docs/operations.md). Each is a library function on a [`Store`], so tests run them
//! the way the command does; `adopt` and `restored` are audited.

use anyhow::Context;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::config::{Settings, StoreSettings};
use crate::domain::{AuditEvent, EventKind, SignInPolicy};
use crate::store::{Keys, NotConfirmed, RedisConnector, RedisStore, Store, StoreError, StoreIdentity};

/// The Redis connector `store` names (`None`: the in-memory store), with the critical
/// writes' `wait_timeout`. The service and the commands connect the same way.
pub fn redis_connector(
    store: &StoreSettings,
    wait_timeout: std::time::Duration,
) -> anyhow::Result<Option<RedisConnector>> {
    let connector = match store {
        StoreSettings::Memory => return Ok(None),
        StoreSettings::Redis { url, ca_pem } => RedisConnector::single(url.expose_secret(), ca_pem.clone())?,
        StoreSettings::Cluster { urls, ca_pem } => {
            let seeds: Vec<&str> = urls.iter().map(|url| url.expose_secret()).collect();
            RedisConnector::cluster(&seeds, ca_pem.clone())?
        }
        StoreSettings::Sentinel { urls, master, ca_pem } => {
            let sentinels: Vec<&str> = urls.iter().map(|url| url.expose_secret()).collect();
            RedisConnector::sentinel(&sentinels, master, ca_pem.clone())?
        }
    };
    Ok(Some(connector.with_wait_timeout(wait_timeout)))
}

/// The configured Redis store (the commands have nothing to do on the in-memory one).
pub fn open_store(settings: &Settings) -> anyhow::Result<RedisStore> {
    let keys = Keys::new(settings.key_prefix.clone());
    let Some(connector) = redis_connector(&settings.store, settings.redis_wait_timeout)? else {
        anyhow::bail!(
            "REDIS_URL, REDIS_CLUSTER_URLS or REDIS_SENTINEL_URLS is not set: the in-memory store lives inside one \
             process and has nothing to initialise, adopt or restore"
        )
    };
    RedisStore::new(connector, keys)
}

/// What `latchkey store init` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// The store's identity (set it as `STORE_ID`).
    pub identity: StoreIdentity,
    /// False when the store already had one (nothing was changed).
    pub created: bool,
}

/// `latchkey store init`: gives a new deployment's store its identity and starting policy.
/// A store that already has an identity is left as it is, and its identity returned.
pub async fn init(store: &dyn Store, starting: &SignInPolicy, now: DateTime<Utc>) -> anyhow::Result<Init> {
    let new = StoreIdentity::generate(now)?;
    let created = store.put_identity(&new, true).await.context("cannot write the store identity")?;
    let identity = store.get_identity().await?.context("the store identity vanished right after it was written")?;
    if created {
        store.put_policy(starting, true).await.context("cannot seed the policy")?;
    }
    Ok(Init { identity, created })
}

/// What `latchkey store adopt` replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    /// The identity the store had before (`None`: it had none — it was wiped).
    pub previous: Option<String>,
    /// Whether the environment's starting policy was written (the store had none).
    pub policy_seeded: bool,
}

/// `latchkey store adopt`: an operator acknowledges that the store lost its data (or is
/// another deployment's) and makes it this deployment's: writes `store_id` as its identity
/// with "not before" now, re-seeds the starting policy if the store has none, and records it
/// in the audit log. Instances serve again within 2 s. Accounts, second factors, blocks and
/// clients lost with the data stay lost: see docs/operations.md.
pub async fn adopt(
    store: &dyn Store,
    store_id: &str,
    starting: &SignInPolicy,
    operator: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Adopted> {
    anyhow::ensure!(crate::domain::is_store_id(store_id), "`{store_id}` is not a store id (`st_…`)");
    let found = store.get_identity().await.context("cannot read the store identity")?;
    let policy_seeded = store.get_policy().await?.is_none();
    if policy_seeded {
        store.put_policy(starting, true).await.context("cannot seed the policy")?;
    }
    // A store that already carries this identity (it lost only its policy) keeps its "not
    // before": adopting it signs nobody out. Any other gets a new one, now.
    let previous = found.as_ref().map(|i| i.id.clone());
    let identity = match found {
        Some(same) if same.is(store_id) => same,
        _ => StoreIdentity::named(store_id.to_owned(), now),
    };
    store.put_identity(&identity, false).await.map_err(|e| run_again(e, "adopt", "cannot write the store identity"))?;
    let detail = format!(
        "store adopt: identity {} -> {store_id}; policy {}",
        previous.as_deref().unwrap_or("(none: the store was empty)"),
        if policy_seeded { "re-seeded from the environment" } else { "kept" }
    );
    record(store, operator, &detail, now).await?;
    Ok(Adopted { previous, policy_seeded })
}

/// What `latchkey store restored` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Store entries voided (sessions, links, pending steps, codes, grants).
    pub voided: usize,
    /// The new "not before" (unix seconds).
    pub not_before: i64,
}

/// `latchkey store restored`, after a restore from backup: ends every session, voids every
/// link, pending step, SMS code, OIDC code and access token, and moves the "not before" to
/// now, so a session token issued before is refused everywhere (also from an instance's
/// session cache). People sign in again, with the factors the snapshot holds. Audited.
pub async fn restored(store: &dyn Store, operator: &str, now: DateTime<Utc>) -> anyhow::Result<Restored> {
    let mut identity = store.get_identity().await.context("cannot read the store identity")?.context(
        "the store holds no identity (the backup predates `latchkey store init`, or it is empty): run \
         `latchkey store adopt` first, then this",
    )?;
    // "Not before" first: from here every instance refuses older tokens even while the
    // entries below are still being deleted.
    identity.not_before = now.timestamp().max(identity.not_before);
    store
        .put_identity(&identity, false)
        .await
        .map_err(|e| run_again(e, "restored", "cannot move the store's \"not before\""))?;
    let voided =
        store.void_live_state().await.map_err(|e| run_again(e, "restored", "cannot void the live sign-in state"))?;
    let detail = format!("store restored: {voided} sessions, links, steps and grants voided; not before {now}");
    record(store, operator, &detail, now).await?;
    Ok(Restored { voided, not_before: identity.not_before })
}

/// A write of `latchkey store <command>` that failed, as the command reports it. One no
/// replica confirmed ([`NotConfirmed`]) is on the master, but a failover could undo it: the
/// command is not done, and says to run it again (each is safe to repeat).
fn run_again(e: StoreError, command: &str, what: &str) -> anyhow::Error {
    let not_confirmed = std::error::Error::source(&e).is_some_and(|source| source.is::<NotConfirmed>());
    let context = if not_confirmed {
        format!(
            "{what}: no replica confirmed the write, so a failover could undo it and `latchkey store {command}` is \
             not done: run it again once the replicas answer"
        )
    } else {
        format!("{what}: `latchkey store {command}` is not done: run it again once the store answers")
    };
    anyhow::Error::new(e).context(context)
}

async fn record(store: &dyn Store, operator: &str, detail: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let event = AuditEvent {
        id: String::new(),
        at: now.to_rfc3339(),
        kind: EventKind::AdminAction,
        user: None,
        ip: String::new(),
        browser: operator.to_owned(),
        detail: detail.to_owned(),
    };
    store.append_event(&event).await.context("cannot write the audit event")?;
    Ok(())
}
