//! The outbox queue in process memory (development and single-instance use): the same rules
//! as the Redis Stream, lost on restart.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::store::StoreResult;
use crate::store::queue::{DEAD_LETTER_CAP, DeadLetter, OutboxStats, OutboxStore, QueuedJob};

#[derive(Default)]
struct Queue {
    seq: u64,
    ready: VecDeque<QueuedJob>,
    held: HashMap<String, (QueuedJob, Instant)>,
    scheduled: BTreeMap<(i64, u64), QueuedJob>,
    dead: VecDeque<DeadLetter>,
}

impl Queue {
    fn next_handle(&mut self) -> String {
        self.seq += 1;
        format!("m-{}", self.seq)
    }

    fn hold(&mut self, mut job: QueuedJob, holder: &str) -> QueuedJob {
        job.handle = self.next_handle();
        job.holder = holder.to_owned();
        self.held.insert(job.handle.clone(), (job.clone(), Instant::now()));
        job
    }
}

/// The in-process outbox queue.
#[derive(Default)]
pub struct MemoryQueue {
    queue: Mutex<Queue>,
    arrived: Notify,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_ready(&self, count: usize, holder: &str) -> Vec<QueuedJob> {
        let mut q = self.lock();
        let n = count.min(q.ready.len());
        let jobs: Vec<QueuedJob> = q.ready.drain(..n).collect();
        jobs.into_iter().map(|job| q.hold(job, holder)).collect()
    }

    /// Takes `job` out of the held set if `job.holder` holds it.
    fn unhold(q: &mut Queue, job: &QueuedJob) -> bool {
        let held_by_holder = q.held.get(&job.handle).is_some_and(|(held, _)| held.holder == job.holder);
        if held_by_holder {
            q.held.remove(&job.handle);
        }
        held_by_holder
    }
}

#[async_trait]
impl OutboxStore for MemoryQueue {
    async fn push(&self, job: &QueuedJob) -> StoreResult<()> {
        self.lock().ready.push_back(job.clone());
        self.arrived.notify_one();
        Ok(())
    }

    async fn claim(&self, consumer: &str, count: usize, wait: Duration) -> StoreResult<Vec<QueuedJob>> {
        let jobs = self.take_ready(count, consumer);
        if !jobs.is_empty() || wait.is_zero() {
            return Ok(jobs);
        }
        let _ = tokio::time::timeout(wait, self.arrived.notified()).await;
        Ok(self.take_ready(count, consumer))
    }

    async fn reclaim(&self, consumer: &str, lease: Duration, count: usize) -> StoreResult<Vec<QueuedJob>> {
        let mut q = self.lock();
        let stale: Vec<String> = q
            .held
            .iter()
            .filter(|(_, (_, since))| since.elapsed() >= lease)
            .map(|(handle, _)| handle.clone())
            .take(count)
            .collect();
        let mut jobs = Vec::new();
        for handle in stale {
            if let Some((job, _)) = q.held.remove(&handle) {
                jobs.push(q.hold(job, consumer));
            }
        }
        Ok(jobs)
    }

    async fn ack(&self, job: &QueuedJob) -> StoreResult<bool> {
        Ok(Self::unhold(&mut self.lock(), job))
    }

    async fn retry_at(&self, job: &QueuedJob, due: DateTime<Utc>) -> StoreResult<bool> {
        let mut q = self.lock();
        if !Self::unhold(&mut q, job) {
            return Ok(false);
        }
        q.seq += 1;
        let key = (due.timestamp_millis(), q.seq);
        let mut job = job.clone();
        job.handle.clear();
        job.holder.clear();
        q.scheduled.insert(key, job);
        Ok(true)
    }

    async fn bury(&self, job: &QueuedJob, reason: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut q = self.lock();
        if !Self::unhold(&mut q, job) {
            return Ok(false);
        }
        let handle = q.next_handle();
        let mut job = job.clone();
        job.handle.clear();
        job.holder.clear();
        q.dead.push_front(DeadLetter { handle, job, reason: reason.to_owned(), at: at.to_rfc3339() });
        q.dead.truncate(DEAD_LETTER_CAP);
        Ok(true)
    }

    async fn promote_due(&self, now: DateTime<Utc>, max: usize) -> StoreResult<usize> {
        let mut q = self.lock();
        let now = now.timestamp_millis();
        let due: Vec<(i64, u64)> = q.scheduled.range(..=(now, u64::MAX)).map(|(k, _)| *k).take(max).collect();
        for key in &due {
            if let Some(job) = q.scheduled.remove(key) {
                q.ready.push_back(job);
            }
        }
        drop(q);
        if !due.is_empty() {
            self.arrived.notify_one();
        }
        Ok(due.len())
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        let q = self.lock();
        Ok(OutboxStats {
            ready: q.ready.len() as u64,
            in_flight: q.held.len() as u64,
            scheduled: q.scheduled.len() as u64,
            dead: q.dead.len() as u64,
        })
    }

    async fn dead_letters(&self, count: usize) -> StoreResult<Vec<DeadLetter>> {
        Ok(self.lock().dead.iter().take(count).cloned().collect())
    }

    async fn requeue_dead(&self, handle: &str) -> StoreResult<bool> {
        let mut q = self.lock();
        let Some(at) = q.dead.iter().position(|d| d.handle == handle) else { return Ok(false) };
        let Some(dead) = q.dead.remove(at) else { return Ok(false) };
        let mut job = dead.job;
        job.tries = 0;
        q.ready.push_back(job);
        drop(q);
        self.arrived.notify_one();
        Ok(true)
    }
}
