//! The sign-in policy in force, shared by every instance through the store. The environment
//! gives the starting policy; once the store holds one, that is what counts (admins change it at
//! run time). Each instance re-reads it every few seconds.
//!
//! The policy itself — [`SignInPolicy`], its fields, limits and parsing — is a value type in
//! `domain/policy.rs`, so that the settings and the store, below this service, can hold it;
//! reading, caching and replacing it happen here, and nowhere else.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audit::Metrics;
use crate::domain::{PolicyFieldError, SignInPolicy};
use crate::store::{Store, StoreError};
use crate::store_guard::StoreGuard;

/// How long an instance trusts its copy of the policy: as long as it trusts its last reading of
/// the store's identity, which the policy is read through.
pub const REFRESH: Duration = crate::store_guard::REFRESH;

/// Reads the policy through a short cache, and only from a store that can vouch for it
/// ([`StoreGuard`]): every caller — sign-in steps, rate limits, admin changes — is refused
/// (503) while the store's identity is missing or foreign.
pub struct PolicySource {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    guard: Arc<StoreGuard>,
    fallback: SignInPolicy,
    cached: Mutex<Option<(Instant, SignInPolicy)>>,
}

impl PolicySource {
    /// A source over `store`; `starting` is written to the store if it holds no policy yet —
    /// only when the store carries this deployment's identity (a wiped store is re-seeded by
    /// `latchkey store adopt`, never by an instance on its own).
    pub async fn new(
        store: Arc<dyn Store>,
        starting: SignInPolicy,
        metrics: Arc<Metrics>,
        guard: Arc<StoreGuard>,
    ) -> Self {
        match guard.check().await {
            Ok(_) => {
                if let Err(e) = store.put_policy(&starting, true).await {
                    tracing::warn!(error = %e, "could not seed the policy; will read it once the store answers");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the policy was not seeded: the store cannot vouch for its data"),
        }
        Self { store, metrics, guard, fallback: starting, cached: Mutex::new(None) }
    }

    /// The store guard the policy is read through.
    pub fn guard(&self) -> &Arc<StoreGuard> {
        &self.guard
    }

    /// Replaces the policy (an admin's change): every instance sees it within [`REFRESH`].
    pub async fn replace(&self, policy: &SignInPolicy) -> Result<(), StoreError> {
        self.guard.check().await?;
        self.store.put_policy(policy, false).await?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), policy.clone()));
        Ok(())
    }

    /// One rate limit of the policy in force, without copying the whole policy while the
    /// cached one is fresh (each limit a request counts asks for its own).
    pub async fn rate_limit(&self, action: crate::domain::LimitedAction) -> Result<crate::domain::Limit, StoreError> {
        self.guard.check().await?;
        {
            let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, policy)) = cached.as_ref()
                && at.elapsed() < REFRESH
            {
                return Ok(policy.rate_limits.get(action));
            }
        }
        Ok(self.current().await?.rate_limits.get(action))
    }

    /// The policy in force. Fails closed when the store cannot be read and nothing is cached.
    pub async fn current(&self) -> Result<SignInPolicy, StoreError> {
        self.guard.check().await?;
        // One copy of a fresh policy (not of the cache entry and then of the policy).
        let cached = {
            let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
            match cached.as_ref() {
                Some((at, policy)) if at.elapsed() < REFRESH => return Ok(policy.clone()),
                stale => stale.cloned(),
            }
        };
        let policy = match self.store.get_policy().await {
            Ok(Some(policy)) => policy,
            // A trusted store that lost its policy (a key deleted by hand, an eviction) is not
            // quietly given the environment's back: an admin's policy may have been stricter.
            Ok(None) => {
                tracing::error!(
                    "the store holds no policy: run `latchkey store adopt` to re-seed it from the environment"
                );
                return Err(StoreError::Unavailable(anyhow::anyhow!("the store holds no policy")));
            }
            // A policy this instance cannot read (a rollback, a bad write by hand or by an older
            // version): keep the last good one rather than fail every request that needs it.
            Err(StoreError::Corrupt(e)) => self.keep_last_good(cached.map(|(_, p)| p), &e),
            Err(e) => return Err(e),
        };
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), policy.clone()));
        Ok(policy)
    }

    /// The policy to go on with when the stored one cannot be read: the last good one (or the
    /// starting one). Logs the field at fault and counts it (`latchkey_policy_unreadable_total`).
    fn keep_last_good(&self, last: Option<SignInPolicy>, e: &anyhow::Error) -> SignInPolicy {
        let fault = e.downcast_ref::<PolicyFieldError>();
        let field = fault.map_or("?", |f| f.field.as_str());
        let reason = fault.map_or_else(|| format!("{e:#}"), |f| f.message.clone());
        let kept = last.unwrap_or_else(|| self.fallback.clone());
        tracing::error!(
            field,
            reason = %reason,
            kept_version = kept.version,
            "the stored policy cannot be read; keeping the last good one until it is fixed (PUT /api/v1/admin/policy)"
        );
        self.metrics.inc("policy_unreadable", &format!("field=\"{}\"", metric_field(field)));
        kept
    }
}

/// A policy field as a metrics label: a top-level field name, or `other` (the label's values
/// stay few whatever the store holds).
fn metric_field(path: &str) -> &'static str {
    const FIELDS: [&str; 11] = [
        "version",
        "link_ttl_secs",
        "session_ttl_secs",
        "cross_device",
        "supersede",
        "second_factor",
        "methods",
        "signup_allow",
        "new_device_notice",
        "admin_phishing_resistant",
        "rate_limits",
    ];
    let top = path.split(['.', '[']).next().unwrap_or_default();
    FIELDS.into_iter().find(|f| *f == top).unwrap_or("other")
}
