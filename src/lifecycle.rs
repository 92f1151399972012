//! An account's life after sign-up: what latchkey holds about a person, as one document
//! (export, GDPR Art. 15/20), and deleting the account with everything of it.

use serde::Serialize;

use crate::domain::{AuditEvent, UserId};
use crate::session::{SessionError, SessionService};
use crate::store::{Store, StoreError, USER_AUDIT_CAP, User};

/// What latchkey holds about one person. No secret: no TOTP seed, phone number in clear,
/// recovery code hash, token or session id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountExport {
    /// When this document was made (RFC 3339).
    pub exported_at: String,
    /// The account.
    pub profile: ProfileExport,
    /// Second factors, described.
    pub second_factors: FactorsExport,
    /// Live sessions, newest first.
    pub sessions: Vec<SessionExport>,
    /// How many browsers the account has signed in from (only keyed hashes of their cookies
    /// are kept, which say nothing more).
    pub known_devices: usize,
    /// The apps (client ids) the account signed in to.
    pub apps: Vec<String>,
    /// The account's recent activity (its own audit log, the last 100 events), newest first.
    pub activity: Vec<AuditEvent>,
}

/// The account record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileExport {
    /// The stable id apps know the account by (`sub`).
    pub id: String,
    /// The address.
    pub email: String,
    /// First sign-in (RFC 3339).
    pub created_at: String,
    /// Blocked from signing in by an administrator.
    pub blocked: bool,
}

/// Second factors, without their secrets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FactorsExport {
    /// An authenticator app is set up.
    pub totp: bool,
    /// The verified phone, masked.
    #[schema(required = true)]
    pub phone: Option<String>,
    /// Unused recovery codes (how many; the codes are kept only as hashes).
    pub recovery_codes_left: usize,
    /// Passkeys (their public keys stay out).
    pub passkeys: Vec<PasskeyExport>,
}

/// One passkey, without its credential.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyExport {
    /// The name its owner gave it.
    pub name: String,
    /// Added (RFC 3339).
    pub added_at: String,
    /// Last used to sign in (RFC 3339).
    #[schema(required = true)]
    pub last_used_at: Option<String>,
    /// The authenticator may sync it to other devices.
    pub synced: bool,
}

/// One live session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionExport {
    /// Started (RFC 3339).
    pub created_at: String,
    /// Last seen (RFC 3339).
    pub last_seen_at: String,
    /// Ends (RFC 3339).
    pub expires_at: String,
    /// Browser and system.
    pub device: String,
    /// IP address.
    pub ip: String,
    /// How the person signed in (RFC 8176 methods).
    pub amr: Vec<String>,
    /// When a second factor was last used in it (RFC 3339).
    #[schema(required = true)]
    pub second_factor_at: Option<String>,
}

/// Everything latchkey holds about `user`, read now.
pub async fn export(
    store: &dyn Store,
    user: &User,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AccountExport, StoreError> {
    let id = &user.id;
    let factors = store.get_factors(id).await?;
    let sessions = store
        .list_sessions(id)
        .await?
        .into_iter()
        .map(|s| SessionExport {
            created_at: s.created_at.to_rfc3339(),
            last_seen_at: s.last_seen_at.to_rfc3339(),
            expires_at: s.expires_at.to_rfc3339(),
            device: s.origin.browser(),
            ip: s.origin.ip_text(),
            amr: s.amr,
            second_factor_at: s.factor_at.map(|at| at.to_rfc3339()),
        })
        .collect();
    Ok(AccountExport {
        exported_at: now.to_rfc3339(),
        profile: ProfileExport {
            id: id.to_string(),
            email: user.email.to_string(),
            created_at: user.created_at.to_rfc3339(),
            blocked: user.blocked,
        },
        second_factors: FactorsExport {
            totp: factors.totp.is_some(),
            passkeys: factors
                .passkeys
                .iter()
                .map(|p| PasskeyExport {
                    name: p.name.clone(),
                    added_at: p.added_at.to_rfc3339(),
                    last_used_at: p.last_used_at.map(|at| at.to_rfc3339()),
                    synced: p.synced,
                })
                .collect(),
            phone: factors.phone_masked,
            recovery_codes_left: store.recovery_codes_left(id).await?,
        },
        sessions,
        known_devices: store.count_devices(id).await?,
        apps: store.user_apps(id).await?,
        activity: store.user_events(id, USER_AUDIT_CAP).await?,
    })
}

/// Deletes the account `user` (found by `lookup`, its address's keyed hash): ends every session
/// first (the apps that got tokens in them are told by back-channel logout, refresh tokens end),
/// then removes every key of the user and the address index ([`Store::delete_user`]). Returns
/// the apps the account had signed in to, read before, to tell them it is gone.
pub async fn delete(
    store: &dyn Store,
    sessions: &SessionService,
    lookup: &str,
    user: &UserId,
) -> Result<Vec<String>, StoreError> {
    let apps = store.user_apps(user).await?;
    sessions.end_user(user).await.map_err(SessionError::into_store_error)?;
    store.delete_user(lookup, user).await?;
    tracing::info!(user = %user, "account deleted");
    Ok(apps)
}
