//! The token endpoint: client authentication, the single use of a code, and the tokens.

use serde::{Deserialize, Serialize};

use super::claims::IdTokenClaims;
use super::pkce;
use super::service::{ACCESS_TTL, OidcService};
use crate::crypto;
use crate::domain::Client;
use crate::store::{AccessGrant, AuthCode, CodeExchange, StoreError};

/// The form of `POST /oauth2/token` (client credentials may instead come by Basic auth).
#[derive(Default, Deserialize)]
pub struct TokenForm {
    /// `authorization_code` or `refresh_token`.
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
    /// `grant_type=refresh_token`: the refresh token.
    pub refresh_token: Option<String>,
    /// `grant_type=refresh_token`: a narrower scope for the new access token.
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Codes, verifiers, secrets and refresh tokens stay out of logs.
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
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
    /// Only `authorization_code` and `refresh_token` are supported.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A refresh asked for a scope the refresh token was not granted.
    #[error("invalid_scope")]
    InvalidScope(&'static str),
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness or signing failed.
    #[error("server_error")]
    Server(#[source] anyhow::Error),
}

/// A successful token response.
#[derive(Serialize)]
pub struct TokenResponse {
    /// Opaque, for `/oauth2/userinfo`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The signed id_token (EdDSA, or RS256 for a client that asks for it).
    pub id_token: String,
    /// Granted scopes.
    pub scope: String,
    /// Opaque; present when `offline_access` was granted (see `oidc::refresh`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The tokens stay out of logs.
        f.debug_struct("TokenResponse").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl OidcService {
    /// `claims` signed as `client` asked (`id_token_signed_response_alg`).
    pub(super) fn sign_id_token(&self, client: &Client, claims: &IdTokenClaims) -> Result<String, TokenError> {
        let alg = client.id_token_signed_response_alg;
        self.signer
            .sign_as(alg, claims)
            .ok_or_else(|| TokenError::Server(anyhow::anyhow!("JWT_KEYS holds no key for {}", alg.as_str())))?
            .map_err(|e| TokenError::Server(e.into()))
    }
}

impl OidcService {
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
                    // The refresh tokens the first exchange started go too (the access grant
                    // names the user; it outlives the code's record).
                    if let Some(access) = self.store.get_access_grant(&issued).await? {
                        self.store.delete_refresh_family(&access.user_id, &self.code_family_id(code)).await?;
                    }
                    self.store.delete_access_grant(&issued).await?;
                }
                tracing::warn!(client = %client.id, "authorization code replayed; its tokens are revoked");
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
        if !self.note_session_client(&grant.user_id, &grant.sid, client).await? {
            return Err(TokenError::InvalidGrant("the session this code was issued for has ended"));
        }
        let refresh_token = self.start_refresh_family(client, &grant, code, now).await?;
        let ttl = chrono::Duration::from_std(ACCESS_TTL).unwrap_or(chrono::Duration::minutes(10));
        let access = AccessGrant {
            client_id: client.id.clone(),
            user_id: grant.user_id.clone(),
            email: grant.email.clone(),
            scope: grant.scope.clone(),
            sid: grant.sid.clone(),
            expires_at: now + ttl,
            refresh_family: None,
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
        let id_token = self.sign_id_token(client, &claims)?;
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
            refresh_token,
        })
    }

    /// A code outlives neither its session nor its user's access: the session it was issued
    /// for must still be live and the account not blocked when it is exchanged.
    async fn grant_still_stands(&self, grant: &AuthCode) -> Result<(), TokenError> {
        if self.store.get_session(&grant.user_id, &grant.sid).await?.is_none() {
            tracing::info!(user = %grant.user_id, "code exchange refused: its session has ended");
            return Err(TokenError::InvalidGrant("the session this code was issued for has ended"));
        }
        let lookup = grant.email.lookup_key(&self.keys);
        let user = self.store.find_user(&lookup).await?;
        if user.is_none_or(|u| u.blocked || u.id != grant.user_id) {
            tracing::info!(user = %grant.user_id, "code exchange refused: the account is blocked");
            return Err(TokenError::InvalidGrant("the account cannot sign in"));
        }
        Ok(())
    }

    pub(super) async fn authenticate_client(
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
}
