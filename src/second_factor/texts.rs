//! Texted codes: verifying a phone, and the code a sign-in step or "confirm it's you" sends to
//! the verified phone, with the limits that stop SMS pumping.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::service::{Priority, SecondFactorError, SecondFactorService};
use crate::crypto::{self, CryptoError};
use crate::domain::{AllowedCountries, PhoneNumber, UserId};
use crate::i18n::Lang;
use crate::outbox::{AdminAlerts, Job, Outbox, OutboxError, SmsMessage};
use crate::ratelimit::{Hit, LimitedAction, RateLimiter};
use crate::store::{ChallengeKey, SmsChallenge};

/// Sending SMS codes: the provider, the countries it may text, and the limits on it.
pub struct SmsGateway {
    /// Where texts are queued (the worker sends them through the provider).
    pub outbox: Arc<Outbox>,
    /// `SMS_ALLOWED_COUNTRIES`.
    pub allowed: AllowedCountries,
    /// Per-number, per-IP, per-account and service-wide send limits.
    pub limiter: Arc<RateLimiter>,
    /// Outcome and latency counters.
    pub metrics: Arc<crate::audit::Metrics>,
    /// The operators' webhook, told when texts pause.
    pub alerts: Arc<AdminAlerts>,
}

/// How long an SMS code works.
pub const SMS_CODE_TTL: Duration = Duration::from_secs(300);
/// How long before the same code may be sent again.
pub const SMS_RESEND_AFTER: Duration = Duration::from_secs(30);
/// Wrong SMS codes a phone verification survives.
pub const SMS_MAX_TRIES: u32 = 5;

/// Where a text goes, which decides the limits it counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextTo {
    /// A number being verified (phone enrollment): also counted per account, since pumping
    /// is texting many numbers through one account.
    NewNumber,
    /// The account's verified phone (sign-in steps, "confirm it's you"): limited per number,
    /// per network and service-wide, not per account, so signing in by SMS is not rationed.
    VerifiedPhone,
}

pub(super) fn phone_context(user: &UserId) -> String {
    format!("phone:{user}")
}

impl SecondFactorService {
    /// True when an SMS provider is configured.
    pub fn sms_configured(&self) -> bool {
        self.sms.is_some()
    }

    /// Texts a code to verify `phone` as the user's second factor, in `lang`.
    pub async fn start_phone_enrollment(
        &self,
        user: &UserId,
        phone: &PhoneNumber,
        ip: Option<IpAddr>,
        lang: Lang,
    ) -> Result<(), SecondFactorError> {
        let key = ChallengeKey::PhoneEnrollment(user.clone());
        let sealed = self.keys.sealer.seal(&phone_context(user), phone.as_str().as_bytes())?;
        self.send_code(&key, user, user.as_str(), phone, Some(sealed), ip, TextTo::NewNumber, lang).await
    }

    /// Checks the code texted to the new phone; the phone is then the user's second factor.
    pub async fn confirm_phone(&self, user: &UserId, typed: &str) -> Result<String, SecondFactorError> {
        self.guard(user).await?;
        let key = ChallengeKey::PhoneEnrollment(user.clone());
        let (challenge, _) =
            self.store.take_challenge_try(&key, SMS_MAX_TRIES).await?.ok_or(SecondFactorError::NothingPending)?;
        if !self.counted(user, self.code_matches(&challenge, user.as_str(), typed)).await? {
            return Err(SecondFactorError::WrongCode);
        }
        if !self.store.delete_challenge(&key).await? {
            return Err(SecondFactorError::NothingPending);
        }
        let sealed = challenge.phone.ok_or(SecondFactorError::NothingPending)?;
        let phone = self.open_phone(user, &sealed)?;
        self.change_factors(user, Priority::High, |factors| {
            factors.phone = Some(sealed.clone());
            factors.phone_masked = Some(phone.masked());
            Ok::<_, SecondFactorError>(())
        })
        .await?;
        tracing::info!(user = %user, phone = %phone.masked(), "phone verified");
        Ok(phone.masked())
    }

    /// Texts a sign-in code to the user's verified phone, for the pending step `pending_id`.
    /// Returns the masked number it went to. The text is in `lang`.
    pub async fn send_login_code(
        &self,
        user: &UserId,
        pending_id: &str,
        ip: Option<IpAddr>,
        lang: Lang,
    ) -> Result<String, SecondFactorError> {
        let factors = self.store.get_factors(user).await?;
        let sealed = factors.phone.ok_or(SecondFactorError::SmsDisabled)?;
        let phone = self.open_phone(user, &sealed)?;
        let key = ChallengeKey::Login(pending_id.to_owned());
        self.send_code(&key, user, pending_id, &phone, None, ip, TextTo::VerifiedPhone, lang).await?;
        Ok(phone.masked())
    }

    /// True when `typed` is the live SMS code of the pending step (which is then used up). The
    /// step itself counts the tries.
    pub async fn check_login_code(
        &self,
        user: &UserId,
        pending_id: &str,
        typed: &str,
    ) -> Result<bool, SecondFactorError> {
        self.guard(user).await?;
        let key = ChallengeKey::Login(pending_id.to_owned());
        let accepted = match self.store.get_challenge(&key).await? {
            Some(challenge) => {
                self.code_matches(&challenge, pending_id, typed) && self.store.delete_challenge(&key).await?
            }
            None => false,
        };
        self.counted(user, accepted).await
    }

    /// Texts a new code for `key` to `phone`. A resend to the same number waits
    /// [`SMS_RESEND_AFTER`]; each text counts per network, per number, per account (only a
    /// [`TextTo::NewNumber`]) and service-wide, every count atomic and before anything is sent.
    #[allow(clippy::too_many_arguments)]
    async fn send_code(
        &self,
        key: &ChallengeKey,
        user: &UserId,
        bound_to: &str,
        phone: &PhoneNumber,
        sealed_phone: Option<String>,
        ip: Option<IpAddr>,
        to: TextTo,
        lang: Lang,
    ) -> Result<(), SecondFactorError> {
        let sms = self.sms.as_ref().ok_or(SecondFactorError::SmsDisabled)?;
        if !sms.allowed.allows(phone) {
            return Err(SecondFactorError::CountryNotAllowed);
        }
        let now = self.clock.now();
        if let Some(previous) = self.store.get_challenge(key).await? {
            let since = (now - previous.sent_at).to_std().unwrap_or_default();
            if since < SMS_RESEND_AFTER && self.same_number(user, &previous, phone) {
                return Err(SecondFactorError::RateLimited(SMS_RESEND_AFTER - since));
            }
        }
        sms.limiter.hit(LimitedAction::SmsPerIp, &sms.limiter.client(ip)).await?;
        sms.limiter.hit(LimitedAction::SmsPerNumber, phone.as_str()).await?;
        if to == TextTo::NewNumber {
            sms.limiter.hit(LimitedAction::SmsPerAccount, user.as_str()).await?;
        }
        self.take_from_global_budget(sms).await?;
        let code = six_digits()?;
        let ttl = chrono::Duration::from_std(SMS_CODE_TTL).unwrap_or(chrono::Duration::minutes(5));
        let challenge = SmsChallenge {
            code: self.code_hash(bound_to, &code),
            phone: sealed_phone,
            sent_at: now,
            expires_at: now + ttl,
        };
        self.store.put_challenge(key, &challenge, SMS_CODE_TTL).await?;
        let queued = self.text(sms, phone, &code, challenge.expires_at, lang).await;
        if queued.is_err() {
            // Nothing will go out: do not make the person wait out a resend delay for it.
            self.store.delete_challenge(key).await?;
        }
        queued
    }

    /// True when `previous` was texted to `phone` (a sign-in challenge always went to the
    /// verified phone; one that cannot be opened counts as the same number). A different
    /// number being verified is no resend: it is held by the per-account limit instead.
    fn same_number(&self, user: &UserId, previous: &SmsChallenge, phone: &PhoneNumber) -> bool {
        let Some(sealed) = &previous.phone else { return true };
        self.open_phone(user, sealed).ok().is_none_or(|earlier| earlier == *phone)
    }

    /// Counts one text against the service-wide limit, last (so texts the narrower limits
    /// refuse never spend it). At the limit texts pause for everyone until the window ends;
    /// the window's first refusal — one request, on whichever instance — tells the operators
    /// (admin webhook `sms.paused`, the `sms_paused` metric, a log line), later ones do not.
    async fn take_from_global_budget(&self, sms: &SmsGateway) -> Result<(), SecondFactorError> {
        let Hit::Refused { retry_after, first } = sms.limiter.count(LimitedAction::SmsGlobal, "all").await? else {
            return Ok(());
        };
        if first {
            sms.metrics.inc("sms_paused", "");
            tracing::warn!(
                resumes_in_secs = retry_after.as_secs(),
                "texts paused: the service-wide SMS limit is reached"
            );
            let resumes_at = self.clock.now() + chrono::Duration::from_std(retry_after).unwrap_or_default();
            let data = serde_json::json!({
                "limit": LimitedAction::SmsGlobal.name(),
                "resumes_at": resumes_at.timestamp(),
            });
            sms.alerts.send("sms.paused", data).await;
        }
        Err(SecondFactorError::SmsPaused(retry_after))
    }

    /// Queues the text in the outbox; it is not sent after the code has expired.
    async fn text(
        &self,
        sms: &SmsGateway,
        phone: &PhoneNumber,
        code: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
        lang: Lang,
    ) -> Result<(), SecondFactorError> {
        let t = lang.messages();
        // The last line is the origin-bound one-time-code format (`@site #code`) that phones
        // offer to fill in; it stays the same in every language.
        let body = format!("{}\n\n@{site} #{code}", t.fill2(t.sms_code, code, &self.issuer), site = self.issuer);
        let message = SmsMessage { to: phone.clone(), body };
        sms.metrics.inc("sms", "outcome=\"queued\"");
        sms.outbox.enqueue(Job::Sms(message), Some(expires_at)).await.map_err(|e| match e {
            OutboxError::Store(e) => SecondFactorError::Store(e),
            e => {
                tracing::error!(error = %e, "SMS could not be queued");
                SecondFactorError::SmsUnavailable
            }
        })
    }

    fn code_hash(&self, bound_to: &str, code: &str) -> String {
        self.keys.token.mac_b64(&[b"sms", bound_to.as_bytes(), code.as_bytes()])
    }

    fn code_matches(&self, challenge: &SmsChallenge, bound_to: &str, typed: &str) -> bool {
        let typed: String = typed.chars().filter(|c| c.is_ascii_digit()).collect();
        let fresh = self.clock.now() < challenge.expires_at;
        fresh & crypto::constant_time_eq(self.code_hash(bound_to, &typed).as_bytes(), challenge.code.as_bytes())
    }

    fn open_phone(&self, user: &UserId, sealed: &str) -> Result<PhoneNumber, SecondFactorError> {
        let bytes = self.keys.sealer.open(&phone_context(user), sealed).map_err(|_| SecondFactorError::Sealed)?;
        let text = String::from_utf8(bytes).map_err(|_| SecondFactorError::Sealed)?;
        PhoneNumber::parse(&text).map_err(|_| SecondFactorError::Sealed)
    }
}

/// A uniformly random 6-digit code.
fn six_digits() -> Result<String, CryptoError> {
    // Rejection sampling: 4 random bytes, redrawn above the largest multiple of 10^6.
    loop {
        let n = u32::from_be_bytes(crypto::random_bytes::<4>()?);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}
