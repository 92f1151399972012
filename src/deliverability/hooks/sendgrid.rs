//! SendGrid: the signed event webhook. `X-Twilio-Email-Event-Webhook-Signature` is a base64
//! DER ECDSA P-256 / SHA-256 signature of the timestamp header followed by the body, under
//! the verification key SendGrid shows; the body is a list of events.

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

use super::{HookError, HookRequest, Report, fresh, parse_json, reported_address};
use crate::store::SuppressionReason;

#[derive(Deserialize)]
struct Event {
    email: String,
    event: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// Checks the signature, then reads the events.
pub(super) fn receive(key: &[u8], request: &HookRequest<'_>, now: i64) -> Result<Vec<Report>, HookError> {
    let key = VerifyingKey::from_public_key_der(key)
        .map_err(|_| HookError::Unauthorized("the configured verification key is unusable"))?;
    let (Some(signature), Some(timestamp)) = (request.sendgrid_signature, request.sendgrid_timestamp) else {
        return Err(HookError::Unauthorized("the signature headers are missing"));
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .ok()
        .and_then(|der| Signature::from_der(&der).ok())
        .ok_or(HookError::Unauthorized("the signature does not match"))?;
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(request.body);
    key.verify(&signed, &signature).map_err(|_| HookError::Unauthorized("the signature does not match"))?;
    fresh(timestamp, now, "X-Twilio-Email-Event-Webhook-Timestamp")?;
    let events: Vec<Event> = parse_json(request.body)?;
    let mut reports = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let reason = match (event.event.as_str(), event.kind.as_deref()) {
            ("spamreport", _) => SuppressionReason::Complaint,
            // `blocked` is a refusal for now (reputation, content), not a missing mailbox.
            ("bounce", Some("bounce") | None) => SuppressionReason::Bounce,
            _ => continue,
        };
        reports.push(Report { email: reported_address(&event.email, &format!("[{i}].email"))?, reason });
    }
    Ok(reports)
}
