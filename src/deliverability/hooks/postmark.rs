//! Postmark: the webhook URL is configured with basic authentication; the body is one bounce
//! (`RecordType: Bounce`) or spam complaint (`RecordType: SpamComplaint`).

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{HookError, HookRequest, Report, parse_json, reported_address};
use crate::store::SuppressionReason;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Body {
    record_type: String,
    #[serde(default, rename = "Type")]
    kind: Option<String>,
    email: String,
}

/// Bounce types that say the address will never take mail.
const HARD: &[&str] = &["HardBounce", "BadEmailAddress", "ManuallyDeactivated"];

/// Checks the credentials, then reads the report.
pub(super) fn receive(credentials: &SecretString, request: &HookRequest<'_>) -> Result<Vec<Report>, HookError> {
    let given = request
        .authorization
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .ok_or(HookError::Unauthorized("basic authentication is required"))?;
    if !crate::crypto::constant_time_eq(&given, credentials.expose_secret().as_bytes()) {
        return Err(HookError::Unauthorized("the credentials do not match"));
    }
    let body: Body = parse_json(request.body)?;
    let reason = match (body.record_type.as_str(), body.kind.as_deref()) {
        ("SpamComplaint", _) | (_, Some("SpamComplaint")) => Some(SuppressionReason::Complaint),
        ("Bounce", Some(kind)) if HARD.contains(&kind) => Some(SuppressionReason::Bounce),
        _ => None,
    };
    match reason {
        Some(reason) => Ok(vec![Report { email: reported_address(&body.email, "Email")?, reason }]),
        None => Ok(Vec::new()),
    }
}
