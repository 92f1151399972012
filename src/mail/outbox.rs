//! The outbox: requests enqueue mail and return at once; a worker delivers it with retries.
//! This in-process queue is the development and single-instance form; a durable Redis
//! Stream outbox implements the same [`Outbox`] port.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::{MailError, Mailer, OutgoingMail};
use crate::audit::{Audit, EventKind};
use crate::domain::RequestOrigin;

/// Mail could not be queued (the queue is full or shut down).
#[derive(Debug, thiserror::Error)]
#[error("the mail queue is not accepting mail")]
pub struct OutboxError;

/// Accepts mail for later delivery.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Queues one mail; returns once it is queued, never waiting for delivery.
    async fn enqueue(&self, mail: OutgoingMail) -> Result<(), OutboxError>;
}

/// The in-process queue (bounded; a full queue refuses rather than grows without limit).
pub struct InProcessOutbox {
    tx: mpsc::Sender<OutgoingMail>,
}

#[async_trait]
impl Outbox for InProcessOutbox {
    async fn enqueue(&self, mail: OutgoingMail) -> Result<(), OutboxError> {
        self.tx.try_send(mail).map_err(|_| OutboxError)
    }
}

/// Delivers queued mail; stops when told, after draining what is queued.
pub struct OutboxWorker {
    rx: mpsc::Receiver<OutgoingMail>,
    mailer: Arc<Mailer>,
    audit: Arc<Audit>,
    shutdown: watch::Receiver<bool>,
    retry_delays: Vec<Duration>,
}

impl InProcessOutbox {
    /// Mails held at most.
    pub const CAPACITY: usize = 10_000;

    /// A queue and its worker; send `true` on the returned channel to stop the worker.
    pub fn new(mailer: Mailer, audit: Arc<Audit>) -> (Self, OutboxWorker, watch::Sender<bool>) {
        let (tx, rx) = mpsc::channel(Self::CAPACITY);
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = OutboxWorker {
            rx,
            mailer: Arc::new(mailer),
            audit,
            shutdown: stop_rx,
            retry_delays: [1, 5, 30, 120].map(Duration::from_secs).to_vec(),
        };
        (Self { tx }, worker, stop_tx)
    }
}

impl OutboxWorker {
    /// Deliveries in flight at once.
    const CONCURRENCY: usize = 8;

    /// Runs until shutdown, then delivers what is still queued and waits for retries in flight.
    pub async fn run(mut self) {
        let permits = Arc::new(Semaphore::new(Self::CONCURRENCY));
        let mut tasks = JoinSet::new();
        loop {
            let mail = tokio::select! {
                mail = self.rx.recv() => mail,
                _ = self.shutdown.changed() => {
                    self.rx.close();
                    self.rx.recv().await
                }
            };
            let Some(mail) = mail else { break };
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let mailer = self.mailer.clone();
            let delays = self.retry_delays.clone();
            let audit = self.audit.clone();
            tasks.spawn(async move {
                let started = std::time::Instant::now();
                let outcome = deliver(&mailer, &mail, &delays).await;
                audit.metrics().inc("mail", &format!("outcome=\"{outcome}\""));
                audit.metrics().observe("mail_delivery", started.elapsed());
                let kind = if outcome == "sent" { EventKind::MailSent } else { EventKind::MailFailed };
                audit.record(kind, None, &RequestOrigin::default(), &format!("to {}", mail.to.masked())).await;
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Sends with retries; a mail that keeps failing is logged (without its body) and dropped.
/// Returns the outcome for the metrics: `sent` or `failed`.
async fn deliver(mailer: &Mailer, mail: &OutgoingMail, delays: &[Duration]) -> &'static str {
    let mut attempt = 0;
    loop {
        match mailer.send(mail).await {
            Ok(()) => {
                tracing::info!(to = %mail.to.masked(), "mail delivered");
                return "sent";
            }
            Err(MailError::Build(e)) => {
                tracing::error!(to = %mail.to.masked(), error = ?e, "mail cannot be built; dropped");
                return "failed";
            }
            Err(MailError::Transport(e)) => match delays.get(attempt) {
                Some(delay) => {
                    tracing::warn!(to = %mail.to.masked(), error = %e, attempt = attempt + 1, "mail delivery failed; retrying in {delay:?}");
                    tokio::time::sleep(*delay).await;
                    attempt += 1;
                }
                None => {
                    tracing::error!(to = %mail.to.masked(), error = %e, "mail delivery failed for good; dropped");
                    return "failed";
                }
            },
        }
    }
}
