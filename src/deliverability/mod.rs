//! Deliverability: the suppression list's rules (who is on it, for how long, what is counted
//! and audited) and the mail providers' bounce and complaint webhooks that feed it. The
//! outbox asks it before each mail and tells it about refusals at send time; the bounce
//! routes hand it what the providers post.

mod groups;
pub mod hooks;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use groups::domain_group;

use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::BounceSettings;
use crate::crypto::Keyring;
use crate::domain::{Email, EventKind, RequestOrigin};
use crate::store::{Store, StoreResult, Suppression, SuppressionReason};

/// The keyed hash an address is on the suppression list under: of its mailbox, with any
/// `+tag` folded (as the rate limits count it), so `ann+1@…` and `ann@…` share one entry.
pub fn suppression_lookup(email: &Email, keyring: &Keyring) -> String {
    keyring.lookup.mac_b64(&[b"suppress", email.mailbox().as_bytes()])
}

/// The suppression list's rules.
pub struct Suppressions {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    audit: Arc<Audit>,
    settings: BounceSettings,
}

impl Suppressions {
    /// The list in `store`, entries lasting as `settings` say.
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        audit: Arc<Audit>,
        settings: BounceSettings,
    ) -> Self {
        Self { store, keyring, clock, audit, settings }
    }

    /// The settings (the webhooks read their secrets here).
    pub fn settings(&self) -> &BounceSettings {
        &self.settings
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The address's entry, if it is suppressed.
    pub async fn check(&self, email: &Email) -> StoreResult<Option<Suppression>> {
        self.store.get_suppression(&suppression_lookup(email, &self.keyring)).await
    }

    /// Puts `email` on the list for `reason`, as `source` reported. An entry that lasts longer
    /// already (a complaint, then a bounce) stays. A new entry is audited and counted once;
    /// returns whether it was new.
    pub async fn suppress(&self, email: &Email, reason: SuppressionReason, source: &str) -> StoreResult<bool> {
        let ttl = match reason {
            SuppressionReason::Complaint => self.settings.complaint_ttl,
            SuppressionReason::Bounce | SuppressionReason::Smtp5xx => self.settings.bounce_ttl,
        };
        let now = self.clock.now();
        let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(30));
        let lookup = suppression_lookup(email, &self.keyring);
        self.count(reason_event(reason), email);
        if self.store.get_suppression(&lookup).await?.is_some_and(|old| old.expires_at >= expires_at) {
            return Ok(false);
        }
        let entry = Suppression { reason, source: source.to_owned(), masked: email.masked(), at: now, expires_at };
        let new = self.store.put_suppression(&lookup, &entry, ttl).await?;
        if new {
            tracing::info!(to = %email.masked(), reason = reason.name(), source, "address suppressed");
            let detail = format!("{} {} from {source}", email.masked(), reason.name());
            self.audit.record(EventKind::AddressSuppressed, None, &RequestOrigin::default(), &detail).await;
        }
        Ok(new)
    }

    /// Takes `email` off the list; returns whether it was on it.
    pub async fn clear(&self, email: &Email) -> StoreResult<bool> {
        self.store.delete_suppression(&suppression_lookup(email, &self.keyring)).await
    }

    /// Counts a mail event (`sent`, `bounced`, `complained`, `refused`, `suppressed`) for
    /// `email`'s domain group: `latchkey_mail_domain_total{event, group}`.
    pub fn count(&self, event: &'static str, email: &Email) {
        let label = format!("event=\"{event}\",group=\"{}\"", domain_group(email));
        self.audit.metrics().inc("mail_domain", &label);
    }
}

/// The metric event a reason counts as.
fn reason_event(reason: SuppressionReason) -> &'static str {
    match reason {
        SuppressionReason::Bounce => "bounced",
        SuppressionReason::Complaint => "complained",
        SuppressionReason::Smtp5xx => "refused",
    }
}
