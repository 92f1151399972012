//! Signing in with a passkey at `/login`, without a mail: a discoverable credential names its
//! account. The ceremony waits in the store between its two requests, bound to the browser by
//! the `__Host-passkey` cookie (whose keyed hash names it), for five minutes, answered once.
//!
//! The rule for the second factor: the ceremony requires user verification (the
//! authenticator's PIN or biometric, the UV flag), so a passkey sign-in is two factors in one
//! (something held, and something known or been): `amr` is `hwk` (a key bound to its device)
//! or `swk` (a synced one) with `mfa`, and no second step follows — not for the policy's
//! `SECOND_FACTOR=required`, an administrator, or an app that requires a second factor. An
//! answer without user verification is refused; the person signs in with the email link
//! (and the second step, where one is required) instead.

use super::service::{NewSession, SignIn, SignInError};
use crate::crypto;
use crate::domain::{EventKind, LocalPath, RequestOrigin};
use crate::ratelimit::LimitedAction;
use crate::second_factor::discoverable::{Refusal, Refused};
use crate::second_factor::passkeys::PasskeyUse;
use crate::second_factor::service::SecondFactorError;

/// `amr` after a device-bound passkey with user verification (RFC 8176).
const HWK: &[&str] = &["hwk", "mfa"];
/// `amr` after a synced passkey with user verification (RFC 8176).
const SWK: &[&str] = &["swk", "mfa"];

/// A passkey sign-in begun: the options for the browser and its `__Host-passkey` cookie.
pub struct PasskeySignInStarted {
    /// The request options for `navigator.credentials.get`, as JSON.
    pub options: serde_json::Value,
    /// `__Host-passkey` value (the same as before when the browser had a well-formed one).
    pub cookie: String,
}

impl SignIn {
    fn passkey_binding(&self, cookie: &str) -> String {
        self.keyring.token.mac_b64(&[b"passkey-sign-in", cookie.as_bytes()])
    }

    /// Begins a passkey sign-in for this browser (`cookie`: its `__Host-passkey`, if any),
    /// replacing one it began before. Counted per client network; refused when the store
    /// cannot vouch for its data or the policy does not allow passkeys.
    pub async fn begin_passkey_sign_in(
        &self,
        cookie: Option<&str>,
        conditional: bool,
        origin: &RequestOrigin,
    ) -> Result<PasskeySignInStarted, SignInError> {
        self.limiter.hit(LimitedAction::PasskeyStartPerIp, &self.limiter.client(origin.ip)).await?;
        self.policy.guard().check().await?;
        if !self.policy.current().await?.methods.passkey {
            return Err(SecondFactorError::MethodNotAllowed.into());
        }
        let cookie = match cookie
            .filter(|c| c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            Some(cookie) => cookie.to_owned(),
            None => crypto::random_token::<32>()?,
        };
        let options = self.second_factors.begin_discoverable(&self.passkey_binding(&cookie), conditional).await?;
        self.audit.metrics().inc("passkey_sign_in_started", "");
        Ok(PasskeySignInStarted { options, cookie })
    }

    /// Finishes a passkey sign-in with the browser's answer (`credential`, JSON) to the
    /// ceremony its `__Host-passkey` names, and starts the session; on to `return_to`.
    /// Every answer is counted per client network before it is checked; the ceremony is used
    /// up whatever the answer. Refusals are audited (`passkey_failed`) and all read the same
    /// ([`SecondFactorError::PasskeyRefused`]), but for a copied authenticator's
    /// ([`SecondFactorError::PasskeyCloned`]).
    pub async fn finish_passkey_sign_in(
        &self,
        cookie: Option<&str>,
        credential: &str,
        return_to: LocalPath,
        origin: RequestOrigin,
    ) -> Result<NewSession, SignInError> {
        self.limiter.hit(LimitedAction::PasskeySignInPerIp, &self.limiter.client(origin.ip)).await?;
        // Before the ceremony is taken: a store that cannot vouch for its data gets no answer
        // checked against the accounts and passkeys it holds.
        self.policy.guard().check().await?;
        if !self.policy.current().await?.methods.passkey {
            return Err(SecondFactorError::MethodNotAllowed.into());
        }
        let binding = self.passkey_binding(cookie.unwrap_or_default());
        let found = match self.second_factors.finish_discoverable(&binding, credential).await? {
            Ok(found) => found,
            Err(refused) => return Err(self.passkey_refused(refused, &origin).await),
        };
        let Some(user) = self.store.get_user(&found.user).await? else {
            return Err(self.passkey_refused(Refused { user: None, why: Refusal::UnknownCredential }, &origin).await);
        };
        if user.blocked {
            self.audit.record(EventKind::PasskeyFailed, Some(&user.id), &origin, "blocked").await;
            return Err(SecondFactorError::PasskeyRefused.into());
        }
        let factors = self.second_factors.factors(&user.id).await?;
        let missing = user.factor_kinds.missing_from(&factors);
        if !missing.is_empty() {
            let detail = format!("missing: {}", missing.join(" "));
            tracing::error!(user = %user.id, missing = ?missing, "a second factor's data is missing; sign-in stopped");
            self.audit.record(EventKind::FactorMissing, Some(&user.id), &origin, &detail).await;
            return Err(SignInError::FactorMissing);
        }
        let amr = match found.used {
            PasskeyUse::DeviceBound => HWK,
            PasskeyUse::Synced => SWK,
        };
        self.audit.record(EventKind::PasskeyUsed, Some(&user.id), &origin, "sign_in").await;
        self.start(&user, return_to, origin, amr).await
    }

    /// Audits a refused answer; the error to show.
    async fn passkey_refused(&self, refused: Refused, origin: &RequestOrigin) -> SignInError {
        self.audit.record(EventKind::PasskeyFailed, refused.user.as_ref(), origin, refused.why.reason()).await;
        match refused.why {
            Refusal::CounterWentBack => SecondFactorError::PasskeyCloned.into(),
            _ => SecondFactorError::PasskeyRefused.into(),
        }
    }
}
