//! Mailgun: `signature.signature` is the hex HMAC-SHA256 of `timestamp` followed by `token`
//! under the HTTP webhook signing key. A stale timestamp or a token used before is refused.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

use super::{HookError, Report, fresh, parse_json, reported_address};
use crate::store::SuppressionReason;

#[derive(Deserialize)]
struct Body {
    signature: Signature,
    #[serde(rename = "event-data")]
    event_data: EventData,
}

#[derive(Deserialize)]
struct Signature {
    timestamp: String,
    token: String,
    signature: String,
}

#[derive(Deserialize)]
struct EventData {
    event: String,
    #[serde(default)]
    severity: Option<String>,
    recipient: String,
}

/// Verifies a Mailgun webhook body; returns its token (to be spent once) and its report.
pub(super) fn receive(key: &SecretString, body: &[u8], now: i64) -> Result<(String, Vec<Report>), HookError> {
    let body: Body = parse_json(body)?;
    let Signature { timestamp, token, signature } = body.signature;
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
        .map_err(|_| HookError::Unauthorized("the signing key is unusable"))?;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    if !crate::crypto::constant_time_eq(expected.as_bytes(), signature.trim().to_ascii_lowercase().as_bytes()) {
        return Err(HookError::Unauthorized("the signature does not match"));
    }
    fresh(&timestamp, now, "signature.timestamp")?;
    let event = body.event_data;
    let reason = match (event.event.as_str(), event.severity.as_deref()) {
        ("failed", Some("permanent")) => Some(SuppressionReason::Bounce),
        ("complained", _) => Some(SuppressionReason::Complaint),
        _ => None,
    };
    let reports = match reason {
        Some(reason) => vec![Report { email: reported_address(&event.recipient, "event-data.recipient")?, reason }],
        None => Vec::new(),
    };
    Ok((token, reports))
}
