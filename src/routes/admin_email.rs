//! An administrator changes an account's address: `PATCH /api/v1/admin/users/{user}` and the
//! admin user page's form (`POST /admin/users/change-email`). No link; both addresses are told.

use actix_web::{HttpRequest, HttpResponse, web};

use super::admin::{Admin, record, require_admin};
use super::{AppState, Lang, client};
use crate::domain::{Email, EventKind};
use crate::error::{ApiError, AppError};
use crate::signin::ChangedBy;
use crate::store::User;

/// Body of `PATCH /api/v1/admin/users/{user}`.
#[derive(utoipa::ToSchema)]
pub struct AdminEmailChange {
    /// The account's new address.
    #[schema(examples("ann@example.com"))]
    pub email: String,
}

/// The answer of `PATCH /api/v1/admin/users/{user}`.
#[derive(utoipa::ToSchema)]
pub struct AdminEmailChanged {
    /// The account's id (`sub`, unchanged).
    pub id: String,
    /// The account's address now.
    pub email: String,
}

/// `PATCH /api/v1/admin/users/{user}`: an administrator changes the account's address (no
/// link). Both addresses get a notice, every session of the account ends, audited, the apps
/// get `user.email_changed`. An administrator's address (or a change to one in
/// `ADMIN_EMAILS`) is changed only with the API token.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{user}",
    operation_id = "change_user_email",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("user" = String, Path, description = "The user's address or id")),
    request_body = AdminEmailChange,
    responses(
        (status = 200, description = "The address changed", body = AdminEmailChanged),
        (status = 400, description = "A malformed body or address; the message names the field", body = super::openapi::ErrorBody),
        (status = 404, description = "No such account", body = super::openapi::ErrorBody),
        (status = 409, description = "The address belongs to another account", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn admin_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let user = super::account_data::account_named(&req, &state, &who).await?;
    let t = Lang::of(&req).messages();
    let body: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| AppError::BadRequest(t.fill(t.json_unreadable_detail, e)))?;
    let raw = body.get("email").ok_or_else(|| AppError::BadRequest(format!("email: {}", t.field_required)))?;
    let raw = raw.as_str().ok_or_else(|| AppError::BadRequest(format!("email: {}", t.field_not_text)))?;
    let to = Email::parse(raw)
        .map_err(|e| AppError::BadRequest(format!("email: {}", super::login::email_problem(t, &e))))?;
    let Some(moved) = change_by_admin(&req, &state, &admin, &user, &to, "email").await? else {
        let message = format!("email: {}", t.email_taken_field);
        let body = serde_json::json!({ "error": "conflict", "message": message });
        return Ok(HttpResponse::Conflict().json(body));
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": moved.id, "email": moved.email })))
}

/// An administrator moves `user` to `to` (the API, or the admin page's form whose field is
/// `field`): `None` when `to` belongs to another account. An administrator's address, or a
/// change to an address in `ADMIN_EMAILS`, only with the API token: a stolen admin session
/// must not make an account an administrator's, nor move an administrator's away.
pub(super) async fn change_by_admin(
    req: &HttpRequest,
    state: &AppState,
    admin: &Admin,
    user: &User,
    to: &Email,
    field: &str,
) -> Result<Option<User>, AppError> {
    if to == &user.email {
        return Err(AppError::BadRequest(format!("{field}: is already the account's address")));
    }
    if (state.admin.is_admin(&user.email) || state.admin.is_admin(to)) && !matches!(admin, Admin::Token) {
        return Err(AppError::Forbidden(|t| t.error_admin_email_needs_token));
    }
    let Some(moved) = state.signin.admin_change_email(user, to).await? else { return Ok(None) };
    admin_changed(req, state, admin, &moved, &user.email).await?;
    Ok(Some(moved))
}

/// After an administrator changed `user`'s address (from `from`): every session ends, both
/// addresses are told (in the language of the account's latest sign-in), audited, the apps
/// told.
async fn admin_changed(
    req: &HttpRequest,
    state: &AppState,
    admin: &Admin,
    user: &User,
    from: &Email,
) -> Result<(), AppError> {
    let origin = client::request_origin(req, &state.trusted_proxies);
    // The owners are told first, and the sessions end even if the notices could not be
    // queued: the address has moved, whatever fails.
    let lang = state.signin.account_lang(&user.id).await.unwrap_or_default();
    let told = state.signin.email_changed(lang, user, from, ChangedBy::Admin(admin.name()), &origin).await;
    state.oidc.notify_email_changed(&user.id, &user.email).await;
    // The administrator's action is recorded whatever fails after it: the address moved.
    tracing::info!(admin = admin.name(), "admin changed a user's address");
    record(state, req, admin, Some(&user.id), "change-email").await;
    state.sessions.end_user(&user.id).await?;
    state.audit.record(EventKind::SessionsRevoked, Some(&user.id), &origin, "address changed").await;
    state.oidc.notify_ended(&user.id, None).await;
    told?;
    Ok(())
}
