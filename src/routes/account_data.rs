//! The person's data: the export (`GET /account/export`) and deleting the account
//! (`/account/delete`), and the same for administrators (`/api/v1/admin/users/{user}/export`,
//! `DELETE /api/v1/admin/users/{user}`, the admin page's "Delete account").

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::account_confirm::Freshness;
use super::admin::{Admin, record, require_admin};
use super::signed_in::CsrfForm;
use super::{AppState, SignedIn, Visitor, client, cookies, csrf, page};
use crate::domain::{Email, EventKind, UserId};
use crate::error::{ApiError, AppError};
use crate::i18n::{Lang, Messages};
use crate::lifecycle::{self, AccountExport};
use crate::session::SessionClaims;
use crate::store::User;

/// `GET /account/delete` and the refusals of `POST /account/delete`.
#[derive(Template, WebTemplate)]
#[template(path = "delete_account.html")]
pub struct DeleteAccountPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    email: String,
    /// Why it cannot be deleted from this session now (then no form), if so.
    refusal: Option<&'static str>,
    /// Offer the "confirm it's you" page (the account has a second factor not used lately).
    confirm_factor: bool,
    error: Option<&'static str>,
}

/// After the deletion.
#[derive(Template, WebTemplate)]
#[template(path = "account_deleted.html")]
pub struct AccountDeletedPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
}

/// Body of `POST /account/delete`.
#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// The account's address, typed again.
    #[serde(default)]
    email: String,
}

impl CsrfForm for DeleteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The export as a download that no cache keeps.
fn download(export: &AccountExport) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_DISPOSITION, "attachment; filename=\"account-export.json\""))
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(export)
}

fn to_login(path: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, format!("/login?return_to={path}"))).finish()
}

/// `GET /account/export`: everything latchkey holds about the signed-in person, as a JSON
/// download; strangers go to the login page.
pub async fn export(req: HttpRequest, state: web::Data<AppState>, visitor: Visitor) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, .. })) = visitor else { return Ok(to_login("/account/export")) };
    let user = state.store.get_user(&claims.sub).await?.ok_or(AppError::Unauthorized)?;
    let document = lifecycle::export(&*state.store, &user, state.clock.now()).await?;
    let origin = client::request_origin(&req, &state.trusted_proxies);
    state.audit.record(EventKind::AccountExported, Some(&claims.sub), &origin, "by user").await;
    Ok(download(&document))
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    claims: &SessionClaims,
    freshness: Freshness,
    error: Option<&'static str>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let t = Lang::of(req).messages();
    let refusal = match freshness {
        Freshness::Fresh => None,
        Freshness::NeedsFactor => Some(t.delete_needs_factor),
        Freshness::NeedsSignIn => Some(t.delete_needs_sign_in),
    };
    let csrf = csrf::issue(req, &state.keyring)?;
    let template = DeleteAccountPage {
        t,
        csrf: csrf.token.clone(),
        email: claims.email.to_string(),
        refusal,
        confirm_factor: freshness == Freshness::NeedsFactor,
        error,
    };
    Ok(page(req, status, template, &csrf.cookies()))
}

/// `GET /account/delete`: what deleting means, and the form when this session may do it.
pub async fn delete_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, .. })) = visitor else { return Ok(to_login("/account/delete")) };
    render(&req, &state, &claims, Freshness::of(&state, &claims).await?, None, StatusCode::OK).await
}

/// `POST /account/delete`: deletes the account, from a session that used a second factor in
/// the last ten minutes (or, for an account without one, signed in in the last ten minutes),
/// with the account's address typed again. Then the goodbye mail, the apps' `user.deleted`
/// event and the audit tombstone; the session cookie goes.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    let claims = &user.claims;
    let freshness = Freshness::of(&state, claims).await?;
    if freshness != Freshness::Fresh {
        return render(&req, &state, claims, freshness, None, StatusCode::FORBIDDEN).await;
    }
    let typed = Email::parse(&user.form.email).ok();
    if typed.as_ref() != Some(&claims.email) {
        let t = Lang::of(&req).messages();
        return render(&req, &state, claims, freshness, Some(t.delete_wrong_address), StatusCode::BAD_REQUEST).await;
    }
    let lookup = claims.email.lookup_key(&state.keyring);
    erase(&req, &state, &lookup, &claims.sub, &claims.email, Lang::of(&req), None).await?;
    let template = AccountDeletedPage { t: Lang::of(&req).messages() };
    Ok(page(&req, StatusCode::OK, template, &[cookies::removal(cookies::SESSION)]))
}

/// Deletes the account and tells everyone who should know: the apps (`user.deleted`), the
/// global audit log (a tombstone naming the user id only: the user's own log is gone) and the
/// person (the goodbye mail, in `lang`). `admin` names the administrator who asked, if one did.
async fn erase(
    req: &HttpRequest,
    state: &AppState,
    lookup: &str,
    user: &UserId,
    email: &Email,
    lang: Lang,
    admin: Option<&Admin>,
) -> Result<(), AppError> {
    let apps = lifecycle::delete(&*state.store, &state.sessions, lookup, user).await?;
    state.oidc.notify_deleted(user, &apps).await;
    let origin = client::request_origin(req, &state.trusted_proxies);
    let by = admin.map_or("user", Admin::name);
    state.audit.record(EventKind::AccountDeleted, None, &origin, &format!("user {user} by {by}")).await;
    // The administrator's action is recorded whatever fails after it: the account is gone.
    if let Some(admin) = admin {
        tracing::info!(admin = admin.name(), "admin deleted a user");
        record(state, req, admin, None, &format!("delete user {user}")).await;
    }
    state.signin.goodbye(lang, email, admin.is_some()).await?;
    Ok(())
}

/// The account a path names: an address (it has an `@`) or a user id; a 400 naming the
/// parameter when it is neither, a 404 when there is no such account.
pub(super) async fn account_named(req: &HttpRequest, state: &AppState, raw: &str) -> Result<User, ApiError> {
    let t = Lang::of(req).messages();
    let user = if raw.contains('@') {
        let email = Email::parse(raw)
            .map_err(|e| AppError::BadRequest(format!("user: {}", super::login::email_problem(t, &e))))?;
        state.store.find_user(&email.lookup_key(&state.keyring)).await.map_err(AppError::from)?
    } else {
        let id = UserId::parse(raw).ok_or_else(|| AppError::BadRequest(format!("user: {}", t.admin_user_neither)))?;
        state.store.get_user(&id).await.map_err(AppError::from)?
    };
    user.ok_or_else(|| AppError::NotFound.into())
}

/// `GET /api/v1/admin/users/{user}/export`: what latchkey holds about a user, as the person
/// would download it; audited.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{user}/export",
    operation_id = "export_user",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("user" = String, Path, description = "The user's address or id")),
    responses(
        (status = 200, description = "The user's data (an attachment, `Cache-Control: no-store`)", body = crate::lifecycle::AccountExport),
        (status = 400, description = "Neither an address nor a user id", body = super::openapi::ErrorBody),
        (status = 404, description = "No such account", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn admin_export(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let user = account_named(&req, &state, &who).await?;
    let document = lifecycle::export(&*state.store, &user, state.clock.now()).await.map_err(AppError::from)?;
    tracing::info!(admin = admin.name(), "admin exported a user's data");
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let detail = format!("by {}", admin.name());
    state.audit.record(EventKind::AccountExported, Some(&user.id), &origin, &detail).await;
    record(&state, &req, &admin, Some(&user.id), "export").await;
    Ok(download(&document))
}

/// `DELETE /api/v1/admin/users/{user}`: deletes the account as its owner could; the person
/// gets the goodbye mail; audited (a tombstone: the user id only).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{user}",
    operation_id = "delete_user",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("user" = String, Path, description = "The user's address or id")),
    responses(
        (status = 200, description = "The account and everything of it deleted; the person is told by mail, the apps by `user.deleted`", body = super::openapi::UserDeleted),
        (status = 400, description = "Neither an address nor a user id", body = super::openapi::ErrorBody),
        (status = 404, description = "No such account", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn admin_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let user = account_named(&req, &state, &who).await?;
    delete_by_admin(&req, &state, &admin, &user).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "deleted": user.id })))
}

/// An administrator deletes `user` (the API or the admin page). An administrator's account goes
/// only with the API token: a stolen admin session must not delete another admin's account,
/// whose factor would go with it (the mailbox alone would then sign up again).
pub(super) async fn delete_by_admin(
    req: &HttpRequest,
    state: &AppState,
    admin: &Admin,
    user: &User,
) -> Result<(), AppError> {
    if state.admin.is_admin(&user.email) && !matches!(admin, Admin::Token) {
        return Err(AppError::Forbidden(|t| t.error_admin_delete_needs_token));
    }
    let lookup = user.email.lookup_key(&state.keyring);
    // The goodbye mail in the language of the person's latest sign-in, read before it goes.
    let lang = state.signin.account_lang(&user.id).await?;
    erase(req, state, &lookup, &user.id, &user.email, lang, Some(admin)).await
}
