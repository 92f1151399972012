//! Changes of an account's address: the change waiting for its link (one per account, a newer
//! request replaces it), the "this wasn't me" links that undo a change (kept 7 days), and the
//! move itself — the address index, the record's address and the spent link in one step.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{StoreResult, User};
use crate::domain::{Email, RequestOrigin, UserId};

/// A requested change of address, waiting for the link mailed to the new address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEmailChange {
    /// The keyed hash of the link's token (never the token).
    pub id: String,
    /// Whose address.
    pub user_id: UserId,
    /// The address when it was asked for.
    pub from: Email,
    /// The new address.
    pub to: Email,
    /// Keyed hash of the code in the mail, bound to `id`.
    pub code: String,
    /// HMAC of the asking browser's binding secret.
    pub browser: String,
    /// Where it was asked from.
    pub requested_from: RequestOrigin,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When the link and code stop working.
    pub expires_at: DateTime<Utc>,
}

/// A "this wasn't me" link sent to the address a change moved away from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRevert {
    /// Whose address.
    pub user_id: UserId,
    /// The address to restore (where the link went).
    pub from: Email,
    /// The address the change moved to.
    pub to: Email,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// Its place among the account's links (later changes' links have higher numbers); the
    /// store numbers it when it keeps it.
    #[serde(default)]
    pub seq: u64,
}

/// What a move of an address spends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailMoveSource {
    /// An administrator's change: nothing.
    Admin,
    /// The account's pending change, as read (its `id`): it is used up.
    Change(String),
    /// The "this wasn't me" link with this id: it and every revert link of the account newer
    /// than it (of later changes, which it undoes too) are used up; older ones stay, so a
    /// thief who moved the address twice cannot void the owner's link with their own.
    Revert(String),
}

/// How a move ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailMoved {
    /// The account now has the new address; its record as written.
    Moved(User),
    /// The new address belongs to another account: nothing changed (nothing spent).
    Taken,
    /// The pending change or revert link is gone (used, replaced, never there), or the
    /// account is: nothing changed.
    Gone,
}

/// Changes of address.
#[async_trait]
pub trait EmailChangeStore: Send + Sync {
    /// Keeps `change` as its account's pending change for `ttl`, replacing any earlier one
    /// (whose link then stops working) and its spent code tries.
    async fn put_email_change(&self, change: &PendingEmailChange, ttl: Duration) -> StoreResult<()>;

    /// The account's pending change, read without spending anything.
    async fn get_email_change(&self, user: &UserId) -> StoreResult<Option<PendingEmailChange>>;

    /// Spends one code guess on the account's pending change *before* the guess is checked:
    /// the change and the tries spent, or `None` (and the change deleted) once more than
    /// `max_tries` are spent.
    async fn take_email_change_try(
        &self,
        user: &UserId,
        max_tries: u32,
    ) -> StoreResult<Option<(PendingEmailChange, u32)>>;

    /// Keeps a "this wasn't me" link of the account under `id` for `ttl`, numbered after the
    /// account's earlier links (`seq`).
    async fn put_email_revert(&self, id: &str, revert: &EmailRevert, ttl: Duration) -> StoreResult<()>;

    /// The account's "this wasn't me" link `id`, read without using it.
    async fn get_email_revert(&self, user: &UserId, id: &str) -> StoreResult<Option<EmailRevert>>;

    /// Moves `user` from the address `from_lookup` to `to` (`to_lookup`), spending `source`:
    /// the index entry of `to` names the user, the record says `to` and the entry of `from`
    /// goes. Of concurrent moves spending one source, exactly one moves. Refused (`Taken`,
    /// nothing changed) when `to` belongs to another account.
    async fn move_email(
        &self,
        user: &UserId,
        source: &EmailMoveSource,
        from_lookup: &str,
        to_lookup: &str,
        to: &Email,
    ) -> StoreResult<EmailMoved>;
}
