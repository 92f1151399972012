//! Amazon SES through SNS: an SNS message signed (SignatureVersion 1: RSA SHA-1, 2: RSA
//! SHA-256) over its canonical string, with the certificate at `SigningCertURL` — fetched only
//! from `https://sns.<region>.amazonaws.com/` (or the operator's `BOUNCE_SES_CERT_URL_PREFIX`).
//! Only the configured topic is believed. A subscription confirmation is confirmed by fetching
//! its `SubscribeURL`, on the same trusted hosts only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use url::Url;

use super::{HookError, Report, parse_json, reported_address};
use crate::store::SuppressionReason;

/// Certificates kept (by URL) before the cache starts over.
const CERTS_KEPT: usize = 16;

/// How old a notification's signed `Timestamp` may be (SNS keeps the first attempt's time
/// when it retries; its HTTP retries end within an hour unless a custom policy stretches them).
pub(super) const SNS_FRESHNESS: i64 = 60 * 60;

/// How far ahead of this clock a `Timestamp` may be.
const SNS_CLOCK_SKEW: i64 = 5 * 60;

#[derive(Deserialize)]
struct SnsMessage {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "TopicArn")]
    topic_arn: String,
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "SignatureVersion")]
    signature_version: String,
    #[serde(rename = "Signature")]
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(rename = "SubscribeURL", default)]
    subscribe_url: Option<String>,
    #[serde(rename = "Token", default)]
    token: Option<String>,
}

impl SnsMessage {
    /// The string SNS signs: named fields in order, each `name\nvalue\n`.
    fn canonical(&self) -> Result<String, HookError> {
        let mut fields: Vec<(&str, &str)> = vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.kind.as_str() {
            "Notification" => {
                if let Some(subject) = &self.subject {
                    fields.push(("Subject", subject));
                }
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                let url =
                    self.subscribe_url.as_deref().ok_or_else(|| HookError::malformed("SubscribeURL", "is missing"))?;
                fields.push(("SubscribeURL", url));
            }
            _ => return Err(HookError::malformed("Type", "is not an SNS message type")),
        }
        fields.push(("Timestamp", &self.timestamp));
        if self.kind != "Notification" {
            let token = self.token.as_deref().ok_or_else(|| HookError::malformed("Token", "is missing"))?;
            fields.push(("Token", token));
        }
        fields.push(("TopicArn", &self.topic_arn));
        fields.push(("Type", &self.kind));
        Ok(fields.iter().map(|(name, value)| format!("{name}\n{value}\n")).collect())
    }
}

/// Verifies SNS messages, keeping the signing certificates it fetched.
pub(super) struct SnsVerifier {
    http: reqwest::Client,
    prefix: Option<String>,
    keys: Mutex<HashMap<String, Vec<u8>>>,
}

impl SnsVerifier {
    /// A verifier that also trusts certificate and subscription URLs under `prefix`.
    pub(super) fn new(prefix: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Self { http, prefix, keys: Mutex::new(HashMap::new()) })
    }

    /// True for `https://sns.<region>.amazonaws.com/…` and for URLs under the operator's prefix.
    fn trusted(&self, raw: &str) -> bool {
        if self.prefix.as_deref().is_some_and(|p| raw.starts_with(p)) {
            return true;
        }
        let Ok(url) = Url::parse(raw) else { return false };
        let Some(host) = url.host_str() else { return false };
        let region = host.strip_prefix("sns.").and_then(|h| h.strip_suffix(".amazonaws.com"));
        url.scheme() == "https"
            && url.port().is_none()
            && url.username().is_empty()
            && url.password().is_none()
            && region.is_some_and(|r| {
                !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
    }

    /// A signing certificate's URL: trusted, and on an SNS host of the form SNS uses
    /// (`/SimpleNotificationService-<id>.pem`, no query), so made-up URLs cannot make this
    /// fetch a new "certificate" for every forged message.
    fn trusted_cert(&self, raw: &str) -> bool {
        if self.prefix.as_deref().is_some_and(|p| raw.starts_with(p)) {
            return true;
        }
        let Ok(url) = Url::parse(raw) else { return false };
        let name = url.path().strip_prefix("/SimpleNotificationService-").and_then(|n| n.strip_suffix(".pem"));
        self.trusted(raw)
            && url.query().is_none()
            && url.fragment().is_none()
            && name.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric()))
    }

    /// Verifies one SNS message for topic `arn` and reads the SES reports it carries; with a
    /// notification, its `MessageId` (to be spent once). A notification signed more than
    /// [`SNS_FRESHNESS`] before `now` is refused (a captured message cannot be replayed later).
    pub(super) async fn receive(
        &self,
        arn: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(Option<String>, Vec<Report>), HookError> {
        let message: SnsMessage = parse_json(body)?;
        let canonical = message.canonical()?;
        if !crate::crypto::constant_time_eq(message.topic_arn.as_bytes(), arn.as_bytes()) {
            return Err(HookError::Unauthorized("the message is from another topic"));
        }
        let algorithm: &'static dyn ring::signature::VerificationAlgorithm = match message.signature_version.as_str() {
            "1" => &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "2" => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            _ => return Err(HookError::malformed("SignatureVersion", "must be 1 or 2")),
        };
        if !self.trusted_cert(&message.signing_cert_url) {
            return Err(HookError::Unauthorized("the signing certificate is not on an SNS host"));
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(message.signature.trim())
            .map_err(|_| HookError::malformed("Signature", "is not base64"))?;
        let key = self.key(&message.signing_cert_url).await?;
        ring::signature::UnparsedPublicKey::new(algorithm, &key)
            .verify(canonical.as_bytes(), &signature)
            .map_err(|_| HookError::Unauthorized("the signature does not match"))?;
        match message.kind.as_str() {
            "Notification" => {
                let at = chrono::DateTime::parse_from_rfc3339(message.timestamp.trim())
                    .map_err(|_| HookError::malformed("Timestamp", "is not an RFC 3339 time"))?
                    .timestamp();
                if now - at > SNS_FRESHNESS || at - now > SNS_CLOCK_SKEW {
                    return Err(HookError::Unauthorized("the signed timestamp is stale"));
                }
                Ok((Some(message.message_id), ses_reports(&message.message)?))
            }
            "SubscriptionConfirmation" => {
                self.confirm(message.subscribe_url.as_deref().unwrap_or_default()).await?;
                Ok((None, Vec::new()))
            }
            _ => Ok((None, Vec::new())),
        }
    }

    /// Confirms a subscription by fetching its `SubscribeURL`, on a trusted host only.
    async fn confirm(&self, url: &str) -> Result<(), HookError> {
        if !self.trusted(url) {
            return Err(HookError::Unauthorized("the subscription URL is not on an SNS host"));
        }
        match self.http.get(url).send().await {
            Ok(response) if response.status().is_success() => {
                tracing::info!("SNS subscription confirmed");
                Ok(())
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), "SNS refused the subscription confirmation");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "SNS subscription confirmation failed; confirm it in the AWS console");
                Ok(())
            }
        }
    }

    /// The RSA public key of the certificate at `url` (fetched once).
    async fn key(&self, url: &str) -> Result<Vec<u8>, HookError> {
        if let Some(key) = self.keys.lock().unwrap_or_else(|e| e.into_inner()).get(url) {
            return Ok(key.clone());
        }
        let unreachable = |_| HookError::Unauthorized("the signing certificate could not be fetched");
        let response = self.http.get(url).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(HookError::Unauthorized("the signing certificate could not be fetched"));
        }
        let pem = response.bytes().await.map_err(unreachable)?;
        let key = public_key(&pem).ok_or(HookError::Unauthorized("the signing certificate cannot be read"))?;
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= CERTS_KEPT {
            keys.clear();
        }
        keys.insert(url.to_owned(), key.clone());
        Ok(key)
    }
}

/// The subject public key (for RSA, the PKCS#1 key ring reads) of a PEM certificate.
fn public_key(pem: &[u8]) -> Option<Vec<u8>> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.public_key().subject_public_key.data.to_vec())
}

/// The SES notification inside an SNS message: permanent bounces and complaints.
fn ses_reports(message: &str) -> Result<Vec<Report>, HookError> {
    let note: serde_json::Value =
        serde_json::from_str(message).map_err(|_| HookError::malformed("Message", "is not an SES notification"))?;
    let kind = note.get("notificationType").or_else(|| note.get("eventType")).and_then(|v| v.as_str());
    let (list, field, reason) = match kind {
        Some("Bounce") if note.pointer("/bounce/bounceType").and_then(|v| v.as_str()) == Some("Permanent") => {
            ("/bounce/bouncedRecipients", "Message.bounce.bouncedRecipients", SuppressionReason::Bounce)
        }
        Some("Complaint") => {
            ("/complaint/complainedRecipients", "Message.complaint.complainedRecipients", SuppressionReason::Complaint)
        }
        Some(_) => return Ok(Vec::new()),
        None => return Err(HookError::malformed("Message.notificationType", "is missing")),
    };
    let recipients =
        note.pointer(list).and_then(|v| v.as_array()).ok_or_else(|| HookError::malformed(field, "is missing"))?;
    recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let field = format!("{field}[{i}].emailAddress");
            let raw = r
                .get("emailAddress")
                .and_then(|v| v.as_str())
                .ok_or_else(|| HookError::malformed(&field, "is missing"))?;
            Ok(Report { email: reported_address(raw, &field)?, reason })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_come_from_sns_hosts_over_https_or_from_under_the_operators_prefix() {
        let aws = SnsVerifier::new(None).unwrap();
        assert!(aws.trusted("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"));
        assert!(aws.trusted("https://sns.us-gov-west-1.amazonaws.com/x.pem"));
        for forged in [
            "http://sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.eu_west.amazonaws.com/x.pem",
            "https://s3.eu-west-1.amazonaws.com/x.pem",
            "https://user@sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
            "https://:secret@sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
            "https://evil.com\\@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com./x.pem",
            "not a url",
        ] {
            assert!(!aws.trusted(forged), "{forged}");
        }
        let cert = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem";
        assert!(aws.trusted_cert(cert));
        for made_up in [
            "https://sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem?n=1",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-../x.pem",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-.pem",
            "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        ] {
            assert!(!aws.trusted_cert(made_up), "{made_up}");
        }
        let private = SnsVerifier::new(Some("https://sns.internal.example/".into())).unwrap();
        assert!(private.trusted("https://sns.internal.example/cert.pem"));
        assert!(!private.trusted("https://sns.internal.example.evil/cert.pem"));
    }

    #[test]
    fn the_canonical_string_names_the_fields_each_type_signs_in_order() {
        let mut message = SnsMessage {
            kind: "Notification".into(),
            message_id: "id".into(),
            topic_arn: "arn".into(),
            subject: None,
            message: "m".into(),
            timestamp: "t".into(),
            signature_version: "2".into(),
            signature: String::new(),
            signing_cert_url: String::new(),
            subscribe_url: Some("s".into()),
            token: Some("k".into()),
        };
        assert_eq!(
            message.canonical().unwrap(),
            "Message\nm\nMessageId\nid\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n"
        );
        message.subject = Some("subj".into());
        assert!(message.canonical().unwrap().contains("MessageId\nid\nSubject\nsubj\nTimestamp\n"));
        message.kind = "SubscriptionConfirmation".into();
        assert_eq!(
            message.canonical().unwrap(),
            "Message\nm\nMessageId\nid\nSubscribeURL\ns\nTimestamp\nt\nToken\nk\nTopicArn\narn\nType\nSubscriptionConfirmation\n"
        );
        message.kind = "Other".into();
        assert!(matches!(message.canonical(), Err(HookError::Malformed { field, .. }) if field == "Type"));
    }
}
