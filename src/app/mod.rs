//! Start-up: builds every subsystem from the settings, one function each (the stores in
//! `stores`, the services in `services`, the listeners in `http`), and runs the servers until a
//! stop signal.

mod http;
mod mail_dns;
mod services;
mod stores;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Server;
use actix_web::web;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::outbox::WorkerHandle;
use crate::routes::AppState;
use crate::sms::build_sender;
use crate::store::DurabilityWatch;
use services::{Base, Shared};
use stores::Stores;

/// A built, listening server and its background workers.
pub struct Application {
    port: u16,
    server: Server,
    metrics_server: Option<(u16, Server)>,
    socket_file: Option<http::SocketFile>,
    outbox_worker: Option<WorkerHandle>,
    shutdown_timeout: Duration,
}

impl Application {
    /// Builds the service from settings with the system clock, and binds `BIND_ADDR`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the service with an injected clock (tests move time forward with it).
    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let Stores { store, queue, drain_on_stop, per_worker } = stores::open(&settings).await?;
        let durability = stores::check_durability(&settings, per_worker.as_ref()).await?;
        let mailer = services::mailer(&settings)?;
        let mail_sender = settings.mail_from.email.to_string();
        let base = Base::new(&settings, store, queue.clone(), clock);
        let mail_dns = mail_dns::mail_dns(&settings, base.metrics.clone()).await?;
        let Settings {
            jwt_keys,
            trusted_proxies,
            public_url,
            bind_addr,
            bind_socket,
            bind_socket_mode,
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
            bounces,
            ..
        } = settings;
        let (signer, sessions) = services::sessions(&base, jwt_keys, session_cache_ttl);
        let (policy, limiter) = services::policy_and_limits(&base, policy, ipv6_prefix).await;
        let site = public_url.host_str().unwrap_or("latchkey").to_owned();
        let sms_sender = build_sender(&sms.provider)?;
        let second_factors =
            services::second_factors(&base, &limiter, &site, &sms, sms_sender.as_ref(), admin_webhook, &public_url);
        let (suppressions, bounces) = services::deliverability(&base, bounces)?;
        let couriers = services::couriers(
            &base,
            mailer,
            brand.clone(),
            site,
            sms_sender,
            webhook_proxy,
            &signer,
            suppressions,
            policy.clone(),
        )?;
        let outbox_worker = services::outbox_worker(&base, queue.clone(), couriers, outbox_settings, drain_on_stop)?;
        let oidc = services::oidc(&base, clients.clone(), &signer, &sessions);
        services::backchannel_logout(&base, &sessions, services::oidc_core(&base, clients, &signer));
        let shared = Shared { sessions: sessions.clone(), policy, second_factors: second_factors.clone() };
        let admin = services::admin(&base, &shared, queue, admin_emails.clone(), admin_token_sha256);
        let signin = services::signin(&base, shared, limiter, admin_emails, brand, public_url, mail_sender)
            .with_mail_domains(mail_dns.domains);
        let state = web::Data::new(AppState {
            signin,
            sessions,
            second_factors,
            store: base.store,
            keyring: base.keyring,
            signer,
            oidc,
            admin,
            audit: base.audit,
            public_origin: base.public_origin,
            trusted_proxies,
            clock: base.clock,
            production: base.production,
            guard: base.guard,
            durability: durability.map(DurabilityWatch::new),
            bounces,
            mail_dns: mail_dns.report,
        });
        let addresses = http::Addresses { bind_addr, bind_socket, bind_socket_mode, metrics_addr };
        let http = http::listen(state, per_worker, &addresses, shutdown_timeout)?;
        let http::Listening { port, server, metrics_server, socket_file } = http;
        Ok(Self { port, server, metrics_server, socket_file, outbox_worker, shutdown_timeout })
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
        let margin = (self.shutdown_timeout / 4).min(Duration::from_secs(2));
        let deadline = Instant::now() + self.shutdown_timeout - margin;
        handle.stop(true).await;
        if let Some(file) = &self.socket_file {
            file.remove();
        }
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
