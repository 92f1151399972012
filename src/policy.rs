//! The sign-in policy, shared by every instance through the store. The environment gives
//! the starting policy; once the store holds one, that is what counts (admins change it at run
//! time). Each instance re-reads it every few seconds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::SignInPolicy;
use crate::store::{Store, StoreError};
use crate::store_guard::StoreGuard;

/// How long an instance trusts its copy of the policy.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Reads the policy through a short cache, and only from a store that can vouch for it
/// ([`StoreGuard`]): every caller — sign-in steps, rate limits, admin changes — is refused
/// (503) while the store's identity is missing or foreign.
pub struct PolicySource {
    store: Arc<dyn Store>,
    guard: Arc<StoreGuard>,
    cached: Mutex<Option<(Instant, SignInPolicy)>>,
}

impl PolicySource {
    /// A source over `store`; `starting` is written to the store if it holds no policy yet —
    /// only when the store carries this deployment's identity (a wiped store is re-seeded by
    /// `latchkey store adopt`, never by an instance on its own).
    pub async fn new(store: Arc<dyn Store>, starting: SignInPolicy, guard: Arc<StoreGuard>) -> Self {
        match guard.check().await {
            Ok(_) => {
                if let Err(e) = store.put_policy(&starting, true).await {
                    tracing::warn!(error = %e, "could not seed the policy; will read it once the store answers");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the policy was not seeded: the store cannot vouch for its data"),
        }
        Self { store, guard, cached: Mutex::new(None) }
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

    /// The policy in force. Fails closed when the store cannot be read and nothing is cached.
    pub async fn current(&self) -> Result<SignInPolicy, StoreError> {
        self.guard.check().await?;
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((_, policy)) = cached.filter(|(at, _)| at.elapsed() < REFRESH) {
            return Ok(policy);
        }
        // A trusted store that lost its policy (a key deleted by hand, an eviction) is not
        // quietly given the environment's back: an admin's policy may have been stricter.
        let policy = self.store.get_policy().await?.ok_or_else(|| {
            tracing::error!("the store holds no policy: run `latchkey store adopt` to re-seed it from the environment");
            StoreError::Unavailable(anyhow::anyhow!("the store holds no policy"))
        })?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), policy.clone()));
        Ok(policy)
    }
}
