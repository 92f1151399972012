//! DNS for mail: one resolver (the system's configuration, or `DNS_RESOLVER`), the check of an
//! address's domain at link request (`MAIL_DOMAIN_CHECK`, cached), and the start-up check of
//! the sender domain's SPF, DKIM and DMARC records (`MAIL_DNS_CHECK`).

mod mail_domain;
mod resolver;
mod sender;

pub use mail_domain::{MailDomainVerdict, MailDomains, NoMailDomain};
pub use resolver::{Answer, Dns};
pub use sender::{Finding, MailDnsReport, Relay, check_sender};
