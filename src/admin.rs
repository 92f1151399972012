//! Administration: the run-time policy and acting on users. Callers have been checked as
//! admins (an `ADMIN_EMAILS` session with a second factor, or `ADMIN_API_TOKEN`).

use std::sync::Arc;

use serde::Serialize;

use crate::crypto::{self, Keyring};
use crate::domain::{AuditEvent, Email, SignInPolicy, UserId};
use crate::policy::PolicySource;
use crate::second_factor::service::{SecondFactorError, SecondFactorService};
use crate::session::{SessionError, SessionService};
use crate::store::{DeadLetter, OutboxStats, OutboxStore, Store, StoreError, User};

/// What administration works with.
pub struct AdminDeps {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The shared policy.
    pub policy: Arc<PolicySource>,
    /// Second factors (reset).
    pub second_factors: Arc<SecondFactorService>,
    /// Sessions (revocation).
    pub sessions: Arc<SessionService>,
    /// The outbox queue (counts, dead letters).
    pub outbox: Arc<dyn OutboxStore>,
    /// Keys derived from `SECRET_KEY`.
    pub keyring: Arc<Keyring>,
    /// `ADMIN_EMAILS`.
    pub admins: Vec<Email>,
    /// `ADMIN_API_TOKEN`'s SHA-256.
    pub token_sha256: Option<String>,
}

/// Why a policy change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// These fields are out of bounds.
    #[error("invalid policy")]
    Invalid(Vec<(&'static str, crate::domain::PolicyProblem)>),
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a second factor was not reset.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// An administrator's factor needs the API token.
    #[error("An administrator's second factor can be removed only with the admin API token.")]
    AdminNeedsToken,
    /// The user has no passkey with this id.
    #[error("no such passkey")]
    NoSuchPasskey,
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an admin sees of a user: no secrets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserReport {
    /// Stable id.
    pub id: String,
    /// Address.
    pub email: String,
    /// First sign-in (RFC 3339).
    pub created_at: String,
    /// Blocked from signing in.
    pub blocked: bool,
    /// Second factors, described.
    pub second_factor: FactorsReport,
    /// Live sessions.
    pub sessions: Vec<SessionReport>,
    /// Newest events first.
    pub recent_events: Vec<AuditEvent>,
}

/// A user's second factors, without secrets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FactorsReport {
    /// An authenticator app is set up.
    pub totp: bool,
    /// The verified phone, masked.
    #[schema(required = true)]
    pub phone: Option<String>,
    /// Unused recovery codes.
    pub recovery_codes_left: usize,
    /// Passkeys, without their credentials.
    pub passkeys: Vec<PasskeyReport>,
}

/// One passkey of a user, without its credential.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyReport {
    /// The credential id (base64url): what `DELETE …/passkeys/{id}` takes.
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// Added (RFC 3339).
    pub added_at: String,
    /// Last used at a second step (RFC 3339), if ever.
    #[schema(required = true)]
    pub last_used_at: Option<String>,
    /// The authenticator may sync it to other devices (backup eligible; `amr` `swk`).
    pub backup_eligible: bool,
    /// Backed up, as the authenticator last said.
    pub backed_up: bool,
}

/// One live session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionReport {
    /// Session id.
    pub sid: String,
    /// Started (RFC 3339).
    pub created_at: String,
    /// Last seen (RFC 3339).
    pub last_seen_at: String,
    /// Browser, as described to people.
    pub device: String,
    /// IP address.
    pub ip: String,
    /// Methods used (RFC 8176).
    pub amr: Vec<String>,
}

/// The admin service.
pub struct AdminService {
    store: Arc<dyn Store>,
    policy: Arc<PolicySource>,
    second_factors: Arc<SecondFactorService>,
    keyring: Arc<Keyring>,
    admins: Vec<Email>,
    token_sha256: Option<String>,
    outbox: Arc<dyn OutboxStore>,
    sessions: Arc<SessionService>,
}

impl AdminService {
    /// An admin service; `token_sha256` is the hex SHA-256 of `ADMIN_API_TOKEN`, if set.
    pub fn new(deps: AdminDeps) -> Self {
        let AdminDeps { store, policy, second_factors, sessions, outbox, keyring, admins, token_sha256 } = deps;
        Self { store, policy, second_factors, keyring, admins, token_sha256, outbox, sessions }
    }

    /// The outbox's counts and its newest `count` dead letters.
    pub async fn outbox(&self, count: usize) -> Result<(OutboxStats, Vec<DeadLetter>), StoreError> {
        Ok((self.outbox.outbox_stats().await?, self.outbox.dead_letters(count).await?))
    }

    /// The outbox's counts.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.outbox.outbox_stats().await
    }

    /// Sends a dead letter again (tries reset); false when there is none by that id.
    pub async fn retry_dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        self.outbox.requeue_dead(id).await
    }

    /// True when `presented` is the admin API token (compared in constant time, as hashes).
    pub fn token_matches(&self, presented: &str) -> bool {
        self.token_sha256.as_ref().is_some_and(|expected| {
            crypto::constant_time_eq(crypto::sha256_hex(presented).as_bytes(), expected.as_bytes())
        })
    }

    /// True for an address in `ADMIN_EMAILS`.
    pub fn is_admin(&self, email: &Email) -> bool {
        self.admins.contains(email)
    }

    /// True when a session that signed in with `amr` may act as an administrator: it used a
    /// second factor, and a passkey (`hwk`, `swk`) while the policy holds administrators to
    /// one (`admin_phishing_resistant`), whenever the session began.
    pub async fn admin_session_suffices(&self, amr: &[String]) -> Result<bool, StoreError> {
        if !amr.iter().any(|m| m == "mfa") {
            return Ok(false);
        }
        let by_passkey = amr.iter().any(|m| m == "hwk" || m == "swk");
        Ok(by_passkey || !self.policy.current().await?.admin_phishing_resistant)
    }

    /// The policy in force.
    pub async fn policy(&self) -> Result<SignInPolicy, StoreError> {
        self.policy.current().await
    }

    /// Replaces the policy after checking every field; returns it with its new version, and
    /// what changed (`field: old -> new`, for the audit log).
    pub async fn update_policy(&self, mut new: SignInPolicy) -> Result<(SignInPolicy, String), PolicyError> {
        new.validate().map_err(PolicyError::Invalid)?;
        let old = self.policy.current().await?;
        new.version = old.version + 1;
        self.policy.replace(&new).await?;
        tracing::info!(version = new.version, "policy changed");
        let diff = policy_diff(&old, &new);
        Ok((new, diff))
    }

    fn lookup(&self, email: &Email) -> String {
        email.lookup_key(&self.keyring)
    }

    async fn find(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.store.find_user(&self.lookup(email)).await
    }

    /// Everything an admin may see of a user.
    pub async fn user(&self, email: &Email) -> Result<Option<UserReport>, StoreError> {
        let Some(user) = self.find(email).await? else { return Ok(None) };
        let factors = self.store.get_factors(&user.id).await?;
        let recovery_codes_left = self.store.recovery_codes_left(&user.id).await?;
        let sessions = self
            .store
            .list_sessions(&user.id)
            .await?
            .into_iter()
            .map(|s| SessionReport {
                sid: s.sid.to_string(),
                created_at: s.created_at.to_rfc3339(),
                last_seen_at: s.last_seen_at.to_rfc3339(),
                device: s.origin.browser(),
                ip: s.origin.ip_text(),
                amr: s.amr,
            })
            .collect();
        Ok(Some(UserReport {
            id: user.id.to_string(),
            email: user.email.to_string(),
            created_at: user.created_at.to_rfc3339(),
            blocked: user.blocked,
            second_factor: FactorsReport {
                totp: factors.totp.is_some(),
                phone: factors.phone_masked,
                recovery_codes_left,
                passkeys: factors
                    .passkeys
                    .iter()
                    .map(|p| PasskeyReport {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        added_at: p.added_at.to_rfc3339(),
                        last_used_at: p.last_used_at.map(|at| at.to_rfc3339()),
                        backup_eligible: p.synced,
                        backed_up: p.backed_up,
                    })
                    .collect(),
            },
            sessions,
            recent_events: self.store.user_events(&user.id, 20).await?,
        }))
    }

    /// Ends every session of the user; `None` when there is no such user.
    pub async fn revoke_sessions(&self, email: &Email) -> Result<Option<(UserId, usize)>, StoreError> {
        let Some(user) = self.find(email).await? else { return Ok(None) };
        let n = self.sessions.end_user(&user.id).await.map_err(SessionError::into_store_error)?;
        tracing::info!(user = %user.id, sessions = n, "admin revoked sessions");
        Ok(Some((user.id, n)))
    }

    /// Removes every second factor and recovery code (the user sets one up again). An
    /// administrator's goes only with the API token (`by_token`): a stolen admin session must
    /// not strip another admin's factor, whose mailbox could then enroll a new one.
    pub async fn reset_second_factor(&self, email: &Email, by_token: bool) -> Result<Option<UserId>, ResetError> {
        if self.is_admin(email) && !by_token {
            return Err(ResetError::AdminNeedsToken);
        }
        let Some(user) = self.find(email).await? else { return Ok(None) };
        self.second_factors.reset(&user.id).await?;
        tracing::info!(user = %user.id, "admin reset second factor");
        Ok(Some(user.id))
    }

    /// Removes one passkey of the user (`id`), or every one (`None`); the recovery codes go
    /// too when no factor is left. An administrator's go only with the API token (`by_token`),
    /// as with [`Self::reset_second_factor`]. `None` when there is no such user; otherwise the
    /// user and how many passkeys went (0 when `id` is `None` and there were none).
    pub async fn remove_passkeys(
        &self,
        email: &Email,
        id: Option<&str>,
        by_token: bool,
    ) -> Result<Option<(UserId, usize)>, ResetError> {
        if self.is_admin(email) && !by_token {
            return Err(ResetError::AdminNeedsToken);
        }
        let Some(user) = self.find(email).await? else { return Ok(None) };
        let removed = match id {
            Some(id) => match self.second_factors.remove_passkey(&user.id, id).await {
                Ok(_) => 1,
                Err(SecondFactorError::NoSuchPasskey) => return Err(ResetError::NoSuchPasskey),
                Err(SecondFactorError::Store(e)) => return Err(e.into()),
                // Removing touches nothing sealed: only the store can fail it.
                Err(e) => return Err(StoreError::Corrupt(anyhow::anyhow!("{e}")).into()),
            },
            None => self.second_factors.remove_all_passkeys(&user.id).await?,
        };
        tracing::info!(user = %user.id, removed, "admin removed passkeys");
        Ok(Some((user.id, removed)))
    }

    /// A user's recent events.
    pub async fn user_events(&self, email: &Email, count: usize) -> Result<Vec<AuditEvent>, StoreError> {
        match self.find(email).await? {
            Some(user) => self.store.user_events(&user.id, count).await,
            None => Ok(Vec::new()),
        }
    }

    /// The global log, older than `before`.
    pub async fn global_events(&self, before: Option<&str>, count: usize) -> Result<Vec<AuditEvent>, StoreError> {
        self.store.global_events(before, count).await
    }

    /// Blocks or unblocks the user; a block also ends their sessions. `None` when there is no
    /// such user; otherwise the user and whether the block changed (a second block is written
    /// and ends sessions again, but is no news to tell).
    pub async fn set_blocked(&self, email: &Email, blocked: bool) -> Result<Option<(UserId, bool)>, StoreError> {
        let lookup = self.lookup(email);
        let Some((user, changed)) = self.store.set_blocked(&lookup, blocked).await? else { return Ok(None) };
        if blocked {
            self.sessions.end_user(&user).await.map_err(SessionError::into_store_error)?;
        }
        tracing::info!(%user, blocked, "admin changed block");
        Ok(Some((user, changed)))
    }
}

/// The fields that differ between two policies, as `field: old -> new; …`.
fn policy_diff(old: &SignInPolicy, new: &SignInPolicy) -> String {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return String::new();
    };
    new.iter()
        .filter(|(field, value)| *field != "version" && old.get(*field) != Some(*value))
        .map(|(field, value)| format!("{field}: {} -> {value}", old.get(field).cloned().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("; ")
}
