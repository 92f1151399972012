//! The services, one function each, from the settings and what is already built.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::admin::{AdminDeps, AdminService};
use crate::audit::{Audit, Metrics};
use crate::clock::Clock;
use crate::config::{AdminWebhook, BounceSettings, Brand, OutboxSettings, Settings, SmsSettings};
use crate::crypto::Keyring;
use crate::deliverability::Suppressions;
use crate::deliverability::hooks::BounceHooks;
use crate::domain::ClientRegistry;
use crate::domain::{Email, SignInPolicy};
use crate::mail::Mailer;
use crate::oidc::OidcService;
use crate::oidc::{BackchannelListener, LogoutTokens};
use crate::outbox::BackchannelLogouts;
use crate::outbox::{AdminAlerts, Webhooks};
use crate::outbox::{Couriers, Outbox, OutboxWorker, WorkerHandle};
use crate::policy::PolicySource;
use crate::ratelimit::RateLimiter;
use crate::second_factor::service::SecondFactorService;
use crate::second_factor::texts::SmsGateway;
use crate::session::{KeySet, SessionService, TokenSigner};
use crate::signin::{Recipients, SignIn, SignInDeps};
use crate::sms::SmsSender;
use crate::store::{OutboxStore, Store};
use crate::store_guard::StoreGuard;
use crate::webhooks::WebhookSender;

/// What every service is built on: the store, time, the keys, the audit log and the outbox.
pub(super) struct Base {
    /// The store.
    pub(super) store: Arc<dyn Store>,
    /// Time.
    pub(super) clock: Arc<dyn Clock>,
    /// Counters for `/metrics`.
    pub(super) metrics: Arc<Metrics>,
    /// The audit log.
    pub(super) audit: Arc<Audit>,
    /// Keys derived from `SECRET_KEY`.
    pub(super) keyring: Arc<Keyring>,
    /// Where mail, texts and webhooks are queued.
    pub(super) outbox: Arc<Outbox>,
    /// Webhooks to the apps.
    pub(super) webhooks: Arc<Webhooks>,
    /// Whether the store carries this deployment's identity (`STORE_ID`).
    pub(super) guard: Arc<StoreGuard>,
    /// `APP_ENV=production`.
    pub(super) production: bool,
    /// `PUBLIC_URL`'s origin, as browsers send it in `Origin`.
    pub(super) public_origin: String,
    /// The issuer named in tokens.
    pub(super) issuer: String,
}

impl Base {
    /// The base over `store` and `queue`.
    pub(super) fn new(
        settings: &Settings,
        store: Arc<dyn Store>,
        queue: Arc<dyn OutboxStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let audit = Arc::new(Audit::new(store.clone(), clock.clone(), metrics.clone()));
        let keyring = Arc::new(settings.secret_key.derive());
        let outbox = Arc::new(Outbox::new(queue, keyring.clone(), clock.clone()));
        let webhooks = Arc::new(Webhooks::new(outbox.clone(), clock.clone(), metrics.clone()));
        let guard = Arc::new(StoreGuard::new(store.clone(), clock.clone(), metrics.clone(), settings.store_id.clone()));
        Self {
            store,
            clock,
            metrics,
            audit,
            keyring,
            outbox,
            webhooks,
            guard,
            production: settings.is_production(),
            public_origin: settings.public_url.origin().ascii_serialization(),
            issuer: settings.issuer(),
        }
    }
}

/// The mailer (`MAIL_TRANSPORT`), one connection per concurrent delivery.
pub(super) fn mailer(settings: &Settings) -> anyhow::Result<Mailer> {
    let dkim = settings.mail_dns.dkim.as_ref().map(crate::mail::DkimSigner::new).transpose()?;
    Ok(Mailer::new(&settings.mail_transport, settings.mail_from.clone(), settings.outbox.concurrency as u32)?
        .with_dkim(dkim))
}

/// The JWT signer and the sessions.
pub(super) fn sessions(base: &Base, jwt_keys: KeySet, cache_ttl: Duration) -> (Arc<TokenSigner>, Arc<SessionService>) {
    let signer = Arc::new(TokenSigner::new(jwt_keys, base.issuer.clone()));
    let sessions = SessionService::new(base.store.clone(), signer.clone(), base.clock.clone(), cache_ttl)
        .with_guard(base.guard.clone());
    (signer, Arc::new(sessions))
}

/// The policy in force (seeded with `starting` when the store has none) and the rate limits it sets.
pub(super) async fn policy_and_limits(
    base: &Base,
    starting: SignInPolicy,
    ipv6_prefix: u8,
) -> (Arc<PolicySource>, Arc<RateLimiter>) {
    let policy =
        Arc::new(PolicySource::new(base.store.clone(), starting, base.metrics.clone(), base.guard.clone()).await);
    let limiter = RateLimiter::new(base.store.clone(), base.keyring.clone(), policy.clone(), base.metrics.clone())
        .counting_ipv6_by(ipv6_prefix);
    (policy, Arc::new(limiter))
}

/// The second factors; texts (when `sender` is configured) go out through the outbox, and the
/// worker hands them to the provider.
pub(super) fn second_factors(
    base: &Base,
    limiter: &Arc<RateLimiter>,
    site: &str,
    sms: &SmsSettings,
    sender: Option<&Arc<dyn SmsSender>>,
    admin_webhook: Option<AdminWebhook>,
    public_url: &Url,
) -> Arc<SecondFactorService> {
    let alerts = Arc::new(AdminAlerts::new(base.webhooks.clone(), admin_webhook));
    let gateway = sender.map(|_| SmsGateway {
        outbox: base.outbox.clone(),
        allowed: sms.allowed_countries.clone(),
        limiter: limiter.clone(),
        metrics: base.metrics.clone(),
        alerts,
    });
    let service = SecondFactorService::new(
        base.store.clone(),
        base.keyring.clone(),
        base.clock.clone(),
        limiter.clone(),
        site.to_owned(),
        gateway,
    )
    .with_passkeys(crate::second_factor::passkeys::relying_party(public_url, site));
    Arc::new(service)
}

/// The suppression list (the outbox asks it before each mail) and the bounce webhooks.
pub(super) fn deliverability(
    base: &Base,
    settings: BounceSettings,
) -> anyhow::Result<(Arc<Suppressions>, Arc<BounceHooks>)> {
    let suppressions = Arc::new(Suppressions::new(
        base.store.clone(),
        base.keyring.clone(),
        base.clock.clone(),
        base.audit.clone(),
        settings,
    ));
    let hooks = BounceHooks::new(suppressions.clone(), base.store.clone(), base.keyring.clone())?;
    Ok((suppressions, Arc::new(hooks)))
}

/// Everything the outbox worker delivers through.
#[allow(clippy::too_many_arguments)] // each is one subsystem the couriers hand mail, texts or calls to
pub(super) fn couriers(
    base: &Base,
    mailer: Mailer,
    brand: Brand,
    site: String,
    sms: Option<Arc<dyn SmsSender>>,
    webhook_proxy: Option<SecretString>,
    signer: &Arc<TokenSigner>,
    suppressions: Arc<Suppressions>,
    policy: Arc<PolicySource>,
) -> anyhow::Result<Couriers> {
    let proxy = webhook_proxy.as_ref().map(|p| p.expose_secret());
    let webhooks = WebhookSender::new(base.clock.clone(), base.production, proxy)?;
    let logout_tokens = Arc::new(LogoutTokens::new(signer.clone(), base.clock.clone()));
    let recipients = Arc::new(Recipients { store: base.store.clone(), keyring: base.keyring.clone(), policy });
    Ok(Couriers { mailer, brand, site, sms, webhooks, logout_tokens, suppressions, recipients })
}

/// The outbox worker, started; none with `OUTBOX_WORKER=false` (the instances that deliver take
/// what this one queues).
pub(super) fn outbox_worker(
    base: &Base,
    queue: Arc<dyn OutboxStore>,
    couriers: Couriers,
    settings: OutboxSettings,
    drain_on_stop: bool,
) -> anyhow::Result<Option<WorkerHandle>> {
    if !settings.deliver {
        tracing::info!("OUTBOX_WORKER=false: this instance queues mail, SMS and webhooks but delivers none");
        return Ok(None);
    }
    let worker = OutboxWorker::new(queue, couriers, base.keyring.clone(), base.audit.clone(), settings, drain_on_stop)?;
    Ok(Some(worker.spawn()))
}

/// The OpenID Connect provider for `clients`; a reused refresh token ends its session through
/// `sessions`, and every refresh token of a user ends when all of their sessions do.
pub(super) fn oidc(
    base: &Base,
    clients: ClientRegistry,
    signer: &Arc<TokenSigner>,
    sessions: &Arc<SessionService>,
) -> OidcService {
    sessions.listen(Arc::new(crate::oidc::RefreshRevoker::new(base.store.clone())));
    oidc_core(base, clients, signer).with_refresh(sessions.clone(), base.audit.clone())
}

/// The OIDC provider without the refresh grant's hold on the sessions: what a session-end
/// listener may keep (holding the sessions from a listener would be a reference cycle).
pub(super) fn oidc_core(base: &Base, clients: ClientRegistry, signer: &Arc<TokenSigner>) -> OidcService {
    OidcService::new(
        clients,
        base.store.clone(),
        signer.clone(),
        base.keyring.clone(),
        base.clock.clone(),
        base.production,
        base.webhooks.clone(),
    )
    .with_guard(base.guard.clone())
}

/// Back-channel logout: told whenever sessions end, it queues a logout token for each app that
/// got tokens in them (`oidc` finds the apps).
pub(super) fn backchannel_logout(base: &Base, sessions: &SessionService, oidc: OidcService) {
    let logouts = Arc::new(BackchannelLogouts::new(base.outbox.clone(), base.metrics.clone()));
    sessions.listen(Arc::new(BackchannelListener::new(oidc, logouts)));
}

/// The services the sign-in flow and administration share.
pub(super) struct Shared {
    /// Sessions.
    pub(super) sessions: Arc<SessionService>,
    /// The policy in force.
    pub(super) policy: Arc<PolicySource>,
    /// The second factors.
    pub(super) second_factors: Arc<SecondFactorService>,
}

/// Administration: `ADMIN_EMAILS` and the API token's hash.
pub(super) fn admin(
    base: &Base,
    shared: &Shared,
    queue: Arc<dyn OutboxStore>,
    admins: Vec<Email>,
    token_sha256: Option<String>,
) -> AdminService {
    AdminService::new(AdminDeps {
        store: base.store.clone(),
        policy: shared.policy.clone(),
        second_factors: shared.second_factors.clone(),
        sessions: shared.sessions.clone(),
        outbox: queue,
        keyring: base.keyring.clone(),
        admins,
        token_sha256,
    })
}

/// The sign-in flow, its links pointing at `public_url`.
pub(super) fn signin(
    base: &Base,
    shared: Shared,
    limiter: Arc<RateLimiter>,
    admins: Vec<Email>,
    brand: Brand,
    public_url: Url,
    mail_sender: String,
) -> SignIn {
    let deps = SignInDeps {
        store: base.store.clone(),
        outbox: base.outbox.clone(),
        sessions: shared.sessions,
        limiter,
        keyring: base.keyring.clone(),
        clock: base.clock.clone(),
        second_factors: shared.second_factors,
        policy: shared.policy,
        admins,
        audit: base.audit.clone(),
        brand,
        mail_sender,
    };
    SignIn::new(deps, public_url)
}
