//! The starting sign-in policy and the limits: `LINK_TTL`, `SESSION_TTL`, `CROSS_DEVICE`,
//! `LINK_SUPERSEDE`, `SECOND_FACTOR`, `SECOND_FACTOR_METHODS`, the `RATE_LIMIT_*` variables,
//! `NEW_DEVICE_NOTICE`, `ADMIN_PHISHING_RESISTANT`, `SIGNUP_ALLOW` and `RATE_LIMIT_IPV6_PREFIX`.

use std::time::Duration;

use super::reader::Reader;
use crate::domain::{CrossDevice, Limit, LimitParseError, LimitedAction, RateLimits, SignInPolicy};

impl Reader<'_> {
    /// `LINK_TTL` and `SESSION_TTL`, bounds-checked.
    pub(super) fn ttls(&mut self) -> (Option<Duration>, Option<Duration>) {
        let link_ttl = self.duration("LINK_TTL", "15m", Duration::from_secs(60), Duration::from_secs(3600));
        let session_ttl =
            self.duration("SESSION_TTL", "12h", Duration::from_secs(300), Duration::from_secs(90 * 24 * 3600));
        (link_ttl, session_ttl)
    }

    /// The starting policy, written to the store if it holds none; admins change it at run time.
    pub(super) fn policy(&mut self, link_ttl: Option<Duration>, session_ttl: Option<Duration>) -> SignInPolicy {
        let policy = SignInPolicy {
            version: 0,
            link_ttl_secs: link_ttl.map_or(900, |d| d.as_secs()),
            session_ttl_secs: session_ttl.map_or(12 * 3600, |d| d.as_secs()),
            cross_device: self
                .parse("CROSS_DEVICE", "approve", "`code`, `click`, `deny` or `approve`")
                .unwrap_or(CrossDevice::Approve),
            supersede: self.flag("LINK_SUPERSEDE", true),
            second_factor: self
                .parse("SECOND_FACTOR", "optional", "`off`, `optional` or `required`")
                .unwrap_or_default(),
            methods: self
                .parse("SECOND_FACTOR_METHODS", "totp,sms", "a list of `totp`, `sms`, `passkey` (`totp,sms`)")
                .unwrap_or_default(),
            rate_limits: self.rate_limits(),
            new_device_notice: self.flag("NEW_DEVICE_NOTICE", true),
            admin_phishing_resistant: self.flag("ADMIN_PHISHING_RESISTANT", false),
            signup_allow: self
                .get("SIGNUP_ALLOW")
                .map(|raw| raw.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()),
        };
        // The durations were bounds-checked above; the signup list is checked here.
        if let Err(problems) = policy.validate() {
            for (field, problem) in problems {
                match field {
                    "signup_allow" => self.problem("SIGNUP_ALLOW", problem.to_string()),
                    "admin_phishing_resistant" => self.problem("ADMIN_PHISHING_RESISTANT", problem.to_string()),
                    _ => {}
                }
            }
        }
        policy
    }

    /// `RATE_LIMIT_*`: one variable per limited action, each `max/window`.
    fn rate_limits(&mut self) -> RateLimits {
        let mut limits = RateLimits::default();
        for action in LimitedAction::ALL {
            let default = action.default_limit();
            let raw = self.get(action.variable());
            if let Some(raw) = raw {
                match raw.parse::<Limit>() {
                    Ok(limit) if limit.max == 0 || limit.window.as_secs() > 86_400 => self.problem(
                        action.variable(),
                        format!("`{raw}`: at least 1 per window, and a window of at most 1d"),
                    ),
                    Ok(limit) => limits.set(action, limit),
                    Err(LimitParseError::WindowTooShort) => {
                        self.problem(action.variable(), format!("`{raw}` {}", LimitParseError::WindowTooShort))
                    }
                    Err(LimitParseError::Malformed) => self.problem(
                        action.variable(),
                        format!("`{raw}` is not a limit like {}/{}m", default.max, default.window.as_secs() / 60),
                    ),
                }
            }
        }
        limits
    }

    /// `RATE_LIMIT_IPV6_PREFIX`: 32–128 (shorter would put whole providers in one bucket).
    pub(super) fn ipv6_prefix(&mut self) -> u8 {
        let default = crate::domain::DEFAULT_IPV6_PREFIX;
        let Some(raw) = self.get("RATE_LIMIT_IPV6_PREFIX") else { return default };
        match raw.trim().trim_start_matches('/').parse::<u8>() {
            Ok(n) if (32..=128).contains(&n) => n,
            _ => {
                self.problem("RATE_LIMIT_IPV6_PREFIX", format!("`{raw}` is not a prefix length from 32 to 128"));
                default
            }
        }
    }
}
