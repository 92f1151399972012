//! Text messages: the sender port, the Twilio-compatible HTTP adapter, and a development
//! adapter that prints to the log. The settings (`SMS_*`, `TWILIO_*`) are read in
//! `crate::config`; which countries may receive codes is `crate::domain::AllowedCountries`.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::SmsProvider;
use crate::domain::PhoneNumber;

mod twilio;

pub use twilio::TwilioSms;

/// Why a text message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider refused this message or number; retrying will not help. The reason is
    /// short and safe to show to the person (it never holds the number or the provider's text).
    #[error("the SMS provider refused the message: {0}")]
    Rejected(String),
    /// Network error, timeout, provider outage or misconfiguration; worth retrying later.
    #[error("the SMS provider is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// Sends one text message. Callers check [`crate::domain::AllowedCountries::allows`] first.
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// Sends `body` to `to`.
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), SmsError>;
}

/// Prints each message to the log, code included (development only: production refuses
/// `SMS_PROVIDER=log`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), SmsError> {
        tracing::info!(to = %to.masked(), "SMS (SMS_PROVIDER=log):\n{body}");
        Ok(())
    }
}

/// Builds the sender the settings name; `None` when SMS is disabled.
pub fn build_sender(settings: &SmsProvider) -> anyhow::Result<Option<Arc<dyn SmsSender>>> {
    Ok(match settings {
        SmsProvider::Disabled => None,
        SmsProvider::Log => Some(Arc::new(LogSms)),
        SmsProvider::Twilio { account_sid, auth_token, from, base_url } => {
            Some(Arc::new(TwilioSms::new(account_sid, auth_token.clone(), from, base_url)?))
        }
    })
}
