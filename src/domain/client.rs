//! A registered OIDC client (a web app that delegates its login here), as data: what the
//! clients file lists and what the store keeps.

use std::fmt;

use serde::{Deserialize, Serialize};

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
