//! Can an address's domain receive mail at all (`MAIL_DOMAIN_CHECK`)? An MX record, or else an
//! A or AAAA record, says yes; NXDOMAIN, a null MX (RFC 7505) or no record of either kind says
//! no; a timeout or SERVFAIL says nothing, and nothing is refused on it. Verdicts are cached
//! per domain (bounded in size and time), so the lookup depends on the domain alone. A domain
//! is looked up once at a time, by a task of its own that requests wait for (a request that
//! goes away cancels nothing), and at most [`MAX_LOOKUPS`] lookups are under way at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

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
/// The most lookups at once, whatever their domains: a resolver that stops answering holds
/// each for up to twice `DNS_TIMEOUT` (MX, then an address), and a flood of new domains must
/// not pile them up.
const MAX_LOOKUPS: usize = 128;

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
    /// Not looked up: [`MAX_LOOKUPS`] lookups were under way. Never refused, never cached.
    Skipped,
}

impl MailDomainVerdict {
    fn label(&self) -> &'static str {
        match self {
            Self::Deliverable { .. } => "deliverable",
            Self::NoMail => "no_mail",
            Self::Unknown => "unknown",
            Self::Skipped => "skipped",
        }
    }

    fn ttl(&self) -> Duration {
        match self {
            Self::Deliverable { .. } => DELIVERABLE_TTL,
            Self::NoMail => NO_MAIL_TTL,
            Self::Unknown | Self::Skipped => UNKNOWN_TTL,
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
    /// The lookups under way, by domain.
    in_flight: Mutex<HashMap<String, Flight>>,
    /// Room for lookups at once, whatever their domains.
    lookups: Arc<Semaphore>,
}

/// A domain's lookup under way, made by a task of its own.
struct Flight {
    /// Its verdict, once there is one, for the requests that wait for it.
    verdict: watch::Sender<Option<MailDomainVerdict>>,
    /// Requests (under `warn`) that do not wait but are counted with its verdict.
    counted_with_it: u64,
}

/// Where a request's verdict comes from.
enum Joined {
    /// Known already: cached, or skipped.
    Known(MailDomainVerdict),
    /// The lookup under way, or started for this request.
    Waiting(watch::Receiver<Option<MailDomainVerdict>>),
}

impl MailDomains {
    /// The check in `mode`, looking up through `dns`, counting in `metrics`
    /// (`latchkey_mail_domain_checks_total{result}`).
    pub fn new(dns: Arc<Dns>, mode: DomainCheckMode, metrics: Arc<Metrics>) -> Self {
        Self {
            dns,
            mode,
            metrics,
            cache: Mutex::new(VerdictCache::default()),
            in_flight: Mutex::default(),
            lookups: Arc::new(Semaphore::new(MAX_LOOKUPS)),
        }
    }

    /// Checks `email`'s domain as `MAIL_DOMAIN_CHECK` says: `off` looks nothing up; `warn`
    /// looks it up in the background (the request does not wait) and logs and counts a domain
    /// without mail; `refuse` waits for the verdict (each DNS question bounded by
    /// `DNS_TIMEOUT`) and refuses such a domain. A failed or skipped lookup never refuses.
    pub async fn check(self: &Arc<Self>, email: &Email) -> Result<(), NoMailDomain> {
        let domain = domain_of(email);
        match self.mode {
            DomainCheckMode::Off => Ok(()),
            DomainCheckMode::Warn => {
                // Counted now when the verdict is known, else with the lookup's verdict.
                match self.cached(domain, Instant::now()) {
                    Some(known) => self.count(&known, 1),
                    None => {
                        if let Joined::Known(known) = self.join(domain, true) {
                            self.count(&known, 1);
                        }
                    }
                }
                Ok(())
            }
            DomainCheckMode::Refuse => {
                let verdict = self.verdict(domain).await;
                self.count(&verdict, 1);
                match verdict {
                    MailDomainVerdict::NoMail => Err(NoMailDomain),
                    _ => Ok(()),
                }
            }
        }
    }

    fn count(&self, verdict: &MailDomainVerdict, requests: u64) {
        if requests > 0 {
            self.metrics.add("mail_domain_checks", &format!("result=\"{}\"", verdict.label()), requests);
        }
    }

    /// The verdict: cached, or the lookup's (under way, or started here).
    async fn verdict(self: &Arc<Self>, domain: &str) -> MailDomainVerdict {
        if let Some(known) = self.cached(domain, Instant::now()) {
            return known;
        }
        match self.join(domain, false) {
            Joined::Known(known) => known,
            // A lookup whose task ended without a verdict (it cannot, but then): unknown.
            Joined::Waiting(mut waiting) => match waiting.wait_for(Option::is_some).await {
                Ok(verdict) => verdict.clone().unwrap_or(MailDomainVerdict::Unknown),
                Err(_) => MailDomainVerdict::Unknown,
            },
        }
    }

    /// Joins `domain`'s lookup under way, or starts one if there is room. `counted_with_it`:
    /// the request is counted with the lookup's verdict (it does not wait for it).
    fn join(self: &Arc<Self>, domain: &str, counted_with_it: bool) -> Joined {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = in_flight.get_mut(domain) {
            flight.counted_with_it += u64::from(counted_with_it);
            return Joined::Waiting(flight.verdict.subscribe());
        }
        // A lookup that ended since the caller looked left its verdict in the cache.
        if let Some(known) = self.cached(domain, Instant::now()) {
            return Joined::Known(known);
        }
        let Ok(room) = self.lookups.clone().try_acquire_owned() else {
            return Joined::Known(MailDomainVerdict::Skipped);
        };
        let (verdict, waiting) = watch::channel(None);
        in_flight.insert(domain.to_owned(), Flight { verdict, counted_with_it: u64::from(counted_with_it) });
        // Let go before the spawn: a task spawned on a runtime shutting down is dropped at once,
        // and its drop takes this lock.
        drop(in_flight);
        let lookup = Lookup { domains: self.clone(), domain: domain.to_owned(), _room: room, ended: false };
        tokio::spawn(lookup.run());
        Joined::Waiting(waiting)
    }

    /// What DNS says now about `domain`'s mail.
    async fn resolve(&self, domain: &str) -> MailDomainVerdict {
        match self.dns.mx(domain).await {
            Answer::Found(exchanges) if exchanges.iter().all(String::is_empty) => MailDomainVerdict::NoMail,
            Answer::Found(exchanges) => MailDomainVerdict::Deliverable { exchanges },
            Answer::Failed => MailDomainVerdict::Unknown,
            // RFC 5321 §5.1: without MX, mail goes to the domain's own address.
            Answer::None => match self.dns.addresses(domain).await {
                Answer::Found(_) => MailDomainVerdict::Deliverable { exchanges: Vec::new() },
                Answer::None => MailDomainVerdict::NoMail,
                Answer::Failed => MailDomainVerdict::Unknown,
            },
        }
    }

    /// The cached verdict for `domain`, if fresh; never a lookup. (The webmail button uses
    /// what the link request's check found.)
    pub fn cached(&self, domain: &str, now: Instant) -> Option<MailDomainVerdict> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(domain, now)
    }
}

/// A domain's lookup, made by a task of its own: it caches the verdict, ends the domain's
/// flight, logs a domain without mail once and counts the requests counted with it. Should
/// the task end early (a runtime shutting down), it takes the flight away all the same: its
/// waiters and the requests counted with it get "unknown".
struct Lookup {
    domains: Arc<MailDomains>,
    domain: String,
    _room: OwnedSemaphorePermit,
    ended: bool,
}

impl Lookup {
    async fn run(mut self) {
        let verdict = self.domains.resolve(&self.domain).await;
        self.domains.cache.lock().unwrap_or_else(|e| e.into_inner()).put(&self.domain, verdict.clone(), Instant::now());
        if let Some(flight) = self.end() {
            if verdict == MailDomainVerdict::NoMail {
                tracing::warn!(domain = %self.domain, mode = ?self.domains.mode, "a link was asked for an address whose domain receives no mail");
            }
            self.domains.count(&verdict, flight.counted_with_it);
            flight.verdict.send_replace(Some(verdict));
        }
    }

    /// Takes the domain's flight away (once).
    fn end(&mut self) -> Option<Flight> {
        if std::mem::replace(&mut self.ended, true) {
            return None;
        }
        self.domains.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.domain)
    }
}

impl Drop for Lookup {
    fn drop(&mut self) {
        if let Some(flight) = self.end() {
            self.domains.count(&MailDomainVerdict::Unknown, flight.counted_with_it);
        }
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

    /// The check over a resolver that never answers (each question given up after 3 s).
    fn silent_domains() -> (Arc<MailDomains>, Arc<Metrics>, std::net::UdpSocket) {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dns = Arc::new(Dns::new(Some(silent.local_addr().unwrap()), Duration::from_secs(3)));
        let metrics = Arc::new(Metrics::default());
        (Arc::new(MailDomains::new(dns, DomainCheckMode::Refuse, metrics.clone())), metrics, silent)
    }

    /// Requests for one domain share one lookup, made by a task that requests going away do
    /// not stop; requests counted with it (under `warn`) are counted once it ends, and then
    /// nothing is under way.
    #[tokio::test]
    async fn a_domain_is_looked_up_once_at_a_time_by_a_task_no_request_cancels() {
        let (domains, metrics, _silent) = silent_domains();
        let mut first = Box::pin(domains.verdict("a.example"));
        let mut second = Box::pin(domains.verdict("a.example"));
        // Each polled until it waits.
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut first).await.is_err());
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut second).await.is_err());
        assert!(matches!(domains.join("a.example", true), Joined::Waiting(_)));
        assert!(matches!(domains.join("a.example", true), Joined::Waiting(_)));
        {
            let in_flight = domains.in_flight.lock().unwrap();
            assert_eq!(in_flight.len(), 1, "one lookup");
            assert_eq!(in_flight["a.example"].counted_with_it, 2);
        }
        drop((first, second));
        // The lookup goes on, gives up on the silent resolver, and leaves its verdict.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !domains.in_flight.lock().unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the lookup never ended");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(domains.cached("a.example", Instant::now()), Some(MailDomainVerdict::Unknown));
        assert!(
            metrics.render().contains("latchkey_mail_domain_checks_total{result=\"unknown\"} 2"),
            "{}",
            metrics.render()
        );
    }

    /// With every room for lookups taken, a new domain's verdict is "skipped" at once, and it
    /// is not remembered.
    #[tokio::test]
    async fn past_the_lookups_at_once_a_verdict_is_skipped_and_not_cached() {
        let (domains, _, _silent) = silent_domains();
        for i in 0..MAX_LOOKUPS {
            assert!(matches!(domains.join(&format!("d{i}.example"), false), Joined::Waiting(_)));
        }
        assert_eq!(domains.verdict("late.example").await, MailDomainVerdict::Skipped);
        assert_eq!(domains.cached("late.example", Instant::now()), None);
        assert_eq!(domains.in_flight.lock().unwrap().len(), MAX_LOOKUPS);
    }

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
