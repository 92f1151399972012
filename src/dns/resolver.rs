//! One DNS resolver (hickory): the system's configuration, or the one name server
//! `DNS_RESOLVER` names; every lookup bounded by `DNS_TIMEOUT`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// Records.
    Found(T),
    /// A definite "none": the name does not exist (NXDOMAIN), or has no record of this type.
    None,
    /// No definite answer: a timeout, SERVFAIL, a refused query, no resolver.
    Failed,
}

/// The resolver the mail checks use.
pub struct Dns {
    resolver: Option<TokioResolver>,
    timeout: Duration,
}

impl Dns {
    /// A resolver over `server` (or the system's configuration), each lookup bounded by
    /// `timeout`. Without a usable configuration every lookup fails (a warning is logged): the
    /// checks fail open.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Self {
        let built = match server {
            Some(address) => {
                let mut config = ResolverConfig::new();
                config.add_name_server(NameServerConfig::new(address, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(address, Protocol::Tcp));
                Ok(TokioResolver::builder_with_config(config, TokioConnectionProvider::default()))
            }
            None => TokioResolver::builder_tokio(),
        };
        let resolver = match built {
            Ok(mut builder) => {
                let options: &mut ResolverOpts = builder.options_mut();
                options.timeout = timeout;
                options.attempts = 1;
                Some(builder.build())
            }
            Err(e) => {
                tracing::warn!(error = %e, "no DNS resolver configuration (set DNS_RESOLVER): mail DNS checks fail open");
                None
            }
        };
        Self { resolver, timeout }
    }

    /// A resolver that is never asked (every check is off): every lookup fails.
    pub fn unused() -> Self {
        Self { resolver: None, timeout: Duration::ZERO }
    }

    /// The TXT records of `name`, each one's strings joined.
    pub async fn txt(&self, name: &str) -> Answer<Vec<String>> {
        let Some(resolver) = &self.resolver else { return Answer::Failed };
        let found = tokio::time::timeout(self.timeout, resolver.txt_lookup(fqdn(name))).await;
        settle(found, |lookup| {
            lookup
                .iter()
                .map(|txt| txt.txt_data().iter().map(|part| String::from_utf8_lossy(part)).collect::<String>())
                .collect()
        })
    }

    /// The MX exchanges of `name`, lowest preference first, without the trailing dot (`""` for
    /// RFC 7505's null MX, `.`).
    pub async fn mx(&self, name: &str) -> Answer<Vec<String>> {
        let Some(resolver) = &self.resolver else { return Answer::Failed };
        let found = tokio::time::timeout(self.timeout, resolver.mx_lookup(fqdn(name))).await;
        settle(found, |lookup| {
            let mut records: Vec<(u16, String)> = lookup
                .iter()
                .map(|mx| {
                    let exchange = mx.exchange().to_ascii().to_ascii_lowercase();
                    (mx.preference(), exchange.trim_end_matches('.').to_owned())
                })
                .collect();
            records.sort();
            records.into_iter().map(|(_, exchange)| exchange).collect()
        })
    }

    /// The A and AAAA addresses of `name`: found when either has one; none when both say
    /// none.
    pub async fn addresses(&self, name: &str) -> Answer<Vec<IpAddr>> {
        let Some(resolver) = &self.resolver else { return Answer::Failed };
        let name = fqdn(name);
        let (v4, v6) = tokio::join!(
            tokio::time::timeout(self.timeout, resolver.ipv4_lookup(name.clone())),
            tokio::time::timeout(self.timeout, resolver.ipv6_lookup(name)),
        );
        let v4 = settle(v4, |lookup| lookup.iter().map(|a| IpAddr::V4(a.0)).collect::<Vec<_>>());
        let v6 = settle(v6, |lookup| lookup.iter().map(|a| IpAddr::V6(a.0)).collect::<Vec<_>>());
        match (v4, v6) {
            (Answer::Found(mut a), Answer::Found(b)) => {
                a.extend(b);
                Answer::Found(a)
            }
            (Answer::Found(a), _) | (_, Answer::Found(a)) => Answer::Found(a),
            (Answer::None, Answer::None) => Answer::None,
            _ => Answer::Failed,
        }
    }
}

/// Fully qualified, so no search domain of the system's configuration is tried.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') { name.to_owned() } else { format!("{name}.") }
}

/// A lookup's result as an [`Answer`]: NXDOMAIN and an empty NOERROR are a definite none,
/// anything else that is not records (SERVFAIL, REFUSED, a timeout) is a failure.
fn settle<L, T: Default + IsEmpty>(
    found: Result<Result<L, ResolveError>, tokio::time::error::Elapsed>,
    read: impl FnOnce(L) -> T,
) -> Answer<T> {
    match found {
        Ok(Ok(lookup)) => {
            let records = read(lookup);
            if records.is_empty() { Answer::None } else { Answer::Found(records) }
        }
        Ok(Err(e)) if is_definite_none(&e) => Answer::None,
        Ok(Err(_)) | Err(_) => Answer::Failed,
    }
}

fn is_definite_none(e: &ResolveError) -> bool {
    matches!(
        e.proto().map(|p| p.kind()),
        Some(ProtoErrorKind::NoRecordsFound { response_code: ResponseCode::NXDomain | ResponseCode::NoError, .. })
    )
}

/// Collections that can be empty.
trait IsEmpty {
    fn is_empty(&self) -> bool;
}

impl<T> IsEmpty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}
