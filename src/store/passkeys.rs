//! Passkey (WebAuthn) ceremonies between their two requests, and each credential's signature
//! counter. The credentials themselves are second factors ([`SecondFactors::passkeys`]).
//!
//! [`SecondFactors::passkeys`]: super::SecondFactors::passkeys

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::domain::UserId;

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CeremonyPurpose {
    /// Adding a passkey from the account page.
    Register,
    /// Using a passkey at a sign-in's second step.
    SecondStep,
    /// Signing in with a discoverable passkey at `/login` (no account known before the answer).
    SignIn,
}

/// A ceremony begun and not yet finished: whose, what for, and the relying party's state
/// (webauthn-rs's registration or authentication state as JSON, holding the challenge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyCeremony {
    /// The account it is for; `None` for a sign-in, whose account the answer names.
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// What it is for.
    pub purpose: CeremonyPurpose,
    /// The relying party's state, as JSON.
    pub state: String,
}

/// Passkey ceremonies (single use, expiring) and signature counters.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Keeps a ceremony under `id` (a keyed hash naming the browser and the purpose) for `ttl`,
    /// replacing any earlier one there.
    async fn put_passkey_ceremony(&self, id: &str, ceremony: &PasskeyCeremony, ttl: Duration) -> StoreResult<()>;

    /// Takes the ceremony under `id` and deletes it in the same step: of concurrent calls,
    /// exactly one gets it (a challenge is answered once).
    async fn take_passkey_ceremony(&self, id: &str) -> StoreResult<Option<PasskeyCeremony>>;

    /// Records that credential `credential` of `user` signed with counter `counter`, in one
    /// atomic step; false (and nothing changes) if that counter or a higher one was seen
    /// before: a counter that does not move forward is a cloned authenticator's.
    async fn use_passkey_counter(&self, user: &UserId, credential: &str, counter: u32) -> StoreResult<bool>;

    /// Forgets a credential's counter (the passkey was removed).
    async fn forget_passkey_counter(&self, user: &UserId, credential: &str) -> StoreResult<()>;

    /// Records that the WebAuthn user handle `handle` (a keyed hash of the user id, base64url)
    /// names `user`, so a discoverable passkey's answer finds its account. The user's side
    /// keeps the handle too, so deleting the account removes the entry
    /// ([`UserStore::delete_user`](super::UserStore::delete_user)).
    async fn put_passkey_owner(&self, handle: &str, user: &UserId) -> StoreResult<()>;

    /// The account a user handle names, if any.
    async fn passkey_owner(&self, handle: &str) -> StoreResult<Option<UserId>>;
}
