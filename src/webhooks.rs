//! Webhooks: signed JSON calls to apps and operators, made by the outbox worker (events are
//! queued by [`crate::outbox::Webhooks`]); this module signs them and refuses unsafe targets.
//!
//! Each delivery carries `Latchkey-Event-Id` and
//! `Latchkey-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! Receivers recompute the HMAC, compare in constant time, and reject a `t` more than five
//! minutes from their clock (and an event id seen before).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::Clock;
use crate::domain::{is_public, refused_host_name};

/// Resolves names as the system does, then keeps only public addresses (so a name that
/// resolves — or re-resolves — to an internal address is never reached).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err("the webhook host has no public address".into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `t=…,v1=…` for `body` at unix time `t` under `secret`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// Why `url` may not be called, if it may not: in production an IP literal that is not public
/// (IP literals skip the resolver) or a refused host name ([`refused_host_name`]); anywhere, a
/// trailing-dot name or a URL that does not parse.
fn refused_target(url: &str, production: bool) -> Option<&'static str> {
    let Ok(url) = reqwest::Url::parse(url) else { return Some("the webhook URL does not parse") };
    match url.host() {
        Some(url::Host::Ipv4(ip)) if production && !is_public(IpAddr::V4(ip)) => {
            Some("the webhook URL is an internal address")
        }
        Some(url::Host::Ipv6(ip)) if production && !is_public(IpAddr::V6(ip)) => {
            Some("the webhook URL is an internal address")
        }
        Some(url::Host::Domain(name)) => refused_host_name(name, production),
        Some(_) => None,
        None => Some("the webhook URL has no host"),
    }
}

/// A signed webhook call to make. The body and event id are fixed at enqueue; the signature's
/// timestamp is taken when each attempt is made.
#[derive(Clone, Serialize, Deserialize)]
pub struct WebhookCall {
    /// Where to.
    pub url: String,
    /// The client's signing secret.
    pub secret: String,
    /// `Latchkey-Event-Id`.
    pub event_id: String,
    /// The JSON body.
    pub body: String,
}

/// Why a webhook call did not go through. The reason holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Refused for good (a target that is not allowed); trying again will not help.
    #[error("{0}")]
    Refused(String),
    /// Failed for now (the receiver is down, slow or answered an error); worth trying again.
    #[error("{0}")]
    Retry(String),
}

/// Makes webhook calls (the outbox worker's side): no redirects followed, a 5 s timeout, no
/// proxy but `WEBHOOK_PROXY` (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are ignored: a proxy
/// would resolve the target itself, past the public-address resolver), and in production only
/// public addresses.
pub struct WebhookSender {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    production: bool,
}

impl WebhookSender {
    /// A sender; in production it reaches public addresses only. `proxy` is `WEBHOOK_PROXY`:
    /// the only proxy deliveries go through (set on purpose; the environment's proxy variables
    /// are never read).
    pub fn new(clock: Arc<dyn Clock>, production: bool, proxy: Option<&str>) -> anyhow::Result<Self> {
        let builder = webhook_client(proxy)?;
        let builder = if production { builder.dns_resolver(Arc::new(PublicOnly)) } else { builder };
        Ok(Self { http: builder.build()?, clock, production })
    }

    /// Makes one attempt, signed now. In production an IP-literal URL that is not public, or a
    /// local host name, is refused for good (other names go through the public-only resolver);
    /// a trailing-dot name is refused anywhere.
    pub async fn deliver(&self, call: &WebhookCall) -> Result<(), WebhookError> {
        if let Some(reason) = refused_target(&call.url, self.production) {
            return Err(WebhookError::Refused(reason.to_owned()));
        }
        let t = self.clock.now().timestamp();
        let sent = self
            .http
            .post(&call.url)
            .header("Content-Type", "application/json")
            .header("Latchkey-Event-Id", &call.event_id)
            .header("Latchkey-Signature", signature(&call.secret, t, &call.body))
            .body(call.body.clone())
            .send()
            .await;
        answered(sent)
    }

    /// Posts an OIDC back-channel logout token to an app's `backchannel_logout_uri`
    /// (`application/x-www-form-urlencoded`, `logout_token=…`), with the same target rules,
    /// client and outcomes as [`WebhookSender::deliver`]: a 2xx is done.
    pub async fn deliver_logout_token(&self, url: &str, logout_token: &str) -> Result<(), WebhookError> {
        if let Some(reason) = refused_target(url, self.production) {
            return Err(WebhookError::Refused(reason.to_owned()));
        }
        let sent = self.http.post(url).form(&[("logout_token", logout_token)]).send().await;
        answered(sent)
    }
}

/// What a call's answer means: a 2xx is done, anything else is worth trying again.
fn answered(sent: reqwest::Result<reqwest::Response>) -> Result<(), WebhookError> {
    match sent {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(WebhookError::Retry(format!("the receiver answered {}", response.status()))),
        Err(e) if e.is_timeout() => Err(WebhookError::Retry("the receiver did not answer in time".to_owned())),
        Err(_) => Err(WebhookError::Retry("the receiver could not be reached".to_owned())),
    }
}

/// The webhook client's builder: no redirects, a 5 s timeout, and `proxy` as the only proxy
/// (`no_proxy()` otherwise, so proxy variables in the environment are not read).
pub fn webhook_client(proxy: Option<&str>) -> anyhow::Result<reqwest::ClientBuilder> {
    let builder =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(5));
    Ok(match proxy {
        Some(url) => builder.proxy(reqwest::Proxy::all(url)?),
        None => builder.no_proxy(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_production_a_call_to_an_internal_ip_literal_is_refused_for_good() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sender = WebhookSender::new(Arc::new(crate::clock::SystemClock), true, None).unwrap();
        for url in [
            "https://127.0.0.1:9/hook",
            "https://[::1]:9/hook",
            "https://169.254.169.254/latest",
            "https://[64:ff9b::a9fe:a9fe]/latest",
            "https://[::ffff:7f00:1]:9/hook",
            "https://localhost./hook",
            "https://localhost:9/hook",
        ] {
            let call = WebhookCall { url: url.into(), secret: "s".into(), event_id: "e".into(), body: "{}".into() };
            assert!(matches!(sender.deliver(&call).await, Err(WebhookError::Refused(_))), "{url}");
        }
    }

    #[tokio::test]
    async fn in_production_a_logout_token_to_an_internal_address_is_refused_for_good() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sender = WebhookSender::new(Arc::new(crate::clock::SystemClock), true, None).unwrap();
        for url in
            ["https://127.0.0.1:9/bcl", "https://[::1]:9/bcl", "https://localhost:9/bcl", "https://app.local/bcl"]
        {
            assert!(matches!(sender.deliver_logout_token(url, "t").await, Err(WebhookError::Refused(_))), "{url}");
        }
    }

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
