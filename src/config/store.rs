//! Where sign-in state lives: `REDIS_URL`, `REDIS_CLUSTER_URLS`, `REDIS_SENTINEL_URLS` and
//! `REDIS_SENTINEL_MASTER`, `REDIS_CA_FILE`, `REDIS_PRIVATE_NETWORK`, `REDIS_KEY_PREFIX`,
//! `STORE_ID`, `REDIS_DURABILITY` and `REDIS_WAIT_TIMEOUT`.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::reader::{Reader, split_list};
use crate::domain::is_loopback;

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

impl Reader<'_> {
    /// `REDIS_URL`, `REDIS_CLUSTER_URLS` or `REDIS_SENTINEL_URLS` (none: memory), and
    /// `REDIS_CA_FILE`.
    pub(super) fn store(&mut self, prod: bool) -> StoreSettings {
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
                let urls = split_list(&list);
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
                self.warn("REDIS_URL is not set: using the in-memory store (lost on restart, one instance only)");
                return StoreSettings::Memory;
            }
        };
        let Some(path) = ca_file else { return store };
        if !schemes.contains(&Some(true)) {
            self.problem("REDIS_CA_FILE", "is set, but the Redis URLs are not rediss:// (TLS)");
        }
        let pem = self.ca_pem("REDIS_CA_FILE", &path);
        match store {
            StoreSettings::Redis { url, .. } => StoreSettings::Redis { url, ca_pem: pem },
            StoreSettings::Cluster { urls, .. } => StoreSettings::Cluster { urls, ca_pem: pem },
            other => other,
        }
    }

    /// `REDIS_SENTINEL_URLS` (a comma-separated list) with `REDIS_SENTINEL_MASTER`, and
    /// `REDIS_CA_FILE` as for the other kinds.
    fn sentinel_store(&mut self, list: &str, master: Option<String>, ca_file: Option<String>) -> StoreSettings {
        let urls = split_list(list);
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
            self.ca_pem("REDIS_CA_FILE", &path)
        });
        StoreSettings::Sentinel { urls: urls.into_iter().map(SecretString::from).collect(), master, ca_pem }
    }

    /// `STORE_ID`: required when `required` (production); checked for shape when set.
    pub(super) fn store_id(&mut self, required: bool, memory: bool) -> Option<String> {
        match self.get("STORE_ID") {
            Some(id) if crate::domain::is_store_id(&id) => Some(id),
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
        let private = self.flag("REDIS_PRIVATE_NETWORK", false);
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

    /// Reads a CA file (`REDIS_CA_FILE`, `SMTP_CA_FILE`): at least one PEM certificate.
    pub(super) fn ca_pem(&mut self, var: &'static str, path: &str) -> Option<Vec<u8>> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let pem = match std::fs::read(path) {
            Ok(pem) => pem,
            Err(e) => {
                self.problem(var, format!("{path}: cannot read ({e})"));
                return None;
            }
        };
        let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
        match certs {
            Ok(certs) if !certs.is_empty() => Some(pem),
            _ => {
                self.problem(var, format!("{path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
                None
            }
        }
    }

    /// `REDIS_KEY_PREFIX`: every key starts with it; no braces (hash tags).
    pub(super) fn key_prefix(&mut self) -> String {
        let key_prefix = self.get("REDIS_KEY_PREFIX").unwrap_or_else(|| "latchkey:".to_owned());
        if key_prefix.contains(['{', '}']) {
            // A brace in the prefix would become every key's hash tag in a cluster.
            self.problem("REDIS_KEY_PREFIX", "must not contain `{` or `}` (they choose a key's Redis Cluster slot)");
        }
        key_prefix
    }

    /// `REDIS_DURABILITY`: `check` (the default) or `managed`.
    pub(super) fn durability(&mut self) -> Durability {
        match self.get("REDIS_DURABILITY").as_deref() {
            None | Some("check") => Durability::Check,
            Some("managed") => Durability::Managed,
            Some(other) => {
                self.problem("REDIS_DURABILITY", format!("`{other}` is not `check` or `managed`"));
                Durability::Check
            }
        }
    }

    /// `REDIS_WAIT_TIMEOUT`: how long a critical write waits for a replica.
    pub(super) fn redis_wait_timeout(&mut self) -> Duration {
        // Below the store's answer timeout (2 s), so a WAIT that runs out is a refusal, not a
        // broken connection.
        self.duration("REDIS_WAIT_TIMEOUT", "500ms", Duration::from_millis(1), Duration::from_millis(1500))
            .unwrap_or_default()
    }
}
