//! The OpenID Connect provider's rules: authorization requests, codes, tokens, userinfo.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::clients::{Client, ClientRegistry};
use super::pkce;
use crate::clock::Clock;
use crate::crypto::{self, CryptoError, Keyring};
use crate::domain::{Email, SessionId, UserId};
use crate::session::{SessionClaims, TokenSigner};
use crate::store::{AccessGrant, AuthCode, CodeExchange, Store, StoreError};
use crate::store_guard::StoreGuard;
use crate::webhooks::Webhooks;

/// How long an authorization code works.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long an access token (and an id_token) works.
pub const ACCESS_TTL: Duration = Duration::from_secs(600);

/// The query of `GET /oauth2/authorize`.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// A registered client.
    pub client_id: Option<String>,
    /// Exactly one of the client's redirect URIs.
    pub redirect_uri: Option<String>,
    /// Must include `openid`.
    pub scope: Option<String>,
    /// Echoed back unchanged.
    pub state: Option<String>,
    /// Echoed in the id_token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge (required for public clients).
    pub code_challenge: Option<String>,
    /// Must be `S256` when a challenge is given.
    pub code_challenge_method: Option<String>,
    /// `none`: fail instead of showing the sign-in.
    pub prompt: Option<String>,
}

/// Why an authorization request stops.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Before the redirect URI is trusted: an error page, never a redirect.
    Page(&'static str),
    /// After: back to the client with `error=` (RFC 6749 §4.1.2.1).
    Redirect(Url),
    /// The store did not answer.
    Store(StoreError),
}

/// A checked authorization request.
#[derive(Debug)]
pub struct Authorization {
    /// The client asking.
    pub client: Client,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    /// `prompt=none`.
    pub prompt_none: bool,
}

impl Authorization {
    /// The redirect for an error after the redirect URI was checked.
    pub fn error(&self, error: &str, description: &str) -> Url {
        redirect_with(
            &self.redirect_uri,
            &[("error", error), ("error_description", description)],
            self.state.as_deref(),
        )
    }
}

/// The form of `POST /oauth2/token` (client credentials may instead come by Basic auth).
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    /// Must be `authorization_code`.
    pub grant_type: Option<String>,
    /// The code from the redirect.
    pub code: Option<String>,
    /// The same redirect URI as in the authorization request.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier.
    pub code_verifier: Option<String>,
    /// `client_secret_post` / public clients.
    pub client_id: Option<String>,
    /// `client_secret_post`.
    pub client_secret: Option<String>,
}

/// Why the token endpoint refused (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed request.
    #[error("invalid_request")]
    InvalidRequest(&'static str),
    /// Client authentication failed.
    #[error("invalid_client")]
    InvalidClient,
    /// The code is unknown, expired, used, or not for this client / redirect URI / verifier.
    #[error("invalid_grant")]
    InvalidGrant(&'static str),
    /// Only `authorization_code` is supported.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness or signing failed.
    #[error("server_error")]
    Server(#[source] anyhow::Error),
}

/// A successful token response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// Opaque, for `/oauth2/userinfo`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The signed id_token (EdDSA JWT).
    pub id_token: String,
    /// Granted scopes.
    pub scope: String,
}

/// The claims of an id_token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// `PUBLIC_URL`.
    pub iss: String,
    /// The user's stable id.
    pub sub: UserId,
    /// The client id.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The client's nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The address.
    pub email: Email,
    /// Always true: the address was proven by the link.
    pub email_verified: bool,
    /// How the user authenticated (RFC 8176).
    pub amr: Vec<String>,
    /// The session.
    pub sid: SessionId,
}

/// `/oauth2/userinfo`.
#[derive(Debug, Serialize)]
pub struct UserInfo {
    /// The user's stable id.
    pub sub: UserId,
    /// The address.
    pub email: Email,
    /// Always true.
    pub email_verified: bool,
}

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
}

fn redirect_with(base: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Url {
    // The base was checked against the registry (an absolute URI), so it parses.
    let mut url = Url::parse(base).unwrap_or_else(|_| Url::parse("about:blank").unwrap_or_else(|_| unreachable!()));
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    url
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
        Self { webhooks, production, clients, store, signer, keys, clock, guard: None }
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

    /// Checks an authorization request. Client and redirect URI first (errors are pages); then
    /// everything else (errors go back to the client).
    pub async fn authorize(&self, p: &AuthorizeParams) -> Result<Authorization, AuthorizeError> {
        let client_id = p.client_id.as_deref().ok_or(AuthorizeError::Page("The request names no client."))?;
        let client = self.client(client_id).await.map_err(AuthorizeError::Store)?;
        let client = client.ok_or(AuthorizeError::Page("This app is not registered here."))?;
        let redirect_uri = p.redirect_uri.as_deref().ok_or(AuthorizeError::Page("The request has no redirect_uri."))?;
        if !client.allows_redirect(redirect_uri) {
            return Err(AuthorizeError::Page("The app asked to return to an address it did not register."));
        }
        let auth = Authorization {
            client,
            redirect_uri: redirect_uri.to_owned(),
            scope: String::new(),
            state: p.state.clone(),
            nonce: p.nonce.clone(),
            code_challenge: p.code_challenge.clone(),
            prompt_none: p.prompt.as_deref() == Some("none"),
        };
        let fail = |error, description| Err(AuthorizeError::Redirect(auth.error(error, description)));
        if p.response_type.as_deref() != Some("code") {
            return fail("unsupported_response_type", "only response_type=code is supported");
        }
        let scopes: Vec<&str> = p.scope.as_deref().unwrap_or_default().split_whitespace().collect();
        if !scopes.contains(&"openid") {
            return fail("invalid_scope", "scope must include openid");
        }
        let client = &auth.client;
        if scopes.iter().any(|s| !client.scopes.iter().any(|c| c == s)) {
            return fail("invalid_scope", "a requested scope is not allowed for this client");
        }
        match (p.code_challenge.as_deref(), p.code_challenge_method.as_deref()) {
            (None, _) if client.is_public() => return fail("invalid_request", "PKCE (S256) is required"),
            (None, _) => {}
            (Some(challenge), Some("S256")) if pkce::valid_challenge(challenge) => {}
            (Some(_), Some("S256")) => return fail("invalid_request", "malformed code_challenge"),
            (Some(_), _) => return fail("invalid_request", "code_challenge_method must be S256"),
        }
        if p.nonce.as_ref().is_some_and(|n| n.len() > 512) || p.state.as_ref().is_some_and(|s| s.len() > 1024) {
            return fail("invalid_request", "state or nonce too long");
        }
        Ok(Authorization { scope: scopes.join(" "), ..auth })
    }

    /// True when `session` is good enough for this client: recent enough for its
    /// `max_session_age`, and with a second factor if it requires one.
    pub fn session_suits(&self, auth: &Authorization, session: &SessionClaims) -> bool {
        let age = self.clock.now().timestamp() - session.auth_time;
        let fresh = auth.client.max_session_age_secs.is_none_or(|max| age <= max as i64);
        let strong = !auth.client.require_second_factor || session.amr.iter().any(|m| m == "mfa");
        fresh && strong
    }

    /// Issues a code for a checked request and a live session; returns the redirect.
    pub async fn issue_code(&self, auth: &Authorization, session: &SessionClaims) -> Result<Url, AuthorizeFailure> {
        let code = crypto::random_token::<32>()?;
        let expires_at =
            self.clock.now() + chrono::Duration::from_std(CODE_TTL).unwrap_or(chrono::Duration::seconds(60));
        let grant = AuthCode {
            client_id: auth.client.id.clone(),
            redirect_uri: auth.redirect_uri.clone(),
            user_id: session.sub.clone(),
            email: session.email.clone(),
            sid: session.sid.clone(),
            nonce: auth.nonce.clone(),
            code_challenge: auth.code_challenge.clone(),
            scope: auth.scope.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            expires_at,
        };
        self.store.put_auth_code(&self.code_id(&code), &grant, ACCESS_TTL).await?;
        Ok(redirect_with(&auth.redirect_uri, &[("code", &code)], auth.state.as_deref()))
    }

    /// The token endpoint: authenticates the client, uses the code once (a replay revokes
    /// what it issued), checks redirect URI and PKCE, and issues the tokens.
    pub async fn exchange(
        &self,
        form: &TokenForm,
        basic: Option<(String, String)>,
    ) -> Result<TokenResponse, TokenError> {
        // Read afresh, as before a session is issued: tokens come out of this.
        if let Some(guard) = &self.guard {
            guard.check_fresh().await?;
        }
        let client = &self.authenticate_client(form, basic).await?;
        if form.grant_type.as_deref() != Some("authorization_code") {
            return Err(TokenError::UnsupportedGrantType);
        }
        let code = form.code.as_deref().ok_or(TokenError::InvalidRequest("code is missing"))?;
        let access_token = crypto::random_token::<32>().map_err(|e| TokenError::Server(e.into()))?;
        let access_id = self.access_id(&access_token);
        let grant = match self.store.exchange_auth_code(&self.code_id(code), &client.id, &access_id).await? {
            None => return Err(TokenError::InvalidGrant("unknown or expired code")),
            Some(CodeExchange::WrongClient) => {
                return Err(TokenError::InvalidGrant("code was issued to another client"));
            }
            Some(CodeExchange::Reused(issued)) => {
                if let Some(issued) = issued {
                    self.store.delete_access_grant(&issued).await?;
                }
                tracing::warn!(client = %client.id, "authorization code replayed; its access token is revoked");
                return Err(TokenError::InvalidGrant("code already used"));
            }
            Some(CodeExchange::Fresh(grant)) => *grant,
        };
        let now = self.clock.now();
        if grant.client_id != client.id {
            return Err(TokenError::InvalidGrant("code was issued to another client"));
        }
        if now >= grant.expires_at {
            return Err(TokenError::InvalidGrant("code expired"));
        }
        if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            return Err(TokenError::InvalidGrant("redirect_uri does not match"));
        }
        match (&grant.code_challenge, form.code_verifier.as_deref()) {
            (Some(challenge), verifier) if !pkce::verify(verifier.unwrap_or_default(), challenge) => {
                return Err(TokenError::InvalidGrant("PKCE verification failed"));
            }
            // A verifier for a code issued without a challenge is a downgrade attempt.
            (None, Some(_)) => return Err(TokenError::InvalidGrant("this code was issued without PKCE")),
            _ => {}
        }
        self.grant_still_stands(&grant).await?;
        let ttl = chrono::Duration::from_std(ACCESS_TTL).unwrap_or(chrono::Duration::minutes(10));
        let access = AccessGrant {
            client_id: client.id.clone(),
            user_id: grant.user_id.clone(),
            email: grant.email.clone(),
            scope: grant.scope.clone(),
            sid: grant.sid.clone(),
            expires_at: now + ttl,
        };
        self.store.put_access_grant(&access_id, &access, ACCESS_TTL).await?;
        let claims = IdTokenClaims {
            iss: self.signer.issuer().to_owned(),
            sub: grant.user_id,
            aud: client.id.clone(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            auth_time: grant.auth_time,
            nonce: grant.nonce,
            email: grant.email,
            email_verified: true,
            amr: grant.amr,
            sid: grant.sid,
        };
        let id_token = self.signer.sign(&claims).map_err(|e| TokenError::Server(e.into()))?;
        self.store.add_user_app(&claims.sub, &client.id).await?;
        let event = serde_json::json!({
            "sub": claims.sub, "sid": claims.sid, "client_id": client.id, "auth_time": claims.auth_time, "amr": claims.amr,
        });
        self.send_webhook(client, "user.signed_in", event).await;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ACCESS_TTL.as_secs(),
            id_token,
            scope: grant.scope,
        })
    }

    /// A code outlives neither its session nor its user's access: the session it was issued
    /// for must still be live and the account not blocked when it is exchanged.
    async fn grant_still_stands(&self, grant: &AuthCode) -> Result<(), TokenError> {
        if self.store.get_session(&grant.user_id, &grant.sid).await?.is_none() {
            tracing::info!(user = %grant.user_id, "code exchange refused: its session has ended");
            return Err(TokenError::InvalidGrant("the session this code was issued for has ended"));
        }
        let lookup = self.keys.email_lookup(&grant.email);
        let user = self.store.find_user(&lookup).await?;
        if user.is_none_or(|u| u.blocked || u.id != grant.user_id) {
            tracing::info!(user = %grant.user_id, "code exchange refused: the account is blocked");
            return Err(TokenError::InvalidGrant("the account cannot sign in"));
        }
        Ok(())
    }

    /// The user behind an access token — while the token and the session it came from live
    /// (signing out, or an admin's revocation, ends the token too).
    pub async fn userinfo(&self, access_token: &str) -> Result<Option<UserInfo>, StoreError> {
        if let Some(guard) = &self.guard {
            guard.check().await?;
        }
        let grant = self.store.get_access_grant(&self.access_id(access_token)).await?;
        let Some(grant) = grant.filter(|g| self.clock.now() < g.expires_at) else { return Ok(None) };
        if self.store.get_session(&grant.user_id, &grant.sid).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(UserInfo { sub: grant.user_id, email: grant.email, email_verified: true }))
    }

    /// Reads an `id_token_hint` we issued (expired ones too, as RP-initiated logout allows);
    /// returns the claims and the client it was for.
    pub async fn logout_hint(&self, hint: &str) -> Result<Option<(IdTokenClaims, Client)>, StoreError> {
        let Ok(claims) = self.signer.verify_hint::<IdTokenClaims>(hint) else { return Ok(None) };
        Ok(self.client(&claims.aud).await?.map(|client| (claims, client)))
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
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "scopes_supported": ["openid", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "amr", "sid"],
        })
    }

    async fn authenticate_client(
        &self,
        form: &TokenForm,
        basic: Option<(String, String)>,
    ) -> Result<Client, TokenError> {
        let (id, secret) = match (basic, &form.client_id, &form.client_secret) {
            (Some(_), _, Some(_)) => return Err(TokenError::InvalidRequest("use one client authentication method")),
            (Some((id, secret)), _, None) => (id, Some(secret)),
            (None, Some(id), secret) => (id.clone(), secret.clone()),
            (None, None, _) => return Err(TokenError::InvalidClient),
        };
        let client = self.client(&id).await?.ok_or(TokenError::InvalidClient)?;
        let ok = match (client.is_public(), secret) {
            (true, None) => true,
            (false, Some(secret)) => client.secret_matches(&secret),
            _ => false,
        };
        if ok { Ok(client) } else { Err(TokenError::InvalidClient) }
    }

    fn code_id(&self, code: &str) -> String {
        self.keys.token.mac_b64(&[b"oidc-code", code.as_bytes()])
    }

    fn access_id(&self, token: &str) -> String {
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
