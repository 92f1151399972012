//! Rate limits as values: which actions are limited, and how much. The limiter that counts
//! them lives in `crate::ratelimit`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Parses `30s`, `15m`, `12h`, `7d` (a whole number and one unit).
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// What is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    /// Sign-in links requested for one mailbox (`+tag` folded), from every network together:
    /// the ceiling above [`LimitedAction::LoginPerEmailNetwork`].
    LoginPerEmail,
    /// Sign-in links requested from one IP address.
    LoginPerIp,
    /// Failed link or code redemptions (unknown tokens, wrong codes) from one IP address.
    FailedRedeemPerIp,
    /// SMS codes sent to one phone number (against SMS pumping).
    SmsPerNumber,
    /// SMS codes requested from one IP address.
    SmsPerIp,
    /// Second-factor codes tried for one account (each counted before it is checked, right
    /// or wrong), across sign-in steps and account pages.
    SecondFactorFailuresPerUser,
    /// Texts for one account that verify a new phone number, whatever the number (against
    /// pumping through many numbers); texts to the verified phone are not counted here.
    SmsPerAccount,
    /// SMS codes texted by the whole service; at the limit texts pause for everyone.
    SmsGlobal,
    /// Sign-in links requested for one mailbox from one client network, so that one network
    /// cannot spend the mailbox's whole budget ([`LimitedAction::LoginPerEmail`]).
    LoginPerEmailNetwork,
    /// Changes of address asked for by one account (each mails a link to the new address).
    EmailChangePerUser,
    /// Passkey sign-ins begun (`POST /login/passkey/start`) from one client network: each
    /// keeps a ceremony in the store for five minutes.
    PasskeyStartPerIp,
    /// Passkey answers at `/login` from one client network, each counted before it is
    /// checked, right or wrong.
    PasskeySignInPerIp,
}

impl LimitedAction {
    /// Every action, in a fixed order.
    pub const ALL: [Self; 12] = [
        Self::LoginPerEmail,
        Self::LoginPerIp,
        Self::FailedRedeemPerIp,
        Self::SmsPerNumber,
        Self::SmsPerIp,
        Self::SecondFactorFailuresPerUser,
        Self::SmsPerAccount,
        Self::SmsGlobal,
        Self::LoginPerEmailNetwork,
        Self::EmailChangePerUser,
        Self::PasskeyStartPerIp,
        Self::PasskeySignInPerIp,
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
            Self::SmsPerAccount => "sms-account",
            Self::SmsGlobal => "sms-global",
            Self::LoginPerEmailNetwork => "login-email-net",
            Self::EmailChangePerUser => "email-change-user",
            Self::PasskeyStartPerIp => "passkey-start-ip",
            Self::PasskeySignInPerIp => "passkey-ip",
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
            Self::SmsPerAccount => "RATE_LIMIT_SMS_ACCOUNT",
            Self::SmsGlobal => "RATE_LIMIT_SMS_GLOBAL",
            Self::LoginPerEmailNetwork => "RATE_LIMIT_LOGIN_EMAIL_NETWORK",
            Self::EmailChangePerUser => "RATE_LIMIT_EMAIL_CHANGE_USER",
            Self::PasskeyStartPerIp => "RATE_LIMIT_PASSKEY_START_IP",
            Self::PasskeySignInPerIp => "RATE_LIMIT_PASSKEY_IP",
        }
    }

    /// The default limit.
    pub fn default_limit(self) -> Limit {
        let minutes = |max: u64, m: u64| Limit { max, window: Duration::from_secs(m * 60) };
        match self {
            Self::LoginPerEmail => minutes(20, 15),
            Self::LoginPerIp => minutes(30, 15),
            Self::FailedRedeemPerIp => minutes(20, 15),
            Self::SmsPerNumber => minutes(3, 15),
            Self::SmsPerIp => minutes(10, 60),
            Self::SecondFactorFailuresPerUser => minutes(10, 60),
            Self::SmsPerAccount => minutes(5, 24 * 60),
            Self::SmsGlobal => minutes(200, 60),
            Self::LoginPerEmailNetwork => minutes(5, 15),
            Self::EmailChangePerUser => minutes(5, 60),
            Self::PasskeyStartPerIp => minutes(200, 15),
            Self::PasskeySignInPerIp => minutes(20, 15),
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

/// Why a `count/window` limit was refused; the message is safe to show to an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitParseError {
    /// Not `count/window`.
    #[error("is not a limit like 5/15m (a count, `/`, and a window such as 30s, 15m, 1h, 1d)")]
    Malformed,
    /// A window shorter than a second, or not a whole number of seconds: counters expire in
    /// whole seconds, and a zero-second window would stop every limited route.
    #[error("has a window under 1s or not in whole seconds; use at least 1s")]
    WindowTooShort,
}

impl FromStr for Limit {
    type Err = LimitParseError;
    fn from_str(s: &str) -> Result<Self, LimitParseError> {
        let (max, window) = s.split_once('/').ok_or(LimitParseError::Malformed)?;
        let max = max.trim().parse().map_err(|_| LimitParseError::Malformed)?;
        let window = parse_duration(window).ok_or(LimitParseError::Malformed)?;
        if window < Duration::from_secs(1) || window.subsec_nanos() != 0 {
            return Err(LimitParseError::WindowTooShort);
        }
        Ok(Self { max, window })
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.max, self.window.as_secs())
    }
}

/// The limit for each action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct RateLimits([Limit; LimitedAction::ALL.len()]);

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

impl From<RateLimits> for BTreeMap<String, String> {
    fn from(limits: RateLimits) -> Self {
        LimitedAction::ALL.iter().map(|a| (a.name().to_owned(), limits.get(*a).to_string())).collect()
    }
}

impl TryFrom<BTreeMap<String, String>> for RateLimits {
    type Error = String;
    /// Any subset of the actions, each `count/window`; the rest keep their defaults.
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, String> {
        let mut limits = Self::default();
        for (name, value) in map {
            let action = LimitedAction::ALL
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or_else(|| format!("`{name}` is not a limited action"))?;
            let limit = value.parse().map_err(|e: LimitParseError| format!("{name}: `{value}` {e}"))?;
            limits.set(action, limit);
        }
        Ok(limits)
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
    fn windows_under_a_second_or_between_seconds_are_refused() {
        for bad in ["3/500ms", "5/0ms", "5/999ms", "5/1500ms", "5/0s", "5/0m"] {
            assert_eq!(bad.parse::<Limit>(), Err(LimitParseError::WindowTooShort), "{bad:?}");
        }
        assert_eq!("5/1000ms".parse(), Ok(Limit { max: 5, window: Duration::from_secs(1) }));
        assert_eq!("5/1s".parse(), Ok(Limit { max: 5, window: Duration::from_secs(1) }));
        // What is stored reads back the same.
        let limit: Limit = "7/2000ms".parse().unwrap();
        assert_eq!(limit.to_string().parse(), Ok(limit));
    }

    #[test]
    fn every_action_has_its_own_variable_and_key_name() {
        let mut names: Vec<_> = LimitedAction::ALL.iter().map(|a| a.name()).collect();
        let mut vars: Vec<_> = LimitedAction::ALL.iter().map(|a| a.variable()).collect();
        names.dedup();
        vars.dedup();
        assert_eq!(names.len(), LimitedAction::ALL.len());
        assert_eq!(vars.len(), LimitedAction::ALL.len());
        assert_eq!(RateLimits::default().get(LimitedAction::LoginPerEmail).max, 20);
        assert_eq!(RateLimits::default().get(LimitedAction::LoginPerEmailNetwork).max, 5);
        assert_eq!(RateLimits::default().get(LimitedAction::LoginPerIp).max, 30);
        assert_eq!(RateLimits::default().get(LimitedAction::SmsPerAccount), "5/24h".parse().unwrap());
        assert_eq!(RateLimits::default().get(LimitedAction::SmsGlobal), "200/1h".parse().unwrap());
    }
}
