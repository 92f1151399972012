//! Typed settings, read once from the environment (and `.env`), validated with every problem
//! reported together. Production (`APP_ENV=production`) turns on the rules in DESIGN.md.
//!
//! [`Settings::from_lookup`] is the one entry that reads variables: it calls one function per
//! concern (a file each), all through one [`reader`] that collects every problem.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use lettre::message::Mailbox;
use secrecy::SecretString;
use url::Url;

use crate::crypto::SecretKey;
use crate::crypto::signing_keys::KeySet;
use crate::domain::ClientRegistry;
use crate::domain::{Email, SignInPolicy};

mod admin;
mod bounces;
mod clients;
mod mail;
mod mail_dns;
mod outbox;
mod policy;
mod reader;
mod server;
mod session;
mod sms;
mod store;
mod webhooks;

pub use bounces::BounceSettings;
pub use clients::parse_clients_file;
pub use mail::{Brand, MailTransport};
pub use mail_dns::{DkimSettings, DnsCheckMode, DomainCheckMode, MailDnsSettings};
pub use outbox::OutboxSettings;
use reader::Reader;
pub use server::{AppEnv, LogFormat};
pub use sms::{SmsProvider, SmsSettings, is_messaging_service_sid};
pub use store::{Durability, StoreSettings};
pub use webhooks::AdminWebhook;

/// Every setting the service reads, parsed and checked.
#[derive(Debug)]
pub struct Settings {
    /// `APP_ENV`.
    pub env: AppEnv,
    /// `BIND_ADDR`: where to listen.
    pub bind_addr: SocketAddr,
    /// `BIND_SOCKET`: a Unix socket the service listens on as well, for a proxy on the same
    /// host. A request through it comes from 127.0.0.1 as far as `TRUSTED_PROXIES` goes.
    pub bind_socket: Option<PathBuf>,
    /// `BIND_SOCKET_MODE`: the socket file's permissions (0660 by default).
    pub bind_socket_mode: u32,
    /// `METRICS_ADDR`: when set, `/metrics` is served there only, not on `BIND_ADDR`.
    pub metrics_addr: Option<SocketAddr>,
    /// `PUBLIC_URL`: the origin links and the JWT issuer are built from.
    pub public_url: Url,
    /// `REDIS_URL`, `REDIS_SENTINEL_URLS` + `REDIS_SENTINEL_MASTER` or `REDIS_CLUSTER_URLS`
    /// (none → memory), `REDIS_CA_FILE`.
    pub store: StoreSettings,
    /// `REDIS_WAIT_TIMEOUT`: how long a critical write waits for a replica's acknowledgement.
    pub redis_wait_timeout: Duration,
    /// `REDIS_KEY_PREFIX`.
    pub key_prefix: String,
    /// `STORE_ID`: the identity the store must carry (required in production; `latchkey store
    /// init` makes one). Unset in development: the instance takes the store's, writing one
    /// into an empty store.
    pub store_id: Option<String>,
    /// `REDIS_DURABILITY`.
    pub durability: Durability,
    /// `MAIL_TRANSPORT`, `SMTP_URL`, `MAIL_DIR`.
    pub mail_transport: MailTransport,
    /// `MAIL_FROM`.
    pub mail_from: Mailbox,
    /// `PRODUCT_NAME`, `SUPPORT_EMAIL`: how the mails are branded.
    pub brand: Brand,
    /// `SECRET_KEY`.
    pub secret_key: SecretKey,
    /// `JWT_KEYS`, loaded.
    pub jwt_keys: KeySet,
    /// `LINK_TTL`: how long a sign-in link stays valid (starting policy).
    pub link_ttl: Duration,
    /// `SESSION_TTL`: how long a session lasts (starting policy).
    pub session_ttl: Duration,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `CROSS_DEVICE`, `LINK_SUPERSEDE`, `SECOND_FACTOR`, `SECOND_FACTOR_METHODS`: the starting
    /// policy, written to the store if it holds none; admins change it at run time.
    pub policy: SignInPolicy,
    /// `ADMIN_EMAILS`: these accounts always need a second factor.
    pub admin_emails: Vec<Email>,
    /// `ADMIN_API_TOKEN`, as hex SHA-256 (the token itself is not kept).
    pub admin_token_sha256: Option<String>,
    /// `ADMIN_WEBHOOK_URL`, `ADMIN_WEBHOOK_SECRET`: where operators' alarms go, signed.
    pub admin_webhook: Option<AdminWebhook>,
    /// `SMS_PROVIDER`, `TWILIO_*`, `SMS_ALLOWED_COUNTRIES`.
    pub sms: SmsSettings,
    /// `CLIENTS_FILE`: the registered OIDC clients.
    pub clients: ClientRegistry,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `OUTBOX_MAX_TRIES`, `OUTBOX_RETRY_BASE`, `OUTBOX_LEASE`: how deliveries are retried.
    pub outbox: OutboxSettings,
    /// `SHUTDOWN_TIMEOUT`: how long a stop may take (in-flight requests and deliveries).
    pub shutdown_timeout: Duration,
    /// `SESSION_CACHE_TTL`: how long a session the store confirmed is taken on trust (0: never;
    /// a token verified before still spares its signature check).
    pub session_cache_ttl: Duration,
    /// `RATE_LIMIT_IPV6_PREFIX`: IPv6 clients are counted by this many leading bits (IPv4 by
    /// the whole address).
    pub ipv6_prefix: u8,
    /// `WEBHOOK_PROXY`: the one proxy webhook deliveries go through; may hold credentials.
    /// Unset: none (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are never used for webhooks).
    pub webhook_proxy: Option<SecretString>,
    /// `SUPPRESSION_*` and `BOUNCE_*`: how long suppressions last, and the bounce webhooks.
    pub bounces: BounceSettings,
    /// `DKIM_*`, `MAIL_DNS_CHECK`, `MAIL_DOMAIN_CHECK`, `DNS_RESOLVER`, `DNS_TIMEOUT`.
    pub mail_dns: MailDnsSettings,
    /// Things that work but should not reach production (generated keys …), to be logged.
    pub warnings: Vec<String>,
}

/// One setting that is missing or unsafe, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

/// All the problems found; start-up stops and prints them together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Every problem, in the order the variables are read.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// True when a problem names this variable.
    pub fn mentions(&self, var: &str) -> bool {
        self.problems.iter().any(|p| p.var == var)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "latchkey cannot start: {} setting(s) need attention:", self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {}: {}", p.var, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Reads `.env` (if present) and the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is reported by the variables it fails to set.
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&lookup, true)
    }

    /// Settings for the `latchkey store …` commands: as [`Settings::from_lookup`], except that
    /// `STORE_ID` may be missing in production (`latchkey store init` is how one is made).
    pub fn for_store_commands(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&lookup, false)
    }

    fn read(lookup: &dyn Fn(&str) -> Option<String>, need_store_id: bool) -> Result<Self, ConfigError> {
        // Read in this order: problems are listed as they are found.
        let mut r = Reader::new(lookup);
        let env = r.app_env();
        let prod = env == AppEnv::Production;
        let bind_addr = r.bind_addr();
        let bind_socket = r.bind_socket();
        let bind_socket_mode = r.bind_socket_mode();
        let metrics_addr = r.metrics_addr();
        let public_url = r.public_url(prod);
        let store = r.store(prod);
        let key_prefix = r.key_prefix();
        let store_id = r.store_id(prod && need_store_id, matches!(store, StoreSettings::Memory));
        let durability = r.durability();
        let mail_transport = r.mail_transport(prod);
        let mail_from = r.mail_from(prod);
        let brand = r.brand();
        let secret_key = r.secret_key(prod);
        let jwt_keys = r.jwt_keys(prod);
        let (link_ttl, session_ttl) = r.ttls();
        let trusted_proxies = r.trusted_proxies();
        let policy = r.policy(link_ttl, session_ttl);
        let admin_emails = r.admin_emails();
        let admin_token_sha256 = r.admin_token_sha256();
        let clients = r.clients(prod);
        r.client_algorithms(jwt_keys.as_ref(), &clients);
        let admin_webhook = r.admin_webhook(prod);
        let sms = r.sms(prod);
        let log_format = r.log_format(prod);
        let outbox = r.outbox(&store);
        let redis_wait_timeout = r.redis_wait_timeout();
        let shutdown_timeout = r.shutdown_timeout();
        let session_cache_ttl = r.session_cache_ttl();
        let ipv6_prefix = r.ipv6_prefix();
        let webhook_proxy = r.webhook_proxy();
        let bounces = r.bounces();
        let mail_dns = r.mail_dns(prod, mail_from.as_ref().map(|from| from.email.domain()));

        match (bind_addr, public_url, mail_from, secret_key, jwt_keys, link_ttl, session_ttl, sms) {
            (
                Some(bind_addr),
                Some(public_url),
                Some(mail_from),
                Some(secret_key),
                Some(jwt_keys),
                Some(link_ttl),
                Some(session_ttl),
                Some(sms),
            ) if r.problems.is_empty() => Ok(Self {
                env,
                bind_addr,
                bind_socket,
                bind_socket_mode,
                metrics_addr,
                public_url,
                store,
                redis_wait_timeout,
                key_prefix,
                store_id,
                durability,
                mail_transport,
                mail_from,
                brand,
                secret_key,
                jwt_keys,
                link_ttl,
                session_ttl,
                trusted_proxies,
                policy,
                admin_emails,
                admin_token_sha256,
                admin_webhook,
                sms,
                clients,
                log_format,
                outbox,
                shutdown_timeout,
                session_cache_ttl,
                ipv6_prefix,
                webhook_proxy,
                bounces,
                mail_dns,
                warnings: r.warnings,
            }),
            _ => Err(ConfigError { problems: r.problems }),
        }
    }

    /// True in production.
    pub fn is_production(&self) -> bool {
        self.env == AppEnv::Production
    }

    /// The issuer / audience string: `PUBLIC_URL` without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings read from `vars` alone.
    fn settings_from(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn development_needs_nothing() {
        let s = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(s.env, AppEnv::Development);
        assert!(matches!(s.store, StoreSettings::Memory));
        assert!(matches!(s.mail_transport, MailTransport::Log));
        assert_eq!(s.link_ttl, Duration::from_secs(900));
        assert_eq!(s.session_ttl, Duration::from_secs(12 * 3600));
        assert_eq!(s.warnings.len(), 3, "{:?}", s.warnings);
        assert_eq!(s.brand.product, "latchkey");
        assert_eq!(s.brand.support, None);
    }

    #[test]
    fn the_brand_takes_a_product_name_and_a_support_address_and_refuses_bad_ones() {
        let vars = [("PRODUCT_NAME", " Acme Login "), ("SUPPORT_EMAIL", "Help@Acme.example")];
        let s = settings_from(&vars).unwrap();
        assert_eq!(s.brand.product, "Acme Login");
        assert_eq!(s.brand.support.as_deref(), Some("help@acme.example"));

        let long = "x".repeat(65);
        let bad = [("PRODUCT_NAME", long.as_str()), ("SUPPORT_EMAIL", "help desk")];
        let e = settings_from(&bad).unwrap_err();
        let vars: Vec<&str> = e.problems.iter().map(|p| p.var).collect();
        assert_eq!(vars, ["PRODUCT_NAME", "SUPPORT_EMAIL"]);
    }

    #[test]
    fn an_instance_may_leave_delivery_to_others_only_on_a_shared_store() {
        assert!(settings_from(&[]).unwrap().outbox.deliver, "delivers by default");
        let queue_only = [("OUTBOX_WORKER", "false"), ("REDIS_URL", "redis://127.0.0.1:6379")];
        assert!(!settings_from(&queue_only).unwrap().outbox.deliver);

        let e = settings_from(&[("OUTBOX_WORKER", "false")]).unwrap_err();
        let vars: Vec<&str> = e.problems.iter().map(|p| p.var).collect();
        assert_eq!(vars, ["OUTBOX_WORKER"], "nobody else could deliver the memory store's mail");
        let e = settings_from(&[("OUTBOX_WORKER", "off")]).unwrap_err();
        assert!(e.to_string().contains("`off` is not `true` or `false`"), "{e}");
    }
}
