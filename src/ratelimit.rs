//! Rate limits, counted in the store so they hold across instances. Each limited action is a
//! variant with its default and the variable that overrides it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::Metrics;
use crate::config::parse_duration;
use crate::crypto::Keyring;
use crate::store::{RateKey, Store, StoreError};

/// What is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    /// Sign-in links requested for one address.
    LoginPerEmail,
    /// Sign-in links requested from one IP address.
    LoginPerIp,
    /// Failed link or code redemptions (unknown tokens, wrong codes) from one IP address.
    FailedRedeemPerIp,
    /// SMS codes sent to one phone number (against SMS pumping).
    SmsPerNumber,
    /// SMS codes requested from one IP address.
    SmsPerIp,
    /// Wrong second-factor codes for one account, across sign-in steps and account pages.
    SecondFactorFailuresPerUser,
}

impl LimitedAction {
    /// Every action, in a fixed order.
    pub const ALL: [Self; 6] = [
        Self::LoginPerEmail,
        Self::LoginPerIp,
        Self::FailedRedeemPerIp,
        Self::SmsPerNumber,
        Self::SmsPerIp,
        Self::SecondFactorFailuresPerUser,
    ];

    /// The name used in store keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::LoginPerEmail => "login-email",
            Self::LoginPerIp => "login-ip",
            Self::FailedRedeemPerIp => "redeem-fail-ip",
            Self::SmsPerNumber => "sms-number",
            Self::SmsPerIp => "sms-ip",
            Self::SecondFactorFailuresPerUser => "2fa-fail-user",
        }
    }

    /// The environment variable that sets it.
    pub fn variable(self) -> &'static str {
        match self {
            Self::LoginPerEmail => "RATE_LIMIT_LOGIN_EMAIL",
            Self::LoginPerIp => "RATE_LIMIT_LOGIN_IP",
            Self::FailedRedeemPerIp => "RATE_LIMIT_REDEEM_FAILURES_IP",
            Self::SmsPerNumber => "RATE_LIMIT_SMS_NUMBER",
            Self::SmsPerIp => "RATE_LIMIT_SMS_IP",
            Self::SecondFactorFailuresPerUser => "RATE_LIMIT_2FA_FAILURES_USER",
        }
    }

    /// The default limit.
    pub fn default_limit(self) -> Limit {
        let minutes = |max: u64, m: u64| Limit { max, window: Duration::from_secs(m * 60) };
        match self {
            Self::LoginPerEmail => minutes(5, 15),
            Self::LoginPerIp => minutes(30, 15),
            Self::FailedRedeemPerIp => minutes(20, 15),
            Self::SmsPerNumber => minutes(3, 15),
            Self::SmsPerIp => minutes(10, 60),
            Self::SecondFactorFailuresPerUser => minutes(10, 60),
        }
    }
}

/// At most `max` per `window`, written `5/15m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Allowed in one window.
    pub max: u64,
    /// The window.
    pub window: Duration,
}

impl FromStr for Limit {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (max, window) = s.split_once('/').ok_or(())?;
        let max = max.trim().parse().map_err(|_| ())?;
        let window = parse_duration(window).filter(|w| !w.is_zero()).ok_or(())?;
        Ok(Self { max, window })
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.max, self.window.as_secs())
    }
}

/// The limit for each action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits([Limit; 6]);

impl Default for RateLimits {
    fn default() -> Self {
        Self(LimitedAction::ALL.map(LimitedAction::default_limit))
    }
}

impl RateLimits {
    /// The limit for `action`.
    pub fn get(&self, action: LimitedAction) -> Limit {
        self.0[action as usize]
    }

    /// Replaces the limit for `action`.
    pub fn set(&mut self, action: LimitedAction, limit: Limit) {
        self.0[action as usize] = limit;
    }
}

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

/// Counts actions in the store.
pub struct RateLimiter {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    limits: RateLimits,
    metrics: Arc<Metrics>,
}

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(store: Arc<dyn Store>, keys: Arc<Keyring>, limits: RateLimits, metrics: Arc<Metrics>) -> Self {
        Self { store, keys, limits, metrics }
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
        let limit = self.limits.get(action);
        let (count, left) = self.store.hit_limit(&self.key(action, subject), limit.window, 1).await?;
        if count > limit.max { Err(self.exceeded(action, left)) } else { Ok(()) }
    }

    /// Refuses if `subject` is already at the limit, without counting (for failure limits,
    /// where only failures are counted, by [`RateLimiter::record`]).
    pub async fn check(&self, action: LimitedAction, subject: &str) -> Result<(), LimitError> {
        let limit = self.limits.get(action);
        let (count, left) = self.store.hit_limit(&self.key(action, subject), limit.window, 0).await?;
        if count >= limit.max { Err(self.exceeded(action, left)) } else { Ok(()) }
    }

    /// Counts one failure.
    pub async fn record(&self, action: LimitedAction, subject: &str) -> Result<(), LimitError> {
        let limit = self.limits.get(action);
        self.store.hit_limit(&self.key(action, subject), limit.window, 1).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!("5/15m".parse(), Ok(Limit { max: 5, window: Duration::from_secs(900) }));
        assert_eq!("100/1h".parse(), Ok(Limit { max: 100, window: Duration::from_secs(3600) }));
        for bad in ["5", "5/", "/15m", "x/15m", "5/15", "5/0s"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_action_has_its_own_variable_and_key_name() {
        let mut names: Vec<_> = LimitedAction::ALL.iter().map(|a| a.name()).collect();
        let mut vars: Vec<_> = LimitedAction::ALL.iter().map(|a| a.variable()).collect();
        names.dedup();
        vars.dedup();
        assert_eq!(names.len(), LimitedAction::ALL.len());
        assert_eq!(vars.len(), LimitedAction::ALL.len());
        assert_eq!(RateLimits::default().get(LimitedAction::LoginPerEmail).max, 5);
        assert_eq!(RateLimits::default().get(LimitedAction::LoginPerIp).max, 30);
    }
}
