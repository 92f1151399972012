//! The sign-in service and requesting links.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::binding;
use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::Brand;
use crate::crypto::{CryptoError, Keyring};
use crate::dns::MailDomains;
use crate::domain::{
    AttemptId, CrossDevice, Email, EventKind, LinkToken, LocalPath, MatchNumber, RequestOrigin, ShortCode,
};
use crate::i18n::Lang;
use crate::mail::LoginMailFields;
use crate::outbox::{Outbox, OutboxError};
use crate::policy::PolicySource;
use crate::ratelimit::{LimitError, LimitedAction, RateLimiter};
use crate::second_factor::service::{SecondFactorError, SecondFactorService};
use crate::session::{IssuedSession, SessionError, SessionService};
use crate::store::{LinkAttempt, Store, StoreError, new_link_generation};

/// How long a used or expired attempt is remembered after the link's TTL, so that a late
/// click gets "this link was used" or "this link expired" rather than "unknown link".
pub(super) const REMEMBER_AFTER_EXPIRY: Duration = Duration::from_secs(3600);

/// Wrong codes an attempt survives; the next ends it.
pub const MAX_CODE_TRIES: u32 = 5;

/// Why a link (or its code) cannot be used. Each has its own page; none sets a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// Never issued, mistyped, or forgotten long ago.
    Unknown,
    /// Issued for this address but past its expiry.
    Expired(Email),
    /// Issued for this address and already used.
    Used(Email),
    /// A newer link for the address replaced it, or a sign-in since made it void.
    Superseded(Email),
    /// Ended by too many wrong codes.
    Dead(Email),
}

/// Why a sign-in step failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The link cannot be used.
    #[error("link cannot be used")]
    Link(LinkProblem),
    /// Opened in another browser: finish with the code from the mail (policy permitting).
    #[error("this browser must enter the code")]
    NeedsCode(Box<LinkAttempt>),
    /// The code was wrong; this many tries are left.
    #[error("wrong code")]
    WrongCode(u32),
    /// What was typed cannot be a code (no try is spent).
    #[error("not a code")]
    MalformedCode,
    /// Another device typed a wrong number (policy `approve`): the attempt is over.
    #[error("wrong number")]
    WrongNumber(Email),
    /// What was typed cannot be the number (no guess is spent).
    #[error("not a number")]
    MalformedNumber,
    /// Too many requests; try again after this long.
    #[error("rate limited")]
    RateLimited(Duration),
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
    /// No second-factor step is waiting for this browser (expired, used, or too many wrong
    /// codes): start again.
    #[error("no pending second-factor step")]
    NoPendingStep,
    /// The second-factor code was wrong; this many tries are left.
    #[error("wrong second-factor code")]
    WrongSecondFactor(u32),
    /// A second-factor operation failed.
    #[error(transparent)]
    Mfa(SecondFactorError),
    /// The account has a kind of second factor whose data the store lacks: no session with
    /// fewer factors; an administrator has to look.
    #[error("a second factor of the account is missing from the store")]
    FactorMissing,
    /// The address's domain cannot receive mail (`MAIL_DOMAIN_CHECK=refuse`): nothing is sent.
    #[error("the address's domain cannot receive mail")]
    NoMailDomain,
}

impl From<SecondFactorError> for SignInError {
    fn from(e: SecondFactorError) -> Self {
        match e {
            SecondFactorError::Store(e) => Self::Store(e),
            SecondFactorError::Crypto(e) => Self::Crypto(e),
            other => Self::Mfa(other),
        }
    }
}

impl From<LimitError> for SignInError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Exceeded(retry_after) => Self::RateLimited(retry_after),
            LimitError::Store(e) => Self::Store(e),
        }
    }
}

/// A link was issued: the requesting browser's binding cookie.
pub struct LinkRequested {
    /// `__Host-attempt` value.
    pub attempt_cookie: String,
    /// Its lifetime (the link's).
    pub cookie_ttl: Duration,
    /// Policy `approve`: the number this browser shows for another device to type.
    pub number: Option<MatchNumber>,
}

/// Where a redeemed link leads.
pub enum SignInOutcome {
    /// Signed in.
    Done(Box<NewSession>),
    /// A second factor (or its enrollment) comes first: the `__Host-pending` cookie value.
    SecondFactor {
        /// `__Host-pending` value.
        cookie: String,
        /// Its lifetime.
        ttl: Duration,
    },
}

/// A finished sign-in.
pub struct NewSession {
    /// The new session.
    pub session: IssuedSession,
    /// Where to go now.
    pub return_to: LocalPath,
}

/// The sign-in service.
pub struct SignIn {
    pub(super) store: Arc<dyn Store>,
    pub(super) outbox: Arc<Outbox>,
    pub(super) sessions: Arc<SessionService>,
    pub(super) limiter: Arc<RateLimiter>,
    pub(super) keyring: Arc<Keyring>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) second_factors: Arc<SecondFactorService>,
    pub(super) policy: Arc<PolicySource>,
    pub(super) admins: Vec<Email>,
    pub(super) audit: Arc<Audit>,
    pub(super) public_url: Url,
    pub(super) brand: Brand,
    pub(super) mail_sender: String,
    /// `MAIL_DOMAIN_CHECK`: whether the address's domain can receive mail.
    pub(super) mail_domains: Option<Arc<MailDomains>>,
}

/// What [`SignIn::new`] needs.
pub struct SignInDeps {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Where mail goes.
    pub outbox: Arc<Outbox>,
    /// Sessions.
    pub sessions: Arc<SessionService>,
    /// Rate limits.
    pub limiter: Arc<RateLimiter>,
    /// Keys derived from SECRET_KEY.
    pub keyring: Arc<Keyring>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Second factors.
    pub second_factors: Arc<SecondFactorService>,
    /// The shared policy.
    pub policy: Arc<PolicySource>,
    /// `ADMIN_EMAILS`: always asked for a second factor.
    pub admins: Vec<Email>,
    /// The audit log.
    pub audit: Arc<Audit>,
    /// How the mails are branded.
    pub brand: Brand,
    /// `MAIL_FROM`'s address (the webmail button searches for mail from it).
    pub mail_sender: String,
}

impl SignIn {
    /// A service whose links are built on `public_url`.
    pub fn new(deps: SignInDeps, public_url: Url) -> Self {
        let SignInDeps {
            store,
            outbox,
            sessions,
            limiter,
            keyring,
            clock,
            second_factors,
            policy,
            admins,
            audit,
            brand,
            mail_sender,
        } = deps;
        Self {
            store,
            outbox,
            sessions,
            limiter,
            keyring,
            clock,
            second_factors,
            policy,
            admins,
            audit,
            public_url,
            brand,
            mail_sender,
            mail_domains: None,
        }
    }

    /// Checks each address's domain with `domains` before a link is issued.
    pub fn with_mail_domains(self, domains: Arc<MailDomains>) -> Self {
        Self { mail_domains: Some(domains), ..self }
    }

    /// Issues a link and a code for `email` and queues the mail, written in `lang`. The outcome (and the work
    /// done) is the same for every well-formed address; only the rate limits refuse.
    pub async fn request_link(
        &self,
        email: Email,
        return_to: Option<LocalPath>,
        origin: RequestOrigin,
        require_second_factor: bool,
        lang: Lang,
    ) -> Result<LinkRequested, SignInError> {
        self.request_link_for_app(email, return_to, origin, require_second_factor, lang, None).await
    }

    /// [`SignInService::request_link`] for a sign-in into the registered app named `app`
    /// (looked up by the caller from the authorization request it returns to): the mail
    /// names the app.
    pub async fn request_link_for_app(
        &self,
        email: Email,
        return_to: Option<LocalPath>,
        origin: RequestOrigin,
        require_second_factor: bool,
        lang: Lang,
        app: Option<String>,
    ) -> Result<LinkRequested, SignInError> {
        let order = LinkOrder { return_to, require_second_factor, lang, app, numbered: true };
        self.issue_link(email, origin, order).await
    }

    /// [`SignIn::request_link_for_app`] for a native app, which finishes with the mailed code
    /// in the app: it has no cookie an approval could reach and no page to show a number on,
    /// so under policy `approve` its link opened elsewhere offers the code, as under `code`.
    pub async fn request_native_link(
        &self,
        email: Email,
        origin: RequestOrigin,
        lang: Lang,
        app: String,
    ) -> Result<LinkRequested, SignInError> {
        let order = LinkOrder { return_to: None, require_second_factor: false, lang, app: Some(app), numbered: false };
        self.issue_link(email, origin, order).await
    }

    async fn issue_link(
        &self,
        email: Email,
        origin: RequestOrigin,
        order: LinkOrder,
    ) -> Result<LinkRequested, SignInError> {
        let LinkOrder { return_to, require_second_factor, lang, app, numbered } = order;
        // Every refusal is decided first, before anything about the account is read: a 429
        // costs the same for every address.
        self.check_link_limits(&email, &origin).await?;
        // The domain's verdict depends on the domain alone (cached per domain) and comes before
        // anything about the account is read.
        if let Some(domains) = &self.mail_domains {
            domains.check(&email).await.map_err(|_| SignInError::NoMailDomain)?;
        }
        let email_lookup = self.email_lookup(&email);
        let policy = self.policy.current().await?;
        // Nothing of the account is read here: whether the address may have a mail (a blocked
        // account, a new address the signup list leaves out get none) is decided when the
        // worker sends it (`Job::SignInMail`). So the new generation, the attempt and the
        // queued mail are the same store work for every address, and nothing here waits for an
        // account. A link that supersedes the earlier ones draws its generation here and writes
        // it beside the attempt; otherwise it takes the address's current one.
        let superseding = policy.supersede.then(new_link_generation);
        let generation = match superseding {
            Some(generation) => generation,
            None => self.store.link_generation(&email_lookup).await?,
        };
        let link_ttl = policy.link_ttl();
        let now = self.clock.now();
        let ttl = chrono::Duration::from_std(link_ttl).unwrap_or(chrono::Duration::minutes(15));
        let token = LinkToken::generate()?;
        let code = ShortCode::generate()?;
        let id = token.attempt_id(&self.keyring.token);
        let browser = binding::create(&id, &self.keyring.token)?;
        let number =
            if numbered && policy.cross_device == CrossDevice::Approve { Some(MatchNumber::generate()?) } else { None };
        let attempt = LinkAttempt {
            email: email.clone(),
            return_to: return_to.unwrap_or_else(LocalPath::account),
            requested_from: origin,
            created_at: now,
            expires_at: now + ttl,
            browser: browser.proof,
            code: self.code_hash(&id, &code),
            email_lookup,
            generation,
            require_second_factor,
            number,
        };
        // Queued as fields and rendered by the worker that sends it: the request pays for
        // neither the rendering nor a queue entry holding both bodies.
        let mail = LoginMailFields {
            to: email.clone(),
            lang,
            link: self.link_url(&token).into(),
            code: code.display(),
            expires_at: attempt.expires_at,
            ip: attempt.requested_from.ip_text(),
            browser: attempt.requested_from.browser(),
            requested_at: now,
            app,
        };
        // The generation, the attempt and the mail depend on none of the others' answers, so
        // they share a round trip to the store. If the attempt is not stored the request fails,
        // and its mail (if queued) holds a link that answers "unknown link"; if the generation
        // is not, the link answers "superseded" (the address's generation is not its own). The
        // worker reads the account and talks SMTP before a mail leaves, long after the writes
        // have landed.
        let supersede = async {
            match superseding {
                Some(generation) => self.store.supersede_links(&attempt.email_lookup, generation).await,
                None => Ok(()),
            }
        };
        let (superseded, stored, queued) = tokio::join!(
            supersede,
            self.store.put_attempt(&id, &attempt, link_ttl + REMEMBER_AFTER_EXPIRY),
            self.outbox.sign_in_mail(mail)
        );
        superseded?;
        stored?;
        queued?;
        // No audit event for a link request (the audit log keeps sign-ins, failures, factor and
        // admin events): it is counted in the metrics, the same for every address.
        self.audit.count(EventKind::LinkRequested);
        tracing::info!(email = %email.masked(), "sign-in link issued");
        Ok(LinkRequested { attempt_cookie: browser.cookie, cookie_ttl: link_ttl, number })
    }

    /// The limits on asking for a link, none of which reads the account: per client network,
    /// per (mailbox, client network), then per mailbox, counted in that order in one store call
    /// that stops at the first refusal. The mailbox folds `+tag`s, so `ann+1@…` and `ann+2@…`
    /// share one budget. Its ceiling is counted only once the network's two limits have passed,
    /// so one network cannot spend a person's whole budget: the person, asking from their own
    /// network, still gets a link while another network floods.
    async fn check_link_limits(&self, email: &Email, origin: &RequestOrigin) -> Result<(), SignInError> {
        let mailbox = email.mailbox();
        let network = self.limiter.client(origin.ip);
        let pair = format!("{mailbox}\n{network}");
        let hits = [
            (LimitedAction::LoginPerIp, network.as_str()),
            (LimitedAction::LoginPerEmailNetwork, pair.as_str()),
            (LimitedAction::LoginPerEmail, mailbox.as_str()),
        ];
        self.limiter.hit_in_order(&hits).await?;
        Ok(())
    }

    /// Records an event about the attempt's account — in that account's own log too, when the
    /// account exists (a first sign-in has none yet). Never fails.
    pub(super) async fn record_for(
        &self,
        kind: EventKind,
        attempt: &LinkAttempt,
        origin: &RequestOrigin,
        detail: &str,
    ) {
        let user = self.store.find_user(&attempt.email_lookup).await.ok().flatten().map(|u| u.id);
        self.audit.record(kind, user.as_ref(), origin, detail).await;
    }

    /// The keyed hash that stands for an address in store keys.
    pub(super) fn email_lookup(&self, email: &Email) -> String {
        email.lookup_key(&self.keyring)
    }

    /// The stored form of a code: bound to its attempt, keyed, never the code itself.
    pub(super) fn code_hash(&self, id: &AttemptId, code: &ShortCode) -> String {
        self.keyring.token.mac_b64(&[b"code", id.as_str().as_bytes(), code.normalised().as_bytes()])
    }

    /// `PUBLIC_URL` + `/login/verify?token=…` — never built from request headers.
    fn link_url(&self, token: &LinkToken) -> Url {
        let mut url = self.public_url.clone();
        url.set_path("/login/verify");
        url.query_pairs_mut().clear().append_pair("token", token.expose());
        url
    }
}

/// What a link is asked for, beside the address and where the request came from.
struct LinkOrder {
    return_to: Option<LocalPath>,
    require_second_factor: bool,
    /// The mail's language.
    lang: Lang,
    /// The app the mail names.
    app: Option<String>,
    /// Under policy `approve`, whether the attempt gets a number to be approved with (a
    /// browser that asked: yes; a native app: no).
    numbered: bool,
}
