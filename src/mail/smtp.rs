//! SMTP delivery: lettre's SMTP client over connections opened here, with `TCP_NODELAY`, kept
//! for reuse.
//!
//! lettre's own transport leaves Nagle's algorithm on. It writes a message's body and then its
//! closing `\r\n.\r\n` as two writes, so the second waits for the server to acknowledge the
//! first, and the server delays that acknowledgement (40 ms on Linux): every message costs
//! 40 ms, and one connection carries about 25 messages a second. The socket cannot be reached
//! through lettre's transport, so this module opens it, sets `TCP_NODELAY`, and hands it to
//! lettre's connection (`AsyncSmtpConnection::connect_with_transport`), which speaks SMTP,
//! STARTTLS and AUTH as before.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use url::Url;

use super::MailError;

/// How long a TCP connect to one of the server's addresses may take (the next is tried after).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long TLS, the greeting, EHLO, STARTTLS and AUTH may take once TCP is up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a reused connection may take to answer NOOP.
const NOOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one message may take once a connection is open.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// An idle connection older than this is closed rather than reused.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// How long a QUIT to a connection no longer wanted may wait for its reply.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a connection is secured.
enum Security {
    /// Plaintext (`smtp://`, loopback only: the settings refuse it elsewhere).
    None,
    /// STARTTLS after the greeting (`?tls=required`), or only when offered (`?tls=opportunistic`).
    StartTls { parameters: TlsParameters, required: bool },
    /// TLS from the first byte (`smtps://`).
    Implicit { connector: tokio_rustls::TlsConnector, name: rustls::pki_types::ServerName<'static> },
}

/// Where and how to connect, from `SMTP_URL` (the same URL forms lettre's `from_url` reads).
struct Target {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
}

impl Target {
    /// `ca_pem`: CA certificates trusted besides the webpki roots (`SMTP_CA_FILE`).
    fn from_url(raw: &str, ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let url = Url::parse(raw).map_err(|e| anyhow::anyhow!("invalid SMTP_URL: {e}"))?;
        let host = url.host_str().ok_or_else(|| anyhow::anyhow!("invalid SMTP_URL: no host"))?;
        // `[::1]` in a URL; the socket and the certificate name want `::1`.
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        // One `tls=` at most: the settings refuse the URL otherwise (`check_smtp_url`).
        let tls_query = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
        let extra_roots = match ca_pem {
            Some(pem) => CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("SMTP_CA_FILE: {e}"))?,
            None => Vec::new(),
        };
        let tls_parameters = || {
            let mut builder = TlsParameters::builder(host.clone());
            for cert in &extra_roots {
                let cert = Certificate::from_der(cert.to_vec()).map_err(|e| anyhow::anyhow!("SMTP_CA_FILE: {e}"))?;
                builder = builder.add_root_certificate(cert);
            }
            builder.build_rustls().map_err(|e| anyhow::anyhow!("invalid SMTP_URL host for TLS: {e}"))
        };
        let (security, default_port) = match (url.scheme(), tls_query.as_deref()) {
            ("smtp", None) => (Security::None, 25),
            ("smtp", Some(mode @ ("required" | "opportunistic"))) => {
                (Security::StartTls { parameters: tls_parameters()?, required: mode == "required" }, 587)
            }
            ("smtps", _) => {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| anyhow::anyhow!("invalid SMTP_URL host for TLS: {e}"))?;
                (Security::Implicit { connector: tls_connector(&extra_roots)?, name }, 465)
            }
            (scheme, tls) => anyhow::bail!("invalid SMTP_URL: scheme `{scheme}` with tls={tls:?}"),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| anyhow::anyhow!("invalid SMTP_URL: the user or password is not UTF-8 once %-decoded"))
        };
        let credentials = match url.password() {
            Some(password) => Some(Credentials::new(decode(url.username())?, decode(password)?)),
            None => None,
        };
        let path = url.path().trim_matches('/');
        let hello = if path.is_empty() { ClientId::default() } else { ClientId::Domain(path.to_owned()) };
        Ok(Self { port: url.port().unwrap_or(default_port), host, security, credentials, hello })
    }

    /// A new connection: TCP with `TCP_NODELAY`, then TLS as configured, greeting, EHLO, AUTH
    /// within `HANDSHAKE_TIMEOUT`.
    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let tcp = open_tcp(&self.host, self.port).await?;
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.handshake(tcp))
            .await
            .unwrap_or_else(|_| Err(timed_out(format!("no SMTP session within {HANDSHAKE_TIMEOUT:?}"))))
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<AsyncSmtpConnection, MailError> {
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit { connector, name } => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| transport("TLS to the mail server failed", e))?;
                Box::new(ImplicitTls(tls))
            }
            Security::None | Security::StartTls { .. } => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(super::mailer::smtp_error)?;
        if let Security::StartTls { parameters, required } = &self.security
            && (*required || conn.can_starttls())
        {
            conn.starttls(parameters.clone(), &self.hello).await.map_err(super::mailer::smtp_error)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await.map_err(super::mailer::smtp_error)?;
        }
        Ok(conn)
    }
}

/// rustls with the webpki roots (what lettre's `TlsParameters` use with its `webpki-roots`
/// feature) and `extra_roots`.
fn tls_connector(extra_roots: &[CertificateDer<'static>]) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for cert in extra_roots {
        roots.add(cert.clone()).map_err(|e| anyhow::anyhow!("SMTP_CA_FILE: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS set-up for SMTP failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A TCP connection to the first of `host`'s addresses that answers, with `TCP_NODELAY` set.
pub(super) async fn open_tcp(host: &str, port: u16) -> Result<TcpStream, MailError> {
    let unreachable = |e: std::io::Error| transport("the mail server could not be reached", e);
    let addresses = tokio::net::lookup_host((host, port)).await.map_err(unreachable)?;
    let mut last = None;
    for address in addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true).map_err(unreachable)?;
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(e),
            Err(_) => last = Some(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")),
        }
    }
    Err(unreachable(last.unwrap_or_else(|| std::io::Error::other("the host has no address"))))
}

fn transport(summary: &str, e: impl std::error::Error + Send + Sync + 'static) -> MailError {
    MailError::Transport { summary: summary.to_owned(), source: e.into() }
}

/// A wait cut off by one of this module's timeouts (`what`: which, and how long it was).
fn timed_out(what: String) -> MailError {
    MailError::Transport { summary: "the mail server timed out".to_owned(), source: anyhow::Error::msg(what) }
}

/// SMTP connections kept for reuse, up to `max_idle` of them.
pub(super) struct SmtpPool {
    target: Target,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    max_idle: usize,
}

impl SmtpPool {
    /// A pool for `SMTP_URL`. Connections open on first use; inside a Tokio runtime a task
    /// closes the ones idle past a minute.
    pub(super) fn new(url: &str, ca_pem: Option<&[u8]>, max_idle: u32) -> anyhow::Result<Arc<Self>> {
        let target = Target::from_url(url, ca_pem)?;
        let pool = Arc::new(Self { target, idle: Mutex::new(Vec::new()), max_idle: max_idle.max(1) as usize });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(close_idle(Arc::downgrade(&pool)));
        }
        Ok(pool)
    }

    /// Sends one message over a pooled connection (or a new one).
    pub(super) async fn send(&self, message: &Message) -> Result<(), MailError> {
        let envelope = message.envelope();
        let body = message.formatted();
        let mut conn = self.checkout().await?;
        match tokio::time::timeout(SEND_TIMEOUT, conn.send(envelope, &body)).await {
            Ok(Ok(_)) => {
                self.checkin(conn);
                Ok(())
            }
            // lettre closes the connection on any failure, so it is not kept.
            Ok(Err(e)) => Err(super::mailer::smtp_error(e)),
            Err(_) => Err(timed_out(format!("no reply within {SEND_TIMEOUT:?}"))),
        }
    }

    /// An idle connection that still answers (NOOP, as lettre's own pool checks), or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, MailError> {
        loop {
            let parked = self.lock().pop();
            let Some((mut conn, since)) = parked else { return self.target.connect().await };
            // A server gone without closing (a partition) would leave NOOP unanswered for good.
            if since.elapsed() < IDLE_LIMIT
                && matches!(tokio::time::timeout(NOOP_TIMEOUT, conn.test_connected()).await, Ok(true))
            {
                return Ok(conn);
            }
            quit_later(conn);
        }
    }

    fn checkin(&self, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push((conn, Instant::now()));
        } else {
            drop(idle);
            quit_later(conn);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(AsyncSmtpConnection, Instant)>> {
        // Nothing panics while holding the lock; a poisoned list is still a list of connections.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Says QUIT on a connection no longer wanted, without holding up the caller.
fn quit_later(mut conn: AsyncSmtpConnection) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move { tokio::time::timeout(QUIT_TIMEOUT, conn.abort()).await });
    }
}

/// Every 15 s, closes the pool's connections idle past `IDLE_LIMIT`; ends with the pool.
async fn close_idle(pool: Weak<SmtpPool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let stale: Vec<_> = {
            let mut idle = pool.lock();
            let (stale, fresh) =
                std::mem::take(&mut *idle).into_iter().partition(|(_, since)| since.elapsed() >= IDLE_LIMIT);
            *idle = fresh;
            stale
        };
        drop(pool);
        for (conn, _) in stale {
            quit_later(conn);
        }
    }
}

/// An implicit-TLS stream in the shape lettre's connection takes. lettre sees a plain stream
/// (its `is_encrypted()` says false for these connections); nothing here asks it.
#[derive(Debug)]
struct ImplicitTls(TlsStream<TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_are_opened_with_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = open_tcp("127.0.0.1", port).await.unwrap();
        assert!(stream.nodelay().unwrap());
    }

    #[test]
    fn the_url_forms_lettre_reads() {
        let t = Target::from_url("smtps://u%40x:p%2Fw@smtp.example.com", None).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("smtp.example.com", 465));
        assert!(matches!(t.security, Security::Implicit { .. }));
        assert!(t.credentials == Some(Credentials::new("u@x".to_owned(), "p/w".to_owned())));
        assert!(Target::from_url("smtps://u:%FF@smtp.example.com", None).is_err());
        let t = Target::from_url("smtp://smtp.example.com?tls=required", None).unwrap();
        assert_eq!(t.port, 587);
        assert!(matches!(t.security, Security::StartTls { required: true, .. }));
        let t = Target::from_url("smtp://127.0.0.1:2525/client.example", None).unwrap();
        assert_eq!(t.port, 2525);
        assert!(matches!(t.security, Security::None));
        assert!(matches!(t.hello, ClientId::Domain(ref d) if d == "client.example"));
        let t = Target::from_url("smtp://[::1]:2525", None).unwrap();
        assert_eq!(t.host, "::1");
        assert!(Target::from_url("smtp://h?tls=sometimes", None).is_err());
        assert!(Target::from_url("http://h", None).is_err());
    }
}
