//! Registered OIDC clients (web apps that delegate their login), from `CLIENTS_FILE`.

use std::collections::HashMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::crypto;
pub use crate::domain::{Client, ClientKind};

impl Client {
    /// True when `secret` is this confidential client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        match &self.kind {
            ClientKind::Confidential { secret_sha256 } => {
                crypto::constant_time_eq(sha256_hex(secret).as_bytes(), secret_sha256.to_ascii_lowercase().as_bytes())
            }
            ClientKind::Public => false,
        }
    }

    /// True for a public client.
    pub fn is_public(&self) -> bool {
        self.kind == ClientKind::Public
    }

    /// True when `uri` is exactly one of the registered redirect URIs.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// True when `uri` is exactly one of the registered post-logout URIs.
    pub fn allows_post_logout(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }
}

/// The registry of clients.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(default)]
    client: Vec<ClientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    client_id: String,
    name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    secret_sha256: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    require_second_factor: bool,
    max_session_age: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
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

    /// Parses a clients file (TOML). In production, redirect URIs must be `https://` (or
    /// `http://` to a loopback address, for native apps). Returns every problem found.
    pub fn from_toml(text: &str, production: bool) -> Result<Self, Vec<String>> {
        let file: ClientsFile = toml::from_str(text).map_err(|e| vec![format!("not valid: {e}")])?;
        let mut problems = Vec::new();
        let mut clients = HashMap::new();
        for entry in file.client {
            let id = entry.client_id.clone();
            let mut fail = |message: String| problems.push(format!("client `{id}`: {message}"));
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                fail("client_id must be letters, digits, `-`, `_` or `.`".to_owned());
            }
            if entry.redirect_uris.is_empty() {
                fail("needs at least one redirect_uri".to_owned());
            }
            for uri in entry.redirect_uris.iter().chain(&entry.post_logout_redirect_uris) {
                if let Err(e) = check_redirect_uri(uri, production) {
                    fail(format!("`{uri}`: {e}"));
                }
            }
            let kind = match (entry.kind.as_str(), entry.secret_sha256.as_deref()) {
                ("public", None) => ClientKind::Public,
                ("public", Some(_)) => {
                    fail("a public client has no secret".to_owned());
                    ClientKind::Public
                }
                ("confidential", Some(hex)) if is_hex32(hex) => {
                    ClientKind::Confidential { secret_sha256: hex.trim().to_ascii_lowercase() }
                }
                ("confidential", Some(_)) => {
                    fail("secret_sha256 must be 64 hex digits (`latchkey client-secret` prints one)".to_owned());
                    ClientKind::Public
                }
                ("confidential", None) => {
                    fail("a confidential client needs secret_sha256".to_owned());
                    ClientKind::Public
                }
                (other, _) => {
                    fail(format!("type `{other}` is not `public` or `confidential`"));
                    ClientKind::Public
                }
            };
            let mut scopes = if entry.scopes.is_empty() { vec!["openid".into(), "email".into()] } else { entry.scopes };
            if !scopes.iter().any(|s| s == "openid") {
                scopes.push("openid".into());
            }
            let max_session_age_secs = match entry.max_session_age.as_deref().map(crate::config::parse_duration) {
                None => None,
                Some(Some(age)) => Some(age.as_secs()),
                Some(None) => {
                    problems.push(format!("client `{id}`: max_session_age must be a duration like 8h"));
                    None
                }
            };
            if let Some(url) = &entry.webhook_url {
                if let Err(e) = check_webhook_url(url, production) {
                    problems.push(format!("client `{id}`: webhook_url `{url}`: {e}"));
                }
                if entry.webhook_secret.as_ref().is_none_or(|s| s.len() < 32) {
                    problems.push(format!("client `{id}`: a webhook needs webhook_secret of at least 32 characters"));
                }
            }
            if clients.contains_key(&id) {
                problems.push(format!("client `{id}` is listed twice"));
            }
            let client = Client {
                id: id.clone(),
                name: entry.name.unwrap_or_else(|| id.clone()),
                redirect_uris: entry.redirect_uris,
                post_logout_redirect_uris: entry.post_logout_redirect_uris,
                kind,
                scopes,
                require_second_factor: entry.require_second_factor,
                max_session_age_secs,
                webhook_url: entry.webhook_url.clone(),
                webhook_secret: entry.webhook_secret,
                webhook_secret_sealed: None,
            };
            problems.extend(
                client
                    .problems(production)
                    .into_iter()
                    .filter(|p| p.starts_with("max_session_age"))
                    .map(|p| format!("client `{id}`: {p}")),
            );
            clients.insert(id, client);
        }
        if problems.is_empty() { Ok(Self { clients }) } else { Err(problems) }
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
            if let Err(e) = check_redirect_uri(uri, production) {
                problems.push(format!("`{uri}`: {e}"));
            }
        }
        if let Some((url, Err(e))) = self.webhook_url.as_ref().map(|url| (url, check_webhook_url(url, production))) {
            problems.push(format!("webhook_url `{url}`: {e}"));
        }
        if self.max_session_age_secs.is_some_and(|age| !(60..=365 * 86_400).contains(&age)) {
            problems.push("max_session_age must be between 1 minute and 365 days".to_owned());
        }
        if let Some(bad) = self.scopes.iter().find(|s| !matches!(s.as_str(), "openid" | "email")) {
            problems.push(format!("scope `{bad}` is not offered (openid, email)"));
        }
        problems
    }
}

/// A webhook target: in production https, and not this machine or another internal address —
/// no IP literal in an IANA special-purpose range, no local or single-label name; nowhere a
/// trailing-dot name (deliveries also resolve names to public addresses only).
pub(crate) fn check_webhook_url(raw: &str, production: bool) -> Result<(), String> {
    check_redirect_uri(raw, production)?;
    let url = Url::parse(raw).map_err(|_| "not an absolute URI")?;
    let special = match url.host() {
        Some(url::Host::Ipv4(ip)) => crate::webhooks::special_range(ip.into()),
        Some(url::Host::Ipv6(ip)) => crate::webhooks::special_range(ip.into()),
        Some(url::Host::Domain(d)) => {
            if let Some(reason) = crate::webhooks::refused_host_name(d, production) {
                return Err(reason.to_owned());
            }
            None
        }
        None => return Err("needs a host".to_owned()),
    };
    if production && url.scheme() != "https" {
        return Err("must be https:// to a public host in production".to_owned());
    }
    if let Some(range) = special.filter(|_| production) {
        return Err(format!(
            "must be a public host in production, not an address in a special-purpose range ({range})"
        ));
    }
    Ok(())
}

/// An absolute URI with no fragment; https in production unless it points at loopback.
fn check_redirect_uri(uri: &str, production: bool) -> Result<(), &'static str> {
    let url = Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if url.fragment().is_some() {
        return Err("must not have a #fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info");
    }
    let loopback = crate::config::is_loopback(&url);
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || !production => Ok(()),
        "http" => Err("must be https:// (http only to loopback)"),
        _ => Err("must be an http(s) URI"),
    }
}

fn is_hex32(hex: &str) -> bool {
    let hex = hex.trim();
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 of a client secret, lowercase hex.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
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

    const FILE: &str = r#"
        [[client]]
        client_id = "wiki"
        redirect_uris = ["https://wiki.example.com/cb"]
        type = "confidential"
        secret_sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"

        [[client]]
        client_id = "spa"
        redirect_uris = ["http://127.0.0.1:9000/cb"]
        type = "public"
    "#;

    #[test]
    fn a_clients_file_loads_and_secrets_check() {
        let registry = ClientRegistry::from_toml(FILE, true).unwrap();
        let wiki = registry.find("wiki").unwrap();
        assert!(wiki.secret_matches("secret"));
        assert!(!wiki.secret_matches("Secret"));
        assert!(registry.find("spa").unwrap().is_public());
        assert!(wiki.allows_redirect("https://wiki.example.com/cb"));
        assert!(!wiki.allows_redirect("https://wiki.example.com/cb/"));
        assert_eq!(wiki.scopes, ["openid", "email"]);
    }

    #[test]
    fn unsafe_entries_are_refused_with_reasons() {
        let bad = r#"
            [[client]]
            client_id = "x"
            redirect_uris = ["http://app.example.com/cb", "https://a.example.com/cb#frag"]
            type = "confidential"
        "#;
        let problems = ClientRegistry::from_toml(bad, true).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn new_secrets_match_their_hash() {
        let (secret, hash) = new_client_secret().unwrap();
        let file = format!(
            "[[client]]\nclient_id = \"c\"\nredirect_uris = [\"https://c.example/cb\"]\ntype = \"confidential\"\nsecret_sha256 = \"{hash}\"\n"
        );
        assert!(ClientRegistry::from_toml(&file, true).unwrap().find("c").unwrap().secret_matches(&secret));
    }
}
