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
//!
//! A round trip and a write saved per mail: a pooled connection is used without a NOOP first
//! (its MAIL command finds it stale, and the mail then goes on a new connection at once), and
//! what lettre writes goes out when it reads the reply ([`Corked`]), so a message's body and
//! its closing dot leave in one write.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::{Category, Code, Detail, Severity};
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
/// How long the first reply on a reused connection may take. A connection the server closed
/// or lost while it sat idle shows it there, and the mail goes on a new connection at once.
const FIRST_REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one message may take, from its first command to the reply to its closing dot, a
/// retry on a new connection included (opening that connection has limits of its own).
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
                Box::new(Corked::new(ImplicitTls(tls)))
            }
            // Under STARTTLS, lettre puts TLS over this stream: its records are held the same way.
            Security::None | Security::StartTls { .. } => Box::new(Corked::new(tcp)),
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
    failed("the mail server timed out", what)
}

/// A transport failure of this module's own finding, not an error from below.
fn failed(summary: &str, detail: impl Into<String>) -> MailError {
    MailError::Transport { summary: summary.to_owned(), source: anyhow::Error::msg(detail.into()) }
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

    /// Sends one message over a pooled connection, or a new one.
    ///
    /// A pooled connection is used without asking first whether it still answers (lettre's own
    /// pool sends NOOP): its first command, MAIL, asks that. When MAIL finds it closed, silent
    /// (no reply within [`FIRST_REPLY_TIMEOUT`]) or closing (`421`), nothing of the mail was
    /// taken yet, and it goes on a new connection at once. That saves a round trip to the mail
    /// server per mail.
    pub(super) async fn send(&self, message: &Message) -> Result<(), MailError> {
        let envelope = message.envelope();
        let body = message.formatted();
        let deadline = tokio::time::Instant::now() + SEND_TIMEOUT;
        if let Some(conn) = self.take_idle() {
            match self.transact(conn, envelope, &body, deadline, true).await {
                Err(Failure::Stale) => {}
                Err(Failure::Refused(e)) => return Err(e),
                Ok(()) => return Ok(()),
            }
        }
        let conn = self.target.connect().await?;
        self.transact(conn, envelope, &body, deadline, false).await.map_err(|failure| match failure {
            Failure::Refused(e) => e,
            // Only ever for a reused connection.
            Failure::Stale => timed_out(format!("no mail taken within {SEND_TIMEOUT:?}")),
        })
    }

    /// One mail transaction on `conn`: MAIL, RCPT for each recipient, DATA, the message, all by
    /// `deadline`. `reused`: a pooled connection, whose MAIL may find it stale
    /// ([`Failure::Stale`]). The connection is parked for the next mail after a transaction
    /// that went through (or was never begun), and closed after any other.
    async fn transact(
        &self,
        mut conn: AsyncSmtpConnection,
        envelope: &Envelope,
        body: &[u8],
        deadline: tokio::time::Instant,
        reused: bool,
    ) -> Result<(), Failure> {
        let parameters = match mail_parameters(&conn, envelope, body) {
            Ok(parameters) => parameters,
            Err(e) => {
                self.checkin(conn);
                return Err(Failure::Refused(e));
            }
        };
        let first_wait =
            if reused { deadline.min(tokio::time::Instant::now() + FIRST_REPLY_TIMEOUT) } else { deadline };
        let mail = conn.command(Mail::new(envelope.from().cloned(), parameters));
        let failure = match tokio::time::timeout_at(first_wait, mail).await {
            Ok(Ok(_)) => None,
            // On a reused connection: gone (no reply, or none that parses) or closing. Any other
            // refusal is the server's word on the mail.
            Ok(Err(e)) if reused && (e.status().is_none() || e.status() == Some(CLOSING)) => Some(Failure::Stale),
            Err(_) if reused => Some(Failure::Stale),
            Ok(Err(e)) => Some(Failure::Refused(super::mailer::smtp_error(e))),
            Err(_) => Some(Failure::Refused(timed_out(format!("no reply to MAIL within {SEND_TIMEOUT:?}")))),
        };
        if let Some(failure) = failure {
            quit_later(conn);
            return Err(failure);
        }
        let rest = async {
            for recipient in envelope.to() {
                conn.command(Rcpt::new(recipient.clone(), Vec::new())).await?;
            }
            conn.command(Data).await?;
            conn.message(body).await
        };
        match tokio::time::timeout_at(deadline, rest).await {
            Ok(Ok(_)) => {
                self.checkin(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                quit_later(conn);
                Err(Failure::Refused(super::mailer::smtp_error(e)))
            }
            Err(_) => {
                quit_later(conn);
                Err(Failure::Refused(timed_out(format!("no reply within {SEND_TIMEOUT:?}"))))
            }
        }
    }

    /// The connection parked last, unless it has been idle past [`IDLE_LIMIT`] (those close).
    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (conn, since) = self.lock().pop()?;
            if since.elapsed() < IDLE_LIMIT {
                return Some(conn);
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

/// `421`: the server is closing the connection (RFC 5321, 3.8).
const CLOSING: Code =
    Code { severity: Severity::TransientNegativeCompletion, category: Category::Connections, detail: Detail::One };

/// How a mail transaction ended, when it did not go through.
enum Failure {
    /// A reused connection turned out closed, silent or closing before it took anything of the
    /// mail: try a new one.
    Stale,
    /// The mail was not sent (the reason says why; the outbox decides whether to try again).
    Refused(MailError),
}

/// MAIL's parameters for `body` to `envelope`'s addresses, as lettre's own `send` sets them:
/// `SMTPUTF8` for an address beyond ASCII, `BODY=8BITMIME` for a body beyond it, each only when
/// the server offers it.
fn mail_parameters(
    conn: &AsyncSmtpConnection,
    envelope: &Envelope,
    body: &[u8],
) -> Result<Vec<MailParameter>, MailError> {
    let mut parameters = Vec::new();
    let not_ascii = |address: &lettre::Address| !AsRef::<str>::as_ref(address).is_ascii();
    if envelope.from().is_some_and(not_ascii) || envelope.to().iter().any(not_ascii) {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            let what = "an address is not ASCII and the mail server does not offer SMTPUTF8";
            return Err(failed(what, what));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !body.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            let what = "the message is not ASCII and the mail server does not offer 8BITMIME";
            return Err(failed(what, what));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
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

/// What lettre writes, held until it reads the reply (or closes), then sent in one write.
///
/// lettre writes and flushes a message's body and its closing `\r\n.\r\n` one after the
/// other: two sends, two segments, two wake-ups of the mail server, for one reply. SMTP without
/// PIPELINING always reads a reply before it writes again, so what was written is due by the
/// next read: sending it then changes nothing on the wire but the number of writes.
/// `poll_flush` therefore sends nothing, on purpose; a read, `poll_shutdown`, or a write that
/// would hold more than [`Corked::LIMIT`], does (a write larger than that goes straight
/// through).
#[derive(Debug)]
struct Corked<S> {
    inner: S,
    held: Vec<u8>,
    /// How much of `held` has gone out.
    sent: usize,
}

impl<S: AsyncWrite + Unpin> Corked<S> {
    /// Held bytes past which a write sends what is held first.
    const LIMIT: usize = 64 * 1024;
    /// Room kept for the next message once sent (a sign-in mail needs less); a pool holds up
    /// to `OUTBOX_CONCURRENCY` idle connections.
    const KEEP: usize = 16 * 1024;

    fn new(inner: S) -> Self {
        Self { inner, held: Vec::new(), sent: 0 }
    }

    /// Sends what is held, then flushes the stream below.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.sent < self.held.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.held.capacity() > Self::KEEP {
            self.held = Vec::new();
        } else {
            self.held.clear();
        }
        self.sent = 0;
        Pin::new(&mut self.inner).poll_flush(cx)
    }
}

impl<S: AsyncTokioStream> AsyncTokioStream for Corked<S> {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Corked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_read(cx, buf),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Corked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.held.len() + buf.len() > Self::LIMIT {
            match self.poll_send(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            // Nothing is held now; what is too large to hold goes through.
            if buf.len() > Self::LIMIT {
                return Pin::new(&mut self.inner).poll_write(cx, buf);
            }
        }
        self.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
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

    /// How the scripted server treats a connection.
    #[derive(Clone, Copy)]
    enum Script {
        /// Answers everything, keeps the connection.
        Keep,
        /// Closes a connection once it took a message (as servers do after a number of them,
        /// or on restart).
        CloseAfterMail,
        /// Takes a connection's first message, then hangs up at the second's closing dot,
        /// without a reply.
        HangUpAtSecondDot,
        /// Answers this to every MAIL after a connection's first message.
        LaterMail(&'static str),
    }

    /// A scripted SMTP server on loopback: it answers every command as `script` says, takes a
    /// message up to its lone dot and keeps the commands each connection sent.
    async fn scripted_server(script: Script) -> (String, Arc<Mutex<Vec<Vec<String>>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let (reader, mut writer) = stream.into_split();
                    let mut lines = BufReader::new(reader).lines();
                    let index = {
                        let mut log = seen.lock().unwrap();
                        log.push(Vec::new());
                        log.len() - 1
                    };
                    let mut taken = 0;
                    writer.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split([' ', ':']).next().unwrap_or_default().to_ascii_uppercase();
                        seen.lock().unwrap()[index].push(verb.clone());
                        let reply: &[u8] = match (verb.as_str(), script) {
                            ("EHLO", _) => b"250 scripted\r\n",
                            ("MAIL", Script::LaterMail(reply)) if taken > 0 => reply.as_bytes(),
                            ("DATA", _) => {
                                writer.write_all(b"354 go on\r\n").await.unwrap();
                                while let Ok(Some(line)) = lines.next_line().await {
                                    if line == "." {
                                        break;
                                    }
                                }
                                if matches!(script, Script::HangUpAtSecondDot) && taken > 0 {
                                    return;
                                }
                                taken += 1;
                                writer.write_all(b"250 queued\r\n").await.unwrap();
                                if matches!(script, Script::CloseAfterMail) {
                                    return;
                                }
                                continue;
                            }
                            ("QUIT", _) => {
                                let _ = writer.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        };
                        writer.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        (url, log)
    }

    fn message(to: &str) -> Message {
        Message::builder()
            .from("login@example.com".parse().unwrap())
            .to(to.parse().unwrap())
            .subject("Your sign-in link")
            .body("a body".to_owned())
            .unwrap()
    }

    /// The commands each connection sent, QUIT left out (it is sent in the background).
    fn commands(log: &Mutex<Vec<Vec<String>>>) -> Vec<Vec<String>> {
        log.lock().unwrap().iter().map(|c| c.iter().filter(|v| *v != "QUIT").cloned().collect()).collect()
    }

    /// Two mails, one after the other, through one pool to a server that follows `script`: how
    /// the second went, and the commands each connection sent.
    async fn second_mail(script: Script) -> (Result<(), MailError>, Vec<Vec<String>>) {
        let (url, log) = scripted_server(script).await;
        let pool = SmtpPool::new(&url, None, 4).unwrap();
        pool.send(&message("a@example.com")).await.unwrap();
        let second = pool.send(&message("b@example.com")).await;
        (second, commands(&log))
    }

    #[tokio::test]
    async fn a_pooled_connection_carries_the_next_mail_without_a_noop_first() {
        let (second, log) = second_mail(Script::Keep).await;
        assert!(second.is_ok());
        assert_eq!(log, [["EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "DATA"]]);
    }

    #[tokio::test]
    async fn a_mail_finding_its_pooled_connection_closed_goes_on_a_new_one_at_once() {
        // The server closed the connection the pool kept: MAIL finds it so, and the mail is
        // sent all the same, on a new connection.
        let (second, log) = second_mail(Script::CloseAfterMail).await;
        assert!(second.is_ok());
        assert_eq!(log, [["EHLO", "MAIL", "RCPT", "DATA"], ["EHLO", "MAIL", "RCPT", "DATA"]]);
    }

    #[tokio::test]
    async fn a_pooled_connection_answering_421_to_mail_hands_the_mail_to_a_new_one() {
        let (second, log) = second_mail(Script::LaterMail("421 closing\r\n")).await;
        assert!(second.is_ok());
        assert_eq!(log, [vec!["EHLO", "MAIL", "RCPT", "DATA", "MAIL"], vec!["EHLO", "MAIL", "RCPT", "DATA"]]);
    }

    #[tokio::test]
    async fn any_other_refusal_of_mail_is_the_servers_word_and_no_new_connection_is_tried() {
        for reply in ["451 try later\r\n", "550 not from you\r\n"] {
            let (second, log) = second_mail(Script::LaterMail(reply)).await;
            let refused = second.unwrap_err();
            assert!(refused.to_string().contains(&reply[..3]), "{refused}");
            assert_eq!(log, [["EHLO", "MAIL", "RCPT", "DATA", "MAIL"]], "{reply}");
        }
    }

    #[tokio::test]
    async fn a_message_the_server_may_have_taken_is_never_sent_again_at_once() {
        // No reply to the closing dot on a kept connection: the server may hold the message.
        // The send fails (the outbox decides on another try), and no new connection carries it
        // meanwhile.
        let (second, log) = second_mail(Script::HangUpAtSecondDot).await;
        assert!(second.is_err());
        assert_eq!(log, [["EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "DATA"]]);
    }

    /// A stream below [`Corked`] that keeps each write it is given and answers reads with a
    /// reply.
    #[derive(Debug, Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
    }

    impl AsyncRead for Recorder {
        fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
            buf.put_slice(b"250 queued\r\n");
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            self.writes.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_message_and_its_closing_dot_leave_in_one_write_when_the_reply_is_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = Corked::new(Recorder::default());
        // As lettre sends a message: the body, flushed, then the dot, flushed.
        stream.write_all(b"Subject: hi\r\n\r\nbody").await.unwrap();
        stream.flush().await.unwrap();
        stream.write_all(b"\r\n.\r\n").await.unwrap();
        stream.flush().await.unwrap();
        assert!(stream.inner.writes.is_empty(), "sent before the reply was read");
        let mut reply = [0u8; 64];
        let n = stream.read(&mut reply).await.unwrap();
        assert_eq!(&reply[..n], b"250 queued\r\n");
        assert_eq!(stream.inner.writes, [b"Subject: hi\r\n\r\nbody\r\n.\r\n".to_vec()]);
        // Closing sends what is held too.
        stream.write_all(b"QUIT\r\n").await.unwrap();
        stream.shutdown().await.unwrap();
        assert_eq!(stream.inner.writes.last().unwrap(), b"QUIT\r\n");
        // Past the limit, a write sends what is held first.
        let big = vec![b'x'; Corked::<Recorder>::LIMIT];
        stream.write_all(&big).await.unwrap();
        stream.write_all(b"more").await.unwrap();
        assert_eq!(stream.inner.writes.last().unwrap(), &big);
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
