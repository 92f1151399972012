//! Refresh tokens (RFC 6749 §6, rotated as the OAuth 2.0 Security BCP §4.14 asks).
//!
//! A client registered with `offline_access` that was granted it gets a refresh token from the
//! authorization-code grant. Each grant starts a family (user, session, client, scope, expiry
//! from the client's `refresh_token_ttl_secs`). A token is `<user>.<family>.<secret>` (256
//! random bits of secret; clients treat it as opaque) and the store keeps only its keyed hash.
//! Every use spends the token and returns a new one; a spent token presented again revokes the
//! whole family, ends the session it came from, is audited and sent to the client's webhook.
//! Families end with every session of their user (sign-out everywhere, an admin's revocation,
//! a block, "this wasn't me": [`RefreshRevoker`]), not with a single logout.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::claims::IdTokenClaims;
use super::service::{ACCESS_TTL, OidcService};
use super::token::{TokenError, TokenForm, TokenResponse};
use crate::audit::{Audit, EventKind};
use crate::crypto;
use crate::domain::{Client, RequestOrigin, UserId};
use crate::session::{EndedSessions, SessionEndListener, SessionService};
use crate::store::{AccessGrant, AuthCode, RefreshFamily, Rotation, Store};

/// The scope that asks for a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The answer for a token that names no live family of this client.
const UNKNOWN: &str = "unknown, expired or revoked refresh token";

/// What the refresh grant needs besides the provider's own parts.
pub(super) struct RefreshDeps {
    sessions: Arc<SessionService>,
    audit: Arc<Audit>,
}

impl OidcService {
    /// Lets a reused refresh token end its family's session and be audited.
    pub fn with_refresh(mut self, sessions: Arc<SessionService>, audit: Arc<Audit>) -> Self {
        self.refresh = Some(RefreshDeps { sessions, audit });
        self
    }

    /// The store's id for a refresh token (a keyed hash: the store never holds the token).
    pub(super) fn refresh_id(&self, token: &str) -> String {
        self.keys.token.mac_b64(&[b"oidc-refresh", token.as_bytes()])
    }

    /// The id of the family an authorization code starts (a keyed hash of the code): a replay
    /// of the code finds the family to revoke with it (RFC 6749 §4.1.2).
    pub(super) fn code_family_id(&self, code: &str) -> String {
        let mut id = self.keys.token.mac_b64(&[b"oidc-refresh-family", code.as_bytes()]);
        id.truncate(22);
        id
    }

    /// Starts a refresh token family for a code grant that was granted `offline_access` by a
    /// client registered for it; returns its first token (`None` for other grants).
    pub(super) async fn start_refresh_family(
        &self,
        client: &Client,
        grant: &AuthCode,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, TokenError> {
        let asked = grant.scope.split_whitespace().any(|s| s == OFFLINE_ACCESS);
        if !asked || !client.scopes.iter().any(|s| s == OFFLINE_ACCESS) {
            return Ok(None);
        }
        let id = self.code_family_id(code);
        let token = new_token(&grant.user_id, &id)?;
        let ttl = client.refresh_token_ttl();
        let lifetime = i64::try_from(ttl).ok().and_then(chrono::Duration::try_seconds).unwrap_or(chrono::Duration::MAX);
        let family = RefreshFamily {
            id,
            user_id: grant.user_id.clone(),
            email: grant.email.clone(),
            sid: grant.sid.clone(),
            client_id: client.id.clone(),
            scope: grant.scope.clone(),
            auth_time: grant.auth_time,
            amr: grant.amr.clone(),
            created_at: now,
            expires_at: now.checked_add_signed(lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC),
        };
        let keep = std::time::Duration::from_secs(ttl);
        self.store.put_refresh_family(&family, &self.refresh_id(&token), keep).await?;
        // Every session of the user may have ended since the code's session was checked, with
        // the revocation of their families done before this one existed: look again.
        if self.store.get_session(&grant.user_id, &grant.sid).await?.is_none() {
            self.store.delete_refresh_family(&family.user_id, &family.id).await?;
            return Err(TokenError::InvalidGrant("the session this code was issued for has ended"));
        }
        Ok(Some(token))
    }

    /// `grant_type=refresh_token`: authenticates the client, checks the token's family (this
    /// client's, unexpired, issued after the store's "not before", the account not blocked),
    /// spends the token atomically and issues a new refresh token, access token and id_token.
    /// A client no longer registered for `offline_access` (or no longer registered) is refused.
    /// A spent token revokes its family and ends its session.
    pub async fn refresh(
        &self,
        form: &TokenForm,
        basic: Option<(String, String)>,
        origin: &RequestOrigin,
    ) -> Result<TokenResponse, TokenError> {
        // Read afresh, as before a session is issued: tokens come out of this.
        let not_before = match &self.guard {
            Some(guard) => guard.check_fresh().await?,
            None => i64::MIN,
        };
        let client = &self.authenticate_client(form, basic).await?;
        let presented = form.refresh_token.as_deref().ok_or(TokenError::InvalidRequest("refresh_token is missing"))?;
        let (user, family_id) = parse_token(presented).ok_or(TokenError::InvalidGrant(UNKNOWN))?;
        let family = self.store.get_refresh_family(&user, family_id).await?.ok_or(TokenError::InvalidGrant(UNKNOWN))?;
        if family.client_id != client.id {
            return Err(TokenError::InvalidGrant("refresh token was issued to another client"));
        }
        if !client.scopes.iter().any(|s| s == OFFLINE_ACCESS) {
            return Err(TokenError::InvalidGrant("the client is no longer registered for offline_access"));
        }
        let now = self.clock.now();
        if now >= family.expires_at {
            return Err(TokenError::InvalidGrant("refresh token expired"));
        }
        if family.created_at.timestamp() < not_before {
            tracing::info!(user = %user, "refresh refused: the family predates the store's restore");
            return Err(TokenError::InvalidGrant(UNKNOWN));
        }
        let scope = narrowed(&family.scope, form.scope.as_deref())?;
        let account = self.store.find_user(&family.email.lookup_key(&self.keys)).await?;
        if account.is_none_or(|u| u.blocked || u.id != family.user_id) {
            tracing::info!(user = %user, "refresh refused: the account is blocked");
            return Err(TokenError::InvalidGrant("the account cannot sign in"));
        }
        let next = new_token(&user, family_id)?;
        let (presented, next_id) = (self.refresh_id(presented), self.refresh_id(&next));
        // Everything that can fail is done before the token is spent, so that an app whose
        // refresh failed still holds a token that works (its retry is not a reuse).
        let (tokens, access_id) = self.refreshed_tokens(client, family, scope, next, now).await?;
        let rotation = self.store.rotate_refresh_token(&user, family_id, &client.id, &presented, &next_id).await?;
        let refused = match rotation {
            Rotation::Rotated(_) => return Ok(tokens),
            Rotation::Reused(family) => {
                self.refresh_reused(client, &family, origin).await;
                "refresh token already used: every token of its grant is revoked and its session ended"
            }
            Rotation::WrongClient => "refresh token was issued to another client",
            Rotation::Unknown => UNKNOWN,
        };
        // The access token made for this refresh is never handed out.
        self.store.delete_access_grant(&access_id).await?;
        Err(TokenError::InvalidGrant(refused))
    }

    /// The tokens of a refresh: the access token (stored; its store id is returned too) and
    /// the id_token (same `sub`, `sid`, `auth_time`; no nonce), with `refresh_token`.
    async fn refreshed_tokens(
        &self,
        client: &Client,
        family: RefreshFamily,
        scope: String,
        refresh_token: String,
        now: DateTime<Utc>,
    ) -> Result<(TokenResponse, String), TokenError> {
        let access_token = crypto::random_token::<32>().map_err(|e| TokenError::Server(e.into()))?;
        let ttl = chrono::Duration::from_std(ACCESS_TTL).unwrap_or(chrono::Duration::minutes(10));
        let access = AccessGrant {
            client_id: client.id.clone(),
            user_id: family.user_id.clone(),
            email: family.email.clone(),
            scope: scope.clone(),
            sid: family.sid.clone(),
            expires_at: now + ttl,
            refresh_family: Some(family.id.clone()),
        };
        let access_id = self.access_id(&access_token);
        self.store.put_access_grant(&access_id, &access, ACCESS_TTL).await?;
        let claims = IdTokenClaims {
            iss: self.signer.issuer().to_owned(),
            sub: family.user_id,
            aud: client.id.clone(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            auth_time: family.auth_time,
            nonce: None,
            email: family.email,
            email_verified: true,
            amr: family.amr,
            sid: family.sid,
        };
        let id_token = self.sign_id_token(client, &claims)?;
        let tokens = TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ACCESS_TTL.as_secs(),
            id_token,
            scope,
            refresh_token: Some(refresh_token),
        };
        Ok((tokens, access_id))
    }

    /// A spent refresh token came back (the store has revoked its family): someone holds a
    /// copy. Ends the session the family came from, audits, and tells the client.
    async fn refresh_reused(&self, client: &Client, family: &RefreshFamily, origin: &RequestOrigin) {
        tracing::warn!(
            client = %client.id, user = %family.user_id,
            "spent refresh token presented again: its family is revoked and its session ended"
        );
        if let Some(deps) = &self.refresh {
            match deps.sessions.end_by_id(&family.user_id, &family.sid).await {
                Ok(true) => self.notify_ended(&family.user_id, Some(&family.sid)).await,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, user = %family.user_id, "the session of a reused refresh token did not end");
                }
            }
            let detail = format!("client {}", client.id);
            deps.audit.record(EventKind::RefreshTokenReused, Some(&family.user_id), origin, &detail).await;
        }
        let data = serde_json::json!({ "sub": family.user_id, "sid": family.sid, "client_id": client.id });
        self.send_webhook(client, "user.refresh_token_reused", data).await;
    }
}

/// A new refresh token of `family`: `<user>.<family>.<256 random bits>`.
fn new_token(user: &UserId, family: &str) -> Result<String, TokenError> {
    let secret = crypto::random_token::<32>().map_err(|e| TokenError::Server(e.into()))?;
    Ok(format!("{user}.{family}.{secret}"))
}

/// The user and family a refresh token names, if it is shaped like one of ours.
pub(super) fn parse_token(token: &str) -> Option<(UserId, &str)> {
    let mut parts = token.split('.');
    let (user, family, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let id_like =
        |s: &str| (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if parts.next().is_some() || !id_like(family) || !id_like(secret) {
        return None;
    }
    Some((UserId::parse(user)?, family))
}

/// The scope of a refreshed access token: `asked` (RFC 6749 §6: only what the family was
/// granted; `openid` always), or the family's whole scope.
fn narrowed(granted: &str, asked: Option<&str>) -> Result<String, TokenError> {
    let asked: Vec<&str> = asked.unwrap_or_default().split_whitespace().collect();
    if asked.is_empty() {
        return Ok(granted.to_owned());
    }
    if asked.iter().any(|s| !granted.split_whitespace().any(|g| g == *s)) {
        return Err(TokenError::InvalidScope("scope asks for more than the refresh token was granted"));
    }
    let kept: Vec<&str> = granted.split_whitespace().filter(|g| *g == "openid" || asked.contains(g)).collect();
    Ok(kept.join(" "))
}

/// Revokes refresh token families when sessions are revoked: every family of a user when all
/// of their sessions end (sign-out everywhere, an admin's revocation, a block, "this wasn't
/// me"), and the families born in a session ended from elsewhere (the account page's list, a
/// new second factor ending the others). A person's own sign-out of a session leaves them:
/// offline access outlives the session it started in.
pub struct RefreshRevoker {
    store: Arc<dyn Store>,
}

impl RefreshRevoker {
    /// A revoker over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

impl RefreshRevoker {
    /// Revokes the families born in the ended sessions.
    async fn revoke_born_in(&self, ended: &EndedSessions) {
        let families = match self.store.list_refresh_families(&ended.user).await {
            Ok(families) => families,
            Err(e) => {
                tracing::error!(error = %e, user = %ended.user, "refresh tokens of revoked sessions not revoked");
                return;
            }
        };
        for family in families.iter().filter(|f| ended.sids.contains(&f.sid)) {
            if let Err(e) = self.store.delete_refresh_family(&ended.user, &family.id).await {
                tracing::error!(error = %e, user = %ended.user, "refresh tokens of a revoked session not revoked");
            }
        }
    }
}

#[async_trait]
impl SessionEndListener for RefreshRevoker {
    async fn sessions_ended(&self, ended: &EndedSessions) {
        if !ended.revoked {
            return;
        }
        if !ended.all {
            return self.revoke_born_in(ended).await;
        }
        match self.store.delete_refresh_families(&ended.user).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(user = %ended.user, families = n, "refresh tokens revoked with every session"),
            Err(e) => {
                tracing::error!(error = %e, user = %ended.user, "refresh tokens of a signed-out user not revoked")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_user_and_family_and_nothing_else_parses() {
        let user = UserId::generate().unwrap();
        let token = new_token(&user, "family-id-1").unwrap();
        assert_eq!(parse_token(&token), Some((user.clone(), "family-id-1")));
        assert_eq!(parse_token(&format!("{token}.x")), None);
        assert_eq!(parse_token("a.b"), None);
        assert_eq!(parse_token(&format!("{user}.fam{{x}}ly-id.secretsecret")), None);
    }

    #[test]
    fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
        let granted = "openid email offline_access";
        assert_eq!(narrowed(granted, None).unwrap(), granted);
        assert_eq!(narrowed(granted, Some("  ")).unwrap(), granted);
        assert_eq!(narrowed(granted, Some("email")).unwrap(), "openid email");
        assert_eq!(narrowed(granted, Some("openid offline_access")).unwrap(), "openid offline_access");
        assert!(matches!(narrowed(granted, Some("email profile")), Err(TokenError::InvalidScope(_))));
    }
}
