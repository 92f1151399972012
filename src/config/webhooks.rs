//! Where webhooks go through and where operators' alarms go: `WEBHOOK_PROXY`,
//! `ADMIN_WEBHOOK_URL` and `ADMIN_WEBHOOK_SECRET`.

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::reader::Reader;
use crate::domain::check_webhook_url;

/// Where operators' events go (`ADMIN_WEBHOOK_URL`) and the secret they are signed with.
#[derive(Debug, Clone)]
pub struct AdminWebhook {
    /// The receiver; checked like an app's webhook URL.
    pub url: String,
    /// `ADMIN_WEBHOOK_SECRET`, the HMAC key of `Latchkey-Signature`.
    pub secret: SecretString,
}

impl Reader<'_> {
    /// `WEBHOOK_PROXY`: an `http://` or `https://` proxy URL with a host (credentials allowed,
    /// never echoed).
    pub(super) fn webhook_proxy(&mut self) -> Option<SecretString> {
        let raw = self.get("WEBHOOK_PROXY")?;
        let usable = Url::parse(&raw).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https") && url.host().is_some() && reqwest::Proxy::all(url).is_ok()
        });
        if !usable {
            self.problem("WEBHOOK_PROXY", "must be a proxy URL like http://proxy.internal:3128 (http or https)");
            return None;
        }
        Some(SecretString::from(raw))
    }

    /// `ADMIN_WEBHOOK_URL` and `ADMIN_WEBHOOK_SECRET`: both or neither; the URL as for an app's
    /// webhook, the secret at least 32 characters.
    pub(super) fn admin_webhook(&mut self, prod: bool) -> Option<AdminWebhook> {
        let url = self.get("ADMIN_WEBHOOK_URL");
        let secret = self.get("ADMIN_WEBHOOK_SECRET").map(SecretString::from);
        match (url, secret) {
            (None, None) => None,
            (Some(_), None) => {
                self.problem(
                    "ADMIN_WEBHOOK_SECRET",
                    "is required with ADMIN_WEBHOOK_URL (make one with `latchkey secret`)",
                );
                None
            }
            (None, Some(_)) => {
                self.problem("ADMIN_WEBHOOK_URL", "is required with ADMIN_WEBHOOK_SECRET: where to send the events");
                None
            }
            (Some(url), Some(secret)) => {
                let mut ok = true;
                if let Err(e) = check_webhook_url(&url, prod) {
                    self.problem("ADMIN_WEBHOOK_URL", format!("`{url}`: {e}"));
                    ok = false;
                }
                if secret.expose_secret().len() < 32 {
                    self.problem(
                        "ADMIN_WEBHOOK_SECRET",
                        "must be at least 32 characters (make one with `latchkey secret`)",
                    );
                    ok = false;
                }
                ok.then_some(AdminWebhook { url, secret })
            }
        }
    }
}
