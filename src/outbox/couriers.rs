//! The couriers: one attempt at delivering a job of each kind, and what came of it.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Job, LogoutTokenSigner};
use crate::config::Brand;
use crate::deliverability::Suppressions;
use crate::domain::Email;
use crate::mail::{LoginMailFields, MailError, Mailer, OutgoingMail};
use crate::sms::{SmsError, SmsSender};
use crate::store::{StoreError, SuppressionReason};
use crate::webhooks::{WebhookError, WebhookSender};

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handed over (to the mail server, the SMS provider, the receiver).
    Sent,
    /// Failed for now; worth trying again. The reason holds no secret.
    Retry(String),
    /// Refused for good; trying again will not help. The reason holds no secret.
    Failed(String),
    /// There was nothing to send ([`Job::Withheld`], or a sign-in mail to an address that may
    /// not sign in): settled without a trace.
    Dropped,
    /// Not sent: the address is on the suppression list. Kept with the dead letters (an admin
    /// sees it, and may send it again once the address is cleared). The reason holds no secret.
    Suppressed(String),
}

/// Everything the worker delivers through.
pub struct Couriers {
    /// Mail.
    pub mailer: Mailer,
    /// How mails rendered at delivery are branded.
    pub brand: Brand,
    /// The service's host (`PUBLIC_URL`'s), named in mails rendered at delivery.
    pub site: String,
    /// SMS, when a provider is configured.
    pub sms: Option<Arc<dyn SmsSender>>,
    /// Webhooks (and back-channel logouts, through the same client and target rules).
    pub webhooks: WebhookSender,
    /// Signs back-channel logout tokens when they are sent.
    pub logout_tokens: Arc<dyn LogoutTokenSigner>,
    /// The suppression list: asked before each mail, told of each mailbox refused for good.
    pub suppressions: Arc<Suppressions>,
    /// Who may be sent a sign-in mail.
    pub recipients: Arc<dyn SignInRecipients>,
}

/// Who may be sent a sign-in mail: decided when it is sent, not when the link is asked for,
/// so that the request reads nothing of the account (its store work, and its answer, are the
/// same for every address). The rule is the sign-in service's (`signin::Recipients`).
#[async_trait]
pub trait SignInRecipients: Send + Sync {
    /// Why `to` gets no sign-in mail (`blocked`, `signup_closed`), or `None` when it may have
    /// one.
    async fn withheld(&self, to: &Email) -> Result<Option<&'static str>, StoreError>;
}

impl Couriers {
    /// Makes one attempt at `job`.
    pub async fn deliver(&self, job: &Job) -> Outcome {
        match job {
            Job::Mail(mail) => self.send_mail(mail).await,
            Job::SignInMail(fields) | Job::LoginMail(fields) => self.send_sign_in_mail(fields).await,
            Job::Sms(sms) => match &self.sms {
                // Another instance may have a provider (a rollout in progress): not for good.
                None => Outcome::Retry("SMS is not configured on this instance (SMS_PROVIDER)".to_owned()),
                Some(sender) => match sender.send(&sms.to, &sms.body).await {
                    Ok(()) => Outcome::Sent,
                    Err(SmsError::Rejected(reason)) => Outcome::Failed(format!("the provider refused it: {reason}")),
                    Err(SmsError::Unavailable(_)) => Outcome::Retry("the SMS provider is unavailable".to_owned()),
                },
            },
            Job::Webhook(call) => match self.webhooks.deliver(call).await {
                Ok(()) => Outcome::Sent,
                Err(WebhookError::Refused(reason)) => Outcome::Failed(reason),
                Err(WebhookError::Retry(reason)) => Outcome::Retry(reason),
            },
            Job::BackchannelLogout(call) => match self.logout_tokens.logout_token(call) {
                Err(reason) => Outcome::Retry(reason),
                Ok(token) => match self.webhooks.deliver_logout_token(&call.url, &token).await {
                    Ok(()) => Outcome::Sent,
                    Err(WebhookError::Refused(reason)) => Outcome::Failed(reason),
                    Err(WebhookError::Retry(reason)) => Outcome::Retry(reason),
                },
            },
            Job::Withheld { .. } => Outcome::Dropped,
        }
    }

    async fn send_sign_in_mail(&self, fields: &LoginMailFields) -> Outcome {
        match self.recipients.withheld(&fields.to).await {
            Ok(None) => {}
            Ok(Some(reason)) => {
                // Its attempt is stored but never mailed, so nobody can use it; it expires on
                // its own.
                tracing::info!(to = %fields.to.masked(), reason, "sign-in mail withheld");
                return Outcome::Dropped;
            }
            // Fail closed: no link to an account that may be blocked.
            Err(_) => return Outcome::Retry("the store could not say whether the address may sign in".to_owned()),
        }
        match fields.render(&self.brand, &self.site) {
            Ok(mail) => self.send_mail(&mail).await,
            Err(e) => {
                // A template bug: askama's error names the template problem, not the data.
                tracing::error!(error = %e, "a sign-in mail could not be rendered");
                Outcome::Failed("the message could not be rendered".to_owned())
            }
        }
    }

    async fn send_mail(&self, mail: &OutgoingMail) -> Outcome {
        match self.suppressions.check(&mail.to).await {
            Ok(None) => {}
            Ok(Some(entry)) => {
                self.suppressions.count("suppressed", &mail.to);
                return Outcome::Suppressed(format!(
                    "not sent: the address is suppressed ({} from {}, until {})",
                    entry.reason.name(),
                    entry.source,
                    entry.expires_at.format("%Y-%m-%d %H:%M UTC")
                ));
            }
            // Fail closed: a mail to a suppressed address would bounce again.
            Err(_) => return Outcome::Retry("the store could not say whether the address is suppressed".to_owned()),
        }
        match self.mailer.send(mail).await {
            Ok(()) => {
                self.suppressions.count("sent", &mail.to);
                Outcome::Sent
            }
            Err(MailError::Build(_)) => Outcome::Failed("the message could not be built".to_owned()),
            Err(MailError::Rejected(summary)) => {
                // The mailbox was refused for good: no more mail to it, and the waiting page of
                // a sign-in asked for it says so.
                if let Err(e) = self.suppressions.suppress(&mail.to, SuppressionReason::Smtp5xx, "smtp").await {
                    tracing::warn!(error = %e, to = %mail.to.masked(), "a refused mailbox could not be suppressed");
                }
                Outcome::Failed(format!("the mail server refused it: {summary}"))
            }
            Err(MailError::Transport { summary, .. }) => Outcome::Retry(summary),
        }
    }
}
