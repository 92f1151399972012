//! OpenID Connect back-channel logouts, queued like webhooks: when a session ends, each app
//! that got tokens in it is sent a signed logout token by the worker, with retries. The token
//! is signed when each attempt is made (its `exp` is short), by a [`LogoutTokenSigner`] the
//! OIDC provider supplies.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Job, Outbox};
use crate::audit::Metrics;
use crate::crypto::signing_keys::SigningAlg;
use crate::domain::{SessionId, UserId};

/// One app to tell that one session ended: what the logout token will say and where it goes.
#[derive(Clone, Serialize, Deserialize)]
pub struct LogoutCall {
    /// The app's `backchannel_logout_uri`.
    pub url: String,
    /// The app's client id (the token's `aud`).
    pub client_id: String,
    /// What the app's id_tokens are signed with, and so its logout tokens.
    pub alg: SigningAlg,
    /// The user (`sub`).
    pub sub: UserId,
    /// The session that ended (`sid`).
    pub sid: SessionId,
}

/// Signs a logout token for a call, when the worker makes an attempt.
pub trait LogoutTokenSigner: Send + Sync {
    /// The signed logout token, or why there is none here (no key for the call's algorithm:
    /// worth trying again, another instance may have one). The reason holds no secret.
    fn logout_token(&self, call: &LogoutCall) -> Result<String, String>;
}

/// Queues back-channel logouts in the outbox.
pub struct BackchannelLogouts {
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
}

impl BackchannelLogouts {
    /// Logouts go through `outbox`.
    pub fn new(outbox: Arc<Outbox>, metrics: Arc<Metrics>) -> Self {
        Self { outbox, metrics }
    }

    /// Queues `call`. Never fails the ending that caused it: an outbox error is logged and
    /// counted (`latchkey_backchannel_logout_total{outcome="lost"}`).
    pub async fn send(&self, call: LogoutCall) {
        let client = call.client_id.clone();
        if let Err(e) = self.outbox.enqueue(Job::BackchannelLogout(call), None).await {
            self.lost(&client, &e);
        }
    }

    /// Counts and logs a logout that could not be queued (the store did not answer).
    pub fn lost(&self, client: &str, error: &dyn std::fmt::Display) {
        self.metrics.inc("backchannel_logout", "outcome=\"lost\"");
        tracing::error!(error = %error, client, "a back-channel logout could not be queued");
    }
}
