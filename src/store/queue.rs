//! The outbox queue port: deliveries (mail, SMS, webhooks) waiting to be sent, claimed by
//! workers, retried later, or given up on (the dead letters). Redis keeps it in a Stream with a
//! consumer group; the memory store keeps an in-process equivalent with the same rules.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreResult;

/// One delivery in the outbox. What it sends is sealed (AEAD under `SECRET_KEY`), so the store
/// never holds a sign-in link, a code or a webhook secret in clear.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedJob {
    /// The store's handle on it while a worker holds it; set by the store when claimed.
    #[serde(skip)]
    pub handle: String,
    /// The worker that holds it (set by the store when claimed). Settling checks it, so a
    /// worker that lost a delivery to another (it was slow past the lease) cannot undo or
    /// duplicate what the other did.
    #[serde(skip)]
    pub holder: String,
    /// Given at enqueue; stays the same across retries (names the delivery in logs).
    pub id: String,
    /// `mail`, `sms` or `webhook`.
    pub kind: String,
    /// The recipient, masked (`u***@e***.com`, `+44*****123`, a webhook's host): for admins.
    pub to: String,
    /// The sealed job; fixed at enqueue, so a retry sends exactly what was first meant.
    pub sealed: String,
    /// Attempts made so far.
    pub tries: u32,
    /// Unix seconds after which sending is pointless (an SMS code that has expired).
    pub deliver_by: Option<i64>,
    /// When it was enqueued (unix ms).
    pub queued_at: i64,
    /// Why the last attempt failed, without secrets.
    pub last_error: Option<String>,
}

impl std::fmt::Debug for QueuedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedJob")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("tries", &self.tries)
            .finish_non_exhaustive()
    }
}

/// A delivery given up on, kept for admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The store's id for it (to requeue it).
    #[serde(skip)]
    pub handle: String,
    /// The delivery as it was last tried.
    pub job: QueuedJob,
    /// Why it was given up on.
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

/// How much is in the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    /// Waiting for a worker.
    pub ready: u64,
    /// Held by a worker right now (or by one that died, until another takes it over).
    pub in_flight: u64,
    /// Failed and waiting for their next attempt.
    pub scheduled: u64,
    /// Given up on.
    pub dead: u64,
}

/// Dead letters kept at most (older ones are trimmed).
pub const DEAD_LETTER_CAP: usize = 10_000;

/// The outbox's storage. Each call is one atomic step on the store.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Adds a delivery, ready at once.
    async fn push(&self, job: &QueuedJob) -> StoreResult<()>;

    /// Takes up to `count` ready deliveries for `consumer`, waiting up to `wait` when there are
    /// none. Each stays held by `consumer` until acked, rescheduled or buried.
    async fn claim(&self, consumer: &str, count: usize, wait: Duration) -> StoreResult<Vec<QueuedJob>>;

    /// Takes over deliveries that any worker has held for longer than `lease` (it died or
    /// hung), for `consumer`.
    async fn reclaim(&self, consumer: &str, lease: Duration, count: usize) -> StoreResult<Vec<QueuedJob>>;

    /// Delivered: forgets a held delivery. False (and nothing changes) when `job.holder` no
    /// longer holds it — another worker took it over.
    async fn ack(&self, job: &QueuedJob) -> StoreResult<bool>;

    /// Failed for now: releases a held delivery and schedules `job` (as given: tries and last
    /// error updated by the caller) for `due`. False (and nothing changes) when `job.holder` no
    /// longer holds it.
    async fn retry_at(&self, job: &QueuedJob, due: DateTime<Utc>) -> StoreResult<bool>;

    /// Given up: releases a held delivery into the dead letters, with why. False (and nothing
    /// changes) when `job.holder` no longer holds it.
    async fn bury(&self, job: &QueuedJob, reason: &str, at: DateTime<Utc>) -> StoreResult<bool>;

    /// Makes scheduled deliveries whose time has come ready again; returns how many.
    async fn promote_due(&self, now: DateTime<Utc>, max: usize) -> StoreResult<usize>;

    /// Counts, for admins and metrics.
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;

    /// The newest dead letters, newest first.
    async fn dead_letters(&self, count: usize) -> StoreResult<Vec<DeadLetter>>;

    /// Moves a dead letter back to ready with its tries reset; false if there is none by that id.
    async fn requeue_dead(&self, handle: &str) -> StoreResult<bool>;
}
