//! The HTTP listeners: the service's (on `BIND_ADDR`, and on `BIND_SOCKET` when set), and
//! `/metrics`' own when `METRICS_ADDR` is set.

use std::any::Any;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, ErrorHandlers};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::routes::{self, AppState, LocalSocket};
use crate::store::RedisConnection;
use crate::telemetry::RequestSpan;

/// The servers, listening.
pub(super) struct Listening {
    /// The port `BIND_ADDR` got.
    pub(super) port: u16,
    /// The service's server.
    pub(super) server: Server,
    /// `/metrics`' own server and its port, with `METRICS_ADDR`.
    pub(super) metrics_server: Option<(u16, Server)>,
    /// The socket file made for `BIND_SOCKET`, removed once the server has stopped.
    pub(super) socket_file: Option<SocketFile>,
}

/// The socket file this instance made: its path, and its device and inode so that a file
/// made there since is left alone; with the lock that keeps a second instance off the path.
pub(super) struct SocketFile {
    path: PathBuf,
    identity: (u64, u64),
    _lock: File,
}

impl SocketFile {
    /// Removes the file if it is still the socket this instance made.
    pub(super) fn remove(&self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| meta.file_type().is_socket() && (meta.dev(), meta.ino()) == self.identity);
        if ours && let Err(error) = std::fs::remove_file(&self.path) {
            tracing::warn!(%error, path = %self.path.display(), "cannot remove BIND_SOCKET's file");
        }
    }
}

/// Where the service listens.
pub(super) struct Addresses {
    /// `BIND_ADDR`.
    pub(super) bind_addr: SocketAddr,
    /// `BIND_SOCKET`.
    pub(super) bind_socket: Option<PathBuf>,
    /// `BIND_SOCKET_MODE`.
    pub(super) bind_socket_mode: u32,
    /// `METRICS_ADDR`.
    pub(super) metrics_addr: Option<SocketAddr>,
}

/// Binds `BIND_ADDR`, `BIND_SOCKET` when set, and `METRICS_ADDR` when set (where `/metrics`
/// then moves), and builds their servers.
pub(super) fn listen(
    state: web::Data<AppState>,
    per_worker: Option<RedisConnection>,
    addresses: &Addresses,
    shutdown_timeout: Duration,
) -> anyhow::Result<Listening> {
    let listener = bind(addresses.bind_addr, "")?;
    let (socket, socket_file) =
        match addresses.bind_socket.as_deref().map(|path| bind_socket(path, addresses.bind_socket_mode)) {
            Some(bound) => {
                let (listener, file) = bound?;
                (Some(listener), Some(file))
            }
            None => (None, None),
        };
    let metrics_server = match addresses.metrics_addr {
        Some(addr) => Some(metrics_server(bind(addr, "METRICS_ADDR ")?, &state, &per_worker)?),
        None => None,
    };
    let port = listener.local_addr()?.port();
    let public_metrics = metrics_server.is_none();
    let listeners = Listeners { tcp: listener, socket };
    let server = server(listeners, state, per_worker, public_metrics, shutdown_timeout)?;
    Ok(Listening { port, server, metrics_server, socket_file })
}

/// A Unix socket at `path` (`BIND_SOCKET`) with permissions `mode` (`BIND_SOCKET_MODE`; 0660
/// by default: the proxy in front gets in through the group).
///
/// An exclusive lock on `<path>.lock`, held while the instance runs, keeps a second instance
/// off the path. Under it, a socket nothing listens on (left by an instance that ended without
/// removing it) is replaced; a socket something answers or refuses us on, or anything else at
/// `path` (a symbolic link included), stops the start.
fn bind_socket(path: &Path, mode: u32) -> anyhow::Result<(UnixListener, SocketFile)> {
    let shown = path.display();
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open BIND_SOCKET's lock file {}", Path::new(&lock_path).display()))?;
    if let Err(error) = lock.try_lock() {
        anyhow::bail!("cannot listen on BIND_SOCKET {shown}: another instance holds its lock ({error})");
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)
                .with_context(|| format!("cannot replace the stale socket BIND_SOCKET {shown}"))?,
            Ok(_) => anyhow::bail!("cannot listen on BIND_SOCKET {shown}: another process listens there"),
            Err(e) => anyhow::bail!("cannot listen on BIND_SOCKET {shown}: a socket is there and {e}"),
        },
        Ok(_) => anyhow::bail!("cannot listen on BIND_SOCKET {shown}: something that is not a socket is there"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot listen on BIND_SOCKET {shown}")),
    }
    let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on BIND_SOCKET {shown}"))?;
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot read BIND_SOCKET {shown}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of BIND_SOCKET {shown}"))?;
    let file = SocketFile { path: path.to_owned(), identity: (meta.dev(), meta.ino()), _lock: lock };
    Ok((listener, file))
}

/// The service's listeners.
struct Listeners {
    tcp: TcpListener,
    socket: Option<UnixListener>,
}

/// Marks a connection that came through `BIND_SOCKET`, for [`crate::routes::client`].
fn mark_local_socket(io: &dyn Any, extensions: &mut actix_web::dev::Extensions) {
    if io.is::<tokio::net::UnixStream>() {
        extensions.insert(LocalSocket);
    }
}

/// A listener on `addr`; `what` names the setting in the error (empty for `BIND_ADDR`).
fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).with_context(|| format!("cannot listen on {what}{addr}"))
}

/// The service's server on `listeners`, with its middleware and the route table.
fn server(
    listeners: Listeners,
    state: web::Data<AppState>,
    per_worker: Option<RedisConnection>,
    public_metrics: bool,
    shutdown_timeout: Duration,
) -> anyhow::Result<Server> {
    let production = state.production;
    let server = HttpServer::new(move || {
        // Runs on each HTTP worker's thread as it starts: the worker's store commands
        // go through a Redis connection driven on its own thread.
        if let Some(conn) = &per_worker {
            conn.bind_this_thread();
        }
        App::new()
            .wrap(ErrorHandlers::new().default_handler(crate::error::localize_error_page))
            .wrap(actix_web::middleware::from_fn(routes::cors::cors))
            .wrap(security_headers(production))
            .wrap(TracingLogger::<RequestSpan>::new())
            .app_data(state.clone())
            .configure(|cfg| routes::configure(cfg, public_metrics))
    })
    .on_connect(mark_local_socket)
    .listen(listeners.tcp)?;
    let server = match listeners.socket {
        Some(socket) => server.listen_uds(socket)?,
        None => server,
    };
    let server = server.shutdown_timeout(shutdown_timeout.as_secs().max(1)).disable_signals().run();
    Ok(server)
}

/// `/metrics` alone on `listener` (`METRICS_ADDR`), and its port.
fn metrics_server(
    listener: TcpListener,
    state: &web::Data<AppState>,
    per_worker: &Option<RedisConnection>,
) -> anyhow::Result<(u16, Server)> {
    let port = listener.local_addr()?.port();
    let (state, per_worker) = (state.clone(), per_worker.clone());
    let server = HttpServer::new(move || {
        // Its own connection too: a reconnect of the shared one must not be driven
        // from this server's runtime, which stops before the outbox worker does.
        if let Some(conn) = &per_worker {
            conn.bind_this_thread();
        }
        App::new().app_data(state.clone()).configure(routes::configure_metrics)
    })
    .workers(1)
    .listen(listener)?
    .disable_signals()
    .run();
    Ok((port, server))
}

/// Headers on every response. `DefaultHeaders` only adds what a handler did not set.
fn security_headers(production: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            // No form-action: the sign-in form's redirect chain ends at a client's redirect_uri.
            routes::app_brand::CONTENT_SECURITY_POLICY_VALUE,
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cache-Control", "no-store"));
    if production { headers.add(("Strict-Transport-Security", "max-age=63072000; includeSubDomains")) } else { headers }
}
