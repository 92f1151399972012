//! Setting up, checking and removing second factors (TOTP and recovery codes); texted codes
//! are in `texts.rs`.

use std::sync::Arc;
use std::time::Duration;

use qrcode::QrCode;
use qrcode::render::svg;

use super::recovery::RecoveryCode;
use super::texts::SmsGateway;
use super::totp::TotpSecret;
use crate::clock::Clock;
use crate::crypto::{CryptoError, Keyring};
use crate::domain::{Email, UserId};
use crate::ratelimit::{LimitError, LimitedAction, RateLimiter};
use crate::store::{SecondFactors, Store, StoreError};

/// How long a TOTP enrollment waits for its first code.
pub const ENROLLMENT_TTL: Duration = Duration::from_secs(600);

/// How hard a change to a user's factors tries when other writes keep coming first: each try
/// reads them again, with a growing random pause between tries ([`after_a_lost_write`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Priority {
    /// A passkey's use or a new name: gives up after 8 tries (a 503), so that a flood of them
    /// ends before a change that must go through does.
    Low,
    /// A factor added or removed, an administrator's reset: 64 tries.
    High,
}

impl Priority {
    fn tries(self) -> u32 {
        match self {
            Self::Low => 8,
            Self::High => 64,
        }
    }
}

/// The pause after the `tries`-th write a change lost to another: up to a quarter of a
/// millisecond more for each, at random, so that changes racing one another do not keep
/// meeting (a removal among many renames or uses of a passkey still gets through).
async fn after_a_lost_write(tries: u32) {
    let jitter = crate::crypto::random_bytes::<1>().map_or(128, |[byte]| u64::from(byte));
    tokio::time::sleep(Duration::from_micros((jitter + 1) * u64::from(tries))).await;
}

/// Why a second-factor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
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
    /// The browser's passkey answer is not a WebAuthn credential (the message names the field).
    #[error("{0}")]
    BadCredential(String),
    /// The passkey's answer did not verify (another site's, another challenge's, another
    /// account's key, or a bad signature).
    #[error("This passkey was not accepted.")]
    PasskeyRefused,
    /// The passkey's signature counter did not move forward: the key may have been copied.
    #[error("This passkey was not accepted: it may have been copied. Use another factor.")]
    PasskeyCloned,
    /// The passkey is already set up on this account.
    #[error("This passkey is already set up.")]
    PasskeyKnown,
    /// The account has as many passkeys as it may.
    #[error("This account has as many passkeys as it may. Remove one first.")]
    TooManyPasskeys,
    /// Only a passkey finishes this step (an administrator under `ADMIN_PHISHING_RESISTANT`,
    /// or an app that requires a phishing-resistant factor): codes are refused.
    #[error("Use your passkey here: codes are not accepted for this sign-in.")]
    PasskeyOnly,
    /// The account has no passkey with this id.
    #[error("id: this account has no such passkey")]
    NoSuchPasskey,
    /// A passkey's name is not acceptable (the message names the field).
    #[error("name: {0}")]
    PasskeyName(NameProblem),
    /// webauthn-rs could not begin a ceremony.
    #[error("a passkey ceremony could not begin: {0}")]
    Passkey(String),
}

/// What is wrong with a passkey's name as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    /// Longer than [`super::passkeys::MAX_NAME`] characters.
    #[error("at most 64 characters")]
    TooLong,
    /// Line breaks or other control characters.
    #[error("plain text on one line, please")]
    NotPlainText,
    /// Empty where a name is needed (a rename).
    #[error("give the passkey a name")]
    Empty,
}

impl From<LimitError> for SecondFactorError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Exceeded(wait) => Self::RateLimited(wait),
            LimitError::Store(e) => Self::Store(e),
        }
    }
}

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
    pub(super) store: Arc<dyn Store>,
    pub(super) keys: Arc<Keyring>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) limiter: Arc<RateLimiter>,
    pub(super) issuer: String,
    pub(super) sms: Option<SmsGateway>,
    pub(super) relying_party: Option<Arc<webauthn_rs::prelude::Webauthn>>,
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

/// A TOTP enrollment whose first code was right, not yet turned on
/// ([`SecondFactorService::keep_totp`]). It holds the sealed seed only.
pub struct CheckedTotp {
    sealed: String,
    slot: EnrollSlot,
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
        Self { store, keys, clock, limiter, issuer, sms, relying_party: None }
    }

    /// The same service, with passkeys for this relying party
    /// ([`relying_party`](super::passkeys::relying_party)).
    pub fn with_passkeys(mut self, relying_party: Option<Arc<webauthn_rs::prelude::Webauthn>>) -> Self {
        self.relying_party = relying_party;
        self
    }

    /// Spends one of the account's second-factor guesses *before* the code is checked, and
    /// refuses the guess when that goes over the limit (counted across sign-in steps and
    /// account pages, so new links buy no new guesses). The count is one atomic increment in
    /// the store, so a burst of parallel guesses gets no more checks than the limit. Every
    /// guess counts, right or wrong: a guess is a guess, and counting only failures would need
    /// the result before the count. Over the limit even the right code is refused until the
    /// window passes.
    pub(super) async fn guard(&self, user: &UserId) -> Result<(), SecondFactorError> {
        Ok(self.limiter.hit(LimitedAction::SecondFactorFailuresPerUser, user.as_str()).await?)
    }

    /// Logs a wrong code (it was counted by [`Self::guard`] before it was checked).
    pub(super) async fn counted(&self, user: &UserId, accepted: bool) -> Result<bool, SecondFactorError> {
        if !accepted {
            tracing::warn!(user = %user, "wrong second-factor code");
        }
        Ok(accepted)
    }

    /// Reads the user's factors, applies `change` and writes them back unless something else
    /// wrote them meanwhile; then it reads again and applies `change` anew, so no change undoes
    /// another (a passkey's use writing back one removed meanwhile). Nothing is written when
    /// `change` refuses or changes nothing. Returns its answer and the factors it left.
    pub(super) async fn change_factors<T, E: From<StoreError>>(
        &self,
        user: &UserId,
        priority: Priority,
        change: impl FnMut(&mut SecondFactors) -> Result<T, E>,
    ) -> Result<(T, SecondFactors), E> {
        self.write_factors(user, None, priority, false, change).await
    }

    /// [`Self::change_factors`], starting from factors the caller has just read (`read`), if
    /// any, instead of reading them first.
    pub(super) async fn change_factors_read<T, E: From<StoreError>>(
        &self,
        user: &UserId,
        read: Option<SecondFactors>,
        priority: Priority,
        change: impl FnMut(&mut SecondFactors) -> Result<T, E>,
    ) -> Result<(T, SecondFactors), E> {
        self.write_factors(user, read, priority, false, change).await
    }

    /// The loop of [`Self::change_factors`]. With `overwrite` (the administrator's reset) it
    /// writes even what did not change, and takes factors it cannot read as empty (revision 0,
    /// as the store's compare-and-set counts them), so that it clears whatever is there.
    async fn write_factors<T, E: From<StoreError>>(
        &self,
        user: &UserId,
        mut read: Option<SecondFactors>,
        priority: Priority,
        overwrite: bool,
        mut change: impl FnMut(&mut SecondFactors) -> Result<T, E>,
    ) -> Result<(T, SecondFactors), E> {
        for tries in 1..=priority.tries() {
            let read = match read.take() {
                Some(read) => read,
                None => match self.store.get_factors(user).await {
                    Err(StoreError::Corrupt(_)) if overwrite => SecondFactors::default(),
                    other => other?,
                },
            };
            let mut factors = read.clone();
            let answer = change(&mut factors)?;
            if (factors == read && !overwrite) || self.store.put_factors(user, &factors).await? {
                return Ok((answer, factors));
            }
            after_a_lost_write(tries).await;
        }
        Err(StoreError::Unavailable(anyhow::anyhow!("a user's factors kept changing while they were written")).into())
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
    pub async fn begin_totp(
        &self,
        user: &UserId,
        email: &Email,
        slot: EnrollSlot,
    ) -> Result<TotpEnrollment, SecondFactorError> {
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
    ) -> Result<Option<TotpEnrollment>, SecondFactorError> {
        let Some(sealed) = self.store.get_totp_enrollment(user, slot.name()).await? else { return Ok(None) };
        let secret = self.open(user, &sealed)?;
        Ok(Some(self.enrollment_view(email, &secret)))
    }

    /// Confirms enrollment with a first code; TOTP is then active. The caller tells the owner,
    /// then makes fresh recovery codes ([`Self::regenerate_recovery`]).
    pub async fn confirm_totp(&self, user: &UserId, code: &str, slot: EnrollSlot) -> Result<(), SecondFactorError> {
        let checked = self.check_totp_enrollment(user, code, slot).await?;
        self.keep_totp(user, checked).await
    }

    /// Checks the first code of the enrollment in progress (a guess counted before it is
    /// checked, its step spent) without turning TOTP on: a caller with something to claim
    /// first (a sign-in step) turns it on with [`Self::keep_totp`].
    pub async fn check_totp_enrollment(
        &self,
        user: &UserId,
        code: &str,
        slot: EnrollSlot,
    ) -> Result<CheckedTotp, SecondFactorError> {
        self.guard(user).await?;
        let sealed =
            self.store.get_totp_enrollment(user, slot.name()).await?.ok_or(SecondFactorError::NothingPending)?;
        let secret = self.open(user, &sealed)?;
        let step = secret.matching_step(code, self.now());
        let accepted = match step {
            Some(step) => self.store.use_totp_step(user, step).await?,
            None => false,
        };
        if !self.counted(user, accepted).await? {
            return Err(SecondFactorError::WrongCode);
        }
        Ok(CheckedTotp { sealed, slot })
    }

    /// Turns on a checked enrollment ([`Self::check_totp_enrollment`]). Nothing that can
    /// fail comes after the factor is written, so the caller's notice always follows it (the
    /// enrollment left behind, if it cannot be deleted, expires with its TTL).
    pub async fn keep_totp(&self, user: &UserId, checked: CheckedTotp) -> Result<(), SecondFactorError> {
        self.change_factors(user, Priority::High, |factors| {
            factors.totp = Some(checked.sealed.clone());
            Ok::<_, SecondFactorError>(())
        })
        .await?;
        tracing::info!(user = %user, "TOTP enrolled");
        if let Err(e) = self.store.delete_totp_enrollment(user, checked.slot.name()).await {
            tracing::warn!(user = %user, error = %e, "a confirmed TOTP enrollment was not deleted; it expires");
        }
        Ok(())
    }

    /// Checks a TOTP code (±1 step) and marks its step used: a code is accepted once.
    pub async fn check_totp(&self, user: &UserId, code: &str) -> Result<bool, SecondFactorError> {
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
    pub async fn disable_totp(&self, user: &UserId) -> Result<(), SecondFactorError> {
        let ((), factors) = self
            .change_factors(user, Priority::High, |factors| {
                factors.totp.take().map(drop).ok_or(SecondFactorError::NothingPending)
            })
            .await?;
        if !factors.any() {
            self.store.set_recovery_codes(user, &[]).await?;
        }
        tracing::info!(user = %user, "TOTP removed");
        Ok(())
    }

    /// Removes the verified phone; the recovery codes go with it when no factor is left. The
    /// caller has checked that a second factor was used in this session lately.
    pub async fn remove_phone(&self, user: &UserId) -> Result<(), SecondFactorError> {
        let ((), factors) = self
            .change_factors(user, Priority::High, |factors| {
                factors.phone.take().ok_or(SecondFactorError::NothingPending)?;
                factors.phone_masked = None;
                Ok::<_, SecondFactorError>(())
            })
            .await?;
        if !factors.any() {
            self.store.set_recovery_codes(user, &[]).await?;
        }
        tracing::info!(user = %user, "phone removed");
        Ok(())
    }

    /// Removes every factor and recovery code (an admin's reset). It always writes, so that
    /// it also clears the kinds the record lists when the factors' data is gone, and writes
    /// over a value that is not JSON (which the store counts as revision 0). The codes go
    /// first: the factors are written last, so nothing can fail between them and the notice.
    pub async fn reset(&self, user: &UserId) -> Result<(), StoreError> {
        self.store.set_recovery_codes(user, &[]).await?;
        let clear = |factors: &mut SecondFactors| {
            *factors = SecondFactors { revision: factors.revision, ..SecondFactors::default() };
            Ok::<_, StoreError>(())
        };
        self.write_factors(user, None, Priority::High, true, clear).await.map(drop)
    }

    /// Uses up a recovery code; true if it was one of the user's unused codes.
    pub async fn use_recovery_code(&self, user: &UserId, typed: &str) -> Result<bool, SecondFactorError> {
        self.guard(user).await?;
        let accepted = match RecoveryCode::parse(typed) {
            Some(code) => self.store.use_recovery_code(user, &code.hash(&self.keys.token, user.as_str())).await?,
            None => false,
        };
        self.counted(user, accepted).await
    }

    /// Replaces the user's recovery codes with ten new ones (returned to show once).
    pub async fn regenerate_recovery(&self, user: &UserId) -> Result<Vec<RecoveryCode>, SecondFactorError> {
        let codes = RecoveryCode::generate_set()?;
        let hashes: Vec<String> = codes.iter().map(|c| c.hash(&self.keys.token, user.as_str())).collect();
        self.store.set_recovery_codes(user, &hashes).await?;
        Ok(codes)
    }

    fn open(&self, user: &UserId, sealed: &str) -> Result<TotpSecret, SecondFactorError> {
        let bytes = self.keys.sealer.open(&totp_context(user), sealed).map_err(|_| SecondFactorError::Sealed)?;
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
