//! A registered OIDC client (a web app that delegates its login here): what the clients file
//! lists and what the store keeps, the rules a client must follow, and the registry of them.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{check_redirect_uri, check_webhook_url};
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
    /// A browser or native app: no secret, PKCE required.
    Public,
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
    /// A session older than this (since its sign-in) must sign in again for this app.
    #[serde(default)]
    pub max_session_age_secs: Option<u64>,
    /// Where to send signed events.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// What its id_tokens are signed with (`EdDSA` unless it asks for `RS256`).
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
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
        let client = Client {
            id: "c".into(),
            name: "c".into(),
            redirect_uris: vec!["https://c.example/cb".into()],
            post_logout_redirect_uris: Vec::new(),
            kind: ClientKind::Confidential { secret_sha256: hash },
            scopes: vec!["openid".into()],
            require_second_factor: false,
            max_session_age_secs: None,
            webhook_url: None,
            id_token_signed_response_alg: SigningAlg::EdDsa,
            webhook_secret: None,
            webhook_secret_sealed: None,
        };
        assert!(client.secret_matches(&secret));
        assert!(!client.secret_matches("another"));
    }
}
