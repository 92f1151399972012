//! Requesting and redeeming sign-in links.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::clock::Clock;
use crate::crypto::{CryptoError, Keyring};
use crate::domain::{Email, LinkToken, LocalPath, RequestOrigin};
use crate::mail::{LoginMail, Outbox, OutboxError};
use crate::session::{IssuedSession, SessionError, SessionService};
use crate::store::{LinkAttempt, Redemption, Store, StoreError};

/// How long a used or expired attempt is remembered after the link's TTL, so that a late
/// click gets "this link was used" or "this link expired" rather than "unknown link".
const REMEMBER_AFTER_EXPIRY: Duration = Duration::from_secs(3600);

/// Why a link cannot be used. Each has its own page; none sets a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// Never issued, mistyped, or forgotten long ago.
    Unknown,
    /// Issued for this address but past its expiry.
    Expired(Email),
    /// Issued for this address and already used.
    Used(Email),
}

/// Why a sign-in step failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The link cannot be used.
    #[error("link cannot be used")]
    Link(LinkProblem),
    /// The store did not answer; fail closed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mail could not be queued.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// No randomness.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The session could not be started.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A mail template failed to render (a bug).
    #[error("mail template failed")]
    Template(#[from] askama::Error),
}

/// A finished sign-in.
pub struct SignedIn {
    /// The new session.
    pub session: IssuedSession,
    /// Where to go now.
    pub return_to: LocalPath,
}

/// The sign-in service.
pub struct SignIn {
    store: Arc<dyn Store>,
    outbox: Arc<dyn Outbox>,
    sessions: Arc<SessionService>,
    keys: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    link_ttl: Duration,
    public_url: Url,
}

impl SignIn {
    /// A service issuing links valid for `link_ttl`, built on `public_url`.
    pub fn new(
        store: Arc<dyn Store>,
        outbox: Arc<dyn Outbox>,
        sessions: Arc<SessionService>,
        keys: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        link_ttl: Duration,
        public_url: Url,
    ) -> Self {
        Self { store, outbox, sessions, keys, clock, link_ttl, public_url }
    }

    /// Issues a link for `email` and queues the mail. Returns once the mail is queued; the
    /// outcome is the same for every well-formed address.
    pub async fn request_link(
        &self,
        email: Email,
        return_to: Option<LocalPath>,
        origin: RequestOrigin,
    ) -> Result<(), SignInError> {
        let now = self.clock.now();
        let ttl = chrono::Duration::from_std(self.link_ttl).unwrap_or(chrono::Duration::minutes(15));
        let token = LinkToken::generate()?;
        let attempt = LinkAttempt {
            email: email.clone(),
            return_to: return_to.unwrap_or_else(LocalPath::account),
            requested_from: origin,
            created_at: now,
            expires_at: now + ttl,
        };
        self.store
            .put_attempt(&token.attempt_id(&self.keys.token), &attempt, self.link_ttl + REMEMBER_AFTER_EXPIRY)
            .await?;

        let link = self.link_url(&token);
        let mail = LoginMail {
            link: link.as_str(),
            minutes: self.link_ttl.as_secs().div_ceil(60),
            expires_at: &attempt.expires_at.format("%H:%M UTC").to_string(),
            ip: &attempt.requested_from.ip_text(),
            browser: &attempt.requested_from.browser(),
            requested_at: &now.format("%Y-%m-%d %H:%M UTC").to_string(),
            site: self.public_url.host_str().unwrap_or("latchkey"),
        }
        .render(email.clone())?;
        self.outbox.enqueue(mail).await?;
        tracing::info!(email = %email.masked(), "sign-in link issued");
        Ok(())
    }

    /// The attempt behind a link, without consuming it (mail scanners follow GET links).
    pub async fn preview(&self, token: &LinkToken) -> Result<LinkAttempt, SignInError> {
        let state = self.store.peek_attempt(&token.attempt_id(&self.keys.token), self.clock.now()).await?;
        usable(state)
    }

    /// Consumes the link and starts a session. Of concurrent redemptions of one link on any
    /// instances, exactly one succeeds.
    pub async fn redeem(&self, token: &LinkToken, origin: RequestOrigin) -> Result<SignedIn, SignInError> {
        let now = self.clock.now();
        let state = self.store.redeem_attempt(&token.attempt_id(&self.keys.token), now).await?;
        let attempt = usable(state)?;
        let lookup = self.keys.lookup.mac_b64(&[b"email", attempt.email.as_str().as_bytes()]);
        let user = self.store.find_or_create_user(&lookup, &attempt.email, now).await?;
        let session = self.sessions.start(&user, vec!["email".to_owned()], origin).await?;
        tracing::info!(user = %user.id, "signed in with a link");
        Ok(SignedIn { session, return_to: attempt.return_to })
    }

    /// `PUBLIC_URL` + `/login/verify?token=…` — never built from request headers.
    fn link_url(&self, token: &LinkToken) -> Url {
        let mut url = self.public_url.clone();
        url.set_path("/login/verify");
        url.query_pairs_mut().clear().append_pair("token", token.expose());
        url
    }
}

/// A pending attempt, or the problem that stops it.
fn usable(state: Option<Redemption>) -> Result<LinkAttempt, SignInError> {
    match state {
        Some(Redemption::Valid(attempt)) => Ok(attempt),
        Some(Redemption::Used(attempt)) => Err(SignInError::Link(LinkProblem::Used(attempt.email))),
        Some(Redemption::Expired(attempt)) => Err(SignInError::Link(LinkProblem::Expired(attempt.email))),
        None => Err(SignInError::Link(LinkProblem::Unknown)),
    }
}
