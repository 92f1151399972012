//! Signed events to the apps a user signed in to (webhooks): who gets them and with which
//! secret.

use super::service::OidcService;
use crate::domain::Client;
use crate::domain::{SessionId, UserId};

/// The sealing context of a client's webhook signing secret.
pub(super) fn webhook_context(client_id: &str) -> String {
    format!("webhook:{client_id}")
}

impl OidcService {
    /// Tells every app the user signed in to that a session ended (`user.signed_out`) or that
    /// all did (`user.sessions_revoked`, `sid` = `None`). Never fails the caller.
    pub async fn notify_ended(&self, user: &UserId, sid: Option<&SessionId>) {
        match sid {
            Some(sid) => {
                self.notify_apps(user, "user.signed_out", serde_json::json!({ "sub": user, "sid": sid })).await
            }
            None => self.notify_apps(user, "user.sessions_revoked", serde_json::json!({ "sub": user })).await,
        }
    }

    /// Tells every app the user signed in to that their second factors changed
    /// (`user.second_factor_changed`, with `change`: `totp_added`, `totp_removed`,
    /// `recovery_codes_replaced`, `phone_added`, `phone_removed`, `passkey_added`,
    /// `passkey_removed`, `factors_reset`). Never fails the caller.
    pub async fn notify_factor_changed(&self, user: &UserId, change: &'static str) {
        let data = serde_json::json!({ "sub": user, "change": change });
        self.notify_apps(user, "user.second_factor_changed", data).await;
    }

    /// Tells every app the user signed in to that their address changed
    /// (`user.email_changed`, with the new `email`; the `sub` stays). Never fails the caller.
    pub async fn notify_email_changed(&self, user: &UserId, email: &crate::domain::Email) {
        let data = serde_json::json!({ "sub": user, "email": email });
        self.notify_apps(user, "user.email_changed", data).await;
    }

    /// Tells every app the user signed in to that a passkey was used: at a sign-in's second
    /// step, or to sign in at `/login` (`user.passkey_used`, with `method`: `hwk` for a
    /// device-bound passkey, `swk` for one that may sync). Never fails the caller.
    pub async fn notify_passkey_used(&self, user: &UserId, method: &str) {
        let data = serde_json::json!({ "sub": user, "method": method });
        self.notify_apps(user, "user.passkey_used", data).await;
    }

    /// Tells `apps` (those the user had signed in to, read before the account went) that the
    /// account was deleted (`user.deleted`): the app should delete what it keeps under this
    /// `sub`. Never fails the caller.
    pub async fn notify_deleted(&self, user: &UserId, apps: &[String]) {
        let data = serde_json::json!({ "sub": user });
        for id in apps {
            if let Ok(Some(client)) = self.client(id).await {
                self.send_webhook(&client, "user.deleted", data.clone()).await;
            }
        }
    }

    /// Where and with what secret `client`'s events go, if anywhere.
    fn webhook_target(&self, client: &Client) -> Option<(String, String)> {
        let url = client.webhook_url.clone()?;
        let secret = match (&client.webhook_secret, &client.webhook_secret_sealed) {
            (Some(secret), _) => secret.clone(),
            (None, Some(sealed)) => match self.keys.sealer.open(&webhook_context(&client.id), sealed) {
                Ok(bytes) => String::from_utf8(bytes).ok()?,
                Err(_) => {
                    tracing::error!(client = %client.id, "webhook secret does not open (SECRET_KEY changed?)");
                    return None;
                }
            },
            (None, None) => return None,
        };
        Some((url, secret))
    }

    /// Sends `event` with `data` to every app the user signed in to. Never fails the caller.
    async fn notify_apps(&self, user: &UserId, event: &'static str, data: serde_json::Value) {
        let apps = match self.store.user_apps(user).await {
            Ok(apps) => apps,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the user's apps for webhooks");
                return;
            }
        };
        for id in apps {
            if let Ok(Some(client)) = self.client(&id).await {
                self.send_webhook(&client, event, data.clone()).await;
            }
        }
    }

    /// Sends `event` with `data` to `client`'s webhook, if it has one. Never fails the caller.
    pub(super) async fn send_webhook(&self, client: &Client, event: &'static str, data: serde_json::Value) {
        if let Some((url, secret)) = self.webhook_target(client) {
            self.webhooks.send(url, secret, event, data).await;
        }
    }
}
