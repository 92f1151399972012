//! Can an address's domain receive mail at all (`MAIL_DOMAIN_CHECK`)? An MX record, or else an
//! A or AAAA record, says yes; NXDOMAIN, a null MX (RFC 7505) or no record of either kind says
//! no; a timeout or SERVFAIL says nothing, and nothing is refused on it. Verdicts are cached
//! per domain (bounded in size and time), so the lookup depends on the domain alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::resolver::{Answer, Dns};
use crate::audit::Metrics;
use crate::config::DomainCheckMode;
use crate::domain::Email;

/// How long a domain that receives mail is remembered.
const DELIVERABLE_TTL: Duration = Duration::from_secs(3600);
/// How long a domain that receives none is remembered (it may be being set up).
const NO_MAIL_TTL: Duration = Duration::from_secs(600);
/// How long a failed lookup is remembered (so a dead resolver costs one timeout a minute).
const UNKNOWN_TTL: Duration = Duration::from_secs(60);
/// The most domains remembered.
const CAPACITY: usize = 10_000;

/// What DNS says about a domain's mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailDomainVerdict {
    /// It has an MX record (the exchanges, best first) or an address.
    Deliverable {
        /// The MX exchanges, best first (empty when only an address was found).
        exchanges: Vec<String>,
    },
    /// It cannot receive mail: no such domain, a null MX, or neither MX nor address.
    NoMail,
    /// The lookup failed (timeout, SERVFAIL): unknown, never refused.
    Unknown,
}

impl MailDomainVerdict {
    fn label(&self) -> &'static str {
        match self {
            Self::Deliverable { .. } => "deliverable",
            Self::NoMail => "no_mail",
            Self::Unknown => "unknown",
        }
    }

    fn ttl(&self) -> Duration {
        match self {
            Self::Deliverable { .. } => DELIVERABLE_TTL,
            Self::NoMail => NO_MAIL_TTL,
            Self::Unknown => UNKNOWN_TTL,
        }
    }
}

/// A link request for an address whose domain cannot receive mail (`MAIL_DOMAIN_CHECK=refuse`).
#[derive(Debug, thiserror::Error)]
#[error("the address's domain cannot receive mail")]
pub struct NoMailDomain;

/// The check at link request, with its cache.
pub struct MailDomains {
    dns: Arc<Dns>,
    mode: DomainCheckMode,
    metrics: Arc<Metrics>,
    cache: Mutex<VerdictCache>,
}

impl MailDomains {
    /// The check in `mode`, looking up through `dns`, counting in `metrics`
    /// (`latchkey_mail_domain_checks_total{result}`).
    pub fn new(dns: Arc<Dns>, mode: DomainCheckMode, metrics: Arc<Metrics>) -> Self {
        Self { dns, mode, metrics, cache: Mutex::new(VerdictCache::default()) }
    }

    /// Checks `email`'s domain as `MAIL_DOMAIN_CHECK` says: `off` looks nothing up; `warn`
    /// looks it up in the background (the request does not wait) and logs and counts a domain
    /// without mail; `refuse` waits for the verdict (at most `DNS_TIMEOUT`) and refuses such a
    /// domain. A failed lookup never refuses.
    pub async fn check(self: &Arc<Self>, email: &Email) -> Result<(), NoMailDomain> {
        let domain = domain_of(email).to_owned();
        match self.mode {
            DomainCheckMode::Off => Ok(()),
            DomainCheckMode::Warn => {
                // A cached verdict is counted here; only a lookup goes to the background.
                if let Some(known) = self.cached(&domain, Instant::now()) {
                    self.count(&known);
                    return Ok(());
                }
                let this = self.clone();
                tokio::spawn(async move {
                    this.counted(&domain).await;
                });
                Ok(())
            }
            DomainCheckMode::Refuse => match self.counted(&domain).await {
                MailDomainVerdict::NoMail => Err(NoMailDomain),
                _ => Ok(()),
            },
        }
    }

    /// The verdict, counted and, when a lookup (not the cache) found a domain without mail,
    /// logged: once per lookup, not once per request.
    async fn counted(&self, domain: &str) -> MailDomainVerdict {
        let (verdict, looked_up) = self.lookup(domain).await;
        self.count(&verdict);
        if looked_up && verdict == MailDomainVerdict::NoMail {
            tracing::warn!(domain, mode = ?self.mode, "a link was asked for an address whose domain receives no mail");
        }
        verdict
    }

    fn count(&self, verdict: &MailDomainVerdict) {
        self.metrics.inc("mail_domain_checks", &format!("result=\"{}\"", verdict.label()));
    }

    /// What DNS says about `domain`'s mail, from the cache when it is fresh.
    pub async fn verdict(&self, domain: &str) -> MailDomainVerdict {
        self.lookup(domain).await.0
    }

    /// The verdict, and whether it took a lookup (false: from the cache).
    async fn lookup(&self, domain: &str) -> (MailDomainVerdict, bool) {
        if let Some(known) = self.cached(domain, Instant::now()) {
            return (known, false);
        }
        let verdict = match self.dns.mx(domain).await {
            Answer::Found(exchanges) if exchanges.iter().all(String::is_empty) => MailDomainVerdict::NoMail,
            Answer::Found(exchanges) => MailDomainVerdict::Deliverable { exchanges },
            Answer::Failed => MailDomainVerdict::Unknown,
            // RFC 5321 §5.1: without MX, mail goes to the domain's own address.
            Answer::None => match self.dns.addresses(domain).await {
                Answer::Found(_) => MailDomainVerdict::Deliverable { exchanges: Vec::new() },
                Answer::None => MailDomainVerdict::NoMail,
                Answer::Failed => MailDomainVerdict::Unknown,
            },
        };
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).put(domain, verdict.clone(), Instant::now());
        (verdict, true)
    }

    /// The cached verdict for `domain`, if fresh; never a lookup. (The webmail button uses
    /// what the link request's check found.)
    pub fn cached(&self, domain: &str, now: Instant) -> Option<MailDomainVerdict> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(domain, now)
    }
}

/// The domain of an address (already lower case and ASCII).
fn domain_of(email: &Email) -> &str {
    email.as_str().rsplit_once('@').map_or("", |(_, domain)| domain)
}

/// Verdicts by domain, each until its expiry, at most [`CAPACITY`] of them.
#[derive(Default)]
struct VerdictCache {
    entries: HashMap<String, (MailDomainVerdict, Instant)>,
}

impl VerdictCache {
    fn get(&self, domain: &str, now: Instant) -> Option<MailDomainVerdict> {
        self.entries.get(domain).filter(|(_, expires)| *expires > now).map(|(verdict, _)| verdict.clone())
    }

    fn put(&mut self, domain: &str, verdict: MailDomainVerdict, now: Instant) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(domain) {
            self.entries.retain(|_, (_, expires)| *expires > now);
            if self.entries.len() >= CAPACITY {
                // Still full of fresh entries: the one closest to expiry goes.
                if let Some(oldest) = self.entries.iter().min_by_key(|(_, (_, e))| *e).map(|(d, _)| d.clone()) {
                    self.entries.remove(&oldest);
                }
            }
        }
        let expires = now + verdict.ttl();
        self.entries.insert(domain.to_owned(), (verdict, expires));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_expire_by_kind_and_the_cache_stays_bounded() {
        let now = Instant::now();
        let mut cache = VerdictCache::default();
        cache.put("a.example", MailDomainVerdict::Deliverable { exchanges: vec![] }, now);
        cache.put("b.example", MailDomainVerdict::NoMail, now);
        cache.put("c.example", MailDomainVerdict::Unknown, now);
        let later = |d: Duration| now + d + Duration::from_secs(1);
        assert!(cache.get("c.example", later(Duration::ZERO)).is_some());
        assert_eq!(cache.get("c.example", later(UNKNOWN_TTL)), None);
        assert_eq!(cache.get("b.example", later(UNKNOWN_TTL)), Some(MailDomainVerdict::NoMail));
        assert_eq!(cache.get("b.example", later(NO_MAIL_TTL)), None);
        assert!(cache.get("a.example", later(NO_MAIL_TTL)).is_some());
        assert_eq!(cache.get("a.example", later(DELIVERABLE_TTL)), None);

        for i in 0..CAPACITY + 50 {
            cache.put(&format!("d{i}.example"), MailDomainVerdict::NoMail, now);
        }
        assert_eq!(cache.entries.len(), CAPACITY);
        assert!(cache.get(&format!("d{}.example", CAPACITY + 49), now).is_some(), "the newest is kept");
    }
}
