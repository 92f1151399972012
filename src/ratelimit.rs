//! Rate limits, counted in the store so they hold across instances. The limits themselves are
//! part of the shared policy (`crate::domain::RateLimits`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use crate::domain::{Limit, LimitedAction, RateLimits};

use crate::audit::Metrics;
use crate::crypto::Keyring;
use crate::policy::PolicySource;
use crate::store::{LimitHit, RateKey, Store, StoreError};

/// Why an action was not allowed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over the limit; try again after this long.
    #[error("rate limited")]
    Exceeded(Duration),
    /// The store did not answer; fail closed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What counting one action found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// Within the limit.
    Allowed,
    /// Over the limit; the window ends after `retry_after`. `first` is true for exactly one
    /// refusal per window: the one whose count went just past the limit (counting is one atomic
    /// step in the store, so of concurrent requests on any instances only one sees it).
    Refused {
        /// Until the window ends.
        retry_after: Duration,
        /// The window's first refusal.
        first: bool,
    },
}

/// Counts actions in the store.
pub struct RateLimiter {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    policy: Arc<PolicySource>,
    metrics: Arc<Metrics>,
    ipv6_prefix: u8,
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(store: Arc<dyn Store>, keys: Arc<Keyring>, policy: Arc<PolicySource>, metrics: Arc<Metrics>) -> Self {
        Self { store, keys, policy, metrics, ipv6_prefix: crate::domain::DEFAULT_IPV6_PREFIX }
    }

    /// Counts IPv6 clients by their first `prefix` bits (`RATE_LIMIT_IPV6_PREFIX`).
    pub fn counting_ipv6_by(mut self, prefix: u8) -> Self {
        self.ipv6_prefix = prefix;
        self
    }

    /// The subject a per-client limit counts for a request's client: its network, so that the
    /// many addresses of one IPv6 subscriber share one count, and `::ffff:a.b.c.d` counts as
    /// `a.b.c.d`. A client whose address could not be read (its connection's peer unknown)
    /// counts as one network, `-`, shared by all such: it is never let off a per-network
    /// limit. Every limit on the client IP goes through this.
    pub fn client(&self, ip: Option<IpAddr>) -> String {
        client_subject(ip, self.ipv6_prefix)
    }

    async fn limit(&self, action: LimitedAction) -> Result<Limit, LimitError> {
        Ok(self.policy.rate_limit(action).await?)
    }

    fn exceeded(&self, action: LimitedAction, left: Duration) -> LimitError {
        self.metrics.inc("rate_limited", &format!("action=\"{}\"", action.name()));
        LimitError::Exceeded(left)
    }

    fn key(&self, action: LimitedAction, subject: &str) -> RateKey {
        RateKey { action: action.name(), subject: self.keys.lookup.mac_b64(&[b"rate", subject.as_bytes()]) }
    }

    /// Counts one `action` by `subject` and refuses it if that goes over the limit.
    pub async fn hit(&self, action: LimitedAction, subject: &str) -> Result<(), LimitError> {
        self.hit_in_order(&[(action, subject)]).await
    }

    /// Counts one of each `(action, subject)` in order and stops at the first that goes over
    /// its limit, refusing: the ones after it are not counted, so a refused request spends no
    /// later budget. One store call for all of them.
    pub async fn hit_in_order(&self, hits: &[(LimitedAction, &str)]) -> Result<(), LimitError> {
        let mut limits = Vec::with_capacity(hits.len());
        for (action, subject) in hits {
            limits.push((self.key(*action, subject), self.limit(*action).await?));
        }
        let counted: Vec<LimitHit<'_>> =
            limits.iter().map(|(key, limit)| LimitHit { key, window: limit.window, max: limit.max }).collect();
        let Some(over) = self.store.hit_limits(&counted).await? else { return Ok(()) };
        let Some((action, _)) = hits.get(over.index) else {
            // The store named no hit it was given: nothing it counted can be vouched for.
            return Err(
                StoreError::Corrupt(anyhow::anyhow!("a refusal of limit {} of {}", over.index, hits.len())).into()
            );
        };
        Err(self.exceeded(*action, over.left))
    }

    /// Counts one `action` by `subject`, like [`RateLimiter::hit`] (the same store call), and
    /// says whether this was the window's first refusal (to raise an alarm once per window, not
    /// per request).
    pub async fn count(&self, action: LimitedAction, subject: &str) -> Result<Hit, LimitError> {
        let limit = self.limit(action).await?;
        let key = self.key(action, subject);
        let hit = LimitHit { key: &key, window: limit.window, max: limit.max };
        let Some(over) = self.store.hit_limits(&[hit]).await? else { return Ok(Hit::Allowed) };
        self.exceeded(action, over.left);
        Ok(Hit::Refused { retry_after: over.left, first: over.count == limit.max + 1 })
    }

    /// Refuses if `subject` is already at the limit, without counting (for failure limits,
    /// where only failures are counted, by [`RateLimiter::record`]).
    pub async fn check(&self, action: LimitedAction, subject: &str) -> Result<(), LimitError> {
        let limit = self.limit(action).await?;
        let (count, left) = self.store.hit_limit(&self.key(action, subject), limit.window, 0).await?;
        if count >= limit.max { Err(self.exceeded(action, left)) } else { Ok(()) }
    }

    /// Counts one failure.
    pub async fn record(&self, action: LimitedAction, subject: &str) -> Result<(), LimitError> {
        let limit = self.limit(action).await?;
        self.store.hit_limit(&self.key(action, subject), limit.window, 1).await?;
        Ok(())
    }
}

/// [`RateLimiter::client`], counting IPv6 clients by their first `ipv6_prefix` bits.
fn client_subject(ip: Option<IpAddr>, ipv6_prefix: u8) -> String {
    let Some(ip) = ip else { return "-".to_owned() };
    let net = crate::domain::client_network(ip, ipv6_prefix);
    // A single address keeps the key it had before networks were counted.
    if net.prefix_len() == net.max_prefix_len() { net.addr().to_string() } else { net.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_without_an_address_shares_one_network_with_all_such() {
        assert_eq!(client_subject(None, 64), "-");
        assert_eq!(client_subject(Some("203.0.113.7".parse().unwrap()), 64), "203.0.113.7");
        assert_eq!(client_subject(Some("2001:db8:1:2:3:4:5:6".parse().unwrap()), 64), "2001:db8:1:2::/64");
        assert_ne!(client_subject(Some("::".parse().unwrap()), 128), "-");
    }
}
