//! Whether the store can vouch for what it holds. The store carries an identity
//! ([`StoreIdentity`]); an instance knows which one it must find (`STORE_ID`, or in development
//! the one it found or wrote first). A store with no identity was wiped (a Redis restarted
//! empty, a `FLUSHALL`), one with another identity is another deployment's: either way the
//! accounts, second factors, blocks and policy it holds are not the ones people have, so the
//! instance refuses to sign anyone in or change anything (503) until an operator acknowledges
//! with `latchkey store adopt`. The identity also carries the "not before" that
//! `latchkey store restored` moves on: session tokens issued earlier are refused everywhere.
//!
//! Each instance reads the identity at most every [`REFRESH`] (the policy's rhythm too), and
//! afresh right before it creates an account or issues a session.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audit::Metrics;
use crate::clock::Clock;
use crate::store::{Store, StoreError, StoreIdentity};

/// How long an instance trusts what it last read of the store's identity (the policy is
/// re-read at the same rhythm: [`crate::policy::REFRESH`]).
pub const REFRESH: Duration = Duration::from_secs(2);

/// What the instance found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The expected identity; tokens issued before `not_before` (unix seconds) are refused.
    Trusted {
        /// Unix seconds.
        not_before: i64,
    },
    /// No identity: the store was wiped (or never initialised with `latchkey store init`).
    Empty,
    /// Another deployment's identity (or `STORE_ID` names another store).
    Foreign,
}

impl Trust {
    /// A short name (`trusted`, `empty`, `foreign`), for `/readyz` and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Trusted { .. } => "trusted",
            Self::Empty => "empty",
            Self::Foreign => "foreign",
        }
    }

    /// What an operator reads in `/readyz` and the log.
    pub fn explain(&self) -> &'static str {
        match self {
            Self::Trusted { .. } => "the store carries this deployment's identity",
            Self::Empty => {
                "the store holds no identity: it was wiped (a Redis restarted without persistence, a FLUSHALL) or \
                 never initialised. Sign-ins and changes are refused until an operator runs `latchkey store adopt` \
                 (see docs/operations.md)"
            }
            Self::Foreign => {
                "the store carries another identity than STORE_ID: this instance is pointed at another deployment's \
                 store, or STORE_ID is wrong. Sign-ins and changes are refused until STORE_ID is corrected or an \
                 operator runs `latchkey store adopt` (see docs/operations.md)"
            }
        }
    }
}

/// Checks the store's identity for one instance.
pub struct StoreGuard {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// `STORE_ID`; `None` in development until the store's identity is first seen.
    expected: Mutex<Option<String>>,
    /// Whether `expected` came from `STORE_ID` (else it was learned at first contact).
    configured: bool,
    last: Mutex<Option<(Instant, Trust)>>,
}

/// A refusal: the store cannot vouch for what it holds.
#[derive(Debug, thiserror::Error)]
#[error("the store cannot vouch for its data ({}): {}", .0.name(), .0.explain())]
pub struct Untrusted(pub Trust);

impl StoreGuard {
    /// A guard expecting `store_id` (`STORE_ID`); with `None` (development), the first identity
    /// seen is the one expected, and an empty store at first contact gets a new one, logged.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, metrics: Arc<Metrics>, store_id: Option<String>) -> Self {
        let configured = store_id.is_some();
        Self { store, clock, metrics, expected: Mutex::new(store_id), configured, last: Mutex::new(None) }
    }

    /// Whether the store is trusted, read at most every [`REFRESH`]. `Err` when the store
    /// does not answer, or holds nothing this instance can trust (then as
    /// [`StoreError::Unavailable`] wrapping [`Untrusted`]: a 503).
    pub async fn check(&self) -> Result<i64, StoreError> {
        let cached = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let trust = match cached.filter(|(at, _)| at.elapsed() < REFRESH) {
            Some((_, trust)) => trust,
            None => self.refresh().await?,
        };
        self.verdict(trust)
    }

    /// As [`StoreGuard::check`], but always reading the store: right before an account is
    /// created or a session issued, so a wipe seconds ago is not missed.
    pub async fn check_fresh(&self) -> Result<i64, StoreError> {
        let trust = self.refresh().await?;
        self.verdict(trust)
    }

    /// What the last read found (`None` before the store first answered).
    pub fn last(&self) -> Option<Trust> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(_, trust)| trust.clone())
    }

    /// The identity this instance expects, once known.
    pub fn expected(&self) -> Option<String> {
        self.expected.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn verdict(&self, trust: Trust) -> Result<i64, StoreError> {
        match trust {
            Trust::Trusted { not_before } => Ok(not_before),
            other => {
                self.metrics.inc("store_untrusted_refusals", &format!("state=\"{}\"", other.name()));
                Err(StoreError::Unavailable(Untrusted(other).into()))
            }
        }
    }

    /// Reads the identity and records what it means; logs an error when trust is lost.
    pub async fn refresh(&self) -> Result<Trust, StoreError> {
        let found = self.store.get_identity().await?;
        let expected = self.expected();
        let trust = match (found, expected) {
            (Some(found), Some(expected)) if found.is(&expected) => Trust::Trusted { not_before: found.not_before },
            (Some(_), Some(_)) => Trust::Foreign,
            (None, Some(_)) => Trust::Empty,
            (Some(found), None) => {
                tracing::info!(store_id = %found.id, "using the store's identity (set STORE_ID to pin it)");
                self.learn(&found.id);
                Trust::Trusted { not_before: found.not_before }
            }
            (None, None) => {
                // First contact with an empty store and no STORE_ID (development): this is a
                // new deployment's first start. Of instances racing here, one identity wins.
                let new = StoreIdentity::generate(self.clock.now()).map_err(|e| StoreError::Unavailable(e.into()))?;
                self.store.put_identity(&new, true).await?;
                let found = self.store.get_identity().await?.ok_or_else(|| {
                    StoreError::Unavailable(anyhow::anyhow!("the store identity vanished right after it was written"))
                })?;
                tracing::info!(store_id = %found.id, "the store had no identity: wrote one (set STORE_ID to pin it)");
                self.learn(&found.id);
                Trust::Trusted { not_before: found.not_before }
            }
        };
        let previous = self.last.lock().unwrap_or_else(|e| e.into_inner()).replace((Instant::now(), trust.clone()));
        let was = previous.map(|(_, trust)| trust.name());
        if was != Some(trust.name()) {
            match &trust {
                Trust::Trusted { .. } if was.is_some() => tracing::warn!("the store is trusted again"),
                Trust::Trusted { .. } => {}
                other => tracing::error!(state = other.name(), configured = self.configured, "{}", other.explain()),
            }
        }
        Ok(trust)
    }

    fn learn(&self, id: &str) {
        *self.expected.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.to_owned());
    }

    /// Prometheus gauges: `latchkey_store_trusted` (1/0) by state.
    pub fn gauges(&self) -> String {
        let state = self.last().map_or("unknown", |trust| trust.name());
        let mut out = String::from("# TYPE latchkey_store_trusted gauge\n");
        for name in ["trusted", "empty", "foreign", "unknown"] {
            out.push_str(&format!("latchkey_store_trusted{{state=\"{name}\"}} {}\n", u8::from(name == state)));
        }
        out
    }
}
