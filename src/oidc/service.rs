//! The OpenID Connect provider: its parts, the client lookup and the discovery document. The
//! flows are split by endpoint: `authorize`, `token`, `claims` (userinfo, logout hint);
//! `registry` edits clients and `notify` sends webhooks.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::crypto::{CryptoError, Keyring};
use crate::domain::{Client, ClientRegistry};
use crate::outbox::Webhooks;
use crate::session::{SigningAlg, TokenSigner};
use crate::store::{Store, StoreError};
use crate::store_guard::StoreGuard;

/// How long an authorization code works.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long an access token (and an id_token) works.
pub const ACCESS_TTL: Duration = Duration::from_secs(600);

/// The provider.
pub struct OidcService {
    pub(super) webhooks: Arc<Webhooks>,
    pub(super) production: bool,
    pub(super) clients: ClientRegistry,
    pub(super) store: Arc<dyn Store>,
    pub(super) signer: Arc<TokenSigner>,
    pub(super) keys: Arc<Keyring>,
    pub(super) clock: Arc<dyn Clock>,
    /// Whether the store can vouch for its data (`None`: not checked).
    pub(super) guard: Option<Arc<StoreGuard>>,
    /// The origins store clients registered for CORS, kept for a few seconds.
    pub(super) cors: super::cors::CorsOrigins,
    /// Sessions (a reused refresh token ends its family's) and the audit log.
    pub(super) refresh: Option<super::refresh::RefreshDeps>,
}

impl OidcService {
    /// A provider for these clients.
    pub fn new(
        clients: ClientRegistry,
        store: Arc<dyn Store>,
        signer: Arc<TokenSigner>,
        keys: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        production: bool,
        webhooks: Arc<Webhooks>,
    ) -> Self {
        Self {
            webhooks,
            production,
            clients,
            store,
            signer,
            keys,
            clock,
            guard: None,
            cors: Default::default(),
            refresh: None,
        }
    }

    /// Refuses token exchanges and userinfo (503) while the store cannot vouch for its data
    /// (wiped, or another deployment's: [`StoreGuard`]), instead of answering from what is
    /// left in it.
    pub fn with_guard(mut self, guard: Arc<StoreGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// The registered client with this id: from `CLIENTS_FILE`, else from the store.
    pub async fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        if let Some(client) = self.clients.find(id) {
            return Ok(Some(client.clone()));
        }
        let plausible =
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !plausible {
            return Ok(None);
        }
        self.store.get_client(id).await
    }

    /// The discovery document.
    pub fn discovery(&self) -> serde_json::Value {
        let issuer = self.signer.issuer();
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "end_session_endpoint": format!("{issuer}/oauth2/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported":
                self.signer.keys().algorithms().into_iter().map(SigningAlg::as_str).collect::<Vec<_>>(),
            "scopes_supported": ["openid", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "amr", "sid"],
        })
    }

    /// The store's id for an authorization code (a keyed hash: the store never holds the code).
    pub(super) fn code_id(&self, code: &str) -> String {
        self.keys.token.mac_b64(&[b"oidc-code", code.as_bytes()])
    }

    /// The store's id for an access token (a keyed hash: the store never holds the token).
    pub(super) fn access_id(&self, token: &str) -> String {
        self.keys.token.mac_b64(&[b"oidc-access", token.as_bytes()])
    }
}

/// Issuing a code failed (store or randomness).
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeFailure {
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}
