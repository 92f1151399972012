//! The mail DNS checks: the sender domain's records at start-up (`MAIL_DNS_CHECK`) and the
//! address domain check the sign-in uses (`MAIL_DOMAIN_CHECK`), over one resolver.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::audit::Metrics;
use crate::config::{DnsCheckMode, DomainCheckMode, MailTransport, Settings};
use crate::dns::{Dns, MailDnsReport, MailDomains, Relay, check_sender};

/// What the checks built.
pub(super) struct MailDns {
    /// The check at link request.
    pub(super) domains: Arc<MailDomains>,
    /// The start-up check's findings, for the log and `/readyz` (none with `MAIL_DNS_CHECK=off`).
    pub(super) report: Option<MailDnsReport>,
}

/// Checks the sender domain (logging each finding; with `MAIL_DNS_CHECK=strict` a problem
/// stops start-up) and builds the address domain check.
pub(super) async fn mail_dns(settings: &Settings, metrics: Arc<Metrics>) -> anyhow::Result<MailDns> {
    let config = &settings.mail_dns;
    let needed = config.dns_check != DnsCheckMode::Off || config.domain_check != DomainCheckMode::Off;
    let dns = Arc::new(if needed { Dns::new(config.resolver, config.timeout) } else { Dns::unused() });
    let domains = Arc::new(MailDomains::new(dns.clone(), config.domain_check, metrics));
    if config.dns_check == DnsCheckMode::Off {
        return Ok(MailDns { domains, report: None });
    }
    let relay = match &settings.mail_transport {
        MailTransport::Smtp { url, .. } => url::Url::parse(url.expose_secret())
            .ok()
            .and_then(|url| url.host_str().map(Relay::of_host))
            .unwrap_or(Relay::Local),
        MailTransport::File { .. } | MailTransport::Log => Relay::Local,
    };
    let domain = settings.mail_from.email.domain().to_ascii_lowercase();
    let report = check_sender(&dns, &domain, &relay, config.dkim.as_ref()).await;
    for (name, finding) in [("SPF", &report.spf), ("DKIM", &report.dkim), ("DMARC", &report.dmarc)] {
        if finding.is_problem() {
            tracing::warn!(check = name, status = finding.status, "mail DNS: {}", finding.detail);
        } else {
            tracing::info!(check = name, status = finding.status, "mail DNS: {}", finding.detail);
        }
    }
    let problems = report.problems();
    if config.dns_check == DnsCheckMode::Strict && !problems.is_empty() {
        anyhow::bail!(
            "MAIL_DNS_CHECK=strict: the DNS records of {domain} need attention:\n  - {}",
            problems.join("\n  - ")
        );
    }
    Ok(MailDns { domains, report: Some(report) })
}
