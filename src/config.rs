//! Typed settings, read once from the environment (and `.env`), validated with every problem
//! reported together. Production (`APP_ENV=production`) turns on the rules in DESIGN.md.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::crypto::SecretKey;
use crate::domain::{CrossDevice, Email, SignInPolicy};
use crate::domain::{LimitParseError, LimitedAction, RateLimits};
use crate::mail::Brand;
use crate::mfa::sms::{SmsSettings, parse_sms_settings};
use crate::oidc::ClientRegistry;
use crate::outbox::OutboxSettings;
use crate::session::{KeySet, SigningKey};
use crate::webhooks::AdminWebhook;

/// `development` (the default: everything works with no setup) or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Generated keys, in-memory store and mail printed to the log are allowed.
    Development,
    /// Every safety rule is enforced at start-up.
    Production,
}

/// Where sign-in state lives.
#[derive(Debug)]
pub enum StoreSettings {
    /// In-process maps; lost on restart, not shared between instances.
    Memory,
    /// A standalone Redis (`REDIS_URL`, `redis://` or `rediss://`).
    Redis {
        /// The connection URL; may hold a password, so it is kept secret.
        url: SecretString,
        /// `REDIS_CA_FILE`: CA certificates (PEM) trusted for `rediss://` instead of the
        /// system roots.
        ca_pem: Option<Vec<u8>>,
    },
    /// A Redis Cluster (`REDIS_CLUSTER_URLS`: seed nodes, all `redis://` or all `rediss://`).
    Cluster {
        /// The seed nodes' URLs; may hold a password, so they are kept secret.
        urls: Vec<SecretString>,
        /// `REDIS_CA_FILE`, as for [`StoreSettings::Redis`].
        ca_pem: Option<Vec<u8>>,
    },
    /// The master Redis Sentinels name (`REDIS_SENTINEL_URLS`: the Sentinels, all `redis://`
    /// or all `rediss://`; `REDIS_SENTINEL_MASTER`: the monitored master's name).
    Sentinel {
        /// The Sentinels' URLs; may hold a password, so they are kept secret.
        urls: Vec<SecretString>,
        /// The name the Sentinels monitor the master under.
        master: String,
        /// `REDIS_CA_FILE`, as for [`StoreSettings::Redis`].
        ca_pem: Option<Vec<u8>>,
    },
}

/// `REDIS_DURABILITY`: how a production instance learns that Redis keeps what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `check` (the default): `CONFIG GET` on every node at start and in `/readyz`; AOF
    /// (`appendfsync everysec` or `always`) and `maxmemory-policy noeviction` are required.
    Check,
    /// `managed`: `CONFIG GET` is not allowed (a managed Redis); the operator declares that
    /// persistence and eviction are set as required. Logged as a warning at every start.
    Managed,
}

/// How mail leaves the service.
#[derive(Debug)]
pub enum MailTransport {
    /// Printed to the log, link and all (development only).
    Log,
    /// Written as `.eml` files to a folder (development only).
    File {
        /// The folder written to.
        dir: PathBuf,
    },
    /// Sent over SMTP (STARTTLS, implicit TLS, or plaintext to loopback only).
    Smtp {
        /// `smtp://` / `smtps://` URL; may hold credentials.
        url: SecretString,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (development default).
    Pretty,
    /// One JSON object per line (production default).
    Json,
}

/// Every setting the service reads, parsed and checked.
#[derive(Debug)]
pub struct Settings {
    /// `APP_ENV`.
    pub env: AppEnv,
    /// `BIND_ADDR`: where to listen.
    pub bind_addr: SocketAddr,
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
    /// `SESSION_CACHE_TTL`: how long an accepted session is taken on trust (0: never).
    pub session_cache_ttl: Duration,
    /// `RATE_LIMIT_IPV6_PREFIX`: IPv6 clients are counted by this many leading bits (IPv4 by
    /// the whole address).
    pub ipv6_prefix: u8,
    /// `WEBHOOK_PROXY`: the one proxy webhook deliveries go through; may hold credentials.
    /// Unset: none (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are never used for webhooks).
    pub webhook_proxy: Option<SecretString>,
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
        let mut r = Reader { lookup, problems: Vec::new(), warnings: Vec::new() };
        let env = match r.get("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                r.problem("APP_ENV", format!("`{other}` is not `development` or `production`"));
                AppEnv::Production
            }
        };
        let prod = env == AppEnv::Production;

        let bind_addr = r.parse("BIND_ADDR", "127.0.0.1:8080", "an address like 0.0.0.0:8080");
        let metrics_addr = match r.get("METRICS_ADDR") {
            Some(raw) => {
                let parsed = raw.parse().ok();
                if parsed.is_none() {
                    r.problem("METRICS_ADDR", format!("`{raw}` is not an address like 127.0.0.1:9100"));
                }
                parsed
            }
            None => None,
        };
        let public_url = r.public_url(prod);
        let store = r.store(prod);
        let key_prefix = r.get("REDIS_KEY_PREFIX").unwrap_or_else(|| "latchkey:".to_owned());
        if key_prefix.contains(['{', '}']) {
            // A brace in the prefix would become every key's hash tag in a cluster.
            r.problem("REDIS_KEY_PREFIX", "must not contain `{` or `}` (they choose a key's Redis Cluster slot)");
        }
        let store_id = r.store_id(prod && need_store_id, matches!(store, StoreSettings::Memory));
        let durability = match r.get("REDIS_DURABILITY").as_deref() {
            None | Some("check") => Durability::Check,
            Some("managed") => Durability::Managed,
            Some(other) => {
                r.problem("REDIS_DURABILITY", format!("`{other}` is not `check` or `managed`"));
                Durability::Check
            }
        };
        let mail_transport = r.mail_transport(prod);
        let mail_from = r.mail_from(prod);
        let brand = r.brand();
        let secret_key = r.secret_key(prod);
        let jwt_keys = r.jwt_keys(prod);
        let link_ttl = r.duration("LINK_TTL", "15m", Duration::from_secs(60), Duration::from_secs(3600));
        let session_ttl =
            r.duration("SESSION_TTL", "12h", Duration::from_secs(300), Duration::from_secs(90 * 24 * 3600));
        let trusted_proxies = r.trusted_proxies();
        let policy = SignInPolicy {
            version: 0,
            link_ttl_secs: link_ttl.map_or(900, |d| d.as_secs()),
            session_ttl_secs: session_ttl.map_or(12 * 3600, |d| d.as_secs()),
            cross_device: r.parse("CROSS_DEVICE", "code", "`code`, `click` or `deny`").unwrap_or(CrossDevice::Code),
            supersede: r.parse("LINK_SUPERSEDE", "true", "`true` or `false`").unwrap_or(true),
            second_factor: r.parse("SECOND_FACTOR", "optional", "`off`, `optional` or `required`").unwrap_or_default(),
            methods: r.parse("SECOND_FACTOR_METHODS", "totp,sms", "`totp,sms`, `totp` or `sms`").unwrap_or_default(),
            rate_limits: r.rate_limits(),
            new_device_notice: r.parse("NEW_DEVICE_NOTICE", "true", "`true` or `false`").unwrap_or(true),
            signup_allow: r
                .get("SIGNUP_ALLOW")
                .map(|raw| raw.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()),
        };
        // The durations were bounds-checked above; the signup list is checked here.
        if let Err(problems) = policy.validate() {
            for (_, message) in problems.into_iter().filter(|(field, _)| *field == "signup_allow") {
                r.problem("SIGNUP_ALLOW", message);
            }
        }
        let admin_emails = r.admin_emails();
        let admin_token_sha256 = match r.get("ADMIN_API_TOKEN").map(SecretString::from) {
            Some(token) if token.expose_secret().len() >= 32 => {
                Some(crate::oidc::clients::sha256_hex(token.expose_secret()))
            }
            Some(_) => {
                r.problem("ADMIN_API_TOKEN", "must be at least 32 characters (make one with `latchkey secret`)");
                None
            }
            None => None,
        };
        let clients = r.clients(prod);
        let admin_webhook = r.admin_webhook(prod);
        let sms = match parse_sms_settings(r.lookup, prod) {
            Ok(sms) => Some(sms),
            Err(problems) => {
                for (var, message) in problems {
                    r.problem(var, message);
                }
                None
            }
        };
        let log_format = match r.get("LOG_FORMAT").as_deref() {
            None => {
                if prod {
                    LogFormat::Json
                } else {
                    LogFormat::Pretty
                }
            }
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                r.problem("LOG_FORMAT", format!("`{other}` is not `json` or `pretty`"));
                LogFormat::Json
            }
        };

        let outbox = r.outbox();
        if !outbox.deliver && matches!(store, StoreSettings::Memory) {
            r.problem(
                "OUTBOX_WORKER",
                "`false` needs a shared store (REDIS_URL, REDIS_SENTINEL_URLS or REDIS_CLUSTER_URLS): with the memory store no other \
                 instance can deliver this one's mail",
            );
        }
        // Below the store's answer timeout (2 s), so a WAIT that runs out is a refusal, not a
        // broken connection.
        let redis_wait_timeout = r
            .duration("REDIS_WAIT_TIMEOUT", "500ms", Duration::from_millis(1), Duration::from_millis(1500))
            .unwrap_or_default();
        let shutdown_timeout =
            r.duration("SHUTDOWN_TIMEOUT", "30s", Duration::from_secs(1), Duration::from_secs(600)).unwrap_or_default();
        let session_cache_ttl =
            r.duration("SESSION_CACHE_TTL", "1s", Duration::ZERO, Duration::from_secs(10)).unwrap_or_default();
        let ipv6_prefix = r.ipv6_prefix();
        let webhook_proxy = r.webhook_proxy();

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

/// Collects problems while reading variables.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn problem(&mut self, var: &'static str, message: impl Into<String>) {
        self.problems.push(Problem { var, message: message.into() });
    }

    fn parse<T: FromStr>(&mut self, var: &'static str, default: &str, expected: &str) -> Option<T> {
        let raw = self.get(var).unwrap_or_else(|| default.to_owned());
        let parsed = raw.parse().ok();
        if parsed.is_none() {
            self.problem(var, format!("`{raw}` is not {expected}"));
        }
        parsed
    }

    fn duration(&mut self, var: &'static str, default: &str, min: Duration, max: Duration) -> Option<Duration> {
        let raw = self.get(var).unwrap_or_else(|| default.to_owned());
        match parse_duration(&raw) {
            Some(d) if d >= min && d <= max => Some(d),
            Some(_) => {
                self.problem(var, format!("`{raw}` is outside {min:?}..{max:?}"));
                None
            }
            None => {
                self.problem(var, format!("`{raw}` is not a duration like 30s, 15m, 12h or 7d"));
                None
            }
        }
    }

    /// A whole number in `1..=max`, or `default` when unset.
    fn count(&mut self, var: &'static str, default: u32, max: u32) -> u32 {
        let Some(raw) = self.get(var) else { return default };
        match raw.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                self.problem(var, format!("`{raw}` is not a number from 1 to {max}"));
                default
            }
        }
    }

    /// `WEBHOOK_PROXY`: an `http://` or `https://` proxy URL with a host (credentials allowed,
    /// never echoed).
    fn webhook_proxy(&mut self) -> Option<SecretString> {
        let raw = self.get("WEBHOOK_PROXY")?;
        let usable = Url::parse(&raw).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https") && url.host().is_some() && reqwest::Proxy::all(url).is_ok()
        });
        if !usable {
            self.problem("WEBHOOK_PROXY", "must be a proxy URL like http://proxy.internal:3128 (http or https)");
            return None;
        }
        Some(SecretString::from(raw))
    }

    fn outbox(&mut self) -> OutboxSettings {
        let defaults = OutboxSettings::default();
        let max_tries = self.count("OUTBOX_MAX_TRIES", defaults.max_tries, 100);
        let concurrency = self.count("OUTBOX_CONCURRENCY", defaults.concurrency as u32, 1024) as usize;
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        let retry_base = self.duration(
            "OUTBOX_RETRY_BASE",
            &millis(defaults.retry_base),
            Duration::from_millis(10),
            Duration::from_secs(600),
        );
        // A lease shorter than a slow SMTP exchange would hand a delivery to a second instance
        // while the first is still sending it; one attempt is cut off at half the lease.
        let lease =
            self.duration("OUTBOX_LEASE", &millis(defaults.lease), Duration::from_secs(2), Duration::from_secs(3600));
        OutboxSettings {
            deliver: self.parse("OUTBOX_WORKER", "true", "`true` or `false`").unwrap_or(true),
            max_tries,
            concurrency,
            retry_base: retry_base.unwrap_or(defaults.retry_base),
            lease: lease.unwrap_or(defaults.lease),
        }
    }

    fn public_url(&mut self, prod: bool) -> Option<Url> {
        let raw = self.get("PUBLIC_URL").unwrap_or_else(|| "http://localhost:8080".to_owned());
        let Ok(url) = Url::parse(&raw) else {
            self.problem("PUBLIC_URL", format!("`{raw}` is not a URL like https://login.example.com"));
            return None;
        };
        let mut ok = true;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            self.problem("PUBLIC_URL", "must be an origin with no path (the `__Host-` cookies need the whole host)");
            ok = false;
        }
        match url.scheme() {
            "https" => {}
            "http" if !prod => {}
            "http" => {
                self.problem("PUBLIC_URL", "must start with https:// in production (links and cookies need TLS)");
                ok = false;
            }
            _ => {
                self.problem("PUBLIC_URL", "must be an http(s) URL");
                ok = false;
            }
        }
        ok.then_some(url)
    }

    fn store(&mut self, prod: bool) -> StoreSettings {
        let single = self.get("REDIS_URL");
        let cluster = self.get("REDIS_CLUSTER_URLS");
        let ca_file = self.get("REDIS_CA_FILE");
        let sentinel = self.get("REDIS_SENTINEL_URLS");
        let sentinel_master = self.get("REDIS_SENTINEL_MASTER");
        if sentinel.is_none() && sentinel_master.is_some() {
            self.problem("REDIS_SENTINEL_MASTER", "is set, but REDIS_SENTINEL_URLS is not");
        }
        if let Some(list) = sentinel {
            if single.is_some() || cluster.is_some() {
                self.problem(
                    "REDIS_SENTINEL_URLS",
                    "is set together with REDIS_URL or REDIS_CLUSTER_URLS: choose one way to reach Redis",
                );
                return StoreSettings::Memory;
            }
            return self.sentinel_store(&list, sentinel_master, ca_file);
        }
        let (schemes, store) = match (single, cluster) {
            (Some(_), Some(_)) => {
                self.problem(
                    "REDIS_CLUSTER_URLS",
                    "is set together with REDIS_URL: set REDIS_URL for one server or REDIS_CLUSTER_URLS for a cluster, not both",
                );
                return StoreSettings::Memory;
            }
            (Some(url), None) => {
                let scheme = self.redis_scheme("REDIS_URL", &url);
                self.plaintext_redis("REDIS_URL", std::slice::from_ref(&url), prod);
                (vec![scheme], StoreSettings::Redis { url: SecretString::from(url), ca_pem: None })
            }
            (None, Some(list)) => {
                let urls: Vec<String> =
                    list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
                if urls.is_empty() {
                    self.problem(
                        "REDIS_CLUSTER_URLS",
                        "lists no URL (comma-separated redis:// or rediss:// seed nodes)",
                    );
                }
                let schemes: Vec<_> = urls.iter().map(|u| self.redis_scheme("REDIS_CLUSTER_URLS", u)).collect();
                self.plaintext_redis("REDIS_CLUSTER_URLS", &urls, prod);
                if schemes.iter().flatten().any(|s| Some(*s) != schemes[0]) {
                    self.problem("REDIS_CLUSTER_URLS", "mixes redis:// and rediss:// (every node must use the same)");
                }
                let urls = urls.into_iter().map(SecretString::from).collect();
                (schemes, StoreSettings::Cluster { urls, ca_pem: None })
            }
            (None, None) if prod => {
                self.problem(
                    "REDIS_URL",
                    "is required in production, or REDIS_SENTINEL_URLS for Sentinels or REDIS_CLUSTER_URLS for a cluster (the in-memory store is lost on restart and not shared)",
                );
                return StoreSettings::Memory;
            }
            (None, None) => {
                if ca_file.is_some() {
                    self.problem("REDIS_CA_FILE", "is set, but neither REDIS_URL nor REDIS_CLUSTER_URLS is");
                }
                self.warnings.push(
                    "REDIS_URL is not set: using the in-memory store (lost on restart, one instance only)".to_owned(),
                );
                return StoreSettings::Memory;
            }
        };
        let Some(path) = ca_file else { return store };
        if !schemes.contains(&Some(true)) {
            self.problem("REDIS_CA_FILE", "is set, but the Redis URLs are not rediss:// (TLS)");
        }
        let pem = self.ca_pem(&path);
        match store {
            StoreSettings::Redis { url, .. } => StoreSettings::Redis { url, ca_pem: pem },
            StoreSettings::Cluster { urls, .. } => StoreSettings::Cluster { urls, ca_pem: pem },
            other => other,
        }
    }

    /// `REDIS_SENTINEL_URLS` (a comma-separated list) with `REDIS_SENTINEL_MASTER`, and
    /// `REDIS_CA_FILE` as for the other kinds.
    fn sentinel_store(&mut self, list: &str, master: Option<String>, ca_file: Option<String>) -> StoreSettings {
        let urls: Vec<String> = list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
        if urls.is_empty() {
            self.problem("REDIS_SENTINEL_URLS", "lists no URL (comma-separated redis:// or rediss:// Sentinels)");
        }
        let schemes: Vec<_> = urls.iter().map(|u| self.redis_scheme("REDIS_SENTINEL_URLS", u)).collect();
        if schemes.iter().flatten().any(|s| Some(*s) != schemes[0]) {
            self.problem("REDIS_SENTINEL_URLS", "mixes redis:// and rediss:// (every Sentinel must use the same)");
        }
        let master = match master.map(|m| m.trim().to_owned()) {
            Some(m) if !m.is_empty() && !m.contains(char::is_whitespace) => m,
            _ => {
                self.problem(
                    "REDIS_SENTINEL_MASTER",
                    "is required with REDIS_SENTINEL_URLS: the name the Sentinels monitor the master under (e.g. mymaster)",
                );
                String::new()
            }
        };
        let ca_pem = ca_file.and_then(|path| {
            if !schemes.contains(&Some(true)) {
                self.problem("REDIS_CA_FILE", "is set, but the Redis URLs are not rediss:// (TLS)");
            }
            self.ca_pem(&path)
        });
        StoreSettings::Sentinel { urls: urls.into_iter().map(SecretString::from).collect(), master, ca_pem }
    }

    /// `STORE_ID`: required when `required` (production); checked for shape when set.
    fn store_id(&mut self, required: bool, memory: bool) -> Option<String> {
        match self.get("STORE_ID") {
            Some(id) if crate::store::is_store_id(&id) => Some(id),
            Some(_) => {
                self.problem("STORE_ID", "is not a store id (`st_…`, as `latchkey store init` prints it)");
                None
            }
            None if required && !memory => {
                self.problem(
                    "STORE_ID",
                    "is required in production: run `latchkey store init` once against the store (with this \
                     configuration) and set the STORE_ID it prints",
                );
                None
            }
            None => None,
        }
    }

    /// Production refuses plaintext `redis://` to anything but loopback, unless
    /// `REDIS_PRIVATE_NETWORK=true` says the network between latchkey and Redis is private.
    fn plaintext_redis(&mut self, var: &'static str, urls: &[String], prod: bool) {
        let private = self.parse("REDIS_PRIVATE_NETWORK", "false", "`true` or `false`").unwrap_or(false);
        if !prod || private {
            return;
        }
        let remote =
            urls.iter().filter_map(|raw| Url::parse(raw).ok()).any(|u| u.scheme() == "redis" && !is_loopback(&u));
        if remote {
            self.problem(
                var,
                "plaintext redis:// to a host other than loopback is refused in production: use rediss:// (TLS), or \
                 set REDIS_PRIVATE_NETWORK=true if the network to Redis is private on purpose",
            );
        }
    }

    /// `Some(true)` for `rediss://`, `Some(false)` for `redis://`, `None` (and a problem)
    /// otherwise. The URL itself is never repeated: it may hold a password.
    fn redis_scheme(&mut self, var: &'static str, raw: &str) -> Option<bool> {
        match Url::parse(raw) {
            Ok(u) if u.scheme() == "rediss" => Some(true),
            Ok(u) if u.scheme() == "redis" && u.host_str().is_some() => Some(false),
            _ => {
                self.problem(var, "must be redis:// or rediss:// URL(s) with a host");
                None
            }
        }
    }

    /// Reads `REDIS_CA_FILE`: at least one PEM certificate.
    fn ca_pem(&mut self, path: &str) -> Option<Vec<u8>> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let pem = match std::fs::read(path) {
            Ok(pem) => pem,
            Err(e) => {
                self.problem("REDIS_CA_FILE", format!("{path}: cannot read ({e})"));
                return None;
            }
        };
        let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
        match certs {
            Ok(certs) if !certs.is_empty() => Some(pem),
            _ => {
                self.problem(
                    "REDIS_CA_FILE",
                    format!("{path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
                );
                None
            }
        }
    }

    fn mail_transport(&mut self, prod: bool) -> MailTransport {
        let kind = self.get("MAIL_TRANSPORT").unwrap_or_else(|| if prod { "smtp" } else { "log" }.to_owned());
        match kind.as_str() {
            "smtp" => {
                let Some(url) = self.get("SMTP_URL") else {
                    self.problem(
                        "SMTP_URL",
                        "is required with MAIL_TRANSPORT=smtp (e.g. smtps://user:pass@smtp.example.com)",
                    );
                    return MailTransport::Log;
                };
                if let Err(message) = check_smtp_url(&url) {
                    self.problem("SMTP_URL", message);
                }
                MailTransport::Smtp { url: SecretString::from(url) }
            }
            "log" | "file" if prod => {
                self.problem("MAIL_TRANSPORT", format!("`{kind}` is for development; production needs `smtp`"));
                MailTransport::Log
            }
            "log" => MailTransport::Log,
            "file" => MailTransport::File {
                dir: PathBuf::from(self.get("MAIL_DIR").unwrap_or_else(|| "mail-out".to_owned())),
            },
            other => {
                self.problem("MAIL_TRANSPORT", format!("`{other}` is not `smtp`, `file` or `log`"));
                MailTransport::Log
            }
        }
    }

    fn brand(&mut self) -> Brand {
        let product = self.get("PRODUCT_NAME").unwrap_or_else(|| "latchkey".to_owned());
        if product.trim().is_empty() || product.chars().count() > 64 || product.chars().any(char::is_control) {
            self.problem("PRODUCT_NAME", "must be 1–64 characters on one line (the name mails sign with)");
        }
        let support = self.get("SUPPORT_EMAIL").and_then(|raw| match Email::parse(&raw) {
            Ok(email) => Some(email.to_string()),
            Err(e) => {
                self.problem("SUPPORT_EMAIL", format!("`{raw}` is not an email address: {e}"));
                None
            }
        });
        Brand::new(product.trim(), support)
    }

    fn mail_from(&mut self, prod: bool) -> Option<Mailbox> {
        let raw = match self.get("MAIL_FROM") {
            Some(raw) => raw,
            None if prod => {
                self.problem("MAIL_FROM", "is required in production (e.g. `Example Login <login@example.com>`)");
                return None;
            }
            None => "latchkey <login@localhost>".to_owned(),
        };
        let parsed = raw.parse().ok();
        if parsed.is_none() {
            self.problem("MAIL_FROM", format!("`{raw}` is not an address like `Example Login <login@example.com>`"));
        }
        parsed
    }

    fn secret_key(&mut self, prod: bool) -> Option<SecretKey> {
        match self.get("SECRET_KEY").map(SecretString::from) {
            Some(key) if key.expose_secret().len() >= SecretKey::MIN_LEN => {
                Some(SecretKey::new(key.expose_secret().as_bytes().to_vec()))
            }
            Some(_) => {
                self.problem(
                    "SECRET_KEY",
                    format!("must be at least {} bytes (make one with `latchkey secret`)", SecretKey::MIN_LEN),
                );
                None
            }
            None if prod => {
                self.problem("SECRET_KEY", "is required in production (make one with `latchkey secret`)");
                None
            }
            None => {
                self.warnings.push(
                    "SECRET_KEY is not set: using a random key for this process (links and sessions die on restart)"
                        .to_owned(),
                );
                SecretKey::generate().ok()
            }
        }
    }

    fn jwt_keys(&mut self, prod: bool) -> Option<KeySet> {
        let Some(paths) = self.get("JWT_KEYS") else {
            if prod {
                self.problem(
                    "JWT_KEYS",
                    "is required in production: comma-separated PEM files (make one with `latchkey keygen > key.pem`)",
                );
                return None;
            }
            self.warnings.push(
                "JWT_KEYS is not set: signing sessions with an Ed25519 key generated for this process".to_owned(),
            );
            return SigningKey::generate().ok().and_then(|k| KeySet::new(vec![k]));
        };
        let mut keys: Vec<(&str, SigningKey)> = Vec::new();
        let mut unreadable = false;
        for path in paths.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read ({e})"))
                .and_then(|pem| SigningKey::from_pem(&pem).map_err(|e| e.to_string()))
            {
                // The same key twice is a rotation gone wrong (the "new" file is the old key),
                // and would publish one kid twice in the JWKS.
                Ok(key) => match keys.iter().find(|(_, k)| k.kid() == key.kid()) {
                    Some((first, _)) => self.problem(
                        "JWT_KEYS",
                        format!("{path}: is the same key as {first} (kid {}); list each key once", key.kid()),
                    ),
                    None => keys.push((path, key)),
                },
                Err(e) => {
                    unreadable = true;
                    self.problem("JWT_KEYS", format!("{path}: {e}"));
                }
            }
        }
        if keys.is_empty() && !unreadable {
            self.problem("JWT_KEYS", "names no key file: give comma-separated PEM files, the signing key first");
        }
        KeySet::new(keys.into_iter().map(|(_, key)| key).collect())
    }

    fn clients(&mut self, prod: bool) -> ClientRegistry {
        let Some(path) = self.get("CLIENTS_FILE") else { return ClientRegistry::default() };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                self.problem("CLIENTS_FILE", format!("{path}: cannot read ({e})"));
                return ClientRegistry::default();
            }
        };
        match ClientRegistry::from_toml(&text, prod) {
            Ok(registry) => registry,
            Err(problems) => {
                for p in problems {
                    self.problem("CLIENTS_FILE", format!("{path}: {p}"));
                }
                ClientRegistry::default()
            }
        }
    }

    fn admin_emails(&mut self) -> Vec<Email> {
        let Some(raw) = self.get("ADMIN_EMAILS") else { return Vec::new() };
        let mut emails = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Email::parse(item) {
                Ok(email) => emails.push(email),
                Err(e) => self.problem("ADMIN_EMAILS", format!("`{item}`: {e}")),
            }
        }
        emails
    }

    fn rate_limits(&mut self) -> RateLimits {
        let mut limits = RateLimits::default();
        for action in LimitedAction::ALL {
            let default = action.default_limit();
            let raw = self.get(action.variable());
            if let Some(raw) = raw {
                match raw.parse::<crate::domain::Limit>() {
                    Ok(limit) if limit.max == 0 || limit.window.as_secs() > 86_400 => self.problem(
                        action.variable(),
                        format!("`{raw}`: at least 1 per window, and a window of at most 1d"),
                    ),
                    Ok(limit) => limits.set(action, limit),
                    Err(LimitParseError::WindowTooShort) => {
                        self.problem(action.variable(), format!("`{raw}` {}", LimitParseError::WindowTooShort))
                    }
                    Err(LimitParseError::Malformed) => self.problem(
                        action.variable(),
                        format!("`{raw}` is not a limit like {}/{}m", default.max, default.window.as_secs() / 60),
                    ),
                }
            }
        }
        limits
    }

    /// `RATE_LIMIT_IPV6_PREFIX`: 32–128 (shorter would put whole providers in one bucket).
    fn ipv6_prefix(&mut self) -> u8 {
        let default = crate::domain::DEFAULT_IPV6_PREFIX;
        let Some(raw) = self.get("RATE_LIMIT_IPV6_PREFIX") else { return default };
        match raw.trim().trim_start_matches('/').parse::<u8>() {
            Ok(n) if (32..=128).contains(&n) => n,
            _ => {
                self.problem("RATE_LIMIT_IPV6_PREFIX", format!("`{raw}` is not a prefix length from 32 to 128"));
                default
            }
        }
    }

    fn trusted_proxies(&mut self) -> Vec<IpNet> {
        let Some(raw) = self.get("TRUSTED_PROXIES") else { return Vec::new() };
        let mut nets = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.parse::<IpNet>().or_else(|_| item.parse::<IpAddr>().map(IpNet::from)) {
                Ok(net) => nets.push(net),
                Err(_) => self.problem("TRUSTED_PROXIES", format!("`{item}` is not an IP address or CIDR range")),
            }
        }
        nets
    }

    /// `ADMIN_WEBHOOK_URL` and `ADMIN_WEBHOOK_SECRET`: both or neither; the URL as for an app's
    /// webhook, the secret at least 32 characters.
    fn admin_webhook(&mut self, prod: bool) -> Option<AdminWebhook> {
        let url = self.get("ADMIN_WEBHOOK_URL");
        let secret = self.get("ADMIN_WEBHOOK_SECRET").map(SecretString::from);
        match (url, secret) {
            (None, None) => None,
            (Some(_), None) => {
                self.problem(
                    "ADMIN_WEBHOOK_SECRET",
                    "is required with ADMIN_WEBHOOK_URL (make one with `latchkey secret`)",
                );
                None
            }
            (None, Some(_)) => {
                self.problem("ADMIN_WEBHOOK_URL", "is required with ADMIN_WEBHOOK_SECRET: where to send the events");
                None
            }
            (Some(url), Some(secret)) => {
                let mut ok = true;
                if let Err(e) = crate::oidc::clients::check_webhook_url(&url, prod) {
                    self.problem("ADMIN_WEBHOOK_URL", format!("`{url}`: {e}"));
                    ok = false;
                }
                if secret.expose_secret().len() < 32 {
                    self.problem(
                        "ADMIN_WEBHOOK_SECRET",
                        "must be at least 32 characters (make one with `latchkey secret`)",
                    );
                    ok = false;
                }
                ok.then_some(AdminWebhook { url, secret })
            }
        }
    }
}

pub use crate::domain::parse_duration;

/// SMTP must be encrypted unless the server is on this machine.
/// True when `url` points at this machine (`localhost`, 127.0.0.0/8, `::1`): the only place
/// plaintext SMTP, plain-http providers and http redirect URIs are allowed in production.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        // Non-special schemes (smtp://) leave IP literals as opaque host text.
        Some(url::Host::Domain(d)) => {
            d == "localhost" || d.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn check_smtp_url(raw: &str) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|_| "is not a URL like smtps://user:pass@smtp.example.com".to_owned())?;
    let host = url.host_str().unwrap_or_default();
    let loopback = is_loopback(&url);
    let starttls_required = url.query_pairs().any(|(k, v)| k == "tls" && v == "required");
    match url.scheme() {
        "smtps" => Ok(()),
        "smtp" if starttls_required || loopback => Ok(()),
        "smtp" => Err(format!(
            "plaintext SMTP to {host} is refused: use smtps:// or smtp://…?tls=required (plaintext is allowed only to loopback)"
        )),
        other => Err(format!("`{other}://` is not smtp:// or smtps://")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        for bad in ["15", "m", "15 m", "-1m", "1.5h", "15min", ""] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn smtp_plaintext_only_to_loopback() {
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(check_smtp_url("smtp://localhost:25").is_ok());
        assert!(check_smtp_url("smtp://[::1]:25").is_ok());
        assert!(check_smtp_url("smtps://u:p@smtp.example.com").is_ok());
        assert!(check_smtp_url("smtp://smtp.example.com:587?tls=required").is_ok());
        assert!(check_smtp_url("smtp://smtp.example.com:25").is_err());
        assert!(check_smtp_url("smtp://smtp.example.com:587?tls=opportunistic").is_err());
    }

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
