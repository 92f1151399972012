//! Starting, checking and ending sessions: a signed JWT plus an allow-list entry in the store.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::SessionCache;
use super::cache::Known;
use super::jwt::{JwtError, TimeClaims, TokenSigner};
use crate::clock::Clock;
use crate::crypto::{self, CryptoError};
use crate::domain::{Email, RequestOrigin, SessionId, UserId};
use crate::store::{SessionRecord, Store, StoreError, User};
use crate::store_guard::StoreGuard;

/// The claims of a session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionClaims {
    /// Issuer: `PUBLIC_URL`.
    pub iss: String,
    /// Audience: `PUBLIC_URL` (the token is for this service).
    pub aud: String,
    /// The user's stable id.
    pub sub: UserId,
    /// The user's address.
    pub email: Email,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// Session id (allow-listed in the store).
    pub sid: SessionId,
    /// Authentication methods used (RFC 8176).
    pub amr: Vec<String>,
    /// When the person authenticated.
    pub auth_time: i64,
}

impl TimeClaims for SessionClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn nbf(&self) -> i64 {
        self.nbf
    }
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// A session just started: the token for the cookie and how long the cookie should live.
pub struct IssuedSession {
    /// The signed JWT.
    pub token: SecretString,
    /// Cookie `Max-Age`.
    pub max_age: Duration,
    /// What the token says.
    pub claims: SessionClaims,
}

/// Why a session could not be started or accepted.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The token is not acceptable.
    #[error("invalid session token: {0}")]
    Invalid(#[from] JwtError),
    /// The token is fine but its session was ended (logout, revocation) or has lapsed.
    #[error("session is not live")]
    Revoked,
    /// The store did not answer; fail closed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness for ids.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl SessionError {
    /// The error as the store's: a store failure as it was, anything else as the store being
    /// unable to answer (for services whose callers speak `StoreError`).
    pub fn into_store_error(self) -> StoreError {
        match self {
            SessionError::Store(e) => e,
            other => StoreError::Unavailable(other.into()),
        }
    }
}

/// Sessions of one user that just ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSessions {
    /// Whose.
    pub user: UserId,
    /// The sessions ended (those the store listed just before, when all of them ended).
    pub sids: Vec<SessionId>,
    /// True when every session of the user ended (sign-out everywhere, an admin's revocation,
    /// a block, "this wasn't me"): what outlives one session ends too.
    pub all: bool,
    /// True when the sessions were ended from elsewhere (the account page's list, a new second
    /// factor ending the others, a reused refresh token, or with all the others): what they
    /// gave apps ends with them. False for a person signing out of the very session (their
    /// logout, or an app's RP-initiated logout): what it gave apps for offline use lives on.
    pub revoked: bool,
}

/// Told after sessions ended, whichever way they ended (what the OIDC side must undo: refresh
/// tokens, back-channel logout). Listeners queue their work; they do not fail the ending.
#[async_trait]
pub trait SessionEndListener: Send + Sync {
    /// `ended` just ended.
    async fn sessions_ended(&self, ended: &EndedSessions);
}

/// The session service.
pub struct SessionService {
    store: Arc<dyn Store>,
    signer: Arc<TokenSigner>,
    clock: Arc<dyn Clock>,
    cache: SessionCache,
    guard: Option<Arc<StoreGuard>>,
    listeners: RwLock<Vec<Arc<dyn SessionEndListener>>>,
}

impl SessionService {
    /// The service.
    pub fn new(store: Arc<dyn Store>, signer: Arc<TokenSigner>, clock: Arc<dyn Clock>, cache_ttl: Duration) -> Self {
        Self { store, signer, clock, cache: SessionCache::new(cache_ttl), guard: None, listeners: RwLock::default() }
    }

    /// Adds a listener told whenever sessions end (wired at start-up, after the services that
    /// listen are built).
    pub fn listen(&self, listener: Arc<dyn SessionEndListener>) {
        if let Ok(mut listeners) = self.listeners.write() {
            listeners.push(listener);
        }
    }

    async fn tell(&self, user: &UserId, sids: Vec<SessionId>, all: bool, revoked: bool) {
        if sids.is_empty() && !all {
            return;
        }
        let listeners = self.listeners.read().map(|l| l.clone()).unwrap_or_default();
        let ended = EndedSessions { user: user.clone(), sids, all, revoked: revoked || all };
        for listener in listeners {
            listener.sessions_ended(&ended).await;
        }
    }

    /// Checks every session against the store's identity and "not before" ([`StoreGuard`]):
    /// a token issued before it is refused, also when this instance's cache holds it.
    pub fn with_guard(mut self, guard: Arc<StoreGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Refuses claims issued before the store's "not before" (a restore from backup), and any
    /// session while the store cannot vouch for its data.
    async fn issued_after_not_before(&self, claims: &SessionClaims) -> Result<(), SessionError> {
        let Some(guard) = &self.guard else { return Ok(()) };
        let not_before = guard.check().await?;
        if claims.iat < not_before {
            return Err(SessionError::Revoked);
        }
        Ok(())
    }

    /// Starts a session for `user`: allow-lists a new `sid`, then signs the token.
    pub async fn start(
        &self,
        user: &User,
        amr: Vec<String>,
        origin: RequestOrigin,
        ttl: Duration,
    ) -> Result<IssuedSession, SessionError> {
        let now = self.clock.now();
        let std_ttl = ttl;
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12));
        let sid = SessionId::generate()?;
        let record = SessionRecord {
            user_id: user.id.clone(),
            sid: sid.clone(),
            created_at: now,
            expires_at: now + ttl,
            origin,
            factor_at: amr.iter().any(|m| m == "mfa").then_some(now),
            amr: amr.clone(),
            last_seen_at: now,
        };
        self.store.put_session(&record, std_ttl).await?;
        let claims = SessionClaims {
            iss: self.signer.issuer().to_owned(),
            aud: self.signer.issuer().to_owned(),
            sub: user.id.clone(),
            email: user.email.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + ttl).timestamp(),
            jti: crypto::random_token::<16>()?,
            sid,
            amr,
            auth_time: now.timestamp(),
        };
        let token = self.signer.sign(&claims)?;
        Ok(IssuedSession { token: SecretString::from(token), max_age: std_ttl, claims })
    }

    /// Accepts a token only if it verifies and its session is still allow-listed; notes when
    /// the session was last seen (at most once a minute, to keep reads cheap). A token accepted
    /// within `SESSION_CACHE_TTL` is taken from the cache; one accepted before that is not
    /// verified again (see [`SessionCache`]). Its time claims are checked at every use.
    pub async fn authenticate(&self, token: &str) -> Result<SessionClaims, SessionError> {
        let now = self.clock.now();
        let claims: SessionClaims = match self.cache.get(token) {
            Some(Known { claims, live }) => {
                TokenSigner::check_times(&claims, now)?;
                if live {
                    self.issued_after_not_before(&claims).await?;
                    return Ok(claims);
                }
                claims
            }
            None => self.signer.verify(token, self.signer.issuer(), now)?,
        };
        self.issued_after_not_before(&claims).await?;
        let read = self.cache.read_start();
        let mut record = self.store.get_session(&claims.sub, &claims.sid).await?.ok_or(SessionError::Revoked)?;
        if now - record.last_seen_at > chrono::Duration::seconds(60) {
            record.last_seen_at = now;
            self.store.touch_session(&record).await?;
        }
        self.cache.put(token, &claims, read);
        Ok(claims)
    }

    /// The allow-list entry behind verified claims (device, IP, times).
    pub async fn record(&self, claims: &SessionClaims) -> Result<Option<SessionRecord>, SessionError> {
        Ok(self.store.get_session(&claims.sub, &claims.sid).await?)
    }

    /// Every live session of the user these claims belong to, newest first.
    pub async fn list(&self, claims: &SessionClaims) -> Result<Vec<SessionRecord>, SessionError> {
        Ok(self.store.list_sessions(&claims.sub).await?)
    }

    /// Ends the session these claims belong to: its owner signing out of it.
    pub async fn end(&self, claims: &SessionClaims) -> Result<(), SessionError> {
        self.end_session(&claims.sub, &claims.sid, false).await.map(drop)
    }

    /// Ends one of the user's own sessions by id, from the account page's list (a revocation);
    /// returns whether it existed.
    pub async fn end_one(&self, claims: &SessionClaims, sid: &SessionId) -> Result<bool, SessionError> {
        self.end_session(&claims.sub, sid, true).await
    }

    /// Revokes `user`'s session `sid` (it was abused: a reused refresh token); returns whether
    /// it existed.
    pub async fn end_by_id(&self, user: &UserId, sid: &SessionId) -> Result<bool, SessionError> {
        self.end_session(user, sid, true).await
    }

    async fn end_session(&self, user: &UserId, sid: &SessionId, revoked: bool) -> Result<bool, SessionError> {
        // Forgotten here whatever the store answered: a delete that was made but not
        // confirmed by a replica (503) must not stay accepted from this instance's cache.
        let existed = self.store.delete_session(user, sid).await;
        self.cache.forget_session(sid);
        let existed = existed?;
        if existed {
            self.tell(user, vec![sid.clone()], false, revoked).await;
        }
        Ok(existed)
    }

    /// True when a second factor was used in this very session within `within` (the session
    /// record says when; the token's `amr` and `auth_time` are not enough, since they never
    /// change for a session that began email-only). False for an ended session.
    pub async fn factor_used_within(&self, claims: &SessionClaims, within: Duration) -> Result<bool, SessionError> {
        let Some(record) = self.store.get_session(&claims.sub, &claims.sid).await? else { return Ok(false) };
        let within = chrono::Duration::from_std(within).unwrap_or(chrono::Duration::zero());
        Ok(record.factor_at.is_some_and(|at| self.clock.now() - at <= within))
    }

    /// True when this session's sign-in was within `within` (the session record's start, which
    /// is the token's `auth_time`). False for an ended session.
    pub async fn began_within(&self, claims: &SessionClaims, within: Duration) -> Result<bool, SessionError> {
        let Some(record) = self.store.get_session(&claims.sub, &claims.sid).await? else { return Ok(false) };
        let within = chrono::Duration::from_std(within).unwrap_or(chrono::Duration::zero());
        Ok(self.clock.now() - record.created_at <= within)
    }

    /// Notes in the session's record that a second factor was just used in it. A touch racing
    /// this may write the record back without the note: the person is then asked again, never
    /// let through.
    pub async fn stamp_factor(&self, claims: &SessionClaims) -> Result<(), SessionError> {
        let mut record = self.store.get_session(&claims.sub, &claims.sid).await?.ok_or(SessionError::Revoked)?;
        record.factor_at = Some(self.clock.now());
        self.store.touch_session(&record).await?;
        Ok(())
    }

    /// After `user`'s address changed: ends every session of the account (their tokens carry
    /// the old address) and starts this browser's session (`claims`) again, under a new id and
    /// with the new address, keeping when and how it signed in, its second-factor time and its
    /// end. `None` when that session had ended, or is not `user`'s.
    pub async fn restart_for_new_address(
        &self,
        user: &User,
        claims: Option<&SessionClaims>,
    ) -> Result<Option<IssuedSession>, SessionError> {
        let mine = claims.filter(|c| c.sub == user.id);
        let record = match mine {
            Some(c) => self.store.get_session(&c.sub, &c.sid).await?,
            None => None,
        };
        self.end_user(&user.id).await?;
        let (Some(old), Some(claims)) = (record, mine) else { return Ok(None) };
        let now = self.clock.now();
        let Ok(left) = (old.expires_at - now).to_std() else { return Ok(None) };
        let sid = SessionId::generate()?;
        let record = SessionRecord { sid: sid.clone(), last_seen_at: now, ..old };
        self.store.put_session(&record, left).await?;
        let claims = SessionClaims {
            email: user.email.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: crypto::random_token::<16>()?,
            sid,
            ..claims.clone()
        };
        let token = self.signer.sign(&claims)?;
        Ok(Some(IssuedSession { token: SecretString::from(token), max_age: left, claims }))
    }

    /// Ends every session of the user except the one these claims belong to; returns the
    /// sessions ended.
    pub async fn end_others(&self, claims: &SessionClaims) -> Result<Vec<SessionId>, SessionError> {
        let mut ended = Vec::new();
        for session in self.store.list_sessions(&claims.sub).await? {
            if session.sid != claims.sid && self.store.delete_session(&claims.sub, &session.sid).await? {
                self.cache.forget_session(&session.sid);
                ended.push(session.sid);
            }
        }
        self.tell(&claims.sub, ended.clone(), false, true).await;
        Ok(ended)
    }

    /// Ends every session of the user these claims belong to; returns how many.
    pub async fn end_all(&self, claims: &SessionClaims) -> Result<usize, SessionError> {
        self.end_user(&claims.sub).await
    }

    /// Ends every session of `user` (logout everywhere, an admin's revocation, a block, "this
    /// wasn't me"); returns how many there were.
    pub async fn end_user(&self, user: &UserId) -> Result<usize, SessionError> {
        // Which sessions there were, for the listeners; a session started in between still
        // ends below, and every listener is told that all of the user's sessions ended.
        let sids = self.store.list_sessions(user).await.map(|l| l.into_iter().map(|s| s.sid).collect());
        let ended = self.store.delete_all_sessions(user).await;
        self.cache.forget_user(user);
        let ended = ended?;
        self.tell(user, sids.unwrap_or_default(), true, true).await;
        Ok(ended)
    }
}
