//! Native apps (RFC 8252) that sign people in without a browser session: the JSON sign-in
//! (`POST /api/v1/login` with a `client_id`, then `POST /api/v1/login/code`). The attempt
//! handle the app holds is sealed, and names the attempt, the app and its PKCE challenge; the
//! tokens come out of the token endpoint's own exchange, so an app gets from this flow what
//! it would get from the authorization code flow.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pkce;
use super::service::{ACCESS_TTL, CODE_TTL, OidcService};
use super::token::{TokenError, TokenForm, TokenResponse};
use crate::crypto::{self, CryptoError};
use crate::domain::Client;
use crate::i18n::Text;
use crate::session::SessionClaims;
use crate::store::{AuthCode, StoreError};

/// The associated data handles are sealed under: a value sealed for anything else never opens
/// as a handle.
const HANDLE_CONTEXT: &str = "native-login-handle";

/// The redirect URI recorded in the internal authorization code of this flow. No browser is
/// ever sent there; it only has to match at the exchange.
const NATIVE_REDIRECT: &str = "urn:latchkey:native-login";

/// Scopes granted when the app names none.
const DEFAULT_SCOPE: &str = "openid email";

/// What an app's attempt handle carries, sealed: nobody but latchkey reads or forges one.
#[derive(Serialize, Deserialize)]
pub struct AppAttempt {
    /// The attempt's binding (its id and the secret whose keyed hash the attempt keeps), as a
    /// browser's `__Host-attempt` would carry it.
    pub binding: String,
    /// The native app the attempt is for.
    pub client_id: String,
    /// The app's PKCE S256 challenge: only the instance holding the verifier can finish.
    pub code_challenge: String,
    /// The scopes to grant.
    pub scope: String,
}

impl fmt::Debug for AppAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppAttempt").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// Why the JSON sign-in refused an app's request.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// A field that is missing, malformed, or names something it may not.
    #[error("{field}: {}", message(&crate::i18n::EN))]
    Field {
        /// The JSON field at fault.
        field: &'static str,
        /// What is wrong with it (a catalogue key, said in the reader's language).
        message: Text,
    },
    /// The handle is not one latchkey made for this client.
    #[error("unknown handle")]
    UnknownHandle,
    /// The `code_verifier` does not hash to the handle's challenge.
    #[error("code_verifier does not match the code_challenge")]
    WrongVerifier,
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl OidcService {
    /// The native app `client_id` names; any other kind of client, or none, is refused naming
    /// the field.
    pub async fn native_client(&self, client_id: &str) -> Result<Client, NativeError> {
        let client = self
            .client(client_id)
            .await?
            .ok_or(NativeError::Field { field: "client_id", message: |t| t.native_unknown_client })?;
        if !client.is_native() {
            return Err(NativeError::Field { field: "client_id", message: |t| t.native_not_native });
        }
        Ok(client)
    }

    /// Starts an app's attempt: checks the PKCE challenge and the scopes, and seals what the
    /// code step needs into the handle the app holds.
    pub fn app_attempt_handle(
        &self,
        client: &Client,
        binding: String,
        code_challenge: Option<&str>,
        code_challenge_method: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String, NativeError> {
        let challenge = check_challenge(code_challenge, code_challenge_method)?;
        let attempt = AppAttempt {
            binding,
            client_id: client.id.clone(),
            code_challenge: challenge.to_owned(),
            scope: client.granted_scope(scope.unwrap_or(DEFAULT_SCOPE).split_whitespace()),
        };
        let plain = serde_json::to_vec(&attempt).map_err(|_| CryptoError)?;
        Ok(self.keys.sealer.seal(HANDLE_CONTEXT, &plain)?)
    }

    /// Opens an app's handle, before anything of the attempt is touched: it must be one
    /// latchkey sealed, for `client_id`, and `verifier` must match its challenge.
    pub fn open_app_attempt(&self, handle: &str, client_id: &str, verifier: &str) -> Result<AppAttempt, NativeError> {
        let plain = self.keys.sealer.open(HANDLE_CONTEXT, handle).map_err(|_| NativeError::UnknownHandle)?;
        let attempt: AppAttempt = serde_json::from_slice(&plain).map_err(|_| NativeError::UnknownHandle)?;
        if !crypto::constant_time_eq(attempt.client_id.as_bytes(), client_id.as_bytes()) {
            return Err(NativeError::UnknownHandle);
        }
        if !pkce::verify(verifier, &attempt.code_challenge) {
            return Err(NativeError::WrongVerifier);
        }
        Ok(attempt)
    }

    /// The tokens for an app whose attempt ended in `session`: an authorization code is
    /// issued for the session and exchanged at once through the token endpoint's own exchange
    /// (the same checks, tokens, records and webhook as `POST /oauth2/token`).
    pub async fn app_tokens(
        &self,
        client: &Client,
        attempt: &AppAttempt,
        verifier: &str,
        session: &SessionClaims,
    ) -> Result<TokenResponse, TokenError> {
        let code = crypto::random_token::<32>().map_err(|e| TokenError::Server(e.into()))?;
        let expires_at =
            self.clock.now() + chrono::Duration::from_std(CODE_TTL).unwrap_or(chrono::Duration::seconds(60));
        let grant = AuthCode {
            client_id: client.id.clone(),
            redirect_uri: NATIVE_REDIRECT.to_owned(),
            user_id: session.sub.clone(),
            email: session.email.clone(),
            sid: session.sid.clone(),
            nonce: None,
            code_challenge: Some(attempt.code_challenge.clone()),
            scope: attempt.scope.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            expires_at,
        };
        self.store.put_auth_code(&self.code_id(&code), &grant, ACCESS_TTL).await?;
        let form = TokenForm {
            grant_type: Some("authorization_code".to_owned()),
            code: Some(code),
            redirect_uri: Some(NATIVE_REDIRECT.to_owned()),
            code_verifier: Some(verifier.to_owned()),
            client_id: Some(client.id.clone()),
            ..TokenForm::default()
        };
        self.exchange(&form, None).await
    }
}

/// The S256 challenge, or the field at fault.
fn check_challenge<'a>(challenge: Option<&'a str>, method: Option<&str>) -> Result<&'a str, NativeError> {
    let challenge =
        challenge.ok_or(NativeError::Field { field: "code_challenge", message: |t| t.native_pkce_required })?;
    if method != Some("S256") {
        return Err(NativeError::Field { field: "code_challenge_method", message: |t| t.native_s256_only });
    }
    if !pkce::valid_challenge(challenge) {
        return Err(NativeError::Field { field: "code_challenge", message: |t| t.native_bad_challenge });
    }
    Ok(challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_must_be_s256_and_well_formed() {
        let good = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_challenge(Some(good), Some("S256")).is_ok());
        let field = |r: Result<&str, NativeError>| match r {
            Err(NativeError::Field { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(check_challenge(None, Some("S256"))), "code_challenge");
        assert_eq!(field(check_challenge(Some(good), Some("plain"))), "code_challenge_method");
        assert_eq!(field(check_challenge(Some(good), None)), "code_challenge_method");
        assert_eq!(field(check_challenge(Some("short"), Some("S256"))), "code_challenge");
    }
}
