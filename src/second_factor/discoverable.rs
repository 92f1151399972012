//! Signing in with a discoverable passkey (no address typed): the ceremony begins with no
//! account known, and the authenticator's answer names its account by the user handle it
//! kept at registration. The handle must name an account that owns the credential that
//! signed; webauthn-rs requires user verification (PIN or biometric) for the ceremony.

use serde_json::Value;
use webauthn_rs::prelude::{DiscoverableAuthentication, PublicKeyCredential};

use super::passkeys::{CEREMONY_TTL, PasskeyUse, parse_credential, refused, user_handle};
use super::service::{Priority, SecondFactorError, SecondFactorService};
use crate::crypto;
use crate::domain::UserId;
use crate::store::{CeremonyPurpose, PasskeyCeremony};

/// A passkey that signed in: whose, and how it counts in `amr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The account.
    pub user: UserId,
    /// Bound to its device, or synced.
    pub used: PasskeyUse,
}

/// Why a passkey's answer did not sign in (audited; the person reads one sentence for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No ceremony waits for this browser: never begun here, already answered, or expired.
    NoCeremony,
    /// The answer's user handle names no account, or a credential that account does not have.
    UnknownCredential,
    /// The signature, origin, RP ID or challenge did not verify.
    NotVerified,
    /// The authenticator did not verify the user (no UV flag).
    NoUserVerification,
    /// The signature counter went back: a copied authenticator.
    CounterWentBack,
}

impl Refusal {
    /// The audit detail (and metric label).
    pub fn reason(self) -> &'static str {
        match self {
            Self::NoCeremony => "no_ceremony",
            Self::UnknownCredential => "unknown_credential",
            Self::NotVerified => "not_verified",
            Self::NoUserVerification => "no_user_verification",
            Self::CounterWentBack => "counter_went_back",
        }
    }
}

/// A refused answer, and the account it named when it named one that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The account the handle named, if any.
    pub user: Option<UserId>,
    /// Why.
    pub why: Refusal,
}

fn refuse(user: Option<UserId>, why: Refusal) -> Result<Result<Discovered, Refused>, SecondFactorError> {
    Ok(Err(Refused { user, why }))
}

/// Asks, in creation options, for a discoverable credential where the authenticator can make
/// one (`residentKey: "preferred"`), so a passkey added from the account page also signs in
/// at `/login`. webauthn-rs asks for `discouraged` and checks nothing of it at the finish.
pub(super) fn prefer_resident_key(options: &mut Value) {
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection").and_then(Value::as_object_mut) {
        selection.insert("residentKey".to_owned(), Value::from("preferred"));
    }
}

impl SecondFactorService {
    /// The store's name for `user`'s WebAuthn user handle (base64url).
    pub(super) fn handle_of(&self, user: &UserId) -> String {
        crypto::b64(user_handle(&self.keys, user).as_bytes())
    }

    /// Begins a passkey sign-in bound to `binding` (the browser's `__Host-passkey` secret),
    /// replacing any this browser began before: the request options for
    /// `navigator.credentials.get`, as JSON, with `mediation: "conditional"` when the
    /// browser's address field offers the passkeys (conditional UI).
    pub async fn begin_discoverable(&self, binding: &str, conditional: bool) -> Result<Value, SecondFactorError> {
        let rp = self.rp()?;
        let (mut options, state): (_, DiscoverableAuthentication) =
            rp.start_discoverable_authentication().map_err(|e| SecondFactorError::Passkey(e.to_string()))?;
        if !conditional {
            options.mediation = None;
        }
        let state = serde_json::to_string(&state).map_err(|_| SecondFactorError::Sealed)?;
        let ceremony = PasskeyCeremony { user_id: None, purpose: CeremonyPurpose::SignIn, state };
        let id = self.ceremony_id(CeremonyPurpose::SignIn, binding);
        self.store.put_passkey_ceremony(&id, &ceremony, CEREMONY_TTL).await?;
        serde_json::to_value(options).map_err(|_| SecondFactorError::Sealed)
    }

    /// Checks the browser's answer (`credential`, JSON) to the sign-in ceremony waiting under
    /// `binding`, which is used up whatever the answer. The user handle must name an account
    /// that has the credential which signed; the counter must move forward (checked
    /// atomically). `Ok(Err(_))` is a refusal, `Err(_)` a malformed answer or a store failure.
    pub async fn finish_discoverable(
        &self,
        binding: &str,
        credential: &str,
    ) -> Result<Result<Discovered, Refused>, SecondFactorError> {
        let rp = self.rp()?;
        let credential: PublicKeyCredential = parse_credential(credential)?;
        let id = self.ceremony_id(CeremonyPurpose::SignIn, binding);
        let ceremony = self.store.take_passkey_ceremony(&id).await?;
        let Some(ceremony) = ceremony.filter(|c| c.purpose == CeremonyPurpose::SignIn && c.user_id.is_none()) else {
            return refuse(None, Refusal::NoCeremony);
        };
        let state: DiscoverableAuthentication =
            serde_json::from_str(&ceremony.state).map_err(|_| SecondFactorError::Sealed)?;
        let Ok((handle, credential_id)) = rp.identify_discoverable_authentication(&credential) else {
            return refuse(None, Refusal::UnknownCredential);
        };
        let credential_id = crypto::b64(credential_id);
        let Some(user) = self.store.passkey_owner(&crypto::b64(handle.as_bytes())).await? else {
            return refuse(None, Refusal::UnknownCredential);
        };
        // The handle names the account; the credential that signed must be one of its own
        // (another account's passkey presented with this handle is refused here).
        let factors = self.store.get_factors(&user).await?;
        let Some(stored) = factors.passkeys.iter().find(|p| p.id == credential_id) else {
            return refuse(Some(user), Refusal::UnknownCredential);
        };
        let passkey = self.open_passkey(&user, stored)?;
        let result = match rp.finish_discoverable_authentication_v2(&credential, state, &passkey) {
            Ok(result) => result,
            Err(e) => {
                let why = match refused(&user, e) {
                    SecondFactorError::PasskeyCloned => Refusal::CounterWentBack,
                    _ => Refusal::NotVerified,
                };
                return refuse(Some(user), why);
            }
        };
        // webauthn-rs refuses an answer without UV for this ceremony; checked again here
        // because the sign-in counts the passkey as both factors only with it.
        if !result.user_verified() {
            return refuse(Some(user), Refusal::NoUserVerification);
        }
        // Atomic, unlike webauthn-rs's comparison with the sealed copy: two answers with one
        // counter (a clone used at once) are not both accepted.
        if result.counter() > 0 && !self.store.use_passkey_counter(&user, &credential_id, result.counter()).await? {
            tracing::warn!(user = %user, "a passkey's counter did not move forward");
            return refuse(Some(user), Refusal::CounterWentBack);
        }
        // A passkey removed meanwhile stays removed, and this answer is refused.
        let (used, _) = self
            .change_factors_read(&user, Some(factors), Priority::Low, |factors| {
                match factors.passkeys.iter_mut().find(|p| p.id == credential_id) {
                    Some(stored) => self.note_use(&user, &credential_id, stored, &result).map(Some),
                    None => Ok(None),
                }
            })
            .await?;
        match used {
            Some(used) => Ok(Ok(Discovered { user, used })),
            None => refuse(Some(user), Refusal::UnknownCredential),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_options_ask_for_a_discoverable_credential() {
        let mut options = serde_json::json!({"publicKey": {"authenticatorSelection": {
            "residentKey": "discouraged", "requireResidentKey": false, "userVerification": "required"}}});
        prefer_resident_key(&mut options);
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "preferred");
        assert_eq!(selection["requireResidentKey"], false);
        assert_eq!(selection["userVerification"], "required");
    }
}
