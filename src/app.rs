//! Builds the shared state and the HTTP server (the route table is `routes::configure`).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, ErrorHandlers};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;

use crate::admin::{AdminDeps, AdminService};
use crate::audit::{Audit, Metrics};
use crate::clock::{Clock, SystemClock};
use crate::config::{Durability, Settings};
use crate::mail::Mailer;
use crate::mfa::service::{SecondFactorService, SmsGateway};
use crate::mfa::sms::build_sender;
use crate::oidc::OidcService;
use crate::outbox::{Couriers, Outbox, OutboxWorker, WorkerHandle};
use crate::policy::PolicySource;
use crate::ratelimit::RateLimiter;
use crate::routes::{self, AppState};
use crate::session::{SessionService, TokenSigner};
use crate::signin::{SignIn, SignInDeps};
use crate::store::{
    DurabilityWatch, Keys, MemoryQueue, MemoryStore, OutboxStore, RedisConnection, RedisQueue, RedisStore, Store,
    check_durability as check_redis_durability,
};
use crate::store_guard::StoreGuard;
use crate::telemetry::RequestSpan;
use crate::webhooks::{AdminAlerts, WebhookSender, Webhooks};

/// What the configured store kind gives the service.
struct Stores {
    store: Arc<dyn Store>,
    /// The outbox's queue.
    queue: Arc<dyn OutboxStore>,
    /// Whether the queue drains at stop (the memory queue: nobody else can deliver it).
    drain_on_stop: bool,
    /// The Redis connection each HTTP worker takes its own of.
    per_worker: Option<RedisConnection>,
}

/// Production refuses a Redis that can lose data: with `REDIS_DURABILITY=check`, every node
/// must run the append-only file (fsync every second or always) and `noeviction`; one message
/// names each setting to fix. `managed` skips the check (`CONFIG GET` refused) with a warning.
/// Returns the connection `/readyz` asks again.
async fn check_durability(
    settings: &Settings,
    redis: Option<&RedisConnection>,
) -> anyhow::Result<Option<RedisConnection>> {
    let Some(conn) = redis.filter(|_| settings.is_production()) else { return Ok(None) };
    if settings.durability == Durability::Managed {
        tracing::warn!(
            "REDIS_DURABILITY=managed: Redis persistence and eviction are not checked; the operator declares AOF \
             (appendfsync everysec or always) and maxmemory-policy noeviction on every node"
        );
        return Ok(None);
    }
    match check_redis_durability(conn).await {
        Ok(problems) if problems.is_empty() => Ok(Some(conn.clone())),
        Ok(problems) => {
            let mut message =
                format!("latchkey cannot start: Redis can lose data ({} setting(s) need attention):\n", problems.len());
            for problem in &problems {
                message.push_str(&format!("  - {problem}\n"));
            }
            message.push_str(
                "  (deploy/redis.conf has these settings; a managed Redis that refuses CONFIG GET: REDIS_DURABILITY=managed)",
            );
            anyhow::bail!(message)
        }
        Err(e) => {
            tracing::warn!(error = %e, "Redis is not reachable yet, so its durability was not checked; /readyz checks it");
            Ok(Some(conn.clone()))
        }
    }
}

/// A built, listening server and its background workers.
pub struct Application {
    port: u16,
    server: Server,
    metrics_server: Option<(u16, Server)>,
    outbox_worker: Option<WorkerHandle>,
    shutdown_timeout: std::time::Duration,
}

impl Application {
    /// Builds the service from settings with the system clock, and binds `BIND_ADDR`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the service with an injected clock (tests move time forward with it).
    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let keys = Keys::new(settings.key_prefix.clone());
        // The worker's blocking reads get a connection of their own (its timeout outlasts BLOCK).
        let Stores { store, queue, drain_on_stop, per_worker } =
            match crate::store_tools::redis_connector(&settings.store, settings.redis_wait_timeout)? {
                None => Stores {
                    store: Arc::new(MemoryStore::new()),
                    queue: Arc::new(MemoryQueue::new()),
                    drain_on_stop: true,
                    per_worker: None,
                },
                Some(connector) => {
                    let store = RedisStore::new(connector, keys.clone())?;
                    let blocking = store.dedicated_connection(Some(std::time::Duration::from_secs(5)))?;
                    let queue = RedisQueue::new(store.connection(), blocking, keys.clone());
                    let per_worker = Some(store.connection());
                    Stores { store: Arc::new(store), queue: Arc::new(queue), drain_on_stop: false, per_worker }
                }
            };
        if let Err(e) = store.ping().await {
            tracing::warn!(error = %e, "the store is not reachable yet; requests will get 503 until it is");
        }
        let durability = check_durability(&settings, per_worker.as_ref()).await?;

        let metrics = Arc::new(Metrics::default());
        let audit = Arc::new(Audit::new(store.clone(), clock.clone(), metrics.clone()));
        let mailer =
            Mailer::new(&settings.mail_transport, settings.mail_from.clone(), settings.outbox.concurrency as u32)?;
        let keyring = Arc::new(settings.secret_key.derive());
        let outbox = Arc::new(Outbox::new(queue.clone(), keyring.clone(), clock.clone()));
        let issuer = settings.issuer();
        let public_origin = settings.public_url.origin().ascii_serialization();
        let Settings {
            jwt_keys,
            trusted_proxies,
            public_url,
            env,
            bind_addr,
            metrics_addr,
            policy,
            admin_emails,
            admin_token_sha256,
            admin_webhook,
            sms,
            clients,
            outbox: outbox_settings,
            shutdown_timeout,
            session_cache_ttl,
            brand,
            ipv6_prefix,
            webhook_proxy,
            store_id,
            ..
        } = settings;
        let production = env == crate::config::AppEnv::Production;
        let signer = Arc::new(TokenSigner::new(jwt_keys, issuer));
        let guard = Arc::new(StoreGuard::new(store.clone(), clock.clone(), metrics.clone(), store_id));
        let sessions = Arc::new(
            SessionService::new(store.clone(), signer.clone(), clock.clone(), session_cache_ttl)
                .with_guard(guard.clone()),
        );
        let policy = Arc::new(PolicySource::new(store.clone(), policy, metrics.clone(), guard.clone()).await);
        let limiter = Arc::new(
            RateLimiter::new(store.clone(), keyring.clone(), policy.clone(), metrics.clone())
                .counting_ipv6_by(ipv6_prefix),
        );
        let site = public_url.host_str().unwrap_or("latchkey").to_owned();
        let sms_sender = build_sender(&sms.provider)?;
        let webhooks = Arc::new(Webhooks::new(outbox.clone(), clock.clone(), metrics.clone()));
        let alerts = Arc::new(AdminAlerts::new(webhooks.clone(), admin_webhook));
        let sms = sms_sender.as_ref().map(|_| SmsGateway {
            outbox: outbox.clone(),
            allowed: sms.allowed_countries.clone(),
            limiter: limiter.clone(),
            metrics: metrics.clone(),
            alerts,
        });
        let second = Arc::new(SecondFactorService::new(
            store.clone(),
            keyring.clone(),
            clock.clone(),
            limiter.clone(),
            site.clone(),
            sms,
        ));
        let couriers = Couriers {
            mailer,
            brand: brand.clone(),
            site,
            sms: sms_sender,
            webhooks: WebhookSender::new(clock.clone(), production, webhook_proxy.as_ref().map(|p| p.expose_secret()))?,
        };
        // An instance with OUTBOX_WORKER=false only queues; the instances that deliver take it.
        let outbox_worker = if outbox_settings.deliver {
            let worker = OutboxWorker::new(
                queue.clone(),
                couriers,
                keyring.clone(),
                audit.clone(),
                outbox_settings,
                drain_on_stop,
            )?;
            Some(worker.spawn())
        } else {
            tracing::info!("OUTBOX_WORKER=false: this instance queues mail, SMS and webhooks but delivers none");
            None
        };
        let oidc = OidcService::new(
            clients,
            store.clone(),
            signer.clone(),
            keyring.clone(),
            clock.clone(),
            production,
            webhooks,
        )
        .with_guard(guard.clone());
        let admin = AdminService::new(AdminDeps {
            store: store.clone(),
            policy: policy.clone(),
            second: second.clone(),
            sessions: sessions.clone(),
            outbox: queue,
            keys: keyring.clone(),
            admins: admin_emails.clone(),
            token_sha256: admin_token_sha256,
        });
        let deps = SignInDeps {
            store: store.clone(),
            outbox,
            sessions: sessions.clone(),
            limiter,
            keys: keyring.clone(),
            clock: clock.clone(),
            second: second.clone(),
            policy,
            admins: admin_emails,
            audit: audit.clone(),
            brand,
        };
        let signin = SignIn::new(deps, public_url);
        let state = web::Data::new(AppState {
            signin,
            sessions,
            second,
            store,
            keys: keyring,
            signer,
            oidc,
            admin,
            audit,
            public_origin,
            trusted_proxies,
            clock,
            production,
            guard,
            durability: durability.map(DurabilityWatch::new),
        });

        let listener = TcpListener::bind(bind_addr).with_context(|| format!("cannot listen on {bind_addr}"))?;
        let metrics_server = match metrics_addr {
            Some(addr) => {
                let listener =
                    TcpListener::bind(addr).with_context(|| format!("cannot listen on METRICS_ADDR {addr}"))?;
                let port = listener.local_addr()?.port();
                let state = state.clone();
                let per_worker = per_worker.clone();
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
                Some((port, server))
            }
            None => None,
        };
        let public_metrics = metrics_server.is_none();
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            // Runs on each HTTP worker's thread as it starts: the worker's store commands
            // go through a Redis connection driven on its own thread.
            if let Some(conn) = &per_worker {
                conn.bind_this_thread();
            }
            App::new()
                .wrap(ErrorHandlers::new().default_handler(crate::error::localize_error_page))
                .wrap(security_headers(production))
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(state.clone())
                .configure(|cfg| routes::configure(cfg, public_metrics))
        })
        .listen(listener)?
        .shutdown_timeout(shutdown_timeout.as_secs().max(1))
        .disable_signals()
        .run();
        Ok(Self { port, server, metrics_server, outbox_worker, shutdown_timeout })
    }

    /// The port actually bound (useful with `BIND_ADDR=127.0.0.1:0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    /// Serves until SIGINT/SIGTERM. Then, within `SHUTDOWN_TIMEOUT`: stops accepting, lets
    /// in-flight requests finish, and lets the outbox worker finish its deliveries (releasing
    /// what it cannot finish, so another instance sends it at once).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let metrics = self.metrics_server.map(|(_, server)| (server.handle(), tokio::spawn(server)));
        let result = tokio::select! {
            () = shutdown_signal() => {
                tracing::info!(timeout = ?self.shutdown_timeout, "stopping");
                None
            }
            ended = &mut server => Some(ended),
        };
        // The worker stops last, so mail queued by a request still in flight is delivered (the
        // memory queue has nobody else to deliver it); it keeps a moment to release what it
        // holds before the deadline.
        let margin = (self.shutdown_timeout / 4).min(std::time::Duration::from_secs(2));
        let deadline = std::time::Instant::now() + self.shutdown_timeout - margin;
        handle.stop(true).await;
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        if let Some(worker) = self.outbox_worker {
            worker.stop(deadline).await;
        }
        let ended = match result {
            Some(ended) => ended,
            None => server.await,
        };
        tracing::info!("stopped");
        ended.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Resolves at SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Headers on every response. `DefaultHeaders` only adds what a handler did not set.
fn security_headers(production: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            // No form-action: the sign-in form's redirect chain ends at a client's redirect_uri.
            "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cache-Control", "no-store"));
    if production { headers.add(("Strict-Transport-Security", "max-age=63072000; includeSubDomains")) } else { headers }
}
