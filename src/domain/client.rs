//! A registered OIDC client (a web app that delegates its login here): what the clients file
//! lists and what the store keeps, the rules a client must follow, and the registry of them.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use url::Url;

use super::{check_native_redirect_uri, check_redirect_uri, check_web_origin, check_webhook_url};
use crate::crypto::signing_keys::SigningAlg;
use crate::crypto::{self, sha256_hex};

/// How a client proves who it is at the token endpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientKind {
    /// A server-side app with a secret (`client_secret_basic` or `client_secret_post`).
    Confidential {
        /// SHA-256 of the secret, hex (secrets are high-entropy; `latchkey client-secret`
        /// makes one).
        secret_sha256: String,
    },
    /// A browser app: no secret, PKCE required.
    Public,
    /// A native app (RFC 8252): no secret, PKCE required; private-use scheme redirects, and
    /// loopback redirects on any port.
    Native,
}

/// One registered client (from `CLIENTS_FILE`, or kept in the store).
#[derive(Clone, Serialize, Deserialize)]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// Shown to people.
    pub name: String,
    /// Exact redirect URIs (compared as strings).
    pub redirect_uris: Vec<String>,
    /// Exact URIs allowed after RP-initiated logout.
    pub post_logout_redirect_uris: Vec<String>,
    /// Confidential or public.
    pub kind: ClientKind,
    /// Scopes it may ask for (always including `openid`).
    pub scopes: Vec<String>,
    /// Sign-ins for this app need a second factor, whatever the policy.
    #[serde(default)]
    pub require_second_factor: bool,
    /// Sign-ins for this app need a phishing-resistant second factor: a passkey (`amr` `hwk`
    /// or `swk`). A session signed in otherwise steps up with a passkey first.
    #[serde(default)]
    pub require_phishing_resistant: bool,
    /// A session older than this (since its sign-in) must sign in again for this app.
    #[serde(default)]
    pub max_session_age_secs: Option<u64>,
    /// Where to send signed events.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// What its id_tokens are signed with (`EdDSA` unless it asks for `RS256`).
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
    /// How long its refresh tokens live (when it may ask `offline_access`); `None`: 30 days.
    #[serde(default)]
    pub refresh_token_ttl_secs: Option<u64>,
    /// Where OIDC Back-Channel Logout tokens are posted when a session ends.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Its logo (https), shown on the sign-in pages of its flow.
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// Its home page, linked from the sign-in pages of its flow.
    #[serde(default)]
    pub client_uri: Option<String>,
    /// Its privacy policy, linked from the sign-in pages of its flow.
    #[serde(default)]
    pub policy_uri: Option<String>,
    /// Browser origins (`https://app.example.com`) allowed to call the token, userinfo and
    /// discovery endpoints (CORS; public and native clients only).
    #[serde(default)]
    pub allowed_cors_origins: Vec<String>,
    /// The webhook signing secret from `CLIENTS_FILE` (never written to the store).
    #[serde(default, skip_serializing)]
    pub webhook_secret: Option<String>,
    /// The webhook signing secret of a client registered through the API, sealed (AEAD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_sealed: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// True when `secret` is this confidential client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        match &self.kind {
            ClientKind::Confidential { secret_sha256 } => {
                crypto::constant_time_eq(sha256_hex(secret).as_bytes(), secret_sha256.to_ascii_lowercase().as_bytes())
            }
            ClientKind::Public | ClientKind::Native => false,
        }
    }

    /// True for a client without a secret (public or native): PKCE is its proof.
    pub fn is_public(&self) -> bool {
        matches!(self.kind, ClientKind::Public | ClientKind::Native)
    }

    /// True for a native app.
    pub fn is_native(&self) -> bool {
        self.kind == ClientKind::Native
    }

    /// `public`, `confidential` or `native`, as registrations name it.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ClientKind::Confidential { .. } => "confidential",
            ClientKind::Public => "public",
            ClientKind::Native => "native",
        }
    }

    /// True when `uri` is exactly one of the registered redirect URIs; for a native app, also a
    /// registered loopback IP redirect (`http://127.0.0.1/cb`, `http://[::1]/cb`) on another
    /// port (RFC 8252 §7.3: the app listens on whatever port it got).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri || (self.is_native() && same_loopback_but_port(r, uri)))
    }

    /// The scopes of `requested` this client may have, `openid` always first: scopes not
    /// offered or not registered for it are left out (OIDC Core §3.1.2.1: unknown values
    /// SHOULD be ignored), as are repeats.
    pub fn granted_scope<'a>(&self, requested: impl IntoIterator<Item = &'a str>) -> String {
        let mut granted: Vec<&str> = vec!["openid"];
        for scope in requested {
            if self.scopes.iter().any(|c| c == scope) && !granted.contains(&scope) {
                granted.push(scope);
            }
        }
        granted.join(" ")
    }

    /// The refresh token lifetime, in seconds.
    pub fn refresh_token_ttl(&self) -> u64 {
        self.refresh_token_ttl_secs.unwrap_or(DEFAULT_REFRESH_TOKEN_TTL_SECS)
    }

    /// True when a browser at `origin` may call the token, userinfo and discovery endpoints.
    pub fn allows_cors_origin(&self, origin: &str) -> bool {
        self.allowed_cors_origins.iter().any(|o| o == origin)
    }

    /// True when `uri` is exactly one of the registered post-logout URIs.
    pub fn allows_post_logout(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }
}

/// How long refresh tokens live unless the client's registration says otherwise: 30 days.
pub const DEFAULT_REFRESH_TOKEN_TTL_SECS: u64 = 30 * 86_400;

/// The scopes a client may be registered for.
pub const OFFERED_SCOPES: [&str; 3] = ["openid", "email", "offline_access"];

/// True when `registered` and `asked` are the same http loopback IP-literal URI except for the
/// port.
fn same_loopback_but_port(registered: &str, asked: &str) -> bool {
    let (Ok(registered), Ok(mut asked)) = (Url::parse(registered), Url::parse(asked)) else { return false };
    let ip_literal = matches!(registered.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
    if registered.scheme() != "http" || !ip_literal || !super::is_loopback(&registered) {
        return false;
    }
    asked.set_port(registered.port()).is_ok() && asked == registered
}

/// The registry of clients.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
}

impl ClientRegistry {
    /// Every client in the file.
    pub fn all(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }

    /// The client with this id.
    pub fn find(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    /// A registry of `clients`, keyed by their ids (checked by whoever built them).
    pub fn from_clients(clients: impl IntoIterator<Item = Client>) -> Self {
        Self { clients: clients.into_iter().map(|c| (c.id.clone(), c)).collect() }
    }
}

impl Client {
    /// What is wrong with this client's id and URIs, if anything (the same rules as the file).
    pub fn problems(&self, production: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            problems.push("client_id must be 1-64 letters, digits, `-`, `_` or `.`".to_owned());
        }
        if self.redirect_uris.is_empty() {
            problems.push("needs at least one redirect_uri".to_owned());
        }
        for uri in self.redirect_uris.iter().chain(&self.post_logout_redirect_uris) {
            let checked = if self.is_native() {
                check_native_redirect_uri(uri, production)
            } else {
                check_redirect_uri(uri, production)
            };
            if let Err(e) = checked {
                problems.push(format!("`{uri}`: {e}"));
            }
        }
        for (field, url) in
            [("webhook_url", &self.webhook_url), ("backchannel_logout_uri", &self.backchannel_logout_uri)]
        {
            if let Some((url, Err(e))) = url.as_ref().map(|url| (url, check_webhook_url(url, production))) {
                problems.push(format!("{field} `{url}`: {e}"));
            }
        }
        for (field, url) in
            [("logo_uri", &self.logo_uri), ("client_uri", &self.client_uri), ("policy_uri", &self.policy_uri)]
        {
            if let Some((url, Err(e))) =
                url.as_ref().map(|url| (url, check_page_link(url, field == "logo_uri" || production)))
            {
                problems.push(format!("{field} `{url}`: {e}"));
            }
        }
        for origin in &self.allowed_cors_origins {
            if let Err(e) = check_web_origin(origin, production) {
                problems.push(format!("allowed_cors_origins `{origin}`: {e}"));
            }
        }
        if !self.allowed_cors_origins.is_empty() && !self.is_public() {
            problems.push("allowed_cors_origins is for public and native clients (a confidential client's secret stays on its server)".to_owned());
        }
        if self.max_session_age_secs.is_some_and(|age| !(60..=365 * 86_400).contains(&age)) {
            problems.push("max_session_age must be between 1 minute and 365 days".to_owned());
        }
        if self.refresh_token_ttl_secs.is_some_and(|ttl| !(300..=365 * 86_400).contains(&ttl)) {
            problems.push("refresh_token_ttl must be between 5 minutes and 365 days".to_owned());
        }
        if self.require_phishing_resistant && !self.require_second_factor {
            problems.push("require_phishing_resistant needs require_second_factor = true".to_owned());
        }
        if self.require_phishing_resistant && self.is_native() {
            problems.push(
                "require_phishing_resistant is for web apps: a native app's sign-in by code has no passkey step"
                    .to_owned(),
            );
        }
        if let Some(bad) = self.scopes.iter().find(|s| !OFFERED_SCOPES.contains(&s.as_str())) {
            problems.push(format!("scope `{bad}` is not offered ({})", OFFERED_SCOPES.join(", ")));
        }
        problems
    }
}

/// A link shown to people (logo, home page, policy): an absolute http(s) URL without user info;
/// https when `https_only`.
fn check_page_link(raw: &str, https_only: bool) -> Result<(), &'static str> {
    let url = Url::parse(raw).map_err(|_| "not an absolute URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if !https_only => Ok(()),
        _ => Err("must be https://"),
    }
}

/// A new client secret and the `secret_sha256` to put in the clients file.
pub fn new_client_secret() -> Result<(String, String), crypto::CryptoError> {
    let secret = crypto::random_token::<32>()?;
    let hash = sha256_hex(&secret);
    Ok((secret, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_secrets_match_their_hash() {
        let (secret, hash) = new_client_secret().unwrap();
        let client = Client { kind: ClientKind::Confidential { secret_sha256: hash }, ..sample() };
        assert!(client.secret_matches(&secret));
        assert!(!client.secret_matches("another"));
    }

    #[test]
    fn a_phishing_resistant_app_needs_a_second_factor_and_a_browser() {
        let web = Client { require_phishing_resistant: true, ..sample() };
        assert!(
            web.problems(false).iter().any(|p| p.contains("needs require_second_factor")),
            "{:?}",
            web.problems(false)
        );
        let web = Client { require_second_factor: true, ..web };
        assert!(web.problems(false).is_empty(), "{:?}", web.problems(false));
        let app =
            Client { require_second_factor: true, require_phishing_resistant: true, ..native("com.example.app:/cb") };
        assert!(app.problems(false).iter().any(|p| p.contains("for web apps")), "{:?}", app.problems(false));
    }

    fn native(redirect: &str) -> Client {
        Client {
            id: "app".into(),
            name: "App".into(),
            kind: ClientKind::Native,
            redirect_uris: vec![redirect.to_owned()],
            ..sample()
        }
    }

    fn sample() -> Client {
        Client {
            id: "c".into(),
            name: "c".into(),
            redirect_uris: vec!["https://c.example/cb".into()],
            post_logout_redirect_uris: Vec::new(),
            kind: ClientKind::Public,
            scopes: vec!["openid".into()],
            require_second_factor: false,
            require_phishing_resistant: false,
            max_session_age_secs: None,
            webhook_url: None,
            id_token_signed_response_alg: SigningAlg::EdDsa,
            refresh_token_ttl_secs: None,
            backchannel_logout_uri: None,
            logo_uri: None,
            client_uri: None,
            policy_uri: None,
            allowed_cors_origins: Vec::new(),
            webhook_secret: None,
            webhook_secret_sealed: None,
        }
    }

    #[test]
    fn native_apps_use_loopback_on_any_port_and_their_own_scheme() {
        let app = native("http://127.0.0.1/callback");
        assert!(app.allows_redirect("http://127.0.0.1:51004/callback"));
        assert!(app.allows_redirect("http://127.0.0.1/callback"));
        assert!(!app.allows_redirect("http://127.0.0.1:51004/other"), "the path stays exact");
        assert!(!app.allows_redirect("http://127.0.0.2:51004/callback"), "the address stays exact");
        assert!(!app.allows_redirect("https://127.0.0.1:51004/callback"));
        assert!(native("http://[::1]/cb").allows_redirect("http://[::1]:8080/cb"));
        assert!(!native("http://localhost/cb").allows_redirect("http://localhost:8080/cb"), "IP literals only");
        let web = Client { redirect_uris: vec!["http://127.0.0.1/cb".into()], ..sample() };
        assert!(!web.allows_redirect("http://127.0.0.1:8080/cb"), "a web client's port is exact");
        assert!(native("com.example.app:/cb").problems(true).is_empty());
        assert!(!native("javascript:/cb").problems(true).is_empty());
        assert!(!Client { redirect_uris: vec!["com.example.app:/cb".into()], ..sample() }.problems(true).is_empty());
    }

    #[test]
    fn registrations_check_branding_links_origins_and_lifetimes() {
        let ok = Client {
            logo_uri: Some("https://c.example/logo.png".into()),
            policy_uri: Some("https://c.example/privacy".into()),
            allowed_cors_origins: vec!["https://c.example".into(), "http://127.0.0.1:5173".into()],
            refresh_token_ttl_secs: Some(86_400),
            scopes: vec!["openid".into(), "offline_access".into()],
            ..sample()
        };
        assert_eq!(ok.problems(true), Vec::<String>::new());
        for bad in [
            Client { logo_uri: Some("http://c.example/logo.png".into()), ..sample() },
            Client { allowed_cors_origins: vec!["https://c.example/".into()], ..sample() },
            Client { allowed_cors_origins: vec!["http://c.example".into()], ..sample() },
            Client { refresh_token_ttl_secs: Some(10), ..sample() },
            Client { backchannel_logout_uri: Some("http://10.0.0.1/logout".into()), ..sample() },
            Client { scopes: vec!["openid".into(), "admin".into()], ..sample() },
        ] {
            assert!(!bad.problems(true).is_empty(), "{bad:?} should be refused");
        }
        let confidential = Client {
            kind: ClientKind::Confidential { secret_sha256: "0".repeat(64) },
            allowed_cors_origins: vec!["https://c.example".into()],
            ..sample()
        };
        assert!(!confidential.problems(true).is_empty(), "CORS is for clients without a secret");
    }
}
