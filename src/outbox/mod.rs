//! The durable outbox: every mail, SMS and webhook a request asks for is written to the store
//! (a Redis Stream, or the memory queue) before the request answers, and delivered by a worker
//! in each instance, with retries, take-over of deliveries a dead instance held, and a
//! dead-letter list for what keeps failing. Delivery is at-least-once; the payload is sealed at
//! enqueue, so a retry sends exactly what was first meant (the same link, the same code).

mod couriers;
mod events;
mod logouts;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use couriers::{Couriers, Outcome, SignInRecipients};
pub use events::{AdminAlerts, Webhooks};
pub use logouts::{BackchannelLogouts, LogoutCall, LogoutTokenSigner};
pub use worker::{OutboxWorker, WorkerHandle};

use crate::clock::Clock;
use crate::crypto::{self, CryptoError, Keyring};
use crate::domain::{Email, PhoneNumber};
use crate::mail::{LoginMailFields, OutgoingMail};
use crate::store::{OutboxStore, QueuedJob, StoreError};
use crate::webhooks::WebhookCall;

/// The AEAD context jobs are sealed under.
const SEAL_CONTEXT: &str = "outbox";

/// A text message to send.
#[derive(Clone, Serialize, Deserialize)]
pub struct SmsMessage {
    /// The number.
    pub to: PhoneNumber,
    /// The text (holds the code).
    pub body: String,
}

/// What one delivery sends.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// A finished mail.
    Mail(OutgoingMail),
    /// A sign-in mail, rendered when it is sent, and sent only if its address may sign in
    /// (not a blocked account, not a new address the signup list leaves out): the request
    /// that queues it reads nothing of the account, so that it costs the same for every
    /// address in as few round trips to the store as it can. Its own kind, so that an instance
    /// of a version that checked when queueing ([`Job::LoginMail`]) does not send it unchecked
    /// during a rolling upgrade, but leaves it to another instance.
    SignInMail(LoginMailFields),
    /// A sign-in mail queued by an earlier version, which checked the address when it queued
    /// it (and queued a [`Job::Withheld`] in its place when it may not sign in). Delivered like
    /// [`Job::SignInMail`].
    LoginMail(LoginMailFields),
    /// A text message.
    Sms(SmsMessage),
    /// A webhook call.
    Webhook(WebhookCall),
    /// An OIDC back-channel logout token to post (signed when sent).
    BackchannelLogout(LogoutCall),
    /// Nothing to send: queued by an earlier version for a link request that gets no mail (a
    /// blocked account, an address outside the signup list), so that its store work was a
    /// mailed request's. The worker drops it.
    Withheld {
        /// Whom the request named (shown masked, like a mail's recipient).
        to: Email,
    },
}

impl Job {
    /// `mail`, `sms`, `webhook` or `backchannel_logout`: a metrics label and the admin view's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Mail(_) | Self::SignInMail(_) | Self::LoginMail(_) | Self::Withheld { .. } => "mail",
            Self::Sms(_) => "sms",
            Self::Webhook(_) => "webhook",
            Self::BackchannelLogout(_) => "backchannel_logout",
        }
    }

    /// The recipient, masked: what admins and logs may see.
    pub fn recipient(&self) -> String {
        match self {
            Self::Mail(OutgoingMail { to, .. })
            | Self::SignInMail(LoginMailFields { to, .. })
            | Self::LoginMail(LoginMailFields { to, .. })
            | Self::Withheld { to } => to.masked(),
            Self::Sms(sms) => sms.to.masked(),
            Self::Webhook(WebhookCall { url, .. }) | Self::BackchannelLogout(LogoutCall { url, .. }) => {
                url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "(unparsable URL)".to_owned())
            }
        }
    }
}

impl std::fmt::Debug for Job {
    // Bodies hold links, codes and secrets: never in Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("kind", &self.kind()).field("to", &self.recipient()).finish_non_exhaustive()
    }
}

/// A delivery could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The store did not take it.
    #[error("the outbox is unavailable")]
    Store(#[from] StoreError),
    /// It could not be sealed (no randomness).
    #[error("the delivery could not be sealed")]
    Seal(#[from] CryptoError),
    /// It could not be encoded.
    #[error("the delivery could not be encoded")]
    Encode(#[from] serde_json::Error),
}

/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(15 * 60);

/// The wait before attempt `tries + 1`, after `tries` failed: `base × 2^(tries−1)`, capped at
/// [`MAX_RETRY_DELAY`], then scaled by `jitter` (drawn from 0.5..=1.0) so instances that failed
/// together do not retry together.
pub fn backoff(base: Duration, tries: u32, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << tries.saturating_sub(1).min(20));
    doubled.min(MAX_RETRY_DELAY).mul_f64(jitter.clamp(0.5, 1.0))
}

/// The enqueue side: seals a job and writes it to the store.
pub struct Outbox {
    store: Arc<dyn OutboxStore>,
    keys: Arc<Keyring>,
    clock: Arc<dyn Clock>,
}

impl Outbox {
    /// An outbox writing to `store`.
    pub fn new(store: Arc<dyn OutboxStore>, keys: Arc<Keyring>, clock: Arc<dyn Clock>) -> Self {
        Self { store, keys, clock }
    }

    /// Queues `job`; returns once the store holds it, never waiting for delivery. A job not
    /// sent by `deliver_by` is given up on.
    pub async fn enqueue(&self, job: Job, deliver_by: Option<DateTime<Utc>>) -> Result<(), OutboxError> {
        let sealed = self.keys.sealer.seal(SEAL_CONTEXT, serde_json::to_string(&job)?.as_bytes())?;
        let queued = QueuedJob {
            handle: String::new(),
            holder: String::new(),
            id: crypto::random_token::<12>()?,
            kind: job.kind().to_owned(),
            to: job.recipient(),
            sealed,
            tries: 0,
            deliver_by: deliver_by.map(|t| t.timestamp()),
            queued_at: self.clock.now().timestamp_millis(),
            last_error: None,
        };
        self.store.push(&queued).await?;
        Ok(())
    }

    /// Queues a mail.
    pub async fn mail(&self, mail: OutgoingMail) -> Result<(), OutboxError> {
        self.enqueue(Job::Mail(mail), None).await
    }

    /// Queues a sign-in mail, pointless once its link has expired; the worker sends it only if
    /// its address may sign in then ([`Job::SignInMail`]).
    pub async fn sign_in_mail(&self, mail: LoginMailFields) -> Result<(), OutboxError> {
        let until = mail.expires_at;
        self.enqueue(Job::SignInMail(mail), Some(until)).await
    }
}

/// Opens a queued job's payload.
pub(crate) fn open(keys: &Keyring, queued: &QueuedJob) -> Option<Job> {
    let bytes = keys.sealer.open(SEAL_CONTEXT, &queued.sealed).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_is_capped() {
        let base = Duration::from_secs(2);
        assert_eq!(backoff(base, 1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(base, 2, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(base, 5, 1.0), Duration::from_secs(32));
        assert_eq!(backoff(base, 30, 1.0), MAX_RETRY_DELAY);
        assert_eq!(backoff(base, u32::MAX, 1.0), MAX_RETRY_DELAY);
    }

    #[test]
    fn jitter_takes_off_at_most_half() {
        let base = Duration::from_secs(8);
        assert_eq!(backoff(base, 1, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(base, 1, 0.0), Duration::from_secs(4), "clamped to half");
        assert_eq!(backoff(base, 1, 7.0), Duration::from_secs(8), "clamped to whole");
    }

    #[test]
    fn a_job_debug_shows_no_body() {
        let job = Job::Sms(SmsMessage {
            to: PhoneNumber::parse("+447700900123").unwrap(),
            body: "123456 is your code".to_owned(),
        });
        let debug = format!("{job:?}");
        assert!(!debug.contains("123456"), "{debug}");
        assert!(!debug.contains("+447700900123"), "{debug}");
    }

    #[test]
    fn a_sealed_job_opens_only_with_the_same_key() {
        let keys = crypto::SecretKey::new(vec![7; 32]).derive();
        let other = crypto::SecretKey::new(vec![8; 32]).derive();
        let job = Job::Webhook(WebhookCall {
            url: "https://app.example/hook".into(),
            secret: "s3cret".into(),
            event_id: "e1".into(),
            body: "{}".into(),
        });
        let sealed = keys.sealer.seal(SEAL_CONTEXT, serde_json::to_string(&job).unwrap().as_bytes()).unwrap();
        assert!(!sealed.contains("s3cret"));
        let queued = QueuedJob {
            handle: String::new(),
            holder: String::new(),
            id: "x".into(),
            kind: "webhook".into(),
            to: job.recipient(),
            sealed,
            tries: 0,
            deliver_by: None,
            queued_at: 0,
            last_error: None,
        };
        assert!(matches!(open(&keys, &queued), Some(Job::Webhook(call)) if call.secret == "s3cret"));
        assert!(open(&other, &queued).is_none());
        assert_eq!(queued.to, "app.example");
    }

    #[tokio::test]
    async fn a_sign_in_mail_is_queued_small_sealed_and_rendered_in_its_language_when_sent() {
        use crate::clock::SystemClock;
        use crate::config::Brand;
        use crate::domain::Email;
        use crate::i18n::Lang;
        use crate::store::MemoryQueue;

        let keys = Arc::new(crypto::SecretKey::new(vec![7; 32]).derive());
        let queue = Arc::new(MemoryQueue::new());
        let outbox = Outbox::new(queue.clone(), keys.clone(), Arc::new(SystemClock));
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T13:50:00Z").unwrap().with_timezone(&Utc);
        let link = "https://login.example/login/verify?token=T0KEN-abcdefghijklmnopqrstuvwxyz012345";
        let fields = LoginMailFields {
            to: Email::parse("ada@example.com").unwrap(),
            lang: Lang::De,
            link: link.to_owned(),
            code: "K7PM-2QXR".to_owned(),
            expires_at: at + chrono::Duration::minutes(15),
            ip: "203.0.113.9".to_owned(),
            browser: "Firefox on Linux".to_owned(),
            requested_at: at,
            app: None,
        };
        outbox.sign_in_mail(fields).await.unwrap();

        let queued = queue.claim("test", 10, Duration::ZERO).await.unwrap();
        assert_eq!(queued.len(), 1);
        let job = &queued[0];
        assert_eq!((job.kind.as_str(), job.to.as_str()), ("mail", "a***@e***.com"));
        assert_eq!(job.deliver_by, Some((at + chrono::Duration::minutes(15)).timestamp()));
        assert!(!job.sealed.contains("T0KEN") && !job.sealed.contains("K7PM"), "sealed");
        // What the queue holds is the fields, not two rendered bodies (those are ~3 KB).
        assert!(job.sealed.len() < 1024, "{} bytes queued", job.sealed.len());

        let Some(Job::SignInMail(fields)) = open(&keys, job) else { panic!("not a sign-in mail") };
        // Its own kind, which versions that checked the address when queueing cannot open (they
        // leave it to a newer instance instead of sending it unchecked); theirs still open.
        let json = serde_json::to_value(Job::SignInMail(fields.clone())).unwrap();
        assert_eq!(json["kind"], "sign_in_mail");
        let mut older = json.clone();
        older["kind"] = "login_mail".into();
        assert!(matches!(serde_json::from_value(older), Ok(Job::LoginMail(_))));
        let withheld = serde_json::json!({ "kind": "withheld", "to": "ada@example.com" });
        assert!(matches!(serde_json::from_value(withheld), Ok(Job::Withheld { .. })));
        let mail = fields.render(&Brand::new("Acme Login", None), "login.example").unwrap();
        assert_eq!(mail.to.as_str(), "ada@example.com");
        assert_eq!(mail.subject, Lang::De.messages().mail_subject);
        for body in [&mail.text, &mail.html] {
            assert!(body.contains("K7PM-2QXR"), "code in {body}");
            assert!(body.contains("Acme Login"), "brand in {body}");
            assert!(body.contains("in 15 Minuten ab (um 14:05 UTC)"), "lifetime and expiry in {body}");
            assert!(body.contains("login.example"), "site in {body}");
        }
        assert!(mail.text.contains(link), "link in the text part");
        assert!(mail.html.contains("token=T0KEN-abcdefghijklmnopqrstuvwxyz012345"), "link in the HTML part");
    }
}
