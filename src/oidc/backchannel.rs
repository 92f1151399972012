//! OpenID Connect Back-Channel Logout 1.0: which apps got tokens in which session, and, when a
//! session ends (whichever way), a signed logout token for each of them through the outbox.
//!
//! The token is signed when each delivery attempt is made, so its `exp` can be short
//! ([`LOGOUT_TOKEN_TTL`]) however long the retries take; each attempt carries a new `jti`.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::service::OidcService;
use crate::clock::Clock;
use crate::crypto;
use crate::domain::{Client, SessionId, UserId};
use crate::outbox::{BackchannelLogouts, LogoutCall, LogoutTokenSigner};
use crate::session::{EndedSessions, SessionEndListener, TokenSigner};
use crate::store::StoreError;

/// The `events` member that makes a JWT a logout token (Back-Channel Logout §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The `typ` header of a logout token (Back-Channel Logout §2.4).
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";

/// How long a logout token is good for after it is signed (at each delivery attempt).
pub const LOGOUT_TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(2);

/// The claims of a logout token: no `nonce`, ever.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    /// `PUBLIC_URL`.
    pub iss: String,
    /// The client id.
    pub aud: String,
    /// Signed at.
    pub iat: i64,
    /// [`LOGOUT_TOKEN_TTL`] after `iat`.
    pub exp: i64,
    /// A new random id for each token.
    pub jti: String,
    /// The user.
    pub sub: UserId,
    /// The session that ended (the id_token's `sid`).
    pub sid: SessionId,
    /// `{"http://schemas.openid.net/event/backchannel-logout": {}}`.
    pub events: serde_json::Value,
}

impl OidcService {
    /// Records that `client` was issued tokens in session `sid` of `user`, so that it is sent
    /// a logout token when the session ends. Only clients with a `backchannel_logout_uri` are
    /// recorded (for any other this does nothing and answers true). False when the session
    /// is no longer live: the caller must then not issue the tokens. Call it after checking
    /// the grant and before answering with an id_token (code and refresh grants alike).
    pub async fn note_session_client(
        &self,
        user: &UserId,
        sid: &SessionId,
        client: &Client,
    ) -> Result<bool, StoreError> {
        if client.backchannel_logout_uri.is_none() {
            return Ok(true);
        }
        self.store.add_session_client(user, sid, &client.id).await
    }
}

/// Signs logout tokens with the id_token keys: the algorithm the client's id_tokens use, the
/// same `iss`.
pub struct LogoutTokens {
    signer: Arc<TokenSigner>,
    clock: Arc<dyn Clock>,
}

impl LogoutTokens {
    /// Logout tokens signed by `signer`, dated by `clock`.
    pub fn new(signer: Arc<TokenSigner>, clock: Arc<dyn Clock>) -> Self {
        Self { signer, clock }
    }

    /// The claims of a logout token for `call`, signed now.
    fn claims(&self, call: &LogoutCall, jti: String) -> LogoutTokenClaims {
        let now = self.clock.now();
        LogoutTokenClaims {
            iss: self.signer.issuer().to_owned(),
            aud: call.client_id.clone(),
            iat: now.timestamp(),
            exp: (now + LOGOUT_TOKEN_TTL).timestamp(),
            jti,
            sub: call.sub.clone(),
            sid: call.sid.clone(),
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        }
    }
}

impl LogoutTokenSigner for LogoutTokens {
    fn logout_token(&self, call: &LogoutCall) -> Result<String, String> {
        let jti = crypto::random_token::<16>().map_err(|_| "no randomness for a logout token id".to_owned())?;
        let claims = self.claims(call, jti);
        match self.signer.sign_typed_as(call.alg, LOGOUT_TOKEN_TYPE, &claims) {
            None => Err(format!("JWT_KEYS holds no {} key on this instance", call.alg.as_str())),
            Some(Err(_)) => Err("the logout token could not be signed".to_owned()),
            Some(Ok(token)) => Ok(token),
        }
    }
}

/// Told when sessions end; queues a logout token for every app with a
/// `backchannel_logout_uri` that got tokens in each of them.
pub struct BackchannelListener {
    oidc: OidcService,
    logouts: Arc<BackchannelLogouts>,
}

impl BackchannelListener {
    /// A listener that finds clients through `oidc` and queues through `logouts`.
    pub fn new(oidc: OidcService, logouts: Arc<BackchannelLogouts>) -> Self {
        Self { oidc, logouts }
    }

    /// Queues the logouts for one ended session. Never fails: what cannot be read or queued is
    /// logged and counted.
    async fn session_ended(&self, user: &UserId, sid: &SessionId) {
        let clients = match self.oidc.store.take_session_clients(user, sid).await {
            Ok(clients) => clients,
            Err(e) => return self.logouts.lost("(unknown: the store did not answer)", &e),
        };
        for id in clients {
            let client = match self.oidc.client(&id).await {
                Ok(Some(client)) => client,
                // Removed since: nobody to tell.
                Ok(None) => continue,
                Err(e) => {
                    self.logouts.lost(&id, &e);
                    continue;
                }
            };
            let Some(url) = client.backchannel_logout_uri.clone() else { continue };
            let call = LogoutCall {
                url,
                client_id: client.id,
                alg: client.id_token_signed_response_alg,
                sub: user.clone(),
                sid: sid.clone(),
            };
            self.logouts.send(call).await;
        }
    }
}

#[async_trait]
impl SessionEndListener for BackchannelListener {
    async fn sessions_ended(&self, ended: &EndedSessions) {
        for sid in &ended.sids {
            self.session_ended(&ended.user, sid).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::session::{KeySet, SigningKey};

    fn call() -> LogoutCall {
        LogoutCall {
            url: "https://app.example/bcl".into(),
            client_id: "wiki".into(),
            alg: crate::session::SigningAlg::EdDsa,
            sub: UserId::generate().unwrap(),
            sid: SessionId::generate().unwrap(),
        }
    }

    #[test]
    fn a_logout_token_has_the_event_a_short_life_and_no_nonce() {
        let key = SigningKey::generate().unwrap();
        let signer = Arc::new(TokenSigner::new(KeySet::new(vec![key]).unwrap(), "https://login.example".into()));
        let tokens = LogoutTokens::new(signer, Arc::new(SystemClock));
        let call = call();
        let claims = serde_json::to_value(tokens.claims(&call, "j".into())).unwrap();
        assert_eq!(claims["events"], serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
        assert!(claims.get("nonce").is_none());
        assert_eq!(claims["sid"], call.sid.as_str());
        let token = tokens.logout_token(&call).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some(LOGOUT_TOKEN_TYPE));
        assert_ne!(token, tokens.logout_token(&call).unwrap(), "each attempt carries a new jti");
    }

    #[test]
    fn without_a_key_for_the_clients_algorithm_there_is_no_token_but_a_retry() {
        let key = SigningKey::generate().unwrap();
        let signer = Arc::new(TokenSigner::new(KeySet::new(vec![key]).unwrap(), "https://login.example".into()));
        let tokens = LogoutTokens::new(signer, Arc::new(SystemClock));
        let call = LogoutCall { alg: crate::session::SigningAlg::Rs256, ..call() };
        assert!(tokens.logout_token(&call).unwrap_err().contains("RS256"));
    }
}
