//! Sign-in policy: the rules an admin can tune, as a value (fields, bounds, parsing). The
//! policy in force is read, cached and replaced by `crate::policy::PolicySource`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::i18n::Messages;

/// What a sign-in link does when opened in a browser other than the one that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CrossDevice {
    /// Sign-in finishes only with the code from the mail (the default).
    #[default]
    Code,
    /// One click finishes it anywhere (weaker: a forwarded or scanned link signs in).
    Click,
    /// It does not finish there at all; the code works only in the browser that asked.
    Deny,
    /// It approves the browser that asked, once the number that browser shows is typed there
    /// (number matching); the code from the mail still finishes it there instead.
    Approve,
}

impl FromStr for CrossDevice {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "code" => Ok(Self::Code),
            "click" => Ok(Self::Click),
            "deny" => Ok(Self::Deny),
            "approve" => Ok(Self::Approve),
            _ => Err(()),
        }
    }
}

impl fmt::Display for CrossDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Code => "code",
            Self::Click => "click",
            Self::Deny => "deny",
            Self::Approve => "approve",
        })
    }
}

/// Whether a second factor is asked for after the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecondFactorPolicy {
    /// Never asked for, even from users who set one up.
    Off,
    /// Asked for from users who set one up (the default).
    #[default]
    Optional,
    /// Everyone must set one up before getting a session.
    Required,
}

impl FromStr for SecondFactorPolicy {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "off" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err(()),
        }
    }
}

/// Second-factor methods an admin can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Methods {
    /// Authenticator apps (TOTP).
    pub totp: bool,
    /// Codes by SMS.
    pub sms: bool,
    /// Passkeys and security keys (WebAuthn).
    #[serde(default)]
    pub passkey: bool,
}

impl Default for Methods {
    fn default() -> Self {
        Self { totp: true, sms: true, passkey: false }
    }
}

impl FromStr for Methods {
    type Err = ();
    /// A comma-separated list of `totp`, `sms` and `passkey` (`totp,sms,passkey`, `totp` …).
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut methods = Self { totp: false, sms: false, passkey: false };
        for item in s.split(',').map(str::trim) {
            match item {
                "totp" => methods.totp = true,
                "sms" => methods.sms = true,
                "passkey" => methods.passkey = true,
                _ => return Err(()),
            }
        }
        if methods.totp || methods.sms || methods.passkey { Ok(methods) } else { Err(()) }
    }
}

/// The sign-in rules, shared by every instance through the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInPolicy {
    /// Bumped on every change.
    #[serde(default)]
    pub version: u64,
    /// `LINK_TTL`: how long a sign-in link works, in seconds (60–3600).
    #[serde(default = "default_link_ttl")]
    #[schema(required = true)]
    pub link_ttl_secs: u64,
    /// `SESSION_TTL`: how long a session lasts, in seconds (5 min – 90 days).
    #[serde(default = "default_session_ttl")]
    #[schema(required = true)]
    pub session_ttl_secs: u64,
    /// `CROSS_DEVICE`.
    pub cross_device: CrossDevice,
    /// `LINK_SUPERSEDE`: a new link revokes the address's older unused ones.
    pub supersede: bool,
    /// `SECOND_FACTOR`.
    #[serde(default)]
    #[schema(required = true)]
    pub second_factor: SecondFactorPolicy,
    /// `SECOND_FACTOR_METHODS`.
    #[serde(default)]
    #[schema(required = true)]
    pub methods: Methods,
    /// Who may create an account by signing in: everyone (`None`), or addresses and domains on
    /// this list. Existing accounts always may sign in.
    #[serde(default)]
    #[schema(required = true)]
    pub signup_allow: Option<Vec<String>>,
    /// Mail people when they sign in from a browser not seen before on their account.
    #[serde(default = "yes")]
    #[schema(required = true)]
    pub new_device_notice: bool,
    /// `ADMIN_PHISHING_RESISTANT`: administrators (`ADMIN_EMAILS`) pass the second step only
    /// with a passkey; authenticator, text and recovery codes are refused for them, and one
    /// without a passkey sets one up at the step. Needs `passkey` among the methods.
    #[serde(default)]
    #[schema(required = true)]
    pub admin_phishing_resistant: bool,
    /// `RATE_LIMIT_*`: each limited action's `count/window`.
    #[serde(default)]
    #[schema(required = true, value_type = BTreeMap<String, String>)]
    pub rate_limits: super::RateLimits,
}

fn yes() -> bool {
    true
}

fn default_link_ttl() -> u64 {
    900
}

fn default_session_ttl() -> u64 {
    12 * 3600
}

/// Bounds of the link TTL, in seconds.
pub const LINK_TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=3600;
/// Bounds of the session TTL, in seconds.
pub const SESSION_TTL_RANGE: std::ops::RangeInclusive<u64> = 300..=90 * 86_400;

impl SignInPolicy {
    /// Checks every field; returns each bad one with what is wrong.
    pub fn validate(&self) -> Result<(), Vec<(&'static str, PolicyProblem)>> {
        let mut problems = Vec::new();
        if !LINK_TTL_RANGE.contains(&self.link_ttl_secs) {
            problems.push(("link_ttl_secs", PolicyProblem::LinkTtl));
        }
        if !SESSION_TTL_RANGE.contains(&self.session_ttl_secs) {
            problems.push(("session_ttl_secs", PolicyProblem::SessionTtl));
        }
        if !self.methods.totp && !self.methods.sms {
            problems.push(("methods", PolicyProblem::NoMethod));
        }
        if self.second_factor == SecondFactorPolicy::Required && !self.methods.totp {
            problems.push(("methods", PolicyProblem::RequiredNeedsTotp));
        }
        if self.admin_phishing_resistant && !self.methods.passkey {
            problems.push(("admin_phishing_resistant", PolicyProblem::PhishingResistantNeedsPasskey));
        }
        for action in super::LimitedAction::ALL {
            let limit = self.rate_limits.get(action);
            if limit.max == 0 || limit.window.as_secs() > 86_400 || limit.window.as_secs() == 0 {
                problems.push(("rate_limits", PolicyProblem::RateLimit(action.name())));
            }
        }
        if let Some(bad) = self.signup_allow.iter().flatten().find(|entry| {
            let domain = entry.rsplit_once('@').map_or(entry.as_str(), |(_, d)| d);
            entry.is_empty() || entry.chars().any(char::is_whitespace) || !domain.contains('.')
        }) {
            problems.push(("signup_allow", PolicyProblem::SignupEntry(bad.clone())));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// The link TTL.
    pub fn link_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.link_ttl_secs)
    }

    /// The session TTL.
    pub fn session_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.session_ttl_secs)
    }

    /// True when a new account may be created for `email`.
    pub fn signup_allowed(&self, email: &super::Email) -> bool {
        let Some(list) = &self.signup_allow else { return true };
        let address = email.as_str();
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        list.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            entry == address || entry == domain || domain.ends_with(&format!(".{entry}"))
        })
    }
}

/// What is wrong with one field of a policy, said in a reader's language by
/// [`PolicyProblem::message`] (in English by `Display`, for logs and start-up errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyProblem {
    /// The link lifetime is out of [`LINK_TTL_RANGE`].
    LinkTtl,
    /// The session lifetime is out of [`SESSION_TTL_RANGE`].
    SessionTtl,
    /// Neither totp nor sms is allowed.
    NoMethod,
    /// A required second factor without totp, which sign-ins without a factor set up.
    RequiredNeedsTotp,
    /// This limited action's limit allows nothing or has a window over a day.
    RateLimit(&'static str),
    /// This signup list entry is neither an address nor a domain.
    SignupEntry(String),
    /// Administrators held to a passkey while passkeys are not among the methods.
    PhishingResistantNeedsPasskey,
}

impl PolicyProblem {
    /// The problem in `t`'s language.
    pub fn message(&self, t: &Messages) -> String {
        match self {
            Self::LinkTtl => t.policy_link_ttl_range.to_owned(),
            Self::SessionTtl => t.policy_session_ttl_range.to_owned(),
            Self::NoMethod => t.policy_methods_none.to_owned(),
            Self::RequiredNeedsTotp => t.policy_required_needs_totp.to_owned(),
            Self::RateLimit(action) => t.fill(t.policy_rate_limit, action),
            Self::SignupEntry(entry) => t.fill(t.policy_signup_entry, entry),
            Self::PhishingResistantNeedsPasskey => t.policy_phishing_resistant_needs_passkey.to_owned(),
        }
    }
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(&crate::i18n::EN))
    }
}

/// A policy document that could not be read, with the field at fault (`rate_limits`,
/// `link_ttl_secs`, … or `.` for the document as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy field `{field}`: {message}")]
pub struct PolicyFieldError {
    /// The field, as a path (`methods.totp`).
    pub field: String,
    /// What is wrong with it, without the document's text.
    pub message: String,
}

impl SignInPolicy {
    /// Reads a policy from JSON, naming the field at fault on a type or value error.
    pub fn from_json(raw: &[u8]) -> Result<Self, PolicyFieldError> {
        let mut de = serde_json::Deserializer::from_slice(raw);
        let policy: Self = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| PolicyFieldError { field: e.path().to_string(), message: without_position(e.inner()) })?;
        de.end().map_err(|e| PolicyFieldError { field: ".".to_owned(), message: without_position(&e) })?;
        Ok(policy)
    }

    /// Reads a policy as the store holds it: it must parse and pass [`SignInPolicy::validate`],
    /// or it is not applied (the first bad field is named).
    pub fn from_stored(raw: &str) -> Result<Self, PolicyFieldError> {
        let policy = Self::from_json(raw.as_bytes())?;
        match policy.validate() {
            Ok(()) => Ok(policy),
            Err(problems) => {
                let (field, message) =
                    problems.into_iter().next().map_or(("policy", String::new()), |(f, p)| (f, p.to_string()));
                Err(PolicyFieldError { field: field.to_owned(), message })
            }
        }
    }
}

/// A serde_json error's message without " at line … column …" (the position means nothing to
/// the reader of a field name).
pub fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) if e.line() > 0 => text[..at].to_owned(),
        _ => text,
    }
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self {
            version: 0,
            link_ttl_secs: default_link_ttl(),
            session_ttl_secs: default_session_ttl(),
            cross_device: CrossDevice::Code,
            supersede: true,
            second_factor: SecondFactorPolicy::Optional,
            methods: Methods::default(),
            signup_allow: None,
            new_device_notice: true,
            admin_phishing_resistant: false,
            rate_limits: super::RateLimits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(field: &str, value: serde_json::Value) -> Vec<u8> {
        let mut doc = serde_json::to_value(SignInPolicy::default()).unwrap();
        doc[field] = value;
        serde_json::to_vec(&doc).unwrap()
    }

    #[test]
    fn a_type_or_value_error_names_its_field() {
        let e = SignInPolicy::from_json(&with("link_ttl_secs", (-5).into())).unwrap_err();
        assert_eq!(e.field, "link_ttl_secs", "{e}");
        assert!(!e.message.contains("line"), "{e}");
        let e =
            SignInPolicy::from_json(&with("rate_limits", serde_json::json!({"login-email": "3/500ms"}))).unwrap_err();
        assert_eq!(e.field, "rate_limits", "{e}");
        assert!(e.message.contains("login-email") && e.message.contains("1s"), "{e}");
        let e = SignInPolicy::from_json(&with("methods", serde_json::json!({"totp": "yes", "sms": true}))).unwrap_err();
        assert_eq!(e.field, "methods.totp", "{e}");
        let e = SignInPolicy::from_json(&with("surprise", 1.into())).unwrap_err();
        assert!(e.field.contains("surprise") || e.message.contains("surprise"), "{e}");
    }

    #[test]
    fn a_stored_policy_that_parses_but_breaks_a_bound_is_not_read() {
        let e = SignInPolicy::from_stored(&String::from_utf8(with("link_ttl_secs", 5.into())).unwrap()).unwrap_err();
        assert_eq!(e.field, "link_ttl_secs");
        let e = SignInPolicy::from_stored(
            &String::from_utf8(with("rate_limits", serde_json::json!({"login-ip": "3/0s"}))).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.field, "rate_limits");
        let good = serde_json::to_string(&SignInPolicy::default()).unwrap();
        assert_eq!(SignInPolicy::from_stored(&good), Ok(SignInPolicy::default()));
    }
}
