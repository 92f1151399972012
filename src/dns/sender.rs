//! The sender domain's records, checked at start-up (`MAIL_DNS_CHECK`): SPF present and naming
//! the relay, the DKIM record carrying the configured key's public half, DMARC present.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::resolver::{Answer, Dns};
use crate::config::DkimSettings;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `ok`, or what is wrong: `missing`, `mismatch`, `relay_not_named`, `several`, `unknown`
    /// (the lookup failed); `not_configured` and `relay_unchecked` are no problem.
    pub status: &'static str,
    /// A sentence for the log.
    pub detail: String,
}

impl Finding {
    fn new(status: &'static str, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into() }
    }

    /// True when the status needs the operator's attention.
    pub fn is_problem(&self) -> bool {
        !matches!(self.status, "ok" | "not_configured" | "relay_unchecked")
    }
}

/// The three checks of the sender domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailDnsReport {
    /// `MAIL_FROM`'s domain.
    pub domain: String,
    /// The SPF record.
    pub spf: Finding,
    /// The DKIM record of `DKIM_SELECTOR` at `DKIM_DOMAIN`.
    pub dkim: Finding,
    /// The DMARC record.
    pub dmarc: Finding,
}

impl MailDnsReport {
    /// `name: detail` of each finding that needs attention.
    pub fn problems(&self) -> Vec<String> {
        [("SPF", &self.spf), ("DKIM", &self.dkim), ("DMARC", &self.dmarc)]
            .into_iter()
            .filter(|(_, finding)| finding.is_problem())
            .map(|(name, finding)| format!("{name}: {}", finding.detail))
            .collect()
    }
}

/// Where mail is handed over (`SMTP_URL`'s host), as far as SPF is concerned.
#[derive(Debug, Clone)]
pub enum Relay {
    /// A host name.
    Name(String),
    /// An IP address.
    Ip(IpAddr),
    /// This machine, or no SMTP relay (file or log transport): SPF must cover the machine's
    /// public address, which latchkey does not know.
    Local,
}

impl Relay {
    /// The relay of an `smtp://`/`smtps://` URL's host.
    pub fn of_host(host: &str) -> Self {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => Self::Local,
            Ok(ip) => Self::Ip(ip),
            Err(_) if bare.eq_ignore_ascii_case("localhost") => Self::Local,
            Err(_) => Self::Name(bare.trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

/// Checks `domain`'s SPF and DMARC records and the DKIM record of `dkim`.
pub async fn check_sender(dns: &Dns, domain: &str, relay: &Relay, dkim: Option<&DkimSettings>) -> MailDnsReport {
    let (spf, dkim, dmarc) = tokio::join!(spf(dns, domain, relay), dkim_record(dns, dkim), dmarc(dns, domain));
    MailDnsReport { domain: domain.to_owned(), spf, dkim, dmarc }
}

async fn spf(dns: &Dns, domain: &str, relay: &Relay) -> Finding {
    let records = match dns.txt(domain).await {
        Answer::Failed => return Finding::new("unknown", format!("the TXT lookup of {domain} failed")),
        Answer::None => Vec::new(),
        Answer::Found(records) => records,
    };
    let spf: Vec<&String> = records.iter().filter(|r| is_spf(r)).collect();
    let record = match spf.as_slice() {
        [] => return Finding::new("missing", format!("{domain} has no SPF record (v=spf1 …)")),
        [one] => one.as_str(),
        _ => return Finding::new("several", format!("{domain} has {} SPF records; receivers reject that", spf.len())),
    };
    let addresses = match relay {
        Relay::Local => {
            return Finding::new(
                "relay_unchecked",
                format!("the relay is this machine: SPF of {domain} must cover its public address ({record})"),
            );
        }
        Relay::Ip(ip) => vec![*ip],
        Relay::Name(name) => match dns.addresses(name).await {
            Answer::Found(addresses) => addresses,
            _ => Vec::new(),
        },
    };
    if names_relay(record, relay, &addresses) {
        Finding::new("ok", format!("{domain}: {record}"))
    } else {
        let relay = match relay {
            Relay::Name(name) => name.clone(),
            Relay::Ip(ip) => ip.to_string(),
            Relay::Local => String::new(),
        };
        Finding::new("relay_not_named", format!("the SPF record of {domain} does not name the relay {relay}: {record}"))
    }
}

fn is_spf(record: &str) -> bool {
    let lower = record.trim().to_ascii_lowercase();
    lower == "v=spf1" || lower.starts_with("v=spf1 ")
}

/// True when an SPF record names the relay: a domain of `include:`, `a:`, `mx:`, `exists:` or
/// `redirect=` sharing the relay host's last two labels (the provider's own domain), or an
/// `ip4:`/`ip6:` range holding one of its addresses. A heuristic: the relay's outgoing
/// addresses are not known here.
fn names_relay(record: &str, relay: &Relay, addresses: &[IpAddr]) -> bool {
    let relay_base = match relay {
        Relay::Name(name) => Some(base_domain(name)),
        _ => None,
    };
    record.split_whitespace().skip(1).any(|term| {
        let term = term.trim_start_matches(['+', '-', '~', '?']).to_ascii_lowercase();
        let (mechanism, value) = match term.split_once([':', '=']) {
            Some((m, v)) => (m.to_owned(), v.to_owned()),
            None => return false,
        };
        match mechanism.as_str() {
            "ip4" | "ip6" => {
                let net = value.parse::<IpNet>().or_else(|_| value.parse::<IpAddr>().map(IpNet::from));
                net.is_ok_and(|net| addresses.iter().any(|ip| net.contains(ip)))
            }
            "include" | "a" | "mx" | "exists" | "redirect" => {
                let value = value.split('/').next().unwrap_or_default().trim_end_matches('.');
                relay_base.as_deref().is_some_and(|base| base_domain(value) == base)
            }
            _ => false,
        }
    })
}

/// The last two labels of a name: `smtp.eu.mailgun.org` → `mailgun.org`.
fn base_domain(name: &str) -> String {
    let labels: Vec<&str> = name.trim_end_matches('.').rsplit('.').take(2).collect();
    labels.into_iter().rev().collect::<Vec<_>>().join(".").to_ascii_lowercase()
}

async fn dkim_record(dns: &Dns, dkim: Option<&DkimSettings>) -> Finding {
    let Some(dkim) = dkim else {
        return Finding::new("not_configured", "DKIM_* are not set: latchkey does not sign (the relay may)");
    };
    let name = dkim.record_name();
    match dns.txt(&name).await {
        Answer::Failed => Finding::new("unknown", format!("the TXT lookup of {name} failed")),
        Answer::None => {
            Finding::new("missing", format!("no DKIM record at {name}: publish `{}`", dkim.key.dns_record()))
        }
        Answer::Found(records) if records.iter().any(|r| dkim.key.matches_record(r)) => {
            Finding::new("ok", format!("{name} carries the key DKIM_PRIVATE_KEY signs with"))
        }
        Answer::Found(_) => Finding::new(
            "mismatch",
            format!(
                "the record at {name} is not the public half of DKIM_PRIVATE_KEY: publish `{}`",
                dkim.key.dns_record()
            ),
        ),
    }
}

async fn dmarc(dns: &Dns, domain: &str) -> Finding {
    // DMARC falls back to the organizational domain; without the public suffix list, the
    // parent stands for it.
    let mut names = vec![format!("_dmarc.{domain}")];
    if domain.matches('.').count() >= 2
        && let Some((_, parent)) = domain.split_once('.')
    {
        names.push(format!("_dmarc.{parent}"));
    }
    for name in names {
        match dns.txt(&name).await {
            Answer::Failed => return Finding::new("unknown", format!("the TXT lookup of {name} failed")),
            Answer::None => continue,
            Answer::Found(records) => {
                if let Some(record) =
                    records.iter().find(|r| r.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"))
                {
                    return Finding::new("ok", format!("{name}: {record}"));
                }
            }
        }
    }
    Finding::new("missing", format!("{domain} has no DMARC record (_dmarc.{domain}: v=DMARC1; p=…)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_spf_record_names_the_relay_by_provider_domain_or_address_range() {
        let sendgrid = Relay::of_host("smtp.sendgrid.net");
        assert!(names_relay("v=spf1 include:sendgrid.net -all", &sendgrid, &[]));
        assert!(names_relay("v=spf1 mx ~include:_spf.SendGrid.net ~all", &sendgrid, &[]));
        assert!(!names_relay("v=spf1 include:_spf.google.com -all", &sendgrid, &[]));
        assert!(!names_relay("v=spf1 -all", &sendgrid, &[]));
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(names_relay("v=spf1 ip4:203.0.113.0/24 -all", &sendgrid, &[ip]));
        assert!(names_relay("v=spf1 ip4:203.0.113.7 -all", &Relay::of_host("203.0.113.7"), &[ip]));
        assert!(!names_relay("v=spf1 ip4:198.51.100.0/24 -all", &Relay::of_host("203.0.113.7"), &[ip]));
        assert!(matches!(Relay::of_host("127.0.0.1"), Relay::Local));
        assert!(matches!(Relay::of_host("[::1]"), Relay::Local));
        assert!(matches!(Relay::of_host("localhost"), Relay::Local));
        assert!(is_spf("v=spf1 -all") && is_spf("V=SPF1") && !is_spf("v=spf10") && !is_spf("google-site-verification"));
    }
}
