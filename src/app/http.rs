//! The HTTP listeners: the service's, and `/metrics`' own when `METRICS_ADDR` is set.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, ErrorHandlers};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::routes::{self, AppState};
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
}

/// Binds `BIND_ADDR` and, when set, `METRICS_ADDR` (where `/metrics` then moves), and builds
/// their servers.
pub(super) fn listen(
    state: web::Data<AppState>,
    per_worker: Option<RedisConnection>,
    bind_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shutdown_timeout: Duration,
) -> anyhow::Result<Listening> {
    let listener = bind(bind_addr, "")?;
    let metrics_server = match metrics_addr {
        Some(addr) => Some(metrics_server(bind(addr, "METRICS_ADDR ")?, &state, &per_worker)?),
        None => None,
    };
    let port = listener.local_addr()?.port();
    let public_metrics = metrics_server.is_none();
    let server = server(listener, state, per_worker, public_metrics, shutdown_timeout)?;
    Ok(Listening { port, server, metrics_server })
}

/// A listener on `addr`; `what` names the setting in the error (empty for `BIND_ADDR`).
fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).with_context(|| format!("cannot listen on {what}{addr}"))
}

/// The service's server on `listener`, with its middleware and the route table.
fn server(
    listener: TcpListener,
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
    .listen(listener)?
    .shutdown_timeout(shutdown_timeout.as_secs().max(1))
    .disable_signals()
    .run();
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
