//! The store port: everything latchkey keeps between requests. Two adapters implement it —
//! [`MemoryStore`] for development and tests, [`RedisStore`] for production — and one contract
//! test suite runs against both.

mod keys;
mod memory;
mod records;
mod redis;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use keys::Keys;
pub use memory::MemoryStore;
pub use records::{LinkAttempt, Redemption, SessionRecord, User};
pub use redis::RedisStore;

use crate::domain::{AttemptId, Email, SessionId, UserId};

/// The store could not answer. Callers fail closed: no session is ever issued without it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is unreachable or timed out.
    #[error("store unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A value in the store could not be read back.
    #[error("store holds a value that cannot be read")]
    Corrupt(#[source] anyhow::Error),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// What latchkey keeps. Every method is one round trip, and every multi-key change is atomic.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the store answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Saves a new, pending sign-in attempt; the store forgets it after `keep_for`.
    async fn put_attempt(&self, id: &AttemptId, attempt: &LinkAttempt, keep_for: Duration) -> StoreResult<()>;

    /// Reads an attempt without changing it (the confirm page); `None` when unknown or forgotten.
    async fn peek_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>>;

    /// Consumes a pending, unexpired attempt in one atomic step: of any number of concurrent
    /// calls for the same id, on any instance, exactly one gets [`Redemption::Valid`].
    async fn redeem_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<Redemption>>;

    /// The user with this address, created with a new id on first sign-in. `lookup` is the
    /// keyed hash of the address, so store keys carry no address.
    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User>;

    /// Allow-lists a session for `ttl`.
    async fn put_session(&self, session: &SessionRecord, ttl: Duration) -> StoreResult<()>;

    /// The allow-listed session, if it is still live.
    async fn get_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<Option<SessionRecord>>;

    /// Ends one session; returns whether it existed.
    async fn delete_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<bool>;
}
