//! The audit log: sign-in events per user and globally (capped), and the counters behind
//! `/metrics`. Recording never fails a request: a store error is logged and counted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
pub use crate::domain::{AuditEvent, EventKind};
use crate::domain::{RequestOrigin, UserId};
#[cfg(doc)]
use crate::store::AuditStore;
use crate::store::Store;

impl EventKind {
    /// True when the detail is one of a few fixed words (a reason, the methods), so it can be a
    /// metrics label without growing the series without bound.
    fn labelled_by_detail(self) -> bool {
        matches!(
            self,
            Self::LinkFailed
                | Self::SecondFactorPassed
                | Self::SecondFactorFailed
                | Self::SessionIssued
                | Self::FactorChanged
                | Self::PasskeyUsed
                | Self::PasskeyFailed
        )
    }

    /// The metric it counts toward. A refused request counts as a requested link: the
    /// metrics must not tell an outsider that an address is blocked or not allowed to sign up.
    fn metric(self) -> Self {
        if self == Self::LinkRefused { Self::LinkRequested } else { self }
    }
}

/// Counters for `/metrics` (this instance's since start; Prometheus sums the instances).
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    durations: Mutex<BTreeMap<&'static str, (f64, u64)>>,
    store_errors: AtomicU64,
}

impl Metrics {
    /// Adds one to `name{label}`.
    pub fn inc(&self, name: &'static str, label: &str) {
        self.add(name, label, 1);
    }

    /// Adds `n` to `name{label}`.
    pub fn add(&self, name: &'static str, label: &str, n: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *counters.entry((name, label.to_owned())).or_default() += n;
    }

    /// Records how long one `name` took (a Prometheus summary: sum and count).
    pub fn observe(&self, name: &'static str, took: std::time::Duration) {
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let entry = durations.entry(name).or_default();
        entry.0 += took.as_secs_f64();
        entry.1 += 1;
    }

    /// Counts a store failure.
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        let mut last = "";
        for ((name, label), value) in &counters {
            if *name != last {
                let _ = writeln!(out, "# TYPE latchkey_{name}_total counter");
                last = name;
            }
            let _ = if label.is_empty() {
                writeln!(out, "latchkey_{name}_total {value}")
            } else {
                writeln!(out, "latchkey_{name}_total{{{label}}} {value}")
            };
        }
        let durations = self.durations.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (name, (sum, count)) in durations {
            let _ = writeln!(out, "# TYPE latchkey_{name}_seconds summary");
            let _ = writeln!(out, "latchkey_{name}_seconds_sum {sum}");
            let _ = writeln!(out, "latchkey_{name}_seconds_count {count}");
        }
        let _ = writeln!(out, "# TYPE latchkey_store_errors_total counter");
        let _ = writeln!(out, "latchkey_store_errors_total {}", self.store_errors.load(Ordering::Relaxed));
        out
    }
}

/// The outbox's counts as Prometheus gauges (`latchkey_outbox_entries{state=…}`).
pub fn outbox_gauges(stats: &crate::store::OutboxStats) -> String {
    let mut out = String::from("# TYPE latchkey_outbox_entries gauge\n");
    for (state, n) in
        [("ready", stats.ready), ("in_flight", stats.in_flight), ("scheduled", stats.scheduled), ("dead", stats.dead)]
    {
        let _ = writeln!(out, "latchkey_outbox_entries{{state=\"{state}\"}} {n}");
    }
    out
}

/// Records events.
pub struct Audit {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl Audit {
    /// A recorder writing to `store` and counting in `metrics`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        Self { store, clock, metrics }
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts an event in the metrics without recording it in the log (a link request: counted,
    /// not logged).
    pub fn count(&self, kind: EventKind) {
        self.metrics.inc(kind.metric().name(), "");
    }

    /// Records an event (and counts it). Never fails.
    pub async fn record(&self, kind: EventKind, user: Option<&UserId>, origin: &RequestOrigin, detail: &str) {
        self.record_with(kind, user, origin, detail, false).await;
    }

    /// Records an event like [`Audit::record`], with the same store work whether or not it
    /// names a user (see [`AuditStore::append_event_evenly`]): for a link request, whose store
    /// work must not tell a known address from a new one.
    pub async fn record_evenly(&self, kind: EventKind, user: Option<&UserId>, origin: &RequestOrigin, detail: &str) {
        self.record_with(kind, user, origin, detail, true).await;
    }

    async fn record_with(
        &self,
        kind: EventKind,
        user: Option<&UserId>,
        origin: &RequestOrigin,
        detail: &str,
        even: bool,
    ) {
        let label = if detail.is_empty() || !kind.labelled_by_detail() {
            String::new()
        } else {
            format!("detail=\"{}\"", detail.replace(['"', '\\', '\n'], "_"))
        };
        self.metrics.inc(kind.metric().name(), &label);
        let event = AuditEvent {
            id: String::new(),
            at: self.clock.now().to_rfc3339(),
            kind,
            user: user.cloned(),
            ip: origin.ip_text(),
            browser: origin.browser(),
            detail: detail.to_owned(),
        };
        let stored =
            if even { self.store.append_event_evenly(&event).await } else { self.store.append_event(&event).await };
        if let Err(e) = stored {
            self.metrics.store_error();
            tracing::warn!(error = %e, event = kind.name(), "audit event not stored");
        }
    }
}
