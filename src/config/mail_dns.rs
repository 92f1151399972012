//! Mail and DNS: DKIM signing (`DKIM_SELECTOR`, `DKIM_DOMAIN`, `DKIM_PRIVATE_KEY`), the start-up
//! check of the sender domain's records (`MAIL_DNS_CHECK`), the check of an address's domain at
//! link request (`MAIL_DOMAIN_CHECK`), and the resolver both use (`DNS_RESOLVER`,
//! `DNS_TIMEOUT`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::reader::Reader;
use crate::crypto::dkim::DkimKey;
use crate::domain::is_host_name;

/// Signing every mail with DKIM.
#[derive(Debug, Clone)]
pub struct DkimSettings {
    /// `DKIM_SELECTOR`: the record is published at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// `DKIM_DOMAIN`: the signing domain (`d=`).
    pub domain: String,
    /// `DKIM_PRIVATE_KEY`, loaded.
    pub key: Arc<DkimKey>,
}

impl DkimSettings {
    /// Where the public key is published: `<selector>._domainkey.<domain>`.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }
}

/// `MAIL_DNS_CHECK`: what the start-up check of the sender domain's SPF, DKIM and DMARC
/// records does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsCheckMode {
    /// No check.
    Off,
    /// Problems are logged and shown in `/readyz`.
    Warn,
    /// Problems stop start-up.
    Strict,
}

/// `MAIL_DOMAIN_CHECK`: what a link request for a domain that can receive no mail (no MX, no
/// A or AAAA record) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainCheckMode {
    /// No lookup.
    Off,
    /// The mail is sent; a log line and a metric.
    Warn,
    /// The form says so and nothing is sent.
    Refuse,
}

/// The mail settings that involve DNS.
#[derive(Debug, Clone)]
pub struct MailDnsSettings {
    /// DKIM signing; none when `DKIM_*` are unset.
    pub dkim: Option<DkimSettings>,
    /// `MAIL_DNS_CHECK`.
    pub dns_check: DnsCheckMode,
    /// `MAIL_DOMAIN_CHECK`.
    pub domain_check: DomainCheckMode,
    /// `DNS_RESOLVER`: one name server (`ip:port`) instead of the system's configuration.
    pub resolver: Option<SocketAddr>,
    /// `DNS_TIMEOUT`: how long one lookup may take.
    pub timeout: Duration,
}

impl Reader<'_> {
    /// `DKIM_*`, `MAIL_DNS_CHECK`, `MAIL_DOMAIN_CHECK`, `DNS_RESOLVER`, `DNS_TIMEOUT`.
    /// `sender_domain` is `MAIL_FROM`'s, which the DKIM domain should align with.
    pub(super) fn mail_dns(&mut self, prod: bool, sender_domain: Option<&str>) -> MailDnsSettings {
        let dkim = self.dkim(sender_domain);
        let dns_check = match self.get("MAIL_DNS_CHECK").as_deref() {
            None if prod => DnsCheckMode::Warn,
            None | Some("off") => DnsCheckMode::Off,
            Some("warn") => DnsCheckMode::Warn,
            Some("strict") => DnsCheckMode::Strict,
            Some(other) => {
                self.problem("MAIL_DNS_CHECK", format!("`{other}` is not `warn`, `strict` or `off`"));
                DnsCheckMode::Off
            }
        };
        let domain_check = match self.get("MAIL_DOMAIN_CHECK").as_deref() {
            None | Some("warn") => DomainCheckMode::Warn,
            Some("refuse") => DomainCheckMode::Refuse,
            Some("off") => DomainCheckMode::Off,
            Some(other) => {
                self.problem("MAIL_DOMAIN_CHECK", format!("`{other}` is not `warn`, `refuse` or `off`"));
                DomainCheckMode::Off
            }
        };
        let resolver = self.get("DNS_RESOLVER").and_then(|raw| match raw.parse() {
            Ok(address) => Some(address),
            Err(_) => {
                self.problem("DNS_RESOLVER", format!("`{raw}` is not an address like 127.0.0.1:53 or [::1]:53"));
                None
            }
        });
        let timeout = self
            .duration("DNS_TIMEOUT", "2s", Duration::from_millis(100), Duration::from_secs(30))
            .unwrap_or(Duration::from_secs(2));
        MailDnsSettings { dkim, dns_check, domain_check, resolver, timeout }
    }

    /// `DKIM_SELECTOR`, `DKIM_DOMAIN`, `DKIM_PRIVATE_KEY`: all three or none.
    fn dkim(&mut self, sender_domain: Option<&str>) -> Option<DkimSettings> {
        let selector = self.get("DKIM_SELECTOR");
        let domain = self.get("DKIM_DOMAIN").map(|d| d.trim_end_matches('.').to_ascii_lowercase());
        let path = self.get("DKIM_PRIVATE_KEY");
        if selector.is_none() && domain.is_none() && path.is_none() {
            return None;
        }
        let mut complete = true;
        for (var, value) in [("DKIM_SELECTOR", &selector), ("DKIM_DOMAIN", &domain), ("DKIM_PRIVATE_KEY", &path)] {
            if value.is_none() {
                complete = false;
                self.problem(var, "is required when any of DKIM_SELECTOR, DKIM_DOMAIN, DKIM_PRIVATE_KEY is set");
            }
        }
        if let Some(selector) = &selector
            && !is_selector(selector)
        {
            complete = false;
            self.problem("DKIM_SELECTOR", format!("`{selector}` is not a selector (letters, digits, `-`, dots)"));
        }
        if let Some(domain) = &domain
            && !is_host_name(domain)
        {
            complete = false;
            self.problem("DKIM_DOMAIN", format!("`{domain}` is not a domain name like example.com"));
        }
        let key = path.as_deref().and_then(|path| {
            match std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read ({e})"))
                .and_then(|pem| DkimKey::from_pem(&pem).map_err(|e| e.to_string()))
            {
                Ok(key) => Some(key),
                Err(e) => {
                    self.problem("DKIM_PRIVATE_KEY", format!("{path}: {e}"));
                    None
                }
            }
        });
        let (Some(selector), Some(domain), Some(key)) = (selector, domain, key) else { return None };
        if !complete {
            return None;
        }
        if let Some(sender) = sender_domain
            && !aligned(&domain, sender)
        {
            self.warn(format!(
                "DKIM_DOMAIN {domain} is neither MAIL_FROM's domain ({sender}) nor a parent of it: \
                 DMARC does not count its signatures"
            ));
        }
        Some(DkimSettings { selector, domain, key: Arc::new(key) })
    }
}

/// A DKIM selector: one or more labels of letters, digits and `-`.
fn is_selector(selector: &str) -> bool {
    selector.len() <= 63
        && selector.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// DMARC's relaxed alignment, without the public suffix list: the signing domain is the
/// sender's domain or a parent of it.
fn aligned(signing: &str, sender: &str) -> bool {
    let sender = sender.to_ascii_lowercase();
    sender == signing || sender.ends_with(&format!(".{signing}"))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::crypto::dkim::DkimAlgorithm;

    fn read(vars: &[(&str, &str)], prod: bool) -> (MailDnsSettings, Vec<&'static str>, Vec<String>) {
        let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        let mut r = Reader::new(&lookup);
        let settings = r.mail_dns(prod, Some("mail.example.com"));
        (settings, r.problems.iter().map(|p| p.var).collect(), r.warnings)
    }

    fn key_file() -> String {
        let key = DkimKey::generate(DkimAlgorithm::Ed25519).unwrap();
        let path =
            std::env::temp_dir().join(format!("latchkey-dkim-{}.pem", crate::crypto::random_token::<6>().unwrap()));
        std::fs::write(&path, key.to_pem().unwrap().expose_secret()).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn defaults_check_domains_and_check_dns_in_production_only() {
        let (dev, problems, _) = read(&[], false);
        assert!(problems.is_empty());
        assert!(dev.dkim.is_none());
        assert_eq!(dev.dns_check, DnsCheckMode::Off);
        assert_eq!(dev.domain_check, DomainCheckMode::Warn);
        assert_eq!(dev.resolver, None);
        assert_eq!(dev.timeout, Duration::from_secs(2));
        let (prod, _, _) = read(&[], true);
        assert_eq!(prod.dns_check, DnsCheckMode::Warn);
        let (set, problems, _) = read(
            &[
                ("MAIL_DNS_CHECK", "strict"),
                ("MAIL_DOMAIN_CHECK", "refuse"),
                ("DNS_RESOLVER", "127.0.0.1:5353"),
                ("DNS_TIMEOUT", "500ms"),
            ],
            false,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(set.dns_check, DnsCheckMode::Strict);
        assert_eq!(set.domain_check, DomainCheckMode::Refuse);
        assert_eq!(set.resolver, Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(set.timeout, Duration::from_millis(500));
    }

    #[test]
    fn bad_values_are_named() {
        let (_, problems, _) = read(
            &[
                ("MAIL_DNS_CHECK", "on"),
                ("MAIL_DOMAIN_CHECK", "block"),
                ("DNS_RESOLVER", "dns.example"),
                ("DNS_TIMEOUT", "1h"),
            ],
            false,
        );
        assert_eq!(problems, ["MAIL_DNS_CHECK", "MAIL_DOMAIN_CHECK", "DNS_RESOLVER", "DNS_TIMEOUT"]);
    }

    #[test]
    fn dkim_needs_all_three_and_a_key_that_loads() {
        let path = key_file();
        let (ok, problems, warnings) =
            read(&[("DKIM_SELECTOR", "lk2026"), ("DKIM_DOMAIN", "Example.com."), ("DKIM_PRIVATE_KEY", &path)], false);
        assert!(problems.is_empty() && warnings.is_empty(), "{problems:?} {warnings:?}");
        let dkim = ok.dkim.unwrap();
        assert_eq!(dkim.record_name(), "lk2026._domainkey.example.com");

        let (none, problems, _) = read(&[("DKIM_SELECTOR", "lk2026"), ("DKIM_PRIVATE_KEY", &path)], false);
        assert!(none.dkim.is_none());
        assert_eq!(problems, ["DKIM_DOMAIN"]);

        let (_, problems, _) = read(
            &[("DKIM_SELECTOR", "lk"), ("DKIM_DOMAIN", "example.com"), ("DKIM_PRIVATE_KEY", "/nonexistent/k.pem")],
            false,
        );
        assert_eq!(problems, ["DKIM_PRIVATE_KEY"]);
        let not_a_key = std::env::temp_dir().join("latchkey-dkim-not-a-key.pem");
        std::fs::write(&not_a_key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let (_, problems, _) = read(
            &[
                ("DKIM_SELECTOR", "lk"),
                ("DKIM_DOMAIN", "example.com"),
                ("DKIM_PRIVATE_KEY", &not_a_key.to_string_lossy()),
            ],
            false,
        );
        assert_eq!(problems, ["DKIM_PRIVATE_KEY"]);

        let (_, problems, _) = read(
            &[("DKIM_SELECTOR", "bad selector"), ("DKIM_DOMAIN", "not a domain"), ("DKIM_PRIVATE_KEY", &path)],
            false,
        );
        assert_eq!(problems, ["DKIM_SELECTOR", "DKIM_DOMAIN"]);
    }

    #[test]
    fn a_signing_domain_that_does_not_align_with_the_sender_is_a_warning() {
        let path = key_file();
        let (ok, problems, warnings) =
            read(&[("DKIM_SELECTOR", "s"), ("DKIM_DOMAIN", "other.example"), ("DKIM_PRIVATE_KEY", &path)], false);
        assert!(problems.is_empty());
        assert!(ok.dkim.is_some());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(aligned("example.com", "mail.example.com"));
        assert!(!aligned("ample.com", "mail.example.com"));
    }
}
