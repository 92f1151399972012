//! Webhooks: signed JSON events to the apps a user signs in to. Events are queued in the
//! durable outbox and delivered by its worker with retries; they never hold up a sign-in.
//!
//! Each delivery carries `Latchkey-Event-Id` and
//! `Latchkey-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! Receivers recompute the HMAC, compare in constant time, and reject a `t` more than five
//! minutes from their clock (and an event id seen before).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;

use crate::audit::Metrics;
use crate::clock::Clock;
use crate::crypto;
use crate::outbox::{Job, Outbox, Outcome, WebhookCall};

/// The IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates), every entry,
/// plus multicast (RFC 5771): no webhook goes to any of them.
pub const SPECIAL_V4: [(&str, &str); 20] = [
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private use"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link local"),
    ("172.16.0.0/12", "private use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
    ("192.168.0.0/16", "private use"),
    ("192.175.48.0/24", "direct delegation AS112 service"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
    ("0.0.0.0/32", "this host"),
];

/// The IANA IPv6 Special-Purpose Address Registry, every entry, plus multicast, site-local
/// (deprecated) and the deprecated IPv4-compatible block. NAT64 (`64:ff9b::/96`,
/// `64:ff9b:1::/48`), 6to4 (`2002::/16`), Teredo (`2001::/32`, inside `2001::/23`) and
/// IPv4-mapped (`::ffff:0:0/96`) addresses carry an IPv4 address a gateway would reach: they
/// are refused whole, whatever IPv4 address they carry.
pub const SPECIAL_V6: [(&str, &str); 19] = [
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("64:ff9b::/96", "IPv4/IPv6 translation (NAT64)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID, AMT, AS112 …)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "direct delegation AS112 service"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link local"),
    ("fec0::/10", "site local (deprecated)"),
    ("ff00::/8", "multicast"),
    ("::ffff:0:0:0/96", "IPv4-translated (SIIT)"),
];

/// The special-purpose range `ip` falls in, if any (see [`SPECIAL_V4`], [`SPECIAL_V6`]).
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    let contains = |(net, name): &(&str, &'static str)| {
        net.parse::<ipnet::IpNet>().is_ok_and(|net| net.contains(&ip)).then_some(*name)
    };
    match ip {
        IpAddr::V4(_) => SPECIAL_V4.iter().find_map(contains),
        IpAddr::V6(_) => SPECIAL_V6.iter().find_map(contains),
    }
}

/// True for an address on the public internet: in no IANA special-purpose range, IPv4 or IPv6,
/// and not multicast. In production webhooks go only to such addresses, so a client's webhook
/// URL cannot probe the service's own network, directly or through a translation prefix.
pub fn is_public(ip: IpAddr) -> bool {
    special_range(ip).is_none()
}

/// Why a webhook host name is refused, if it is: a trailing dot (`localhost.` skips
/// `localhost` checks and the resolver's search rules), and in production the special-use
/// local names (`localhost`, `*.localhost`, `*.local`, `*.internal`, `*.home.arpa`) and
/// single-label names, which a resolver's search domains turn into internal hosts.
pub fn refused_host_name(host: &str, production: bool) -> Option<&'static str> {
    if host.ends_with('.') {
        return Some("a host name ending in a dot is not accepted");
    }
    let host = host.to_ascii_lowercase();
    let local = ["localhost", "local", "internal", "home.arpa", "localdomain"]
        .iter()
        .any(|name| host == *name || host.ends_with(&format!(".{name}")));
    if production && local {
        return Some("a local host name is not a public host");
    }
    if production && !host.contains('.') {
        return Some("a single-label host name is not a public host");
    }
    None
}

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
    /// may go is checked when it is made ([`WebhookSender::deliver`]), by whichever instance.
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

/// Where operators' events go (`ADMIN_WEBHOOK_URL`) and the secret they are signed with.
#[derive(Debug, Clone)]
pub struct AdminWebhook {
    /// The receiver; checked like an app's webhook URL.
    pub url: String,
    /// `ADMIN_WEBHOOK_SECRET`, the HMAC key of `Latchkey-Signature`.
    pub secret: SecretString,
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
    pub async fn deliver(&self, call: &WebhookCall) -> Outcome {
        if let Some(reason) = refused_target(&call.url, self.production) {
            return Outcome::Failed(reason.to_owned());
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
        match sent {
            Ok(response) if response.status().is_success() => Outcome::Sent,
            Ok(response) => Outcome::Retry(format!("the receiver answered {}", response.status())),
            Err(e) if e.is_timeout() => Outcome::Retry("the receiver did not answer in time".to_owned()),
            Err(_) => Outcome::Retry("the receiver could not be reached".to_owned()),
        }
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

    #[test]
    fn only_public_addresses_are_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8", "1.1.1.1", "2a00:1450:4001::1", "223.255.255.255"]
        {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    /// The first and last address of every registry entry, and the addresses just outside a
    /// few of them, so a wrong prefix length shows.
    #[test]
    fn every_iana_special_purpose_range_is_refused_end_to_end() {
        for (net, name) in SPECIAL_V4.iter().chain(SPECIAL_V6.iter()) {
            let net: ipnet::IpNet = net.parse().unwrap_or_else(|_| panic!("{net} ({name}) does not parse"));
            for ip in [net.network(), net.broadcast()] {
                assert!(!is_public(ip), "{ip} in {net} ({name}) counted as public");
            }
        }
        for outside in ["11.0.0.0", "100.128.0.0", "198.20.0.0", "223.255.255.254", "2003::1", "2001:200::1"] {
            assert!(is_public(outside.parse().unwrap()), "{outside} is public");
        }
    }

    /// One example from every entry of the IPv4 and IPv6 special-purpose registries, and the
    /// translated forms of private IPv4 addresses.
    #[test]
    fn addresses_from_every_registry_entry_and_their_translations_are_not_public() {
        let v4 = [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.53",
            "169.254.169.254",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.8",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.0.170",
            "192.0.2.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.168.0.1",
            "192.175.48.1",
            "198.18.0.1",
            "198.19.255.254",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.254",
            "255.255.255.255",
        ];
        let v6 = [
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "100::1",
            "100:0:0:1::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "2001:1::1",
            "2001:1::2",
            "2001:1::3",
            "2001:2::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:10::1",
            "2001:20::1",
            "2001:30::1",
            "2001:db8::1",
            "2002:a00:1::1",
            "2002:7f00:1::1",
            "2620:4f:8000::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ];
        for ip in v4.iter().chain(v6.iter()) {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(special_range(parsed).is_some(), "{ip} counted as public");
        }
    }

    #[test]
    fn trailing_dots_local_and_single_label_names_are_refused() {
        for name in ["localhost.", "example.com.", "hooks.example.com."] {
            assert!(refused_host_name(name, false).is_some(), "{name}");
            assert!(refused_host_name(name, true).is_some(), "{name}");
        }
        for name in [
            "localhost",
            "LOCALHOST",
            "app.localhost",
            "printer.local",
            "metadata.internal",
            "nas.home.arpa",
            "intranet",
        ] {
            assert!(refused_host_name(name, true).is_some(), "{name}");
        }
        assert_eq!(refused_host_name("localhost", false), None, "development may call loopback");
        assert_eq!(refused_host_name("hooks.example.com", true), None);
    }

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
            assert!(matches!(sender.deliver(&call).await, Outcome::Failed(_)), "{url}");
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
