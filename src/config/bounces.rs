//! The suppression list and the providers' bounce webhooks: `SUPPRESSION_TTL`,
//! `SUPPRESSION_COMPLAINT_TTL`, `BOUNCE_SES_TOPIC_ARN`, `BOUNCE_SES_CERT_URL_PREFIX`,
//! `BOUNCE_POSTMARK_CREDENTIALS`, `BOUNCE_SENDGRID_PUBLIC_KEY` and `BOUNCE_MAILGUN_SIGNING_KEY`.

use std::time::Duration;

use base64::Engine;
use p256::pkcs8::DecodePublicKey;
use secrecy::{ExposeSecret, SecretString};

use super::reader::Reader;

/// How long suppressions last, and which bounce webhooks are on (each by its own secret).
#[derive(Debug, Clone)]
pub struct BounceSettings {
    /// How long a bounce or a refusal at send time keeps an address suppressed
    /// (`SUPPRESSION_TTL`, 30 days by default).
    pub bounce_ttl: Duration,
    /// How long a spam complaint keeps an address suppressed (`SUPPRESSION_COMPLAINT_TTL`,
    /// a year by default).
    pub complaint_ttl: Duration,
    /// Amazon SES through SNS: the topic whose notifications are believed
    /// (`BOUNCE_SES_TOPIC_ARN`).
    pub ses_topic_arn: Option<String>,
    /// Where SNS signing certificates may be fetched from besides
    /// `https://sns.<region>.amazonaws.com/` (`BOUNCE_SES_CERT_URL_PREFIX`; for tests and
    /// private endpoints).
    pub ses_cert_url_prefix: Option<String>,
    /// Postmark: the `user:password` of the webhook's basic authentication
    /// (`BOUNCE_POSTMARK_CREDENTIALS`).
    pub postmark_credentials: Option<SecretString>,
    /// SendGrid: the signed event webhook's verification key, base64 DER
    /// (`BOUNCE_SENDGRID_PUBLIC_KEY`).
    pub sendgrid_public_key: Option<Vec<u8>>,
    /// Mailgun: the HTTP webhook signing key (`BOUNCE_MAILGUN_SIGNING_KEY`).
    pub mailgun_signing_key: Option<SecretString>,
}

impl Default for BounceSettings {
    fn default() -> Self {
        Self {
            bounce_ttl: Duration::from_secs(30 * 86400),
            complaint_ttl: Duration::from_secs(365 * 86400),
            ses_topic_arn: None,
            ses_cert_url_prefix: None,
            postmark_credentials: None,
            sendgrid_public_key: None,
            mailgun_signing_key: None,
        }
    }
}

impl Reader<'_> {
    /// The suppression list's lifetimes and the bounce webhooks' secrets.
    pub(super) fn bounces(&mut self) -> BounceSettings {
        let defaults = BounceSettings::default();
        let day = Duration::from_secs(86400);
        let bounce_ttl = self
            .duration("SUPPRESSION_TTL", "30d", Duration::from_secs(3600), 3650 * day)
            .unwrap_or(defaults.bounce_ttl);
        let complaint_ttl =
            self.duration("SUPPRESSION_COMPLAINT_TTL", "365d", day, 3650 * day).unwrap_or(defaults.complaint_ttl);
        let ses_topic_arn = self.get("BOUNCE_SES_TOPIC_ARN");
        if ses_topic_arn.as_deref().is_some_and(|arn| !arn.starts_with("arn:") || arn.split(':').count() < 6) {
            self.problem(
                "BOUNCE_SES_TOPIC_ARN",
                "must be an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:bounces",
            );
        }
        let ses_cert_url_prefix = self.get("BOUNCE_SES_CERT_URL_PREFIX");
        if ses_cert_url_prefix.as_deref().is_some_and(|p| url::Url::parse(p).is_err() || !p.ends_with('/')) {
            self.problem(
                "BOUNCE_SES_CERT_URL_PREFIX",
                "must be a URL ending in `/`, like https://sns.internal.example/",
            );
        }
        let postmark_credentials = self.get("BOUNCE_POSTMARK_CREDENTIALS").map(SecretString::from);
        if postmark_credentials.as_ref().is_some_and(|c| {
            let (user, password) = c.expose_secret().split_once(':').unwrap_or(("", ""));
            user.is_empty() || password.len() < 16
        }) {
            self.problem(
                "BOUNCE_POSTMARK_CREDENTIALS",
                "must be `user:password`, the password at least 16 characters (make one with `latchkey secret`)",
            );
        }
        let sendgrid_public_key = self.get("BOUNCE_SENDGRID_PUBLIC_KEY").and_then(|raw| {
            let der = base64::engine::general_purpose::STANDARD
                .decode(raw.trim())
                .ok()
                .filter(|der| p256::PublicKey::from_public_key_der(der).is_ok());
            if der.is_none() {
                self.problem(
                    "BOUNCE_SENDGRID_PUBLIC_KEY",
                    "must be the verification key SendGrid shows (a base64 P-256 public key)",
                );
            }
            der
        });
        let mailgun_signing_key = self.get("BOUNCE_MAILGUN_SIGNING_KEY").map(SecretString::from);
        if mailgun_signing_key.as_ref().is_some_and(|k| k.expose_secret().len() < 16) {
            self.problem("BOUNCE_MAILGUN_SIGNING_KEY", "must be Mailgun's HTTP webhook signing key");
        }
        BounceSettings {
            bounce_ttl,
            complaint_ttl,
            ses_topic_arn,
            ses_cert_url_prefix,
            postmark_credentials,
            sendgrid_public_key,
            mailgun_signing_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    fn problems(vars: &[(&str, &str)]) -> Vec<&'static str> {
        let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        Settings::from_lookup(lookup).err().map(|e| e.problems.iter().map(|p| p.var).collect()).unwrap_or_default()
    }

    #[test]
    fn each_webhook_secret_is_checked_and_named() {
        let defaults = Settings::from_lookup(|_| None).unwrap().bounces;
        assert_eq!(defaults.bounce_ttl.as_secs(), 30 * 86400);
        assert_eq!(defaults.complaint_ttl.as_secs(), 365 * 86400);
        assert!(defaults.ses_topic_arn.is_none() && defaults.mailgun_signing_key.is_none());
        let bad = [
            ("SUPPRESSION_TTL", "5m"),
            ("BOUNCE_SES_TOPIC_ARN", "bounces"),
            ("BOUNCE_SES_CERT_URL_PREFIX", "https://sns.internal.example"),
            ("BOUNCE_POSTMARK_CREDENTIALS", "user:short"),
            ("BOUNCE_SENDGRID_PUBLIC_KEY", "bm90IGEga2V5"),
            ("BOUNCE_MAILGUN_SIGNING_KEY", "short"),
        ];
        assert_eq!(
            problems(&bad),
            [
                "SUPPRESSION_TTL",
                "BOUNCE_SES_TOPIC_ARN",
                "BOUNCE_SES_CERT_URL_PREFIX",
                "BOUNCE_POSTMARK_CREDENTIALS",
                "BOUNCE_SENDGRID_PUBLIC_KEY",
                "BOUNCE_MAILGUN_SIGNING_KEY"
            ]
        );
        let good = [
            ("SUPPRESSION_TTL", "7d"),
            ("BOUNCE_SES_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:bounces"),
            ("BOUNCE_POSTMARK_CREDENTIALS", "hooks:0123456789abcdef"),
        ];
        assert!(problems(&good).is_empty());
    }
}
