//! The second-factor step: after the link, before the session. Bound to the browser by the
//! `__Host-pending` cookie (whose keyed hash names the step in the store), single use, and
//! ended by too many wrong codes.

use std::time::Duration;

use super::service::{NewSession, SignIn, SignInError, SignInOutcome};
use crate::crypto;
use crate::domain::{Email, EventKind, LocalPath, Methods, RequestOrigin, SecondFactorPolicy, SignInPolicy, UserId};
use crate::i18n::Lang;
use crate::second_factor::passkeys::PasskeyUse;
use crate::second_factor::recovery::RecoveryCode;
use crate::second_factor::service::{EnrollSlot, SecondFactorError, TotpEnrollment};
use crate::store::{PendingLogin, SecondFactors, User};

/// How long the second-factor step waits.
pub const PENDING_TTL: Duration = Duration::from_secs(300);
/// Wrong codes the step survives; the next ends it.
pub const MAX_SECOND_FACTOR_TRIES: u32 = 5;

/// `amr` after an authenticator-app or recovery code (RFC 8176).
const OTP: &[&str] = &["email", "otp", "mfa"];
/// `amr` after an SMS code (RFC 8176).
const SMS: &[&str] = &["email", "sms", "mfa"];
/// `amr` after a passkey bound to its device (RFC 8176 "hwk": a hardware-secured key).
const HWK: &[&str] = &["email", "hwk", "mfa"];
/// `amr` after a passkey that may sync between devices (RFC 8176 "swk": a software-secured key).
const SWK: &[&str] = &["email", "swk", "mfa"];
/// What a refused passkey is audited as (its second item is the method's name).
const PASSKEY_REFUSED: &[&str] = &["email", "passkey"];

/// Why a step takes only a passkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyOnly {
    /// An administrator, under `ADMIN_PHISHING_RESISTANT`.
    Admin,
    /// A step-up for an app that requires a phishing-resistant factor.
    App,
}

/// What the second-factor page shows.
pub struct SecondStep {
    /// Set when only a passkey finishes this step (codes are refused), and why.
    pub passkey_only: Option<PasskeyOnly>,
    /// The sign-in waiting.
    pub pending: PendingLogin,
    /// The user's factors.
    pub factors: SecondFactors,
    /// Methods the policy allows (for enrollment).
    pub methods: Methods,
    /// Unused recovery codes.
    pub recovery_left: usize,
    /// True when a code can be texted to the user's verified phone.
    pub sms_available: bool,
}

/// How the person proves the second factor.
pub enum Proof<'a> {
    /// A code from the authenticator app.
    Totp(&'a str),
    /// One of the recovery codes.
    Recovery(&'a str),
    /// The code texted to the verified phone.
    Sms(&'a str),
    /// A passkey's answer (WebAuthn credential JSON) to the ceremony begun for this step.
    Passkey(&'a str),
}

impl SignIn {
    /// Starts the session, or — when the user has a second factor, the policy requires one,
    /// the account is an admin's, or the app being signed in to requires one — opens the
    /// second-factor step instead.
    pub(super) async fn after_first_factor(
        &self,
        user: User,
        return_to: LocalPath,
        origin: RequestOrigin,
        app_requires_factor: bool,
    ) -> Result<SignInOutcome, SignInError> {
        let policy = self.policy.current().await?;
        let admin = self.admins.contains(&user.email) || app_requires_factor;
        if policy.second_factor == SecondFactorPolicy::Off && !admin {
            return self.start(&user, return_to, origin, &["email"]).await.map(|s| SignInOutcome::Done(Box::new(s)));
        }
        let factors = self.second_factors.factors(&user.id).await?;
        let missing = user.factor_kinds.missing_from(&factors);
        if !missing.is_empty() {
            // The record says the account has these factors, the store has lost their data:
            // never a session with fewer factors than the person set up.
            let detail = format!("missing: {}", missing.join(" "));
            tracing::error!(user = %user.id, missing = ?missing, "a second factor's data is missing; sign-in stopped");
            self.audit.record(EventKind::FactorMissing, Some(&user.id), &origin, &detail).await;
            return Err(SignInError::FactorMissing);
        }
        let has_factor = factors.any();
        let must_enroll = !has_factor && (policy.second_factor == SecondFactorPolicy::Required || admin);
        if !has_factor && !must_enroll {
            return self.start(&user, return_to, origin, &["email"]).await.map(|s| SignInOutcome::Done(Box::new(s)));
        }
        let cookie = crypto::random_token::<32>()?;
        let pending = PendingLogin {
            user,
            return_to,
            origin,
            created_at: self.clock.now(),
            must_enroll,
            passkey_required: false,
        };
        self.store.put_pending(&self.pending_id(&cookie), &pending, PENDING_TTL).await?;
        Ok(SignInOutcome::SecondFactor { cookie, ttl: PENDING_TTL })
    }

    /// The step waiting for this browser.
    pub async fn second_step(&self, cookie: Option<&str>) -> Result<SecondStep, SignInError> {
        let cookie = cookie.ok_or(SignInError::NoPendingStep)?;
        self.policy.guard().check().await?;
        let pending = self.store.get_pending(&self.pending_id(cookie)).await?.ok_or(SignInError::NoPendingStep)?;
        let factors = self.second_factors.factors(&pending.user.id).await?;
        let recovery_left = self.second_factors.recovery_left(&pending.user.id).await?;
        let policy = self.policy.current().await?;
        let methods = policy.methods;
        let passkey_only = self.passkey_only(&pending, &policy);
        let sms_available =
            methods.sms && factors.phone.is_some() && self.second_factors.sms_configured() && passkey_only.is_none();
        Ok(SecondStep { passkey_only, pending, factors, methods, recovery_left, sms_available })
    }

    /// Why only a passkey finishes `pending`, if only one does.
    fn passkey_only(&self, pending: &PendingLogin, policy: &SignInPolicy) -> Option<PasskeyOnly> {
        if pending.passkey_required {
            Some(PasskeyOnly::App)
        } else if policy.admin_phishing_resistant && self.admins.contains(&pending.user.email) {
            Some(PasskeyOnly::Admin)
        } else {
            None
        }
    }

    /// Opens a step that only a passkey finishes, for the signed-in `user` (at `email`) whose
    /// session an app refused for want of a phishing-resistant factor: the session is the
    /// first factor. Returns the `__Host-pending` cookie's value and lifetime.
    pub async fn step_up_with_passkey(
        &self,
        user: &UserId,
        email: &Email,
        return_to: LocalPath,
        origin: RequestOrigin,
    ) -> Result<(String, Duration), SignInError> {
        self.policy.guard().check().await?;
        let record = self.store.find_user(&self.email_lookup(email)).await?;
        let user = record.filter(|u| u.id == *user && !u.blocked).ok_or(SignInError::NoPendingStep)?;
        let cookie = crypto::random_token::<32>()?;
        let pending = PendingLogin {
            user,
            return_to,
            origin,
            created_at: self.clock.now(),
            must_enroll: false,
            passkey_required: true,
        };
        self.store.put_pending(&self.pending_id(&cookie), &pending, PENDING_TTL).await?;
        Ok((cookie, PENDING_TTL))
    }

    /// Finishes the step with a TOTP, SMS or recovery code, or a passkey. Every guess spends
    /// one of [`MAX_SECOND_FACTOR_TRIES`] before it is checked; a TOTP code is accepted once, a
    /// passkey ceremony answered once.
    pub async fn verify_second_factor(
        &self,
        cookie: Option<&str>,
        proof: Proof<'_>,
    ) -> Result<NewSession, SignInError> {
        let id = self.pending_id(cookie.ok_or(SignInError::NoPendingStep)?);
        // Before a try is spent: a store that cannot vouch for its data gets no guess at all.
        self.policy.guard().check().await?;
        let (pending, tries) =
            self.store.take_pending_try(&id, MAX_SECOND_FACTOR_TRIES).await?.ok_or(SignInError::NoPendingStep)?;
        let user = &pending.user.id;
        let policy = self.policy.current().await?;
        let methods = policy.methods;
        if self.passkey_only(&pending, &policy).is_some() && !matches!(proof, Proof::Passkey(_)) {
            return Err(SecondFactorError::PasskeyOnly.into());
        }
        let (accepted, amr) = match proof {
            Proof::Totp(code) if methods.totp => (self.second_factors.check_totp(user, code).await?, OTP),
            Proof::Sms(code) if methods.sms => (self.second_factors.check_login_code(user, &id, code).await?, SMS),
            Proof::Passkey(credential) if methods.passkey => {
                match self.second_factors.check_passkey(user, &id, credential).await {
                    Ok(PasskeyUse::DeviceBound) => (true, HWK),
                    Ok(PasskeyUse::Synced) => (true, SWK),
                    Err(SecondFactorError::PasskeyRefused | SecondFactorError::NothingPending) => {
                        (false, PASSKEY_REFUSED)
                    }
                    Err(SecondFactorError::PasskeyCloned) => {
                        let detail = "passkey counter went back";
                        self.audit.record(EventKind::SecondFactorFailed, Some(user), &pending.origin, detail).await;
                        if tries >= MAX_SECOND_FACTOR_TRIES {
                            self.store.consume_pending(&id).await?;
                        }
                        return Err(SecondFactorError::PasskeyCloned.into());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Proof::Totp(_) | Proof::Sms(_) | Proof::Passkey(_) => {
                return Err(SecondFactorError::MethodNotAllowed.into());
            }
            // Recovery codes are one-time passwords too (RFC 8176 "otp"), and always allowed:
            // they are the way back in when the policy changes under someone.
            Proof::Recovery(code) => (self.second_factors.use_recovery_code(user, code).await?, OTP),
        };
        if !accepted {
            self.audit.record(EventKind::SecondFactorFailed, Some(user), &pending.origin, amr[1]).await;
            return Err(self.wrong(&id, tries).await?);
        }
        if !self.store.consume_pending(&id).await? {
            return Err(SignInError::NoPendingStep);
        }
        self.still_allowed(&pending).await?;
        self.audit.record(EventKind::SecondFactorPassed, Some(user), &pending.origin, amr[1]).await;
        self.start(&pending.user, pending.return_to, pending.origin, amr).await
    }

    /// Begins using a passkey at the step waiting for this browser: the request options for
    /// `navigator.credentials.get` (JSON). The ceremony is bound to the step.
    pub async fn begin_passkey_step(&self, cookie: Option<&str>) -> Result<serde_json::Value, SignInError> {
        let id = self.pending_id(cookie.ok_or(SignInError::NoPendingStep)?);
        self.policy.guard().check().await?;
        let pending = self.store.get_pending(&id).await?.ok_or(SignInError::NoPendingStep)?;
        if !self.policy.current().await?.methods.passkey {
            return Err(SecondFactorError::MethodNotAllowed.into());
        }
        Ok(self.second_factors.begin_passkey_check(&pending.user.id, &id).await?)
    }

    /// True when the policy lets people set up and use passkeys.
    pub async fn passkeys_allowed(&self) -> Result<bool, SignInError> {
        Ok(self.policy.current().await?.methods.passkey)
    }

    /// True when the policy lets people set up SMS.
    pub async fn sms_allowed(&self) -> Result<bool, SignInError> {
        Ok(self.policy.current().await?.methods.sms)
    }

    /// Texts a sign-in code to the user's verified phone; returns the masked number.
    /// The text is in `lang`.
    pub async fn send_sms_code(
        &self,
        cookie: Option<&str>,
        origin: &RequestOrigin,
        lang: Lang,
    ) -> Result<String, SignInError> {
        let id = self.pending_id(cookie.ok_or(SignInError::NoPendingStep)?);
        self.policy.guard().check().await?;
        let pending = self.store.get_pending(&id).await?.ok_or(SignInError::NoPendingStep)?;
        let policy = self.policy.current().await?;
        if !policy.methods.sms {
            return Err(SecondFactorError::SmsDisabled.into());
        }
        // No text for a step whose code would be refused anyway.
        if self.passkey_only(&pending, &policy).is_some() {
            return Err(SecondFactorError::PasskeyOnly.into());
        }
        Ok(self.second_factors.send_login_code(&pending.user.id, &id, origin.ip, lang).await?)
    }

    /// The TOTP enrollment for a step that requires one (started on first view); `None` when
    /// the step does not offer an authenticator app (only a passkey, or apps turned off).
    pub async fn enrollment_in_step(
        &self,
        cookie: Option<&str>,
    ) -> Result<(SecondStep, Option<TotpEnrollment>), SignInError> {
        let step = self.second_step(cookie).await?;
        if step.passkey_only.is_some() || !step.methods.totp {
            return Ok((step, None));
        }
        let user = &step.pending.user;
        let enrollment = match self.second_factors.pending_totp(&user.id, &user.email, EnrollSlot::Step).await? {
            Some(enrollment) => enrollment,
            None => self.second_factors.begin_totp(&user.id, &user.email, EnrollSlot::Step).await?,
        };
        Ok((step, Some(enrollment)))
    }

    /// Begins adding a passkey inside a step that requires a factor: the creation options
    /// (JSON), the ceremony bound to the step.
    pub async fn begin_passkey_enrollment_in_step(
        &self,
        cookie: Option<&str>,
    ) -> Result<serde_json::Value, SignInError> {
        let id = self.pending_id(cookie.ok_or(SignInError::NoPendingStep)?);
        self.policy.guard().check().await?;
        let pending = self.store.get_pending(&id).await?.ok_or(SignInError::NoPendingStep)?;
        if !pending.must_enroll || self.second_factors.factors(&pending.user.id).await?.any() {
            return Err(SignInError::NoPendingStep);
        }
        if !self.policy.current().await?.methods.passkey {
            return Err(SecondFactorError::MethodNotAllowed.into());
        }
        let user = &pending.user;
        Ok(self.second_factors.begin_passkey_registration(&user.id, &user.email, &enroll_binding(&id)).await?)
    }

    /// Finishes adding a passkey inside the step and signs in with it (`amr` `hwk` or `swk`,
    /// as for using one); returns the recovery codes to show. A refused answer spends one of
    /// the step's tries. `device` names the passkey ("Chrome on Linux").
    pub async fn confirm_passkey_enrollment_in_step(
        &self,
        cookie: Option<&str>,
        credential: &str,
        device: Option<&str>,
    ) -> Result<(NewSession, Vec<RecoveryCode>), SignInError> {
        let id = self.pending_id(cookie.ok_or(SignInError::NoPendingStep)?);
        self.policy.guard().check().await?;
        let (pending, tries) =
            self.store.take_pending_try(&id, MAX_SECOND_FACTOR_TRIES).await?.ok_or(SignInError::NoPendingStep)?;
        let user = &pending.user.id;
        if !pending.must_enroll || self.second_factors.factors(user).await?.any() {
            return Err(SignInError::NoPendingStep);
        }
        if !self.policy.current().await?.methods.passkey {
            return Err(SecondFactorError::MethodNotAllowed.into());
        }
        let binding = enroll_binding(&id);
        let added = self.second_factors.check_passkey_registration(user, &binding, credential, "", device).await;
        let added = match added {
            Ok(added) => added,
            Err(SecondFactorError::PasskeyRefused) => {
                self.audit.record(EventKind::SecondFactorFailed, Some(user), &pending.origin, "passkey").await;
                return Err(self.wrong(&id, tries).await?);
            }
            Err(e) => return Err(e.into()),
        };
        // The step is claimed before the passkey is kept: a step that ended meanwhile (its
        // tries spent by parallel answers) leaves no passkey nobody was told of.
        if !self.store.consume_pending(&id).await? {
            return Err(SignInError::NoPendingStep);
        }
        self.still_allowed(&pending).await?;
        // The codes and the session are made before the passkey is kept, so that nothing can
        // fail between it and the route's notice (a session not handed out is never used).
        let codes = self.second_factors.regenerate_recovery(user).await?;
        let amr = if added.synced { SWK } else { HWK };
        let signed_in = self.start(&pending.user, pending.return_to, pending.origin.clone(), amr).await?;
        self.second_factors.keep_passkey(user, &added).await?;
        self.audit.record(EventKind::SecondFactorPassed, Some(user), &pending.origin, amr[1]).await;
        Ok((signed_in, codes))
    }

    /// Confirms enrollment inside the step and signs in; returns the recovery codes to show.
    pub async fn confirm_enrollment_in_step(
        &self,
        cookie: Option<&str>,
        code: &str,
    ) -> Result<(NewSession, Vec<RecoveryCode>), SignInError> {
        let id = self.pending_id(cookie.ok_or(SignInError::NoPendingStep)?);
        self.policy.guard().check().await?;
        let (pending, tries) =
            self.store.take_pending_try(&id, MAX_SECOND_FACTOR_TRIES).await?.ok_or(SignInError::NoPendingStep)?;
        let user = &pending.user.id;
        // Only a step that must enroll may, and only while the account still has no factor.
        if !pending.must_enroll || self.second_factors.factors(user).await?.any() {
            return Err(SignInError::NoPendingStep);
        }
        if self.passkey_only(&pending, &self.policy.current().await?).is_some() {
            return Err(SecondFactorError::PasskeyOnly.into());
        }
        let checked = match self.second_factors.check_totp_enrollment(user, code, EnrollSlot::Step).await {
            Ok(checked) => checked,
            Err(SecondFactorError::WrongCode) => return Err(self.wrong(&id, tries).await?),
            Err(e) => return Err(e.into()),
        };
        // The step is claimed before the app is turned on: a step that ended meanwhile (its
        // tries spent by parallel answers) or an account blocked since the link leaves no
        // factor nobody was told of.
        if !self.store.consume_pending(&id).await? {
            return Err(SignInError::NoPendingStep);
        }
        self.still_allowed(&pending).await?;
        // The codes and the session are made before the app is turned on, so that nothing can
        // fail between it and the route's notice (a session not handed out is never used).
        let codes = self.second_factors.regenerate_recovery(user).await?;
        let signed_in = self.start(&pending.user, pending.return_to, pending.origin, OTP).await?;
        self.second_factors.keep_totp(user, checked).await?;
        Ok((signed_in, codes))
    }

    /// A wrong code: the error to return, ending the step after the last try.
    async fn wrong(&self, id: &str, tries: u32) -> Result<SignInError, SignInError> {
        if tries >= MAX_SECOND_FACTOR_TRIES {
            self.store.consume_pending(id).await?;
            return Ok(SignInError::NoPendingStep);
        }
        Ok(SignInError::WrongSecondFactor(MAX_SECOND_FACTOR_TRIES - tries))
    }

    pub(super) async fn start(
        &self,
        user: &User,
        return_to: LocalPath,
        origin: RequestOrigin,
        amr: &[&str],
    ) -> Result<NewSession, SignInError> {
        let ttl = self.policy.current().await?.session_ttl();
        self.policy.guard().check_fresh().await?;
        let session =
            self.sessions.start(user, amr.iter().map(|m| (*m).to_owned()).collect(), origin.clone(), ttl).await?;
        self.audit.record(EventKind::SessionIssued, Some(&user.id), &origin, &amr.join(" ")).await;
        tracing::info!(user = %user.id, amr = ?amr, "signed in");
        Ok(NewSession { session, return_to })
    }

    /// The pending step holds the user as it was at the link: an account blocked since then
    /// gets no session.
    async fn still_allowed(&self, pending: &PendingLogin) -> Result<(), SignInError> {
        let current = self.store.find_user(&self.email_lookup(&pending.user.email)).await?;
        if current.is_some_and(|u| u.blocked) {
            return Err(SignInError::NoPendingStep);
        }
        Ok(())
    }

    fn pending_id(&self, cookie: &str) -> String {
        self.keyring.token.mac_b64(&[b"pending", cookie.as_bytes()])
    }
}

/// What a passkey added inside a step is bound to: the step (kept apart from the same step's
/// second-factor ceremonies).
fn enroll_binding(pending_id: &str) -> String {
    format!("enroll:{pending_id}")
}
