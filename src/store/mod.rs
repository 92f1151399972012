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

    /// Spends one code guess on a pending attempt *before* the guess is checked, so parallel
    /// guesses cannot exceed the limit: `Valid` if a try was left, `Dead` once `max_tries` are
    /// spent (the attempt — link and code — is then dead). Also returns the tries spent.
    async fn take_code_try(
        &self,
        id: &AttemptId,
        now: DateTime<Utc>,
        max_tries: u32,
    ) -> StoreResult<Option<(Redemption, u32)>>;

    /// Ends a pending attempt (its last code guess was wrong).
    async fn kill_attempt(&self, id: &AttemptId) -> StoreResult<()>;

    /// The address's link generation; with `bump`, first moves it on (superseding every link
    /// issued before). Unknown addresses are at generation 0.
    async fn link_generation(&self, lookup: &str, bump: bool) -> StoreResult<u64>;

    /// Moves the generation on from `expected`, atomically; false if it was not `expected` (a
    /// newer link, or another sign-in, got there first).
    async fn advance_generation(&self, lookup: &str, expected: u64) -> StoreResult<bool>;

    /// Adds `cost` to a fixed-window counter (creating it with `window`) and returns the count
    /// and the time left in the window. `cost` 0 only reads.
    async fn hit_limit(&self, key: &RateKey, window: Duration, cost: u64) -> StoreResult<(u64, Duration)>;

    /// The user with this address, created with a new id on first sign-in. `lookup` is the
    /// keyed hash of the address, so store keys carry no address.
    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User>;

    /// Allow-lists a session for `ttl`.
    async fn put_session(&self, session: &SessionRecord, ttl: Duration) -> StoreResult<()>;

    /// The allow-listed session, if it is still live.
    async fn get_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<Option<SessionRecord>>;

    /// Ends one session; returns whether it existed.
    async fn delete_session(&self, user: &UserId, sid: &SessionId) -> StoreResult<bool>;

    /// Every live session of a user.
    async fn list_sessions(&self, user: &UserId) -> StoreResult<Vec<SessionRecord>>;

    /// Ends every session of a user, atomically; returns how many there were.
    async fn delete_all_sessions(&self, user: &UserId) -> StoreResult<usize>;

    /// Rewrites a live session's record (last seen), keeping its TTL; a no-op if it has ended.
    async fn touch_session(&self, session: &SessionRecord) -> StoreResult<()>;
}

/// A rate-limit counter's name: the action and a keyed hash of its subject (address or IP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateKey {
    /// The limited action's name.
    pub action: &'static str,
    /// Keyed hash of the subject.
    pub subject: String,
}
