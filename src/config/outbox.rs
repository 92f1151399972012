//! How deliveries are retried: `OUTBOX_WORKER`, `OUTBOX_MAX_TRIES`, `OUTBOX_CONCURRENCY`,
//! `OUTBOX_RETRY_BASE` and `OUTBOX_LEASE`.

use std::time::Duration;

use super::StoreSettings;
use super::reader::Reader;

/// How the worker retries and takes over (from `OUTBOX_*`).
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Whether this instance delivers at all (`OUTBOX_WORKER`). An instance that does not
    /// only queues; instances that do (any number) deliver what every instance queued.
    pub deliver: bool,
    /// Attempts before a delivery goes to the dead letters (`OUTBOX_MAX_TRIES`).
    pub max_tries: u32,
    /// The first retry's delay; each next one doubles, with jitter (`OUTBOX_RETRY_BASE`).
    pub retry_base: Duration,
    /// How long a worker may hold a delivery before another instance takes it over
    /// (`OUTBOX_LEASE`). One attempt is cut off at half of it.
    pub lease: Duration,
    /// Deliveries in flight at once per instance, and SMTP connections kept
    /// (`OUTBOX_CONCURRENCY`).
    pub concurrency: usize,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            deliver: true,
            max_tries: 20,
            retry_base: Duration::from_secs(2),
            lease: Duration::from_secs(60),
            concurrency: 32,
        }
    }
}

impl Reader<'_> {
    /// The `OUTBOX_*` settings; an instance may leave delivery to others only on a shared store.
    pub(super) fn outbox(&mut self, store: &StoreSettings) -> OutboxSettings {
        let defaults = OutboxSettings::default();
        let max_tries = self.count("OUTBOX_MAX_TRIES", defaults.max_tries, 100);
        let concurrency = self.count("OUTBOX_CONCURRENCY", defaults.concurrency as u32, 1024) as usize;
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        let retry_base = self.duration(
            "OUTBOX_RETRY_BASE",
            &millis(defaults.retry_base),
            Duration::from_millis(10),
            Duration::from_secs(600),
        );
        // A lease shorter than a slow SMTP exchange would hand a delivery to a second instance
        // while the first is still sending it; one attempt is cut off at half the lease.
        let lease =
            self.duration("OUTBOX_LEASE", &millis(defaults.lease), Duration::from_secs(2), Duration::from_secs(3600));
        let deliver = self.flag("OUTBOX_WORKER", true);
        if !deliver && matches!(store, StoreSettings::Memory) {
            self.problem(
                "OUTBOX_WORKER",
                "`false` needs a shared store (REDIS_URL, REDIS_SENTINEL_URLS or REDIS_CLUSTER_URLS): with the memory store no other \
                 instance can deliver this one's mail",
            );
        }
        OutboxSettings {
            deliver,
            max_tries,
            concurrency,
            retry_base: retry_base.unwrap_or(defaults.retry_base),
            lease: lease.unwrap_or(defaults.lease),
        }
    }
}
