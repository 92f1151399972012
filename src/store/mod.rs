//! The store port: everything latchkey keeps between requests, one trait per concern
//! ([`Store`] is their sum). Two adapters implement it — [`MemoryStore`] for development and
//! tests, [`RedisStore`] for production, each one file per concern — and one contract test
//! suite runs against both.

mod connection;
mod connector;
mod durability;
mod email_change;
mod identity;
mod keys;
mod memory;
mod passkeys;
mod queue;
mod records;
mod redis;
mod refresh;
mod sentinel;
mod suppressions;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use connection::{RedisConnection, Replication, STORE_TIMEOUT};
pub use connector::{DEFAULT_WAIT_TIMEOUT, RedisConnector};
pub use durability::{DURABILITY_RECHECK, DurabilityProblem, DurabilityWatch, check_durability};
pub use email_change::{EmailChangeStore, EmailMoveSource, EmailMoved, EmailRevert, PendingEmailChange};
pub use identity::StoreIdentity;
pub use keys::Keys;
pub use memory::MemoryQueue;
pub use memory::MemoryStore;
pub use passkeys::{CeremonyPurpose, PasskeyCeremony, PasskeyStore};
pub use queue::{DEAD_LETTER_CAP, DeadLetter, OutboxStats, OutboxStore, QueuedJob};
pub use records::{
    AccessGrant, AuthCode, ChallengeKey, CodeExchange, FactorKinds, LinkAttempt, PendingLogin, Redemption, Report,
    SecondFactors, SessionRecord, SmsChallenge, StoredPasskey, User,
};
pub use redis::RedisQueue;
pub use redis::{NotConfirmed, RedisStore};
pub use refresh::{RefreshFamily, RefreshStore, Rotation, SPENT_KEPT};
pub use suppressions::{Suppression, SuppressionReason, SuppressionStore};

use crate::domain::{AttemptId, AuditEvent, Client, Email, SessionId, SignInPolicy, UserId};

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

/// The store's traits, for callers that use its methods.
pub mod prelude {
    pub use super::EmailChangeStore;
    pub use super::PasskeyStore;
    pub use super::RefreshStore;
    pub use super::SuppressionStore;
    pub use super::{
        AttemptStore, AuditStore, ClientStore, DeviceStore, FactorStore, GrantStore, IdentityStore, LimitStore,
        PolicyStore, SessionStore, StepStore, Store, UserStore,
    };
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Events kept in the global audit log.
pub const GLOBAL_AUDIT_CAP: usize = 10_000;
/// Events kept per user.
pub const USER_AUDIT_CAP: usize = 100;

/// The slots a TOTP enrollment may wait in (`FactorStore::put_totp_enrollment`): deleting a
/// user deletes each.
pub const TOTP_ENROLL_SLOTS: [&str; 2] = ["account", "step"];

/// How long an address's link generation is kept after its last change (longer than any link).
const GENERATION_TTL: Duration = Duration::from_secs(48 * 3600);

/// A new link generation for an address, drawn at random from 1 to 10¹³: a link is valid while
/// its generation is the address's, and only that equality is ever checked, so a new one needs
/// no read of the one before. Far below 2⁵³, so that it and a sign-in's `+ 1` on it
/// ([`AttemptStore::advance_generation`]) stay exact in a Redis script, whose numbers are
/// doubles.
pub fn new_link_generation() -> u64 {
    rand::random_range(1..10_000_000_000_000)
}

/// What latchkey keeps: every concern of the store, one trait each. Every method is one round
/// trip, and every multi-key change is atomic. Implemented for every type that implements
/// them all (the memory and Redis adapters). `Arc<dyn Store>` offers every method; code that
/// holds a concrete store brings them into scope with `use crate::store::prelude::*`.
pub trait Store:
    IdentityStore
    + AttemptStore
    + LimitStore
    + UserStore
    + DeviceStore
    + SessionStore
    + PolicyStore
    + FactorStore
    + StepStore
    + GrantStore
    + ClientStore
    + AuditStore
    + RefreshStore
    + PasskeyStore
    + SuppressionStore
    + EmailChangeStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: IdentityStore
        + AttemptStore
        + LimitStore
        + UserStore
        + DeviceStore
        + SessionStore
        + PolicyStore
        + FactorStore
        + StepStore
        + GrantStore
        + ClientStore
        + AuditStore
        + RefreshStore
        + PasskeyStore
        + SuppressionStore
        + EmailChangeStore
        + Send
        + Sync
        + 'static
{
}

/// The store's own upkeep: whether it answers, which deployment's data it holds, and voiding
/// what was live after a restore from backup.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Checks that the store answers.
    async fn ping(&self) -> StoreResult<()>;

    /// The store's identity, if one was written.
    async fn get_identity(&self) -> StoreResult<Option<StoreIdentity>>;

    /// Writes the store's identity; with `only_if_absent`, only when none exists. Returns
    /// whether it was written.
    async fn put_identity(&self, identity: &StoreIdentity, only_if_absent: bool) -> StoreResult<bool>;

    /// After a restore from backup: deletes every session, attempt (link and code), pending
    /// second-factor step, SMS code, enrollment, OIDC code and access token, and "this wasn't
    /// me" link, and passkey ceremony; keeps accounts, factors, clients, the policy and the audit log. Returns how
    /// many entries went.
    async fn void_live_state(&self) -> StoreResult<usize>;
}

/// Sign-in attempts (the link and its code) and each address's link generation.
#[async_trait]
pub trait AttemptStore: Send + Sync {
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

    /// Spends the guess at an attempt's number (policy `approve`) *before* it is checked: on a
    /// pending, unexpired attempt, counts it and returns `Valid` with the guesses counted so
    /// far (only the call that gets 1 may check its number); otherwise the state, unchanged.
    async fn take_number_try(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<Option<(Redemption, u32)>>;

    /// Marks a pending, unexpired attempt approved, in one atomic step: of concurrent calls,
    /// exactly one gets true.
    async fn approve_attempt(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Consumes an approved, unexpired attempt, in one atomic step: of concurrent calls,
    /// exactly one gets true; a pending, used, dead or expired attempt stays as it is.
    async fn finish_approved(&self, id: &AttemptId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// The address's link generation. Unknown addresses are at generation 0.
    async fn link_generation(&self, lookup: &str) -> StoreResult<u64>;

    /// Makes `generation` (from [`new_link_generation`]) the address's link generation, kept
    /// for its TTL: every link issued with another generation is superseded. One write that
    /// reads nothing, so it can go beside the attempt that carries it.
    async fn supersede_links(&self, lookup: &str, generation: u64) -> StoreResult<()>;

    /// Moves the generation on from `expected`, atomically; false if it was not `expected` (a
    /// newer link, or another sign-in, got there first).
    async fn advance_generation(&self, lookup: &str, expected: u64) -> StoreResult<bool>;
}

/// Rate-limit counters.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Adds `cost` to a fixed-window counter (creating it with `window`) and returns the count
    /// and the time left in the window. `cost` 0 adds nothing but, like any hit, starts the
    /// window when there is no counter yet.
    async fn hit_limit(&self, key: &RateKey, window: Duration, cost: u64) -> StoreResult<(u64, Duration)>;

    /// Counts one hit on each of `hits` in order, as [`LimitStore::hit_limit`], and stops after the first
    /// whose count goes over its maximum: the hits after it are not counted. Returns that one,
    /// or `None` when every count is within its maximum. Each counter is counted atomically;
    /// the counters together are not one step (a Redis Cluster keeps them on different nodes).
    async fn hit_limits(&self, hits: &[LimitHit<'_>]) -> StoreResult<Option<LimitOver>> {
        hit_one_by_one(self, hits).await
    }
}

/// [`LimitStore::hit_limits`] as one [`LimitStore::hit_limit`] after the other.
pub(crate) async fn hit_one_by_one<S: LimitStore + ?Sized>(
    store: &S,
    hits: &[LimitHit<'_>],
) -> StoreResult<Option<LimitOver>> {
    for (index, hit) in hits.iter().enumerate() {
        let (count, left) = store.hit_limit(hit.key, hit.window, 1).await?;
        if count > hit.max {
            return Ok(Some(LimitOver { index, count, left }));
        }
    }
    Ok(None)
}

/// One counter of [`LimitStore::hit_limits`].
#[derive(Debug, Clone, Copy)]
pub struct LimitHit<'a> {
    /// The counter.
    pub key: &'a RateKey,
    /// Its window, started by the hit that finds no counter.
    pub window: Duration,
    /// The most the count may reach.
    pub max: u64,
}

/// The hit of [`LimitStore::hit_limits`] that went over its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOver {
    /// Its place in the hits given.
    pub index: usize,
    /// Its count, past the maximum.
    pub count: u64,
    /// The time left in its window.
    pub left: Duration,
}

/// Accounts, found by a keyed hash of their address, and the apps each signed in to.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user with this address, created with a new id on first sign-in. `lookup` is the
    /// keyed hash of the address, so store keys carry no address.
    async fn find_or_create_user(&self, lookup: &str, email: &Email, now: DateTime<Utc>) -> StoreResult<User>;

    /// The user with this address, if they ever signed in. Costs the store the same commands
    /// whether there is one or not (a link request must not tell them apart).
    async fn find_user(&self, lookup: &str) -> StoreResult<Option<User>>;

    /// Blocks or unblocks the user with this address: their id and whether the block changed,
    /// or `None` when there is no such user. Only the block is written: whatever else changed
    /// the record meanwhile (a factor added, the address moved) is kept. Critical: a block
    /// survives a failover.
    async fn set_blocked(&self, lookup: &str, blocked: bool) -> StoreResult<Option<(UserId, bool)>>;

    /// Remembers that the user signed in to this app (for its webhooks).
    async fn add_user_app(&self, user: &UserId, client_id: &str) -> StoreResult<()>;

    /// The apps the user has signed in to.
    async fn user_apps(&self, user: &UserId) -> StoreResult<Vec<String>>;

    /// The user with this id, if the account exists.
    async fn get_user(&self, user: &UserId) -> StoreResult<Option<User>>;

    /// Deletes the account: every key of the user (record, sessions and their apps, factors,
    /// enrollments, recovery codes, devices, apps, refresh families, the user's audit stream)
    /// in one step, then the address's index entry (`lookup`) if it still names this user.
    /// Between the two steps the index names no record: no one can sign in to it, and the
    /// next sign-in with the address removes the entry and makes a new account. Returns
    /// whether the record existed.
    async fn delete_user(&self, lookup: &str, user: &UserId) -> StoreResult<bool>;
}

/// Each user's known devices and the "this wasn't me" links sent when a new one signs in.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Adds a device to the user's known devices; returns (was it new, how many were known
    /// before).
    async fn add_device(&self, user: &UserId, device: &str) -> StoreResult<(bool, usize)>;

    /// Forgets a device (it will count as new again).
    async fn remove_device(&self, user: &UserId, device: &str) -> StoreResult<()>;

    /// How many devices the user has signed in from.
    async fn count_devices(&self, user: &UserId) -> StoreResult<usize>;

    /// Remembers the language (a tag) of the user's latest sign-in.
    async fn set_user_lang(&self, user: &UserId, tag: &str) -> StoreResult<()>;

    /// The language (a tag) of the user's latest sign-in, if any was remembered.
    async fn user_lang(&self, user: &UserId) -> StoreResult<Option<String>>;

    /// Keeps a "this wasn't me" link for `ttl`.
    async fn put_report(&self, id: &str, report: &Report, ttl: Duration) -> StoreResult<()>;

    /// Uses a "this wasn't me" link: what it names, once.
    async fn take_report(&self, id: &str) -> StoreResult<Option<Report>>;

    /// Reads a "this wasn't me" link without using it.
    async fn peek_report(&self, id: &str) -> StoreResult<Option<Report>>;
}

/// The session allow-list, per user.
#[async_trait]
pub trait SessionStore: Send + Sync {
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

    /// Records that app `client_id` got tokens in this session (for back-channel logout), kept
    /// as long as the session lives, in one step with checking that it does: false, and
    /// nothing recorded, when the session is not live.
    async fn add_session_client(&self, user: &UserId, sid: &SessionId, client_id: &str) -> StoreResult<bool>;

    /// The apps recorded for this session, forgotten in the same step (it has ended).
    async fn take_session_clients(&self, user: &UserId, sid: &SessionId) -> StoreResult<Vec<String>>;
}

/// The shared sign-in policy.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// The shared policy, if one was written.
    async fn get_policy(&self) -> StoreResult<Option<SignInPolicy>>;

    /// Writes the policy; with `only_if_absent`, only when none exists (start-up seeding).
    async fn put_policy(&self, policy: &SignInPolicy, only_if_absent: bool) -> StoreResult<()>;
}

/// Each user's second factors: TOTP (its used steps and pending enrollments), recovery codes.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// A user's second factors (empty when none).
    async fn get_factors(&self, user: &UserId) -> StoreResult<SecondFactors>;

    /// Replaces a user's second factors, if they are still as read (`factors.revision` is the
    /// stored one), with the revision moved on; in the same step records their kinds on the
    /// user's record (when there is one), so the record knows what the account has even if
    /// the factors' data is lost. False (and nothing written) when another write came first:
    /// the caller reads again, so no change undoes another (a passkey's use writing back one
    /// removed meanwhile).
    async fn put_factors(&self, user: &UserId, factors: &SecondFactors) -> StoreResult<bool>;

    /// Records that a TOTP code of time step `step` was accepted; false (and nothing changes)
    /// if that step or a later one was already used — a code is never accepted twice.
    async fn use_totp_step(&self, user: &UserId, step: u64) -> StoreResult<bool>;

    /// Keeps a TOTP seed (sealed) awaiting its first code, for `ttl`. `slot` separates an
    /// enrollment started from the account page from one forced in a sign-in step.
    async fn put_totp_enrollment(&self, user: &UserId, slot: &str, sealed: &str, ttl: Duration) -> StoreResult<()>;

    /// The seed awaiting confirmation in `slot`, if any.
    async fn get_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<Option<String>>;

    /// Ends an enrollment.
    async fn delete_totp_enrollment(&self, user: &UserId, slot: &str) -> StoreResult<()>;

    /// Replaces a user's recovery codes (hashes) in one step.
    async fn set_recovery_codes(&self, user: &UserId, hashes: &[String]) -> StoreResult<()>;

    /// Uses up one recovery code; true for exactly one caller.
    async fn use_recovery_code(&self, user: &UserId, hash: &str) -> StoreResult<bool>;

    /// Unused recovery codes left.
    async fn recovery_codes_left(&self, user: &UserId) -> StoreResult<usize>;
}

/// Second-factor steps of a sign-in in progress and the SMS codes sent for them, with their tries.
#[async_trait]
pub trait StepStore: Send + Sync {
    /// Saves a pending second-factor step for `ttl`.
    async fn put_pending(&self, id: &str, pending: &PendingLogin, ttl: Duration) -> StoreResult<()>;

    /// Reads a pending step without changing it.
    async fn get_pending(&self, id: &str) -> StoreResult<Option<PendingLogin>>;

    /// Spends one guess on a pending step before the guess is checked; past `max_tries` the
    /// step is deleted and `None` returned. Also returns the tries spent.
    async fn take_pending_try(&self, id: &str, max_tries: u32) -> StoreResult<Option<(PendingLogin, u32)>>;

    /// Deletes a pending step; true for exactly one caller (single use).
    async fn consume_pending(&self, id: &str) -> StoreResult<bool>;

    /// Saves an SMS code waiting to be typed, for `ttl` (replacing any earlier one).
    async fn put_challenge(&self, key: &ChallengeKey, challenge: &SmsChallenge, ttl: Duration) -> StoreResult<()>;

    /// Reads an SMS code without spending a try.
    async fn get_challenge(&self, key: &ChallengeKey) -> StoreResult<Option<SmsChallenge>>;

    /// Spends one guess on an SMS code before it is checked; past `max_tries` it is deleted and
    /// `None` returned.
    async fn take_challenge_try(&self, key: &ChallengeKey, max_tries: u32) -> StoreResult<Option<(SmsChallenge, u32)>>;

    /// Deletes an SMS code; true for exactly one caller.
    async fn delete_challenge(&self, key: &ChallengeKey) -> StoreResult<bool>;
}

/// OIDC authorization codes and the access tokens they issue.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Saves an authorization code's grant; kept for `keep_for` (longer than it is valid, so a
    /// replay is recognised and what the code issued can be revoked).
    async fn put_auth_code(&self, id: &str, code: &AuthCode, keep_for: Duration) -> StoreResult<()>;

    /// Uses a code in one atomic step: the first caller that is `client_id` gets `Fresh` and
    /// records `access_id` as what it issued; later callers get `Reused` with that id; any
    /// other client gets `WrongClient` and changes nothing.
    async fn exchange_auth_code(&self, id: &str, client_id: &str, access_id: &str)
    -> StoreResult<Option<CodeExchange>>;

    /// Saves an access token's grant for `ttl`.
    async fn put_access_grant(&self, id: &str, grant: &AccessGrant, ttl: Duration) -> StoreResult<()>;

    /// The grant behind an access token, if live.
    async fn get_access_grant(&self, id: &str) -> StoreResult<Option<AccessGrant>>;

    /// Revokes an access token.
    async fn delete_access_grant(&self, id: &str) -> StoreResult<()>;
}

/// OIDC clients registered at run time.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// A client registered at run time.
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>>;

    /// Registers or replaces a client.
    async fn put_client(&self, client: &Client) -> StoreResult<()>;

    /// Every client registered at run time.
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;

    /// Removes a client registered at run time; true if it existed.
    async fn delete_client(&self, id: &str) -> StoreResult<bool>;
}

/// The audit log: global and per user, both capped.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event to the global audit log and, when it names a user, to theirs. Both
    /// are capped (about 10 000 global, 100 per user).
    async fn append_event(&self, event: &AuditEvent) -> StoreResult<()>;

    /// Appends an event like [`AuditStore::append_event`], with the same store commands whether it
    /// names a user or not (an event about no account makes the personal write too, to a log
    /// nobody has, which keeps nothing): for answers that must not tell addresses apart.
    async fn append_event_evenly(&self, event: &AuditEvent) -> StoreResult<()> {
        self.append_event(event).await
    }

    /// A user's newest events, newest first.
    async fn user_events(&self, user: &UserId, count: usize) -> StoreResult<Vec<AuditEvent>>;

    /// Global events older than `before` (a stream id; `None` from the newest), newest first.
    async fn global_events(&self, before: Option<&str>, count: usize) -> StoreResult<Vec<AuditEvent>>;
}

/// A rate-limit counter's name: the action and a keyed hash of its subject (address or IP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateKey {
    /// The limited action's name.
    pub action: &'static str,
    /// Keyed hash of the subject.
    pub subject: String,
}
