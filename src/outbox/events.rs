//! Events for apps and operators, queued as webhook calls: they never hold up the request
//! that caused them, and the worker delivers them with retries.

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::Value;

use super::{Job, Outbox};
use crate::audit::Metrics;
use crate::clock::Clock;
use crate::config::AdminWebhook;
use crate::crypto;
use crate::webhooks::WebhookCall;

/// Queues webhook events in the outbox.
pub struct Webhooks {
    outbox: Arc<Outbox>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl Webhooks {
    /// Events go through `outbox`.
    pub fn new(outbox: Arc<Outbox>, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        Self { outbox, clock, metrics }
    }

    /// Queues `event` (`user.signed_in` …) with `data` for `url`, signed with `secret`. Never
    /// fails the request that caused it: an outbox error is logged and counted. Where the call
    /// may go is checked when it is made ([`crate::webhooks::WebhookSender::deliver`]), by whichever instance.
    pub async fn send(&self, url: String, secret: String, event: &'static str, data: Value) {
        let Ok(event_id) = crypto::random_token::<16>() else {
            tracing::error!(event, "no randomness for a webhook event id; not sent");
            return;
        };
        let created = self.clock.now().timestamp();
        let body = serde_json::json!({ "id": event_id, "type": event, "created": created, "data": data }).to_string();
        let call = WebhookCall { url, secret, event_id, body };
        if let Err(e) = self.outbox.enqueue(Job::Webhook(call), None).await {
            self.metrics.inc("webhook", "outcome=\"lost\"");
            tracing::error!(error = %e, event, "webhook could not be queued");
        }
    }
}

/// Events for the operators (`sms.paused` …): queued like an app's webhook, signed with
/// `ADMIN_WEBHOOK_SECRET`; nothing is sent when no admin webhook is configured.
pub struct AdminAlerts {
    webhooks: Arc<Webhooks>,
    target: Option<AdminWebhook>,
}

impl AdminAlerts {
    /// Alerts through `webhooks` to `target`, if any.
    pub fn new(webhooks: Arc<Webhooks>, target: Option<AdminWebhook>) -> Self {
        Self { webhooks, target }
    }

    /// Queues `event` with `data` for the admin webhook. Never fails the caller.
    pub async fn send(&self, event: &'static str, data: Value) {
        if let Some(target) = &self.target {
            self.webhooks.send(target.url.clone(), target.secret.expose_secret().to_owned(), event, data).await;
        }
    }
}
