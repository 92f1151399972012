//! What the provider says about a user: id_token claims, userinfo, and a logout hint read back.

use serde::{Deserialize, Serialize};

use super::service::OidcService;
use crate::domain::Client;
use crate::domain::{Email, SessionId, UserId};
use crate::store::StoreError;

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

impl OidcService {
    /// The user behind an access token — while the token and the session it came from live
    /// (signing out, or an admin's revocation, ends the token too).
    pub async fn userinfo(&self, access_token: &str) -> Result<Option<UserInfo>, StoreError> {
        if let Some(guard) = &self.guard {
            guard.check().await?;
        }
        let grant = self.store.get_access_grant(&self.access_id(access_token)).await?;
        let Some(grant) = grant.filter(|g| self.clock.now() < g.expires_at) else { return Ok(None) };
        let live = match &grant.refresh_family {
            // From a refresh token: it lives while its family does (a single logout ends neither).
            Some(family) => self.store.get_refresh_family(&grant.user_id, family).await?.is_some(),
            None => self.store.get_session(&grant.user_id, &grant.sid).await?.is_some(),
        };
        if !live {
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
}
