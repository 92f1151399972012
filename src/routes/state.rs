//! What every handler shares.

use std::sync::Arc;

use ipnet::IpNet;

use crate::admin::AdminService;
use crate::audit::{Audit, AuditEvent};
use crate::clock::Clock;
use crate::crypto::Keyring;
use crate::domain::UserId;
use crate::error::AppError;
use crate::oidc::OidcService;
use crate::second_factor::service::SecondFactorService;
use crate::session::{SessionService, TokenSigner};
use crate::signin::SignIn;
use crate::store::{DurabilityWatch, Store};
use crate::store_guard::StoreGuard;

/// What every handler shares.
pub struct AppState {
    /// The sign-in flow.
    pub signin: SignIn,
    /// Sessions.
    pub sessions: Arc<SessionService>,
    /// Second factors (account settings).
    pub second_factors: Arc<SecondFactorService>,
    /// The store (for readiness).
    pub store: Arc<dyn Store>,
    /// Keys derived from SECRET_KEY (`store::Keys` is something else: the store's key names).
    pub keyring: Arc<Keyring>,
    /// The JWT signer (for the JWKS).
    pub signer: Arc<TokenSigner>,
    /// The OpenID Connect provider.
    pub oidc: OidcService,
    /// Administration.
    pub admin: AdminService,
    /// The audit log and metrics.
    pub audit: Arc<Audit>,
    /// `PUBLIC_URL`'s origin, as browsers send it in `Origin`.
    pub public_origin: String,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<IpNet>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// `APP_ENV=production`.
    pub production: bool,
    /// Whether the store carries this deployment's identity.
    pub guard: Arc<StoreGuard>,
    /// Production with `REDIS_DURABILITY=check`: Redis, asked in `/readyz` whether it persists
    /// and never evicts (at most once per `DURABILITY_RECHECK`).
    pub durability: Option<DurabilityWatch>,
    /// The suppression list and the mail providers' bounce webhooks.
    pub bounces: Arc<crate::deliverability::hooks::BounceHooks>,
    /// What the start-up check of the sender domain's SPF, DKIM and DMARC records found
    /// (`MAIL_DNS_CHECK`), shown in `/readyz`.
    pub mail_dns: Option<crate::dns::MailDnsReport>,
}

impl AppState {
    /// A user's ten newest audit events.
    pub async fn audit_events(&self, user: &UserId) -> Result<Vec<AuditEvent>, AppError> {
        Ok(self.store.user_events(user, 10).await?)
    }
}
