//! Passkeys (WebAuthn, through webauthn-rs) as a second factor: adding one from the account
//! page, using one at a sign-in's second step, removing one. Each ceremony's state waits in the
//! store between its two requests (any instance finishes what another began), bound to the
//! browser, for [`CEREMONY_TTL`], and is taken once. The relying party is `PUBLIC_URL`: its
//! host is the RP ID, its origin the only origin accepted.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;
use webauthn_rs::prelude::{
    AuthenticationResult, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::service::{NameProblem, Priority, SecondFactorError, SecondFactorService};
use crate::crypto::{self, Keyring};
use crate::domain::{Email, UserId};
use crate::store::{CeremonyPurpose, PasskeyCeremony, StoreError, StoredPasskey};

/// How long a ceremony waits for the browser's answer.
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);
/// Passkeys an account may have.
pub const MAX_PASSKEYS: usize = 10;
/// The longest name a passkey may be given (characters).
pub const MAX_NAME: usize = 64;

/// The relying party latchkey is, for `public_url`; `None` (passkeys unavailable) when its
/// host cannot be an RP ID (an IP address, say).
pub fn relying_party(public_url: &Url, name: &str) -> Option<Arc<Webauthn>> {
    let host = public_url.host_str()?;
    let origin = Url::parse(&public_url.origin().ascii_serialization()).ok()?;
    match WebauthnBuilder::new(host, &origin).and_then(|b| b.rp_name(name).timeout(CEREMONY_TTL).build()) {
        Ok(rp) => Some(Arc::new(rp)),
        Err(e) => {
            tracing::warn!(error = %e, "passkeys are unavailable for this PUBLIC_URL");
            None
        }
    }
}

/// How a passkey was used at a second step (for `amr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyUse {
    /// A key bound to its device (RFC 8176 `hwk`).
    DeviceBound,
    /// A key the authenticator may sync to other devices (RFC 8176 `swk`).
    Synced,
}

impl PasskeyUse {
    /// The RFC 8176 method.
    pub fn amr(self) -> &'static str {
        match self {
            Self::DeviceBound => "hwk",
            Self::Synced => "swk",
        }
    }
}

fn seal_context(user: &UserId, id: &str) -> String {
    format!("passkey:{user}:{id}")
}

/// The WebAuthn user handle for an account: derived from its id with a key, so the
/// authenticator learns nothing it could link to the id.
pub(super) fn user_handle(keys: &Keyring, user: &UserId) -> Uuid {
    let mac = keys.token.mac(&[b"passkey-user", user.as_str().as_bytes()]);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&mac[..16]);
    Uuid::from_bytes(bytes)
}

/// Parses the browser's credential JSON; a 400 names the field that is wrong.
pub(super) fn parse_credential<T: DeserializeOwned>(json: &str) -> Result<T, SecondFactorError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { String::new() } else { format!(" at {path}") };
        SecondFactorError::BadCredential(format!("credential: not a WebAuthn credential{at}: {}", e.inner()))
    })
}

impl SecondFactorService {
    pub(super) fn rp(&self) -> Result<&Webauthn, SecondFactorError> {
        self.relying_party.as_deref().ok_or(SecondFactorError::MethodNotAllowed)
    }

    pub(super) fn ceremony_id(&self, purpose: CeremonyPurpose, binding: &str) -> String {
        let purpose = match purpose {
            CeremonyPurpose::Register => "register",
            CeremonyPurpose::SecondStep => "second-step",
            CeremonyPurpose::SignIn => "sign-in",
        };
        self.keys.token.mac_b64(&[b"passkey-ceremony", purpose.as_bytes(), binding.as_bytes()])
    }

    /// The ceremony waiting under `binding` for `purpose`, taken (it is answered once) and
    /// checked to be `user`'s.
    async fn take_ceremony<T: DeserializeOwned>(
        &self,
        user: &UserId,
        purpose: CeremonyPurpose,
        binding: &str,
    ) -> Result<T, SecondFactorError> {
        let ceremony = self.store.take_passkey_ceremony(&self.ceremony_id(purpose, binding)).await?;
        let ceremony = ceremony.filter(|c| c.user_id.as_ref() == Some(user) && c.purpose == purpose);
        let ceremony = ceremony.ok_or(SecondFactorError::NothingPending)?;
        serde_json::from_str(&ceremony.state).map_err(|_| SecondFactorError::Sealed)
    }

    async fn put_ceremony(
        &self,
        user: &UserId,
        purpose: CeremonyPurpose,
        binding: &str,
        state: &impl serde::Serialize,
    ) -> Result<(), SecondFactorError> {
        let state = serde_json::to_string(state).map_err(|_| SecondFactorError::Sealed)?;
        let ceremony = PasskeyCeremony { user_id: Some(user.clone()), purpose, state };
        self.store.put_passkey_ceremony(&self.ceremony_id(purpose, binding), &ceremony, CEREMONY_TTL).await?;
        Ok(())
    }

    pub(super) fn open_passkey(&self, user: &UserId, stored: &StoredPasskey) -> Result<Passkey, SecondFactorError> {
        let bytes = self
            .keys
            .sealer
            .open(&seal_context(user, &stored.id), &stored.sealed)
            .map_err(|_| SecondFactorError::Sealed)?;
        serde_json::from_slice(&bytes).map_err(|_| SecondFactorError::Sealed)
    }

    pub(super) fn seal_passkey(&self, user: &UserId, id: &str, passkey: &Passkey) -> Result<String, SecondFactorError> {
        let json = serde_json::to_vec(passkey).map_err(|_| SecondFactorError::Sealed)?;
        Ok(self.keys.sealer.seal(&seal_context(user, id), &json)?)
    }

    /// Notes a use of the passkey `stored` (`id`) on it: the credential as the authenticator
    /// left it (its counter), when, and its backup flags. Returns how it was used.
    pub(super) fn note_use(
        &self,
        user: &UserId,
        id: &str,
        stored: &mut StoredPasskey,
        result: &AuthenticationResult,
    ) -> Result<PasskeyUse, SecondFactorError> {
        let mut passkey = self.open_passkey(user, stored)?;
        passkey.update_credential(result);
        stored.sealed = self.seal_passkey(user, id, &passkey)?;
        stored.last_used_at = Some(self.clock.now());
        stored.synced = result.backup_eligible();
        stored.backed_up = result.backup_state();
        Ok(if stored.synced { PasskeyUse::Synced } else { PasskeyUse::DeviceBound })
    }

    /// True when passkeys can be used here (a relying party could be made of `PUBLIC_URL`).
    pub fn passkeys_available(&self) -> bool {
        self.relying_party.is_some()
    }

    /// Begins adding a passkey to `user`'s account, bound to `binding` (the session): the
    /// creation options for `navigator.credentials.create`, as JSON. The account's passkeys
    /// are excluded (an authenticator is not added twice).
    pub async fn begin_passkey_registration(
        &self,
        user: &UserId,
        email: &Email,
        binding: &str,
    ) -> Result<serde_json::Value, SecondFactorError> {
        let rp = self.rp()?;
        let factors = self.store.get_factors(user).await?;
        if factors.passkeys.len() >= MAX_PASSKEYS {
            return Err(SecondFactorError::TooManyPasskeys);
        }
        let mut exclude = Vec::new();
        for stored in &factors.passkeys {
            exclude.push(self.open_passkey(user, stored)?.cred_id().clone());
        }
        let (options, state): (_, PasskeyRegistration) = rp
            .start_passkey_registration(user_handle(&self.keys, user), email.as_str(), email.as_str(), Some(exclude))
            .map_err(|e| SecondFactorError::Passkey(e.to_string()))?;
        self.put_ceremony(user, CeremonyPurpose::Register, binding, &state).await?;
        let mut options = serde_json::to_value(options).map_err(|_| SecondFactorError::Sealed)?;
        super::discoverable::prefer_resident_key(&mut options);
        Ok(options)
    }

    /// Finishes adding a passkey: the browser's answer (`credential`, JSON) to the ceremony
    /// waiting under `binding`, which is used up whatever the answer. Returns the new passkey.
    /// Without a `name` it is named after the `device` it was added from ("Chrome on Linux"),
    /// or "Passkey N" when the browser is not known.
    pub async fn finish_passkey_registration(
        &self,
        user: &UserId,
        binding: &str,
        credential: &str,
        name: &str,
        device: Option<&str>,
    ) -> Result<StoredPasskey, SecondFactorError> {
        let stored = self.check_passkey_registration(user, binding, credential, name, device).await?;
        self.keep_passkey(user, &stored).await?;
        Ok(stored)
    }

    /// Checks the browser's answer to the registration waiting under `binding` (used up
    /// whatever the answer) and returns the passkey it makes, not yet kept: a caller with
    /// something to claim first (a sign-in step) keeps it with [`Self::keep_passkey`].
    pub async fn check_passkey_registration(
        &self,
        user: &UserId,
        binding: &str,
        credential: &str,
        name: &str,
        device: Option<&str>,
    ) -> Result<StoredPasskey, SecondFactorError> {
        let rp = self.rp()?;
        let name = passkey_name(name)?;
        let credential: RegisterPublicKeyCredential = parse_credential(credential)?;
        let state: PasskeyRegistration = self.take_ceremony(user, CeremonyPurpose::Register, binding).await?;
        let passkey = rp.finish_passkey_registration(&credential, &state).map_err(|e| refused(user, e))?;
        let id = crypto::b64(passkey.cred_id());
        let count = self.store.get_factors(user).await?.passkeys.len();
        let (synced, backed_up) = backup_flags(&passkey);
        let name = match (name.is_empty(), device) {
            (false, _) => name,
            (true, Some(device)) => device.chars().take(MAX_NAME).collect(),
            (true, None) => format!("Passkey {}", count + 1),
        };
        Ok(StoredPasskey {
            name,
            sealed: self.seal_passkey(user, &id, &passkey)?,
            id,
            added_at: self.clock.now(),
            last_used_at: None,
            synced,
            backed_up,
        })
    }

    /// Adds a checked passkey ([`Self::check_passkey_registration`]) to the user's factors,
    /// unless it is there already or the account has as many as it may. The factors are written
    /// last, so that nothing can fail between them and the caller's notice (the user handle
    /// it records first names the account whether or not a passkey follows).
    pub async fn keep_passkey(&self, user: &UserId, stored: &StoredPasskey) -> Result<(), SecondFactorError> {
        self.store.put_passkey_owner(&self.handle_of(user), user).await?;
        self.change_factors(user, Priority::High, |factors| {
            if factors.passkeys.iter().any(|p| p.id == stored.id) {
                return Err(SecondFactorError::PasskeyKnown);
            }
            if factors.passkeys.len() >= MAX_PASSKEYS {
                return Err(SecondFactorError::TooManyPasskeys);
            }
            factors.passkeys.push(stored.clone());
            Ok(())
        })
        .await?;
        tracing::info!(user = %user, "passkey added");
        Ok(())
    }

    /// Gives one of the user's passkeys (`id`, base64url) a new name: plain text of at most
    /// [`MAX_NAME`] characters, not empty. Returns the name it had.
    pub async fn rename_passkey(&self, user: &UserId, id: &str, name: &str) -> Result<String, SecondFactorError> {
        let name = passkey_name(name)?;
        if name.is_empty() {
            return Err(SecondFactorError::PasskeyName(NameProblem::Empty));
        }
        let (old, _) = self
            .change_factors(user, Priority::Low, |factors| {
                let stored =
                    factors.passkeys.iter_mut().find(|p| p.id == id).ok_or(SecondFactorError::NoSuchPasskey)?;
                Ok::<_, SecondFactorError>(std::mem::replace(&mut stored.name, name.clone()))
            })
            .await?;
        Ok(old)
    }

    /// Removes every passkey of the user (an administrator's action); the recovery codes go
    /// with them when no factor is left. Returns how many there were.
    pub async fn remove_all_passkeys(&self, user: &UserId) -> Result<usize, StoreError> {
        let (removed, factors) = self
            .change_factors(user, Priority::High, |factors| Ok::<_, StoreError>(std::mem::take(&mut factors.passkeys)))
            .await?;
        if removed.is_empty() {
            return Ok(0);
        }
        for passkey in &removed {
            self.store.forget_passkey_counter(user, &passkey.id).await?;
        }
        if !factors.any() {
            self.store.set_recovery_codes(user, &[]).await?;
        }
        tracing::info!(user = %user, count = removed.len(), "passkeys removed");
        Ok(removed.len())
    }

    /// Removes one of the user's passkeys (`id`, base64url); the recovery codes go with it when
    /// no factor is left. The caller has checked that a second factor was used in this session
    /// lately. Returns the removed passkey's name.
    pub async fn remove_passkey(&self, user: &UserId, id: &str) -> Result<String, SecondFactorError> {
        let (removed, factors) = self
            .change_factors(user, Priority::High, |factors| {
                let at = factors.passkeys.iter().position(|p| p.id == id).ok_or(SecondFactorError::NoSuchPasskey)?;
                Ok::<_, SecondFactorError>(factors.passkeys.remove(at))
            })
            .await?;
        self.store.forget_passkey_counter(user, id).await?;
        if !factors.any() {
            self.store.set_recovery_codes(user, &[]).await?;
        }
        tracing::info!(user = %user, "passkey removed");
        Ok(removed.name)
    }

    /// Begins using one of `user`'s passkeys at a second step bound to `binding`: the request
    /// options for `navigator.credentials.get`, as JSON, allowing only the user's passkeys.
    pub async fn begin_passkey_check(
        &self,
        user: &UserId,
        binding: &str,
    ) -> Result<serde_json::Value, SecondFactorError> {
        let rp = self.rp()?;
        let factors = self.store.get_factors(user).await?;
        let mut passkeys = Vec::new();
        for stored in &factors.passkeys {
            passkeys.push(self.open_passkey(user, stored)?);
        }
        if passkeys.is_empty() {
            return Err(SecondFactorError::NothingPending);
        }
        let (options, state): (_, PasskeyAuthentication) =
            rp.start_passkey_authentication(&passkeys).map_err(|e| SecondFactorError::Passkey(e.to_string()))?;
        self.put_ceremony(user, CeremonyPurpose::SecondStep, binding, &state).await?;
        serde_json::to_value(options).map_err(|_| SecondFactorError::Sealed)
    }

    /// Checks the browser's answer (`credential`, JSON) to the second-step ceremony waiting
    /// under `binding`. The guess is counted first, like a code; the ceremony is used up
    /// whatever the answer. A signature counter that does not move forward (a cloned
    /// authenticator) is refused ([`SecondFactorError::PasskeyCloned`]).
    pub async fn check_passkey(
        &self,
        user: &UserId,
        binding: &str,
        credential: &str,
    ) -> Result<PasskeyUse, SecondFactorError> {
        let rp = self.rp()?;
        self.guard(user).await?;
        let credential: PublicKeyCredential = parse_credential(credential)?;
        let state: PasskeyAuthentication = self.take_ceremony(user, CeremonyPurpose::SecondStep, binding).await?;
        let result = rp.finish_passkey_authentication(&credential, &state).map_err(|e| refused(user, e))?;
        let id = crypto::b64(result.cred_id());
        // The counter check above compared with the sealed copy; this one is atomic, so two
        // answers with the same counter (a clone used at once) are not both accepted.
        if result.counter() > 0 && !self.store.use_passkey_counter(user, &id, result.counter()).await? {
            tracing::warn!(user = %user, "a passkey's counter did not move forward");
            return Err(SecondFactorError::PasskeyCloned);
        }
        // A passkey removed meanwhile stays removed, and this answer is refused.
        let (used, _) = self
            .change_factors(user, Priority::Low, |factors| {
                let stored =
                    factors.passkeys.iter_mut().find(|p| p.id == id).ok_or(SecondFactorError::PasskeyRefused)?;
                self.note_use(user, &id, stored, &result)
            })
            .await?;
        Ok(used)
    }
}

/// Whether the authenticator said, at registration, that it may sync the key and that it is
/// backed up (webauthn-rs keeps the flags in the credential it serialises; its accessors are
/// behind another feature).
fn backup_flags(passkey: &Passkey) -> (bool, bool) {
    let json = serde_json::to_value(passkey).unwrap_or_default();
    let flag = |name: &str| json.pointer(&format!("/cred/{name}")).and_then(serde_json::Value::as_bool);
    (flag("backup_eligible").unwrap_or(false), flag("backup_state").unwrap_or(false))
}

/// A passkey's name as typed: trimmed plain text of at most [`MAX_NAME`] characters, without
/// control characters ("" when none was given). A 400 names the field otherwise.
pub fn passkey_name(raw: &str) -> Result<String, SecondFactorError> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME {
        return Err(SecondFactorError::PasskeyName(NameProblem::TooLong));
    }
    if name.chars().any(char::is_control) {
        return Err(SecondFactorError::PasskeyName(NameProblem::NotPlainText));
    }
    Ok(name.to_owned())
}

/// What webauthn-rs's refusal means to the caller (the reason is logged, not shown).
pub(super) fn refused(user: &UserId, e: WebauthnError) -> SecondFactorError {
    if matches!(e, WebauthnError::CredentialPossibleCompromise) {
        tracing::warn!(user = %user, "a passkey's counter went back");
        return SecondFactorError::PasskeyCloned;
    }
    tracing::warn!(user = %user, reason = %e, "passkey refused");
    SecondFactorError::PasskeyRefused
}
