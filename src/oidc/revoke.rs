//! Token revocation (RFC 7009): a client drops one of its refresh tokens (ending its family)
//! or access tokens.

use serde::Deserialize;

use super::refresh::parse_token;
use super::service::OidcService;
use super::token::{TokenError, TokenForm};
use crate::store::Rotation;

/// The form of `POST /oauth2/revoke` (client credentials may instead come by Basic auth).
#[derive(Default, Deserialize)]
pub struct RevokeForm {
    /// The refresh or access token to revoke.
    pub token: Option<String>,
    /// `refresh_token` or `access_token`: only a hint (RFC 7009 §2.1), every kind is looked for.
    pub token_type_hint: Option<String>,
    /// `client_secret_post` / public clients.
    pub client_id: Option<String>,
    /// `client_secret_post`.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for RevokeForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and the secret stay out of logs.
        f.debug_struct("RevokeForm")
            .field("token_type_hint", &self.token_type_hint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OidcService {
    /// Revokes `form.token` if it is a refresh token (its whole family) or an access token of
    /// the authenticated client. A token that is unknown, already revoked or another client's
    /// changes nothing and is not an error (RFC 7009 §2.2).
    pub async fn revoke(&self, form: &RevokeForm, basic: Option<(String, String)>) -> Result<(), TokenError> {
        if let Some(guard) = &self.guard {
            guard.check().await?;
        }
        let credentials = TokenForm {
            client_id: form.client_id.clone(),
            client_secret: form.client_secret.clone(),
            ..TokenForm::default()
        };
        let client = self.authenticate_client(&credentials, basic).await?;
        let token = form.token.as_deref().filter(|t| !t.is_empty());
        let token = token.ok_or(TokenError::InvalidRequest("token is missing"))?;
        if let Some((user, family)) = parse_token(token) {
            // Spending it proves the token is (or was) one of the family's: a family id alone
            // revokes nothing. A spent token's family is revoked by the store in the same step.
            let next = self.refresh_id(&crate::crypto::random_token::<32>().map_err(|e| TokenError::Server(e.into()))?);
            let rotation =
                self.store.rotate_refresh_token(&user, family, &client.id, &self.refresh_id(token), &next).await?;
            if matches!(rotation, Rotation::Rotated(_)) {
                self.store.delete_refresh_family(&user, family).await?;
            }
            if matches!(rotation, Rotation::Rotated(_) | Rotation::Reused(_)) {
                tracing::info!(client = %client.id, user = %user, "refresh token revoked by its client");
            }
            return Ok(());
        }
        let id = self.access_id(token);
        if self.store.get_access_grant(&id).await?.is_some_and(|grant| grant.client_id == client.id) {
            self.store.delete_access_grant(&id).await?;
        }
        Ok(())
    }
}
