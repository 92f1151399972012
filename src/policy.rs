//! The sign-in policy, shared by every instance through the store. The environment gives
//! the starting policy; once the store holds one, that is what counts (admins change it at run
//! time). Each instance re-reads it every few seconds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::SignInPolicy;
use crate::store::{Store, StoreError};

/// How long an instance trusts its copy of the policy.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Reads the policy through a short cache.
pub struct PolicySource {
    store: Arc<dyn Store>,
    fallback: SignInPolicy,
    cached: Mutex<Option<(Instant, SignInPolicy)>>,
}

impl PolicySource {
    /// A source over `store`; `starting` is written to the store if it holds no policy yet.
    pub async fn new(store: Arc<dyn Store>, starting: SignInPolicy) -> Self {
        if let Err(e) = store.put_policy(&starting, true).await {
            tracing::warn!(error = %e, "could not seed the policy; will read it once the store answers");
        }
        Self { store, fallback: starting, cached: Mutex::new(None) }
    }

    /// Replaces the policy (an admin's change): every instance sees it within [`REFRESH`].
    pub async fn replace(&self, policy: &SignInPolicy) -> Result<(), StoreError> {
        self.store.put_policy(policy, false).await?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), policy.clone()));
        Ok(())
    }

    /// The policy in force. Fails closed when the store cannot be read and nothing is cached.
    pub async fn current(&self) -> Result<SignInPolicy, StoreError> {
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((_, policy)) = cached.filter(|(at, _)| at.elapsed() < REFRESH) {
            return Ok(policy);
        }
        let policy = match self.store.get_policy().await? {
            Some(policy) => policy,
            None => {
                // The store lost it (flush, new Redis): put the starting policy back.
                self.store.put_policy(&self.fallback, true).await?;
                self.fallback.clone()
            }
        };
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), policy.clone()));
        Ok(policy)
    }
}
