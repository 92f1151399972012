//! Webhooks: signed JSON events to the apps a user signs in to. Deliveries run in the
//! background with retries and never hold up a sign-in.
//!
//! Each delivery carries `Latchkey-Event-Id` and
//! `Latchkey-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! Receivers recompute the HMAC, compare in constant time, and reject a `t` more than five
//! minutes from their clock (and an event id seen before).

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::audit::Metrics;
use crate::clock::Clock;
use crate::crypto;

/// Waits between attempts; after the last, the delivery is dropped (and counted).
const RETRY_DELAYS: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(25)];

/// Sends webhook deliveries.
pub struct Webhooks {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

/// `t=…,v1=…` for `body` at unix time `t` under `secret`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

impl Webhooks {
    /// A sender (no redirects followed, 5 s timeout).
    pub fn new(clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { http, clock, metrics })
    }

    /// Queues `event` (`user.signed_in` …) with `data` for delivery to `url`, signed with
    /// `secret`.
    pub fn send(&self, url: String, secret: String, event: &'static str, data: Value) {
        let id = crypto::random_token::<16>().unwrap_or_default();
        let created = self.clock.now().timestamp();
        let body = serde_json::json!({ "id": id, "type": event, "created": created, "data": data }).to_string();
        let (http, clock, metrics) = (self.http.clone(), self.clock.clone(), self.metrics.clone());
        tokio::spawn(async move {
            for (attempt, delay) in std::iter::once(None).chain(RETRY_DELAYS.iter().map(Some)).enumerate() {
                if let Some(delay) = delay {
                    tokio::time::sleep(*delay).await;
                }
                let t = clock.now().timestamp();
                let outcome = http
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("Latchkey-Event-Id", &id)
                    .header("Latchkey-Signature", signature(&secret, t, &body))
                    .body(body.clone())
                    .send()
                    .await;
                match outcome {
                    Ok(response) if response.status().is_success() => {
                        metrics.inc("webhook", "outcome=\"delivered\"");
                        return;
                    }
                    Ok(response) => tracing::warn!(status = %response.status(), attempt, event, "webhook refused"),
                    Err(e) => tracing::warn!(error = %e, attempt, event, "webhook failed"),
                }
                metrics.inc("webhook", "outcome=\"retry\"");
            }
            metrics.inc("webhook", "outcome=\"dropped\"");
            tracing::error!(event, "webhook dropped after retries");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_time_and_body() {
        let a = signature("secret", 1_700_000_000, r#"{"x":1}"#);
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, signature("secret", 1_700_000_001, r#"{"x":1}"#));
        assert_ne!(a, signature("secret", 1_700_000_000, r#"{"x":2}"#));
        assert_ne!(a, signature("other", 1_700_000_000, r#"{"x":1}"#));
    }
}
