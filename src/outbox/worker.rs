//! The outbox worker: one per instance. It claims ready deliveries, makes one attempt at each,
//! then acks, reschedules (exponential backoff with jitter) or buries them; it makes due retries
//! ready again and takes over deliveries a dead instance held longer than the lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::{Couriers, Outcome, backoff, open};
use crate::audit::Audit;
use crate::config::OutboxSettings;
use crate::crypto::{self, Keyring};
use crate::domain::{EventKind, RequestOrigin};
use crate::store::{OutboxStore, QueuedJob};

/// How long one claim waits for new deliveries before housekeeping runs again.
const CLAIM_WAIT: Duration = Duration::from_secs(1);
/// How often due retries are made ready.
const PROMOTE_EVERY: Duration = Duration::from_millis(250);
/// Scheduled deliveries made ready per round.
const PROMOTE_BATCH: usize = 500;

/// What the delivery tasks share.
struct Shared {
    store: Arc<dyn OutboxStore>,
    couriers: Couriers,
    keys: Arc<Keyring>,
    audit: Arc<Audit>,
    settings: OutboxSettings,
    /// Deliveries this instance holds, by store handle (released at shutdown if unfinished).
    held: Mutex<HashMap<String, QueuedJob>>,
}

/// The worker, ready to run.
pub struct OutboxWorker {
    shared: Arc<Shared>,
    consumer: String,
    drain_on_stop: bool,
}

/// A running worker; [`WorkerHandle::stop`] ends it.
pub struct WorkerHandle {
    stop: watch::Sender<Option<Instant>>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming, lets deliveries in flight finish until `deadline`, then releases what is
    /// still held so another instance picks it up at once; returns when the worker has ended.
    pub async fn stop(self, deadline: Instant) {
        let _ = self.stop.send(Some(deadline));
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "outbox worker failed");
        }
    }
}

impl OutboxWorker {
    /// A worker over `store`. With `drain_on_stop` (the memory queue: nobody else will deliver
    /// it) it keeps delivering what is ready until the stop deadline.
    pub fn new(
        store: Arc<dyn OutboxStore>,
        couriers: Couriers,
        keys: Arc<Keyring>,
        audit: Arc<Audit>,
        settings: OutboxSettings,
        drain_on_stop: bool,
    ) -> anyhow::Result<Self> {
        let consumer = format!("latchkey-{}", crypto::random_token::<6>()?);
        let shared = Arc::new(Shared { store, couriers, keys, audit, settings, held: Mutex::new(HashMap::new()) });
        Ok(Self { shared, consumer, drain_on_stop })
    }

    /// Starts the worker on the runtime.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(None);
        WorkerHandle { stop, task: tokio::spawn(self.run(stopped)) }
    }

    async fn run(self, mut stopped: watch::Receiver<Option<Instant>>) {
        let settings = &self.shared.settings;
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let reclaim_every = (settings.lease / 2).clamp(Duration::from_millis(250), Duration::from_secs(30));
        let mut tasks = JoinSet::new();
        let mut last_promote: Option<Instant> = None;
        let mut last_reclaim: Option<Instant> = None;
        let mut store_down = false;
        let deadline = loop {
            if let Some(deadline) = *stopped.borrow() {
                break deadline;
            }
            while tasks.try_join_next().is_some() {}
            let round: Result<(), crate::store::StoreError> = async {
                if last_promote.is_none_or(|t| t.elapsed() >= PROMOTE_EVERY) {
                    last_promote = Some(Instant::now());
                    self.shared.store.promote_due(Utc::now(), PROMOTE_BATCH).await?;
                }
                if last_reclaim.is_none_or(|t| t.elapsed() >= reclaim_every) {
                    last_reclaim = Some(Instant::now());
                    let free = permits.available_permits();
                    if free > 0 {
                        let jobs = self.shared.store.reclaim(&self.consumer, settings.lease, free).await?;
                        if !jobs.is_empty() {
                            tracing::info!(count = jobs.len(), "took over deliveries held too long by a worker");
                        }
                        self.start(&mut tasks, &permits, jobs).await;
                    }
                }
                let free = permits.available_permits();
                if free == 0 {
                    tokio::select! {
                        _ = tasks.join_next() => {}
                        _ = stopped.changed() => {}
                    }
                    return Ok(());
                }
                // Not cancelled on stop: a claim the store answered must reach a task.
                let jobs = self.shared.store.claim(&self.consumer, free, CLAIM_WAIT).await?;
                self.start(&mut tasks, &permits, jobs).await;
                Ok(())
            }
            .await;
            match round {
                Ok(()) if store_down => {
                    store_down = false;
                    tracing::info!("outbox store reachable again");
                }
                Ok(()) => {}
                Err(e) => {
                    if !store_down {
                        tracing::warn!(error = %e, "outbox store unavailable; deliveries wait");
                        store_down = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
        };
        if self.drain_on_stop {
            while Instant::now() < deadline {
                let free = permits.available_permits();
                let jobs = if free == 0 { Vec::new() } else { self.claim_now(free).await };
                if jobs.is_empty() && tasks.is_empty() {
                    break;
                }
                self.start(&mut tasks, &permits, jobs).await;
                let _ = tokio::time::timeout_at(deadline.into(), tasks.join_next()).await;
            }
        }
        let _ = tokio::time::timeout_at(deadline.into(), async { while tasks.join_next().await.is_some() {} }).await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        self.release().await;
    }

    async fn claim_now(&self, count: usize) -> Vec<QueuedJob> {
        self.shared.store.claim(&self.consumer, count, Duration::ZERO).await.unwrap_or_default()
    }

    /// Starts one task per job (each holds a permit until it has settled).
    async fn start(&self, tasks: &mut JoinSet<()>, permits: &Arc<Semaphore>, jobs: Vec<QueuedJob>) {
        for job in jobs {
            {
                let mut held = self.shared.held.lock().unwrap_or_else(|e| e.into_inner());
                if held.contains_key(&job.handle) {
                    // Already being delivered here (taken over from ourselves after a slow store).
                    continue;
                }
                held.insert(job.handle.clone(), job.clone());
            }
            let Ok(permit) = permits.clone().acquire_owned().await else { return };
            let shared = self.shared.clone();
            tasks.spawn(async move {
                let handle = job.handle.clone();
                shared.attempt(job).await;
                shared.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&handle);
                drop(permit);
            });
        }
    }

    /// Hands back what this instance still holds (cut off by the deadline): scheduled for now,
    /// so any instance delivers it without waiting out the lease.
    async fn release(&self) {
        let held: Vec<QueuedJob> =
            self.shared.held.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, job)| job).collect();
        // All at once, and briefly: the deadline has passed.
        let now = Utc::now();
        let mut releases = JoinSet::new();
        for job in held.clone() {
            let store = self.shared.store.clone();
            releases.spawn(async move { store.retry_at(&job, now).await });
        }
        let mut released = 0;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(outcome) = releases.join_next().await {
                if matches!(outcome, Ok(Ok(true))) {
                    released += 1;
                }
            }
        })
        .await;
        if !held.is_empty() {
            tracing::info!(released, held = held.len(), "outbox worker stopped; released unfinished deliveries");
        }
    }
}

impl Shared {
    /// One attempt at `job`, then ack, reschedule or bury.
    async fn attempt(&self, job: QueuedJob) {
        let started = Instant::now();
        let mut audited = false;
        let outcome = match open(&self.keys, &job) {
            // Another instance (another SECRET_KEY, or a newer version, during a rollout) may
            // open it: not for good.
            None => Outcome::Retry(
                "the delivery cannot be opened here (SECRET_KEY differs, or a newer version queued it?)".to_owned(),
            ),
            Some(_) if job.deliver_by.is_some_and(|by| Utc::now().timestamp() > by) => {
                Outcome::Failed("it expired before it could be delivered".to_owned())
            }
            Some(payload) => {
                // A sign-in mail's delivery is counted, not audited, as its request is: one
                // event per link request would push sign-ins, failures and factor changes out
                // of the global log's last 10 000 events within seconds under load. Every
                // other mail (the notices of a change to how someone signs in among them)
                // leaves `mail_sent`.
                audited = matches!(payload, super::Job::Mail(_));
                let limit = self.settings.lease / 2;
                tokio::time::timeout(limit, self.couriers.deliver(&payload))
                    .await
                    .unwrap_or_else(|_| Outcome::Retry(format!("no answer within {limit:?}")))
            }
        };
        let (kind, timer) = metric_names(&job.kind);
        self.audit.metrics().observe(timer, started.elapsed());
        if let Err(e) = self.settle(job, outcome, kind, audited).await {
            // Still held in the store: another worker takes it over after the lease.
            tracing::warn!(error = %e, kind, "could not record a delivery's outcome");
        }
    }

    /// `audited`: a delivered job leaves a `mail_sent` event (finished mails only; a sign-in
    /// mail's is counted, not recorded). A mail given up leaves `mail_failed`, whatever it was.
    async fn settle(
        &self,
        mut job: QueuedJob,
        outcome: Outcome,
        kind: &'static str,
        audited: bool,
    ) -> crate::store::StoreResult<()> {
        job.tries += 1;
        let reason = match outcome {
            Outcome::Dropped => {
                // Nothing was sent: no metric, no log line, no audit event.
                self.store.ack(&job).await?;
                self.let_go(&job);
                return Ok(());
            }
            Outcome::Sent => {
                let settled = self.store.ack(&job).await?;
                self.let_go(&job);
                if !settled {
                    self.lost(&job, kind);
                    return Ok(());
                }
                self.audit.metrics().inc(kind, "outcome=\"sent\"");
                tracing::info!(kind, to = %job.to, id = %job.id, tries = job.tries, "delivered");
                if audited {
                    self.audit
                        .record(EventKind::MailSent, None, &RequestOrigin::default(), &format!("to {}", job.to))
                        .await;
                } else if kind == "mail" {
                    // Still counted (`latchkey_mail_sent_total` counts every mail delivered).
                    self.audit.count(EventKind::MailSent);
                }
                return Ok(());
            }
            Outcome::Retry(reason) if job.tries < self.settings.max_tries => {
                let jitter = crypto::random_bytes::<8>()
                    .map(|b| 0.5 + (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 54) as f64)
                    .unwrap_or(0.75);
                let wait = backoff(self.settings.retry_base, job.tries, jitter);
                tracing::warn!(kind, to = %job.to, id = %job.id, tries = job.tries, %reason, "delivery failed; retrying in {wait:?}");
                job.last_error = Some(reason);
                let due = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(1));
                let settled = self.store.retry_at(&job, due).await?;
                self.let_go(&job);
                if !settled {
                    self.lost(&job, kind);
                    return Ok(());
                }
                self.audit.metrics().inc(kind, "outcome=\"retry\"");
                return Ok(());
            }
            Outcome::Retry(reason) => format!("gave up after {} tries: {reason}", job.tries),
            Outcome::Failed(reason) => reason,
            Outcome::Suppressed(reason) => return self.set_aside(job, reason, kind).await,
        };
        tracing::error!(kind, to = %job.to, id = %job.id, tries = job.tries, %reason, "delivery given up; moved to the dead letters");
        job.last_error = Some(reason.clone());
        let settled = self.store.bury(&job, &reason, Utc::now()).await?;
        self.let_go(&job);
        if !settled {
            self.lost(&job, kind);
            return Ok(());
        }
        self.audit.metrics().inc(kind, "outcome=\"dead\"");
        if kind == "mail" {
            self.audit.record(EventKind::MailFailed, None, &RequestOrigin::default(), &format!("to {}", job.to)).await;
        }
        Ok(())
    }
}

impl Shared {
    /// Moves a mail to a suppressed address to the dead letters, unsent: counted as
    /// `suppressed`, not audited again (the suppression was).
    async fn set_aside(&self, mut job: QueuedJob, reason: String, kind: &'static str) -> crate::store::StoreResult<()> {
        tracing::info!(kind, to = %job.to, id = %job.id, "not sent to a suppressed address; moved to the dead letters");
        job.last_error = Some(reason.clone());
        let settled = self.store.bury(&job, &reason, Utc::now()).await?;
        self.let_go(&job);
        if settled {
            self.audit.metrics().inc(kind, "outcome=\"suppressed\"");
        } else {
            self.lost(&job, kind);
        }
        Ok(())
    }

    /// This instance no longer holds `job` (settled, or taken over): shutdown must not
    /// release it again.
    fn let_go(&self, job: &QueuedJob) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&job.handle);
    }

    /// Another worker took `job` over while this one was at it (this one was slower than the
    /// lease): what that worker does stands.
    fn lost(&self, job: &QueuedJob, kind: &'static str) {
        tracing::warn!(kind, id = %job.id, "a delivery was taken over by another worker before it was settled here");
        self.audit.metrics().inc(kind, "outcome=\"taken_over\"");
    }
}

/// The counter and the timer a job kind counts toward (a fixed set of names).
fn metric_names(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "mail" => ("mail", "mail_delivery"),
        "sms" => ("sms", "sms_send"),
        "webhook" => ("webhook", "webhook_delivery"),
        "backchannel_logout" => ("backchannel_logout", "backchannel_logout_delivery"),
        _ => ("outbox", "outbox_delivery"),
    }
}
