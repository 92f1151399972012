//! The mail providers' bounce and complaint webhooks: each verified its own way (Amazon SES
//! through a signed SNS message, Postmark by basic authentication, SendGrid by an ECDSA
//! signature, Mailgun by an HMAC with a fresh, unused token), each turned into the same
//! reports: hard bounces and complaints put the address on the suppression list; soft
//! bounces and everything else are ignored.

mod mailgun;
mod postmark;
mod sendgrid;
mod ses;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::Suppressions;
use crate::crypto::Keyring;
use crate::domain::Email;
use crate::store::{RateKey, Store, StoreError, SuppressionReason};

/// How far a signed timestamp may be from now (SendGrid, Mailgun).
const FRESHNESS: i64 = 5 * 60;

/// A provider whose webhook latchkey takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Amazon SES, through an SNS topic subscription.
    Ses,
    /// Postmark's bounce and spam complaint webhooks.
    Postmark,
    /// SendGrid's signed event webhook.
    Sendgrid,
    /// Mailgun's webhooks (`permanent_fail`, `complained`).
    Mailgun,
}

impl Provider {
    /// The provider a path segment names (`ses`, `postmark`, `sendgrid`, `mailgun`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ses" => Some(Self::Ses),
            "postmark" => Some(Self::Postmark),
            "sendgrid" => Some(Self::Sendgrid),
            "mailgun" => Some(Self::Mailgun),
            _ => None,
        }
    }

    /// The provider's name, as the suppression entry's source.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ses => "ses",
            Self::Postmark => "postmark",
            Self::Sendgrid => "sendgrid",
            Self::Mailgun => "mailgun",
        }
    }
}

/// What a webhook request carries that its verification reads.
pub struct HookRequest<'a> {
    /// `Authorization` (Postmark's basic authentication).
    pub authorization: Option<&'a str>,
    /// `X-Twilio-Email-Event-Webhook-Signature` (SendGrid).
    pub sendgrid_signature: Option<&'a str>,
    /// `X-Twilio-Email-Event-Webhook-Timestamp` (SendGrid).
    pub sendgrid_timestamp: Option<&'a str>,
    /// The body, as it arrived (signatures cover its bytes).
    pub body: &'a [u8],
}

/// A delivery report worth acting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The address.
    pub email: Email,
    /// A hard bounce or a complaint.
    pub reason: SuppressionReason,
}

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The provider is not configured here (its secret is unset): 404.
    #[error("not found")]
    NotEnabled,
    /// The request is not the provider's (bad signature or credentials, a stale or replayed
    /// one): 401. The reason is safe to show.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The request cannot be read: 400, naming the field.
    #[error("{field}: {message}")]
    Malformed {
        /// The field at fault (`.` for the whole body).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The store did not answer (the provider retries).
    #[error("store unavailable")]
    Store(#[from] StoreError),
}

impl HookError {
    fn malformed(field: &str, message: impl Into<String>) -> Self {
        Self::Malformed { field: field.to_owned(), message: message.into() }
    }
}

/// Reads a JSON body, naming the field at fault.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, HookError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let message = crate::domain::without_position(&e.into_inner());
        // A missing field is reported at its parent: name the field itself.
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split_once('`')).map(|(name, _)| name);
        let field = match missing {
            Some(name) if path == "." => name.to_owned(),
            Some(name) => format!("{path}.{name}"),
            None => path,
        };
        HookError::Malformed { field, message }
    })
}

/// An address a provider reported, or a 400 naming `field`.
fn reported_address(raw: &str, field: &str) -> Result<Email, HookError> {
    Email::parse(raw).map_err(|_| HookError::malformed(field, "is not an email address"))
}

/// The webhooks' side of deliverability.
pub struct BounceHooks {
    suppressions: Arc<Suppressions>,
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    ses: ses::SnsVerifier,
}

impl BounceHooks {
    /// The webhooks over `suppressions`; `store` remembers the tokens Mailgun has used.
    pub fn new(suppressions: Arc<Suppressions>, store: Arc<dyn Store>, keyring: Arc<Keyring>) -> anyhow::Result<Self> {
        let ses = ses::SnsVerifier::new(suppressions.settings().ses_cert_url_prefix.clone())?;
        Ok(Self { suppressions, store, keyring, ses })
    }

    /// The suppression list the webhooks feed.
    pub fn suppressions(&self) -> &Suppressions {
        &self.suppressions
    }

    /// Whether `provider`'s webhook is configured.
    pub fn enabled(&self, provider: Provider) -> bool {
        let s = self.suppressions.settings();
        match provider {
            Provider::Ses => s.ses_topic_arn.is_some(),
            Provider::Postmark => s.postmark_credentials.is_some(),
            Provider::Sendgrid => s.sendgrid_public_key.is_some(),
            Provider::Mailgun => s.mailgun_signing_key.is_some(),
        }
    }

    /// Verifies one webhook request from `provider` and puts what it reports on the
    /// suppression list; returns how many addresses it reported.
    pub async fn receive(&self, provider: Provider, request: &HookRequest<'_>) -> Result<usize, HookError> {
        let settings = self.suppressions.settings();
        let now = self.suppressions.now().timestamp();
        let reports = match provider {
            Provider::Ses => {
                let arn = settings.ses_topic_arn.as_deref().ok_or(HookError::NotEnabled)?;
                let (id, reports) = self.ses.receive(arn, request.body, now).await?;
                if let Some(id) = id {
                    let window = Duration::from_secs((ses::SNS_FRESHNESS + FRESHNESS) as u64 + 60);
                    self.spend_once("sns-message", &id, window, "this message was received before").await?;
                }
                reports
            }
            Provider::Postmark => {
                let credentials = settings.postmark_credentials.as_ref().ok_or(HookError::NotEnabled)?;
                postmark::receive(credentials, request)?
            }
            Provider::Sendgrid => {
                let key = settings.sendgrid_public_key.as_deref().ok_or(HookError::NotEnabled)?;
                sendgrid::receive(key, request, now)?
            }
            Provider::Mailgun => {
                let key = settings.mailgun_signing_key.as_ref().ok_or(HookError::NotEnabled)?;
                let (token, reports) = mailgun::receive(key, request.body, now)?;
                let window = Duration::from_secs(2 * FRESHNESS as u64 + 60);
                self.spend_once("mailgun-token", &token, window, "this token was used before").await?;
                reports
            }
        };
        for report in &reports {
            self.suppressions.suppress(&report.email, report.reason, provider.name()).await?;
        }
        Ok(reports.len())
    }

    /// Spends `value` (a Mailgun token, an SNS message id) once within `window`: a second
    /// request with it is refused as `why`.
    async fn spend_once(
        &self,
        action: &'static str,
        value: &str,
        window: Duration,
        why: &'static str,
    ) -> Result<(), HookError> {
        let key = RateKey { action, subject: self.keyring.lookup.mac_b64(&[action.as_bytes(), value.as_bytes()]) };
        let (count, _) = self.store.hit_limit(&key, window, 1).await?;
        if count > 1 {
            return Err(HookError::Unauthorized(why));
        }
        Ok(())
    }
}

/// Whether a signed unix timestamp is within [`FRESHNESS`] of `now`.
fn fresh(timestamp: &str, now: i64, field: &str) -> Result<(), HookError> {
    let at: i64 = timestamp.trim().parse().map_err(|_| HookError::malformed(field, "is not a unix timestamp"))?;
    if (now - at).abs() > FRESHNESS {
        return Err(HookError::Unauthorized("the signed timestamp is stale"));
    }
    Ok(())
}
