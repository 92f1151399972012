//! The `/admin` pages: the policy, a user, recent events. For admins who signed in with a
//! second factor; every change is a POST with CSRF.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::AppState;
use super::signed_in::current_session;
use super::{client, csrf, page};
use crate::admin::PolicyError;
use crate::domain::{AuditEvent, Email, EventKind, Methods, SecondFactorPolicy, SignInPolicy};
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::session::SessionClaims;
use crate::signin::AccountChange;

/// `GET /admin`.
#[derive(Template, WebTemplate)]
#[template(path = "admin.html")]
pub struct AdminPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    outbox: crate::store::OutboxStats,
    dead_letters: Vec<crate::store::DeadLetter>,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
    version: u64,
    link_ttl_minutes: u64,
    session_ttl_hours: u64,
    second_factor: &'static str,
    totp: bool,
    sms: bool,
    cross_device: String,
    passkey: bool,
    admin_phishing_resistant: bool,
    supersede: bool,
    new_device_notice: bool,
    signup_allow: String,
    events: Vec<AuditEvent>,
}

/// `GET /admin/users?email=…`.
#[derive(Template, WebTemplate)]
#[template(path = "admin_user.html")]
pub struct AdminUserPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    notice: Option<String>,
    email: String,
    id: String,
    created_at: String,
    factors: String,
    blocked: bool,
    sessions: usize,
    actions: Vec<(&'static str, &'static str)>,
    passkeys: Vec<crate::admin::PasskeyReport>,
}

/// The admin behind this browser, or the response that sends anyone else away.
pub(super) async fn admin_session(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Result<SessionClaims, HttpResponse>, AppError> {
    match current_session(req, state).await? {
        Some(s) if state.admin.is_admin(&s.email) && state.admin.admin_session_suffices(&s.amr).await? => Ok(Ok(s)),
        Some(_) => Err(AppError::Forbidden(|t| t.error_admin_page_needs_factor)),
        None => Ok(Err(HttpResponse::SeeOther().insert_header((LOCATION, "/login?return_to=/admin")).finish())),
    }
}

fn second_factor_name(p: SecondFactorPolicy) -> &'static str {
    match p {
        SecondFactorPolicy::Off => "off",
        SecondFactorPolicy::Optional => "optional",
        SecondFactorPolicy::Required => "required",
    }
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    notice: Option<String>,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let policy = state.admin.policy().await?;
    let events = state.admin.global_events(None, 20).await?;
    let (outbox, dead_letters) = state.admin.outbox(10).await?;
    let csrf = csrf::issue(req, &state.keyring)?;
    let template = AdminPage {
        t: Lang::of(req).messages(),
        outbox,
        dead_letters,
        csrf: csrf.token.clone(),
        notice,
        errors,
        version: policy.version,
        link_ttl_minutes: policy.link_ttl_secs / 60,
        session_ttl_hours: policy.session_ttl_secs / 3600,
        second_factor: second_factor_name(policy.second_factor),
        totp: policy.methods.totp,
        sms: policy.methods.sms,
        passkey: policy.methods.passkey,
        admin_phishing_resistant: policy.admin_phishing_resistant,
        cross_device: policy.cross_device.to_string(),
        supersede: policy.supersede,
        new_device_notice: policy.new_device_notice,
        signup_allow: policy.signup_allow.unwrap_or_default().join("\n"),
        events,
    };
    Ok(page(req, status, template, &csrf.cookies()))
}

/// `GET /admin`.
pub async fn dashboard(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if let Err(away) = admin_session(&req, &state).await? {
        return Ok(away);
    }
    render(&req, &state, None, Vec::new(), StatusCode::OK).await
}

/// The policy form.
#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    link_ttl_minutes: String,
    #[serde(default)]
    session_ttl_hours: String,
    #[serde(default)]
    second_factor: String,
    totp: Option<String>,
    sms: Option<String>,
    passkey: Option<String>,
    admin_phishing_resistant: Option<String>,
    #[serde(default)]
    cross_device: String,
    supersede: Option<String>,
    new_device_notice: Option<String>,
    #[serde(default)]
    signup_allow: String,
}

/// `POST /admin/policy`: every bad field is named on the page again.
pub async fn save_policy(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PolicyForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let admin = match admin_session(&req, &state).await? {
        Ok(admin) => admin,
        Err(away) => return Ok(away),
    };
    let t = Lang::of(&req).messages();
    let mut errors = Vec::new();
    let mut number = |raw: &str, field: &str, scale: u64| match raw.trim().parse::<u64>() {
        Ok(n) => n.saturating_mul(scale),
        Err(_) => {
            errors.push(t.fill2(t.admin_not_whole_number, field, raw));
            0
        }
    };
    let link_ttl_secs = number(&form.link_ttl_minutes, t.admin_link_ttl_label, 60);
    let session_ttl_secs = number(&form.session_ttl_hours, t.admin_session_ttl_label, 3600);
    let current = state.admin.policy().await?;
    let allow: Vec<String> =
        form.signup_allow.lines().map(|l| l.trim().to_ascii_lowercase()).filter(|l| !l.is_empty()).collect();
    let policy = SignInPolicy {
        link_ttl_secs,
        session_ttl_secs,
        second_factor: form.second_factor.parse().unwrap_or(current.second_factor),
        methods: Methods { totp: form.totp.is_some(), sms: form.sms.is_some(), passkey: form.passkey.is_some() },
        cross_device: form.cross_device.parse().unwrap_or(current.cross_device),
        supersede: form.supersede.is_some(),
        new_device_notice: form.new_device_notice.is_some(),
        admin_phishing_resistant: form.admin_phishing_resistant.is_some(),
        signup_allow: (!allow.is_empty()).then_some(allow),
        ..current
    };
    if !errors.is_empty() {
        return render(&req, &state, None, errors, StatusCode::BAD_REQUEST).await;
    }
    match state.admin.update_policy(policy).await {
        Ok((saved, diff)) => {
            let origin = client::request_origin(&req, &state.trusted_proxies);
            let detail = format!("policy v{}: {diff} by {}", saved.version, admin.sub);
            state.audit.record(EventKind::AdminAction, None, &origin, &detail).await;
            Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/admin")).finish())
        }
        Err(PolicyError::Invalid(fields)) => {
            let errors =
                fields.into_iter().map(|(field, problem)| format!("{field}: {}", problem.message(t))).collect();
            render(&req, &state, None, errors, StatusCode::BAD_REQUEST).await
        }
        Err(PolicyError::Store(e)) => Err(e.into()),
    }
}

/// Query / form naming a user.
#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    email: String,
    /// The new address (`change-email`).
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    csrf: String,
    /// The passkey to remove (`remove-passkey`).
    #[serde(default)]
    id: String,
}

async fn render_user(
    req: &HttpRequest,
    state: &AppState,
    email: &Email,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let report = state.admin.user(email).await?.ok_or(AppError::NotFound)?;
    let csrf = csrf::issue(req, &state.keyring)?;
    let t = Lang::of(req).messages();
    let f = &report.second_factor;
    let mut kinds = Vec::new();
    if f.totp {
        kinds.push(t.admin_factor_totp.to_owned());
    }
    if let Some(phone) = &f.phone {
        kinds.push(t.fill(t.admin_factor_sms, phone));
    }
    if !f.passkeys.is_empty() {
        let n = f.passkeys.len();
        kinds.push(t.fill(t.count(&t.admin_factor_passkeys, n), n));
    }
    let factors = match kinds.is_empty() {
        true => t.admin_factor_none.to_owned(),
        false if f.totp => {
            let left = f.recovery_codes_left;
            format!("{} ({})", kinds.join(", "), t.fill(t.count(&t.account_recovery_left, left), left))
        }
        false => kinds.join(", "),
    };
    let mut actions = vec![("revoke", t.admin_action_revoke), ("reset-second-factor", t.admin_action_reset)];
    actions.push(if report.blocked { ("unblock", t.admin_action_unblock) } else { ("block", t.admin_action_block) });
    actions.push(("delete", t.admin_action_delete));
    let template = AdminUserPage {
        t,
        csrf: csrf.token.clone(),
        notice,
        email: report.email,
        id: report.id,
        created_at: report.created_at,
        factors,
        blocked: report.blocked,
        sessions: report.sessions.len(),
        actions,
        passkeys: report.second_factor.passkeys,
    };
    Ok(page(req, StatusCode::OK, template, &csrf.cookies()))
}

/// `GET /admin/users?email=…`.
pub async fn user(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<UserForm>,
) -> Result<HttpResponse, AppError> {
    if let Err(away) = admin_session(&req, &state).await? {
        return Ok(away);
    }
    let email = Email::parse(&query.email).map_err(|e| email_refusal(&req, &e))?;
    render_user(&req, &state, &email, None).await
}

/// `POST /admin/users/{action}` (`revoke`, `reset-second-factor`, `remove-passkey` with `id`,
/// `remove-passkeys`, `block`, `unblock`, `delete`).
pub async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    action: web::Path<String>,
    form: web::Form<UserForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let admin = match admin_session(&req, &state).await? {
        Ok(admin) => admin,
        Err(away) => return Ok(away),
    };
    let email = Email::parse(&form.email).map_err(|e| email_refusal(&req, &e))?;
    let t = Lang::of(&req).messages();
    if action.as_str() == "delete" {
        let user = state.store.find_user(&email.lookup_key(&state.keyring)).await?.ok_or(AppError::NotFound)?;
        let by = super::admin::Admin::Person(admin.sub.to_string());
        super::account_data::delete_by_admin(&req, &state, &by, &user).await?;
        return Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/admin")).finish());
    }
    if action.as_str() == "change-email" {
        let user = state.store.find_user(&email.lookup_key(&state.keyring)).await?.ok_or(AppError::NotFound)?;
        let to = Email::parse(&form.new_email)
            .map_err(|e| AppError::BadRequest(format!("new_email: {}", super::login::email_problem(t, &e))))?;
        let by = super::admin::Admin::Person(admin.sub.to_string());
        let moved = super::admin_email::change_by_admin(&req, &state, &by, &user, &to, "new_email").await?;
        let moved = moved.ok_or_else(|| AppError::BadRequest(format!("new_email: {}", t.email_change_taken_page)))?;
        return render_user(&req, &state, &moved.email, Some(t.admin_email_changed.to_owned())).await;
    }
    // Each arm's notice to the owner (`told`) is reported after the action is audited: the
    // action is done whether or not its notice could be queued.
    let (user, notice, told) = match action.as_str() {
        "revoke" => {
            let (user, n) = state.admin.revoke_sessions(&email).await?.ok_or(AppError::NotFound)?;
            let ended = AccountChange::SessionsEnded;
            let told = super::account_confirm::announce_by_admin(&req, &state, &user, &email, ended).await;
            (user, t.fill(t.admin_sessions_ended, n), told)
        }
        "reset-second-factor" => {
            let user = state.admin.reset_second_factor(&email, false).await?.ok_or(AppError::NotFound)?;
            let reset = AccountChange::FactorsReset;
            let told = super::account_confirm::announce_by_admin(&req, &state, &user, &email, reset).await;
            (user, t.admin_factor_removed.to_owned(), told)
        }
        "remove-passkey" | "remove-passkeys" => {
            let id = (action.as_str() == "remove-passkey").then_some(form.id.as_str());
            let (user, n) = state.admin.remove_passkeys(&email, id, false).await?.ok_or(AppError::NotFound)?;
            let told = if n > 0 {
                let change = AccountChange::PasskeyRemoved;
                super::account_confirm::announce_by_admin(&req, &state, &user, &email, change).await
            } else {
                Ok(())
            };
            (user, t.fill(t.count(&t.admin_passkeys_removed, n), n), told)
        }
        "block" => {
            let (user, changed) = state.admin.set_blocked(&email, true).await?.ok_or(AppError::NotFound)?;
            let told = if changed {
                let change = AccountChange::Blocked;
                super::account_confirm::announce_by_admin(&req, &state, &user, &email, change).await
            } else {
                Ok(())
            };
            (user, t.admin_blocked_notice.to_owned(), told)
        }
        "unblock" => {
            let (user, _) = state.admin.set_blocked(&email, false).await?.ok_or(AppError::NotFound)?;
            (user, t.admin_unblocked_notice.to_owned(), Ok(()))
        }
        _ => return Err(AppError::NotFound),
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let detail = format!("{} by {}", action.as_str(), admin.sub);
    state.audit.record(EventKind::AdminAction, Some(&user), &origin, &detail).await;
    told?;
    render_user(&req, &state, &email, Some(notice)).await
}

/// A 400 naming the `email` field, saying what is wrong in the reader's language.
fn email_refusal(req: &HttpRequest, problem: &crate::domain::EmailError) -> AppError {
    AppError::BadRequest(format!("email: {}", super::login::email_problem(Lang::of(req).messages(), problem)))
}
