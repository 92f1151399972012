//! Setting up, checking and removing second factors (TOTP and recovery codes).

use std::sync::Arc;
use std::time::Duration;

use qrcode::QrCode;
use qrcode::render::svg;

use super::recovery::RecoveryCode;
use super::totp::TotpSecret;
use crate::clock::Clock;
use crate::crypto::{CryptoError, Keyring};
use crate::domain::{Email, UserId};
use crate::store::{SecondFactors, Store, StoreError};

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
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    issuer: String,
}

fn totp_context(user: &UserId) -> String {
    format!("totp:{user}")
}

impl SecondFactorService {
    /// A service naming itself `issuer` in authenticator apps.
    pub fn new(store: Arc<dyn Store>, keys: Arc<Keyring>, clock: Arc<dyn Clock>, issuer: String) -> Self {
        Self { store, keys, clock, issuer }
    }

    /// The user's factors.
    pub async fn factors(&self, user: &UserId) -> Result<SecondFactors, StoreError> {
        self.store.get_factors(user).await
    }

    /// Unused recovery codes.
    pub async fn recovery_left(&self, user: &UserId) -> Result<usize, StoreError> {
        self.store.recovery_codes_left(user).await
    }

    /// Starts (or restarts) TOTP enrollment: a new 160-bit seed, sealed in the store until
    /// confirmed with a first code.
    pub async fn begin_totp(&self, user: &UserId, email: &Email) -> Result<TotpEnrollment, MfaError> {
        let secret = TotpSecret::generate()?;
        let sealed = self.keys.sealer.seal(&totp_context(user), secret.expose())?;
        self.store.put_totp_enrollment(user, &sealed, ENROLLMENT_TTL).await?;
        Ok(self.enrollment_view(email, &secret))
    }

    /// The enrollment in progress, to show it again.
    pub async fn pending_totp(&self, user: &UserId, email: &Email) -> Result<Option<TotpEnrollment>, MfaError> {
        let Some(sealed) = self.store.get_totp_enrollment(user).await? else { return Ok(None) };
        let secret = self.open(user, &sealed)?;
        Ok(Some(self.enrollment_view(email, &secret)))
    }

    /// Confirms enrollment with a first code; TOTP is then active and ten fresh recovery codes
    /// are returned (to show once).
    pub async fn confirm_totp(&self, user: &UserId, code: &str) -> Result<Vec<RecoveryCode>, MfaError> {
        let sealed = self.store.get_totp_enrollment(user).await?.ok_or(MfaError::NothingPending)?;
        let secret = self.open(user, &sealed)?;
        let step = secret.matching_step(code, self.now()).ok_or(MfaError::WrongCode)?;
        if !self.store.use_totp_step(user, step).await? {
            return Err(MfaError::WrongCode);
        }
        let mut factors = self.store.get_factors(user).await?;
        factors.totp = Some(sealed);
        self.store.put_factors(user, &factors).await?;
        self.store.delete_totp_enrollment(user).await?;
        tracing::info!(user = %user, "TOTP enrolled");
        self.regenerate_recovery(user).await
    }

    /// Checks a TOTP code (±1 step) and marks its step used: a code is accepted once.
    pub async fn check_totp(&self, user: &UserId, code: &str) -> Result<bool, MfaError> {
        let factors = self.store.get_factors(user).await?;
        let Some(sealed) = factors.totp else { return Ok(false) };
        let secret = self.open(user, &sealed)?;
        match secret.matching_step(code, self.now()) {
            Some(step) => Ok(self.store.use_totp_step(user, step).await?),
            None => Ok(false),
        }
    }

    /// Turns TOTP off, with a current code as proof; recovery codes go with it.
    pub async fn disable_totp(&self, user: &UserId, code: &str) -> Result<(), MfaError> {
        if !self.check_totp(user, code).await? {
            return Err(MfaError::WrongCode);
        }
        let mut factors = self.store.get_factors(user).await?;
        factors.totp = None;
        self.store.put_factors(user, &factors).await?;
        if !factors.any() {
            self.store.set_recovery_codes(user, &[]).await?;
        }
        tracing::info!(user = %user, "TOTP removed");
        Ok(())
    }

    /// Uses up a recovery code; true if it was one of the user's unused codes.
    pub async fn use_recovery_code(&self, user: &UserId, typed: &str) -> Result<bool, MfaError> {
        let Some(code) = RecoveryCode::parse(typed) else { return Ok(false) };
        Ok(self.store.use_recovery_code(user, &code.hash(&self.keys.token, user.as_str())).await?)
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
