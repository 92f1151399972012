//! Setting up, checking and removing second factors (TOTP and recovery codes).

use std::sync::Arc;
use std::time::Duration;

use qrcode::QrCode;
use qrcode::render::svg;

use super::recovery::RecoveryCode;
use super::totp::TotpSecret;
use crate::clock::Clock;
use crate::crypto::{CryptoError, Keyring};
use std::net::IpAddr;

use crate::crypto;
use crate::domain::AllowedCountries;
use crate::domain::{Email, PhoneNumber, UserId};
use crate::outbox::AdminAlerts;
use crate::outbox::{Job, Outbox, OutboxError, SmsMessage};
use crate::ratelimit::{Hit, LimitError, LimitedAction, RateLimiter};
use crate::store::{ChallengeKey, SecondFactors, SmsChallenge, Store, StoreError};

/// How long a TOTP enrollment waits for its first code.
pub const ENROLLMENT_TTL: Duration = Duration::from_secs(600);

/// Why a second-factor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The code is wrong (or was already used).
    #[error("wrong code")]
    WrongCode,
    /// No enrollment is waiting (it expired) or no TOTP is set up.
    #[error("nothing to confirm")]
    NothingPending,
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A sealed secret did not open (wrong SECRET_KEY, or tampering).
    #[error("a stored secret cannot be opened")]
    Sealed,
    /// SMS is turned off (no provider, or the policy does not allow it).
    #[error("SMS is not available")]
    SmsDisabled,
    /// The policy does not allow this method now.
    #[error("This method is turned off here. Use a recovery code, or ask an administrator.")]
    MethodNotAllowed,
    /// The number is in a country this service does not text.
    #[error("We cannot send text messages to that country.")]
    CountryNotAllowed,
    /// Too many texts (or a resend too soon); try again after this long.
    #[error("too many texts")]
    RateLimited(Duration),
    /// The provider refused this number or message; the reason is safe to show.
    /// The text could not be queued; worth trying again shortly.
    #[error("We could not send the text just now. Please try again in a minute.")]
    SmsUnavailable,
    /// The service-wide limit on texts is reached: texts are paused for everyone until the
    /// window ends (after this long); other methods still work.
    #[error("Text messages are paused for now. Use your authenticator app or a recovery code, or try again later.")]
    SmsPaused(Duration),
}

impl From<LimitError> for MfaError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Exceeded(wait) => Self::RateLimited(wait),
            LimitError::Store(e) => Self::Store(e),
        }
    }
}

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

/// What a person needs to add latchkey to an authenticator app.
pub struct TotpEnrollment {
    /// `otpauth://totp/…`.
    pub uri: String,
    /// The seed in base32 for typing by hand.
    pub base32: String,
    /// A QR code of `uri` as inline SVG (no external service).
    pub qr_svg: String,
}

/// The second-factor service.
pub struct SecondFactorService {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    limiter: Arc<RateLimiter>,
    issuer: String,
    sms: Option<SmsGateway>,
}

/// Where a TOTP enrollment was started: from the account page, or forced in a sign-in step.
/// Kept apart, so a sign-in step never shows a seed someone started elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollSlot {
    /// `/account/totp/enroll`.
    Account,
    /// `/login/2fa` under a policy that requires a second factor.
    Step,
}

impl EnrollSlot {
    fn name(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Step => "step",
        }
    }
}

/// Where a text goes, which decides the limits it counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextTo {
    /// A number being verified (phone enrollment): also counted per account, since pumping
    /// is texting many numbers through one account.
    NewNumber,
    /// The account's verified phone (sign-in steps, "confirm it's you"): limited per number,
    /// per network and service-wide, not per account, so signing in by SMS is not rationed.
    VerifiedPhone,
}

fn phone_context(user: &UserId) -> String {
    format!("phone:{user}")
}

fn totp_context(user: &UserId) -> String {
    format!("totp:{user}")
}

impl SecondFactorService {
    /// A service naming itself `issuer` in authenticator apps and texts; `sms` when SMS is on.
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        limiter: Arc<RateLimiter>,
        issuer: String,
        sms: Option<SmsGateway>,
    ) -> Self {
        Self { store, keys, clock, limiter, issuer, sms }
    }

    /// Spends one of the account's second-factor guesses *before* the code is checked, and
    /// refuses the guess when that goes over the limit (counted across sign-in steps and
    /// account pages, so new links buy no new guesses). The count is one atomic increment in
    /// the store, so a burst of parallel guesses gets no more checks than the limit. Every
    /// guess counts, right or wrong: a guess is a guess, and counting only failures would need
    /// the result before the count. Over the limit even the right code is refused until the
    /// window passes.
    async fn guard(&self, user: &UserId) -> Result<(), MfaError> {
        Ok(self.limiter.hit(LimitedAction::SecondFactorFailuresPerUser, user.as_str()).await?)
    }

    /// Logs a wrong code (it was counted by [`Self::guard`] before it was checked).
    async fn counted(&self, user: &UserId, accepted: bool) -> Result<bool, MfaError> {
        if !accepted {
            tracing::warn!(user = %user, "wrong second-factor code");
        }
        Ok(accepted)
    }

    /// True when an SMS provider is configured.
    pub fn sms_configured(&self) -> bool {
        self.sms.is_some()
    }

    /// Texts a code to verify `phone` as the user's second factor.
    pub async fn start_phone_enrollment(
        &self,
        user: &UserId,
        phone: &PhoneNumber,
        ip: Option<IpAddr>,
    ) -> Result<(), MfaError> {
        let key = ChallengeKey::PhoneEnrollment(user.clone());
        let sealed = self.keys.sealer.seal(&phone_context(user), phone.as_str().as_bytes())?;
        self.send_code(&key, user, user.as_str(), phone, Some(sealed), ip, TextTo::NewNumber).await
    }

    /// Checks the code texted to the new phone; the phone is then the user's second factor.
    pub async fn confirm_phone(&self, user: &UserId, typed: &str) -> Result<String, MfaError> {
        self.guard(user).await?;
        let key = ChallengeKey::PhoneEnrollment(user.clone());
        let (challenge, _) =
            self.store.take_challenge_try(&key, SMS_MAX_TRIES).await?.ok_or(MfaError::NothingPending)?;
        if !self.counted(user, self.code_matches(&challenge, user.as_str(), typed)).await? {
            return Err(MfaError::WrongCode);
        }
        if !self.store.delete_challenge(&key).await? {
            return Err(MfaError::NothingPending);
        }
        let sealed = challenge.phone.ok_or(MfaError::NothingPending)?;
        let phone = self.open_phone(user, &sealed)?;
        let mut factors = self.store.get_factors(user).await?;
        factors.phone = Some(sealed);
        factors.phone_masked = Some(phone.masked());
        self.store.put_factors(user, &factors).await?;
        tracing::info!(user = %user, phone = %phone.masked(), "phone verified");
        Ok(phone.masked())
    }

    /// Texts a sign-in code to the user's verified phone, for the pending step `pending_id`.
    /// Returns the masked number it went to.
    pub async fn send_login_code(
        &self,
        user: &UserId,
        pending_id: &str,
        ip: Option<IpAddr>,
    ) -> Result<String, MfaError> {
        let factors = self.store.get_factors(user).await?;
        let sealed = factors.phone.ok_or(MfaError::SmsDisabled)?;
        let phone = self.open_phone(user, &sealed)?;
        let key = ChallengeKey::Login(pending_id.to_owned());
        self.send_code(&key, user, pending_id, &phone, None, ip, TextTo::VerifiedPhone).await?;
        Ok(phone.masked())
    }

    /// True when `typed` is the live SMS code of the pending step (which is then used up). The
    /// step itself counts the tries.
    pub async fn check_login_code(&self, user: &UserId, pending_id: &str, typed: &str) -> Result<bool, MfaError> {
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
    ) -> Result<(), MfaError> {
        let sms = self.sms.as_ref().ok_or(MfaError::SmsDisabled)?;
        if !sms.allowed.allows(phone) {
            return Err(MfaError::CountryNotAllowed);
        }
        let now = self.clock.now();
        if let Some(previous) = self.store.get_challenge(key).await? {
            let since = (now - previous.sent_at).to_std().unwrap_or_default();
            if since < SMS_RESEND_AFTER && self.same_number(user, &previous, phone) {
                return Err(MfaError::RateLimited(SMS_RESEND_AFTER - since));
            }
        }
        if let Some(ip) = ip {
            sms.limiter.hit(LimitedAction::SmsPerIp, &sms.limiter.network(ip)).await?;
        }
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
        let queued = self.text(sms, phone, &code, challenge.expires_at).await;
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
    async fn take_from_global_budget(&self, sms: &SmsGateway) -> Result<(), MfaError> {
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
        Err(MfaError::SmsPaused(retry_after))
    }

    /// Queues the text in the outbox; it is not sent after the code has expired.
    async fn text(
        &self,
        sms: &SmsGateway,
        phone: &PhoneNumber,
        code: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), MfaError> {
        let body = format!(
            "{code} is your {site} code. It expires in 5 minutes. Never share it.\n\n@{site} #{code}",
            site = self.issuer
        );
        let message = SmsMessage { to: phone.clone(), body };
        sms.metrics.inc("sms", "outcome=\"queued\"");
        sms.outbox.enqueue(Job::Sms(message), Some(expires_at)).await.map_err(|e| match e {
            OutboxError::Store(e) => MfaError::Store(e),
            e => {
                tracing::error!(error = %e, "SMS could not be queued");
                MfaError::SmsUnavailable
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

    fn open_phone(&self, user: &UserId, sealed: &str) -> Result<PhoneNumber, MfaError> {
        let bytes = self.keys.sealer.open(&phone_context(user), sealed).map_err(|_| MfaError::Sealed)?;
        let text = String::from_utf8(bytes).map_err(|_| MfaError::Sealed)?;
        PhoneNumber::parse(&text).map_err(|_| MfaError::Sealed)
    }

    /// The user's factors.
    pub async fn factors(&self, user: &UserId) -> Result<SecondFactors, StoreError> {
        self.store.get_factors(user).await
    }

    /// True when the account has a second factor: its factors' data holds one, or its record
    /// lists one (`User::factor_kinds`) whose data the store may have lost. A record that cannot
    /// be found (or belongs to another id) cannot vouch for "none", so it counts as having one.
    pub async fn account_has_factor(&self, user: &UserId, email: &Email) -> Result<bool, StoreError> {
        if self.store.get_factors(user).await?.any() {
            return Ok(true);
        }
        let lookup = email.lookup_key(&self.keys);
        let record = self.store.find_user(&lookup).await?;
        Ok(record.is_none_or(|record| record.id != *user || !record.factor_kinds.is_none()))
    }

    /// Unused recovery codes.
    pub async fn recovery_left(&self, user: &UserId) -> Result<usize, StoreError> {
        self.store.recovery_codes_left(user).await
    }

    /// Starts (or restarts) TOTP enrollment: a new 160-bit seed, sealed in the store until
    /// confirmed with a first code.
    pub async fn begin_totp(&self, user: &UserId, email: &Email, slot: EnrollSlot) -> Result<TotpEnrollment, MfaError> {
        let secret = TotpSecret::generate()?;
        let sealed = self.keys.sealer.seal(&totp_context(user), secret.expose())?;
        self.store.put_totp_enrollment(user, slot.name(), &sealed, ENROLLMENT_TTL).await?;
        Ok(self.enrollment_view(email, &secret))
    }

    /// The enrollment in progress, to show it again.
    pub async fn pending_totp(
        &self,
        user: &UserId,
        email: &Email,
        slot: EnrollSlot,
    ) -> Result<Option<TotpEnrollment>, MfaError> {
        let Some(sealed) = self.store.get_totp_enrollment(user, slot.name()).await? else { return Ok(None) };
        let secret = self.open(user, &sealed)?;
        Ok(Some(self.enrollment_view(email, &secret)))
    }

    /// Confirms enrollment with a first code; TOTP is then active and ten fresh recovery codes
    /// are returned (to show once).
    pub async fn confirm_totp(
        &self,
        user: &UserId,
        code: &str,
        slot: EnrollSlot,
    ) -> Result<Vec<RecoveryCode>, MfaError> {
        self.guard(user).await?;
        let sealed = self.store.get_totp_enrollment(user, slot.name()).await?.ok_or(MfaError::NothingPending)?;
        let secret = self.open(user, &sealed)?;
        let step = secret.matching_step(code, self.now());
        let accepted = match step {
            Some(step) => self.store.use_totp_step(user, step).await?,
            None => false,
        };
        if !self.counted(user, accepted).await? {
            return Err(MfaError::WrongCode);
        }
        let mut factors = self.store.get_factors(user).await?;
        factors.totp = Some(sealed);
        self.store.put_factors(user, &factors).await?;
        self.store.delete_totp_enrollment(user, slot.name()).await?;
        tracing::info!(user = %user, "TOTP enrolled");
        self.regenerate_recovery(user).await
    }

    /// Checks a TOTP code (±1 step) and marks its step used: a code is accepted once.
    pub async fn check_totp(&self, user: &UserId, code: &str) -> Result<bool, MfaError> {
        self.guard(user).await?;
        let factors = self.store.get_factors(user).await?;
        let Some(sealed) = factors.totp else { return self.counted(user, false).await };
        let secret = self.open(user, &sealed)?;
        let accepted = match secret.matching_step(code, self.now()) {
            Some(step) => self.store.use_totp_step(user, step).await?,
            None => false,
        };
        self.counted(user, accepted).await
    }

    /// Turns TOTP off; the recovery codes go with it when no factor is left. The caller has
    /// checked that a second factor was used in this session lately.
    pub async fn disable_totp(&self, user: &UserId) -> Result<(), MfaError> {
        let mut factors = self.store.get_factors(user).await?;
        if factors.totp.take().is_none() {
            return Err(MfaError::NothingPending);
        }
        self.store.put_factors(user, &factors).await?;
        if !factors.any() {
            self.store.set_recovery_codes(user, &[]).await?;
        }
        tracing::info!(user = %user, "TOTP removed");
        Ok(())
    }

    /// Removes the verified phone; the recovery codes go with it when no factor is left. The
    /// caller has checked that a second factor was used in this session lately.
    pub async fn remove_phone(&self, user: &UserId) -> Result<(), MfaError> {
        let mut factors = self.store.get_factors(user).await?;
        if factors.phone.take().is_none() {
            return Err(MfaError::NothingPending);
        }
        factors.phone_masked = None;
        self.store.put_factors(user, &factors).await?;
        if !factors.any() {
            self.store.set_recovery_codes(user, &[]).await?;
        }
        tracing::info!(user = %user, "phone removed");
        Ok(())
    }

    /// Removes every factor and recovery code (an admin's reset).
    pub async fn reset(&self, user: &UserId) -> Result<(), StoreError> {
        self.store.put_factors(user, &SecondFactors::default()).await?;
        self.store.set_recovery_codes(user, &[]).await
    }

    /// Uses up a recovery code; true if it was one of the user's unused codes.
    pub async fn use_recovery_code(&self, user: &UserId, typed: &str) -> Result<bool, MfaError> {
        self.guard(user).await?;
        let accepted = match RecoveryCode::parse(typed) {
            Some(code) => self.store.use_recovery_code(user, &code.hash(&self.keys.token, user.as_str())).await?,
            None => false,
        };
        self.counted(user, accepted).await
    }

    /// Replaces the user's recovery codes with ten new ones (returned to show once).
    pub async fn regenerate_recovery(&self, user: &UserId) -> Result<Vec<RecoveryCode>, MfaError> {
        let codes = RecoveryCode::generate_set()?;
        let hashes: Vec<String> = codes.iter().map(|c| c.hash(&self.keys.token, user.as_str())).collect();
        self.store.set_recovery_codes(user, &hashes).await?;
        Ok(codes)
    }

    fn open(&self, user: &UserId, sealed: &str) -> Result<TotpSecret, MfaError> {
        let bytes = self.keys.sealer.open(&totp_context(user), sealed).map_err(|_| MfaError::Sealed)?;
        Ok(TotpSecret::from_bytes(bytes))
    }

    fn now(&self) -> u64 {
        self.clock.now().timestamp().max(0) as u64
    }

    fn enrollment_view(&self, email: &Email, secret: &TotpSecret) -> TotpEnrollment {
        let uri = secret.otpauth_uri(&self.issuer, email.as_str()).unwrap_or_default();
        let qr_svg = QrCode::new(uri.as_bytes())
            .map(|qr| {
                let svg = qr.render::<svg::Color<'_>>().min_dimensions(200, 200).build();
                // Inline in the page: drop the XML declaration.
                svg.find("<svg").map(|i| svg[i..].to_owned()).unwrap_or_default()
            })
            .unwrap_or_default();
        TotpEnrollment { uri, base32: secret.base32(), qr_svg }
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
