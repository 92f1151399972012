//! OIDC refresh token families: the record and the store trait. A family is born with the
//! exchange of one authorization code that was granted `offline_access`; every use of its
//! current token spends that token and names a new one (rotation). The store holds only keyed
//! hashes of the tokens: the current one, and the last [`SPENT_KEPT`] spent ones, so that a
//! spent token presented again is recognised (and the family revoked).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::domain::{Email, SessionId, UserId};

/// How many spent token hashes a family keeps to recognise reuse; a token spent longer ago
/// than that counts as unknown (refused without revoking).
pub const SPENT_KEPT: usize = 100;

/// One family of refresh tokens: what the authorization-code grant it came from granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    /// The family's random id (also inside its tokens).
    pub id: String,
    /// Whose.
    pub user_id: UserId,
    /// The user's address (for the access grant and the id_token).
    pub email: Email,
    /// The session the authorization code was issued in.
    pub sid: SessionId,
    /// The client the tokens are bound to.
    pub client_id: String,
    /// The granted scope (space-separated, with `offline_access`).
    pub scope: String,
    /// When the session signed in (unix seconds; the id_token's `auth_time`).
    pub auth_time: i64,
    /// How the session signed in (the id_token's `amr`).
    pub amr: Vec<String>,
    /// When the family was created.
    pub created_at: DateTime<Utc>,
    /// When every token of the family stops working.
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was the family's current token: it is spent now and the new one is current.
    Rotated(Box<RefreshFamily>),
    /// It was spent already: the family is revoked (deleted) in the same step.
    Reused(Box<RefreshFamily>),
    /// The family belongs to another client: nothing changed.
    WrongClient,
    /// No such family, or a token it does not know: nothing changed.
    Unknown,
}

/// OIDC refresh token families, indexed per user.
#[async_trait]
pub trait RefreshStore: Send + Sync {
    /// Saves a new family whose current token has the keyed hash `token_id`, kept for `ttl`,
    /// and adds it to its user's index (one atomic step).
    async fn put_refresh_family(&self, family: &RefreshFamily, token_id: &str, ttl: Duration) -> StoreResult<()>;

    /// A live family, read without changing it.
    async fn get_refresh_family(&self, user: &UserId, family: &str) -> StoreResult<Option<RefreshFamily>>;

    /// Presents a token (`presented`, a keyed hash) for `client_id`, atomically: the current
    /// token is spent and `next` becomes current (`Rotated`); a spent one revokes the family
    /// (`Reused`). Of concurrent calls with one token, exactly one gets `Rotated`.
    async fn rotate_refresh_token(
        &self,
        user: &UserId,
        family: &str,
        client_id: &str,
        presented: &str,
        next: &str,
    ) -> StoreResult<Rotation>;

    /// Every live family of a user.
    async fn list_refresh_families(&self, user: &UserId) -> StoreResult<Vec<RefreshFamily>>;

    /// Revokes one family; true if it existed.
    async fn delete_refresh_family(&self, user: &UserId, family: &str) -> StoreResult<bool>;

    /// Revokes every family of a user in one step; returns how many there were.
    async fn delete_refresh_families(&self, user: &UserId) -> StoreResult<usize>;
}
