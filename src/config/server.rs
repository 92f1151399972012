//! Where the service runs: `APP_ENV`, `BIND_ADDR`, `BIND_SOCKET`, `BIND_SOCKET_MODE`,
//! `METRICS_ADDR`, `PUBLIC_URL`, `TRUSTED_PROXIES`, `LOG_FORMAT` and `SHUTDOWN_TIMEOUT`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use super::reader::Reader;

/// `development` (the default: everything works with no setup) or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Generated keys, in-memory store and mail printed to the log are allowed.
    Development,
    /// Every safety rule is enforced at start-up.
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (development default).
    Pretty,
    /// One JSON object per line (production default).
    Json,
}

/// The longest path a Unix socket address holds on Linux (`sun_path` is 108 bytes, with the
/// closing NUL).
const MAX_SOCKET_PATH: usize = 107;

impl Reader<'_> {
    /// `APP_ENV`; anything but `development` or `production` is a problem (and strict).
    pub(super) fn app_env(&mut self) -> AppEnv {
        match self.get("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                self.problem("APP_ENV", format!("`{other}` is not `development` or `production`"));
                AppEnv::Production
            }
        }
    }

    /// `BIND_ADDR`: where to listen.
    pub(super) fn bind_addr(&mut self) -> Option<SocketAddr> {
        self.parse("BIND_ADDR", "127.0.0.1:8080", "an address like 0.0.0.0:8080")
    }

    /// `BIND_SOCKET`: a Unix socket to listen on as well, for a proxy on the same host. An
    /// absolute path that fits a socket address (107 bytes on Linux).
    pub(super) fn bind_socket(&mut self) -> Option<PathBuf> {
        let raw = self.get("BIND_SOCKET")?;
        if !raw.starts_with('/') {
            self.problem("BIND_SOCKET", format!("`{raw}` is not an absolute path like /run/latchkey/latchkey.sock"));
            return None;
        }
        if raw.len() > MAX_SOCKET_PATH {
            self.problem(
                "BIND_SOCKET",
                format!("`{raw}` is {} bytes long; a socket's path has at most {MAX_SOCKET_PATH}", raw.len()),
            );
            return None;
        }
        Some(PathBuf::from(raw))
    }

    /// `BIND_SOCKET_MODE`: the socket file's permissions, in octal (`660` by default: its
    /// owner and group may connect).
    pub(super) fn bind_socket_mode(&mut self) -> u32 {
        const DEFAULT: u32 = 0o660;
        let Some(raw) = self.get("BIND_SOCKET_MODE") else { return DEFAULT };
        match u32::from_str_radix(&raw, 8) {
            Ok(mode) if mode <= 0o777 && (3..=4).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) => {
                mode
            }
            _ => {
                self.problem("BIND_SOCKET_MODE", format!("`{raw}` is not a file mode in octal like 660"));
                DEFAULT
            }
        }
    }

    /// `METRICS_ADDR`: where `/metrics` is served instead, when set.
    pub(super) fn metrics_addr(&mut self) -> Option<SocketAddr> {
        let raw = self.get("METRICS_ADDR")?;
        let parsed = raw.parse().ok();
        if parsed.is_none() {
            self.problem("METRICS_ADDR", format!("`{raw}` is not an address like 127.0.0.1:9100"));
        }
        parsed
    }

    /// `PUBLIC_URL`: an origin, https in production.
    pub(super) fn public_url(&mut self, prod: bool) -> Option<Url> {
        let url = self.url("PUBLIC_URL", "http://localhost:8080", "https://login.example.com")?;
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

    /// `TRUSTED_PROXIES`: addresses and CIDR ranges.
    pub(super) fn trusted_proxies(&mut self) -> Vec<IpNet> {
        let Some(items) = self.list("TRUSTED_PROXIES") else { return Vec::new() };
        let mut nets = Vec::new();
        for item in items {
            match item.parse::<IpNet>().or_else(|_| item.parse::<IpAddr>().map(IpNet::from)) {
                Ok(net) => nets.push(net),
                Err(_) => self.problem("TRUSTED_PROXIES", format!("`{item}` is not an IP address or CIDR range")),
            }
        }
        nets
    }

    /// `LOG_FORMAT`: JSON in production unless told otherwise.
    pub(super) fn log_format(&mut self, prod: bool) -> LogFormat {
        match self.get("LOG_FORMAT").as_deref() {
            None if prod => LogFormat::Json,
            None => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                self.problem("LOG_FORMAT", format!("`{other}` is not `json` or `pretty`"));
                LogFormat::Json
            }
        }
    }

    /// `SHUTDOWN_TIMEOUT`: how long a stop may take.
    pub(super) fn shutdown_timeout(&mut self) -> Duration {
        self.duration("SHUTDOWN_TIMEOUT", "30s", Duration::from_secs(1), Duration::from_secs(600)).unwrap_or_default()
    }
}
