//! The admin API under `/api/v1/admin`: `Authorization: Bearer <ADMIN_API_TOKEN>`, or the
//! session of an `ADMIN_EMAILS` account that passed a second factor.

use actix_web::{HttpRequest, HttpResponse, web};

use actix_web::ResponseError;

use super::AppState;
use super::csrf;
use super::input::{ApiQuery, BadInput, is_stream_id};
use super::signed_in::current_session;
use crate::admin::PolicyError;
use crate::domain::{Email, EventKind, SignInPolicy};
use crate::error::{ApiError, AppError};
use crate::i18n::Lang;
use crate::signin::AccountChange;

/// Who is acting, for the log.
pub(super) enum Admin {
    Token,
    Person(String),
}

impl Admin {
    pub(super) fn name(&self) -> &str {
        match self {
            Self::Token => "api-token",
            Self::Person(id) => id,
        }
    }
}

/// 401 without credentials or with a wrong token; 403 for a session that is not an admin's,
/// or an admin's without a second factor.
pub(super) async fn require_admin(req: &HttpRequest, state: &AppState) -> Result<Admin, ApiError> {
    let bearer = super::cookies::bearer_token(req);
    match bearer.as_deref() {
        Some(token) if state.admin.token_matches(token) => {
            // A change to a store that cannot vouch for its data is refused (503).
            if req.method() != actix_web::http::Method::GET {
                state.guard.check().await.map_err(AppError::from)?;
            }
            return Ok(Admin::Token);
        }
        // A wrong token is refused, whatever cookie comes with it.
        Some(_) => return Err(AppError::Unauthorized.into()),
        None => {}
    }
    // Browsers: the session cookie, and for a change, proof that the request comes from our own
    // pages — `Sec-Fetch-Site: same-origin` or our `Origin` (the API takes no CSRF token).
    csrf::check_origin(req, &state.public_origin)?;
    if req.method() != actix_web::http::Method::GET {
        let fetch_same = req.headers().get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"same-origin");
        let origin_same = req
            .headers()
            .get(actix_web::http::header::ORIGIN)
            .is_some_and(|v| v.as_bytes() == state.public_origin.as_bytes());
        if !fetch_same && !origin_same {
            return Err(AppError::Forbidden(|t| t.error_admin_cookie_origin).into());
        }
    }
    match current_session(req, state).await? {
        Some(s)
            if state.admin.is_admin(&s.email)
                && state.admin.admin_session_suffices(&s.amr).await.map_err(AppError::from)? =>
        {
            Ok(Admin::Person(s.sub.to_string()))
        }
        Some(_) => Err(AppError::Forbidden(|t| t.error_admin_api_needs_factor).into()),
        None => Err(AppError::Unauthorized.into()),
    }
}

/// `GET /api/v1/admin/policy`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/policy",
    operation_id = "get_policy",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The sign-in policy in force", body = crate::domain::SignInPolicy),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn get_policy(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    Ok(HttpResponse::Ok().json(state.admin.policy().await.map_err(AppError::from)?))
}

/// The body as JSON, if it was sent as JSON (a form or plain-text post is refused).
pub(super) fn json_body(req: &HttpRequest, body: &[u8]) -> Result<serde_json::Value, Box<HttpResponse>> {
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        let message = Lang::of(req).messages().api_send_json;
        return Err(Box::new(
            HttpResponse::UnsupportedMediaType()
                .json(serde_json::json!({ "error": "unsupported_media_type", "message": message })),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(
            HttpResponse::BadRequest().json(serde_json::json!({ "error": "invalid_json", "message": e.to_string() })),
        )
    })
}

/// `PUT /api/v1/admin/policy`: the whole policy — every field, so nothing is loosened by
/// leaving it out; a `version` other than the current one is a conflict (409). Every bad
/// field is named in a 400.
#[utoipa::path(
    put,
    path = "/api/v1/admin/policy",
    operation_id = "put_policy",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    request_body(content = crate::domain::SignInPolicy, description = "The whole policy: every field but `version`"),
    responses(
        (status = 200, description = "The policy now in force, with its new version", body = crate::domain::SignInPolicy),
        (status = 400, description = "Fields missing or invalid (each named), or a body that is not JSON", body = super::openapi::PolicyRefusal),
        (status = 409, description = "`version` is not the current one: read the policy again", body = super::openapi::PolicyConflict),
        (status = 413, description = "A body over 16 KiB (no JSON body)"),
        (status = 415, description = "Not sent as `application/json`", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn put_policy(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let value = match json_body(&req, &body) {
        Ok(value) => value,
        Err(response) => return Ok(*response),
    };
    let t = Lang::of(&req).messages();
    let current = state.admin.policy().await.map_err(AppError::from)?;
    if value.get("version").and_then(serde_json::Value::as_u64).is_some_and(|v| v != current.version) {
        return Ok(HttpResponse::Conflict().json(serde_json::json!({
            "error": "conflict", "message": t.api_policy_changed, "version": current.version
        })));
    }
    let required = serde_json::to_value(&current).unwrap_or_default();
    let missing: serde_json::Map<String, serde_json::Value> = required
        .as_object()
        .map(|fields| {
            fields
                .keys()
                .filter(|k| *k != "version" && value.get(k.as_str()).is_none())
                .map(|k| (k.clone(), t.policy_field_missing.into()))
                .collect()
        })
        .unwrap_or_default();
    if !missing.is_empty() {
        return Ok(HttpResponse::BadRequest().json(serde_json::json!({ "error": "invalid_policy", "fields": missing })));
    }
    let policy = match SignInPolicy::from_json(&body) {
        Ok(policy) => policy,
        Err(e) => {
            let field = if e.field == "." { "policy".to_owned() } else { e.field.clone() };
            return Ok(HttpResponse::BadRequest().json(serde_json::json!({
                "error": "invalid_policy", "message": e.to_string(), "fields": { field: e.message }
            })));
        }
    };
    match state.admin.update_policy(policy).await {
        Ok((policy, diff)) => {
            tracing::info!(admin = admin.name(), version = policy.version, "admin changed the policy");
            record(&state, &req, &admin, None, &format!("policy v{}: {diff}", policy.version)).await;
            Ok(HttpResponse::Ok().json(policy))
        }
        Err(PolicyError::Invalid(fields)) => {
            let fields: serde_json::Map<String, serde_json::Value> =
                fields.into_iter().map(|(k, problem)| (k.to_owned(), problem.message(t).into())).collect();
            Ok(HttpResponse::BadRequest().json(serde_json::json!({ "error": "invalid_policy", "fields": fields })))
        }
        Err(PolicyError::Store(e)) => Err(AppError::from(e).into()),
    }
}

/// The address in a path or query parameter; a bad one is a 400 naming the parameter.
fn email_param(req: &HttpRequest, name: &str, raw: &str) -> Result<Email, ApiError> {
    let t = Lang::of(req).messages();
    Email::parse(raw)
        .map_err(|e| AppError::BadRequest(format!("{name}: {}", super::login::email_problem(t, &e))).into())
}

fn not_found() -> ApiError {
    AppError::NotFound.into()
}

/// `GET /api/v1/admin/users/{email}`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{email}",
    operation_id = "get_user",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("email" = String, Path, description = "The user's address")),
    responses(
        (status = 200, description = "The account, its second factors, sessions and recent events", body = crate::admin::UserReport),
        (status = 400, description = "Not an address", body = super::openapi::ErrorBody),
        (status = 404, description = "No account with this address", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn get_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    let report =
        state.admin.user(&email_param(&req, "email", &email)?).await.map_err(AppError::from)?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(report))
}

/// `POST /api/v1/admin/users/{email}/revoke-sessions`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{email}/revoke-sessions",
    operation_id = "revoke_user_sessions",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("email" = String, Path, description = "The user's address")),
    responses(
        (status = 200, description = "Every session of the user ended", body = super::openapi::SessionsRevoked),
        (status = 400, description = "Not an address", body = super::openapi::ErrorBody),
        (status = 404, description = "No account with this address", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn revoke_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let email = email_param(&req, "email", &email)?;
    let (user, n) = state.admin.revoke_sessions(&email).await.map_err(AppError::from)?.ok_or_else(not_found)?;
    tracing::info!(admin = admin.name(), "admin revoked a user's sessions");
    record(&state, &req, &admin, Some(&user), "revoke-sessions").await;
    let ended = AccountChange::SessionsEnded;
    crate::routes::account_confirm::announce_by_admin(&req, &state, &user, &email, ended).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "revoked": n })))
}

/// `DELETE /api/v1/admin/users/{email}/second-factor`.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{email}/second-factor",
    operation_id = "reset_user_second_factor",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("email" = String, Path, description = "The user's address")),
    responses(
        (status = 200, description = "The user's second factors and recovery codes removed; the user is told by mail", body = super::openapi::SecondFactorRemoved),
        (status = 400, description = "Not an address", body = super::openapi::ErrorBody),
        (status = 404, description = "No account with this address", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn reset_second_factor(
    req: HttpRequest,
    state: web::Data<AppState>,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let by_token = matches!(admin, Admin::Token);
    let email = email_param(&req, "email", &email)?;
    let user = state.admin.reset_second_factor(&email, by_token).await.map_err(AppError::from)?;
    let user = user.ok_or_else(not_found)?;
    tracing::info!(admin = admin.name(), "admin reset a user's second factor");
    record(&state, &req, &admin, Some(&user), "reset-second-factor").await;
    let reset = AccountChange::FactorsReset;
    crate::routes::account_confirm::announce_by_admin(&req, &state, &user, &email, reset).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "second_factor": "removed" })))
}

/// `DELETE /api/v1/admin/users/{email}/passkeys/{id}`: removes one passkey.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{email}/passkeys/{id}",
    operation_id = "remove_user_passkey",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(
        ("email" = String, Path, description = "The user's address"),
        ("id" = String, Path, description = "The passkey's credential id (base64url, as `GET /api/v1/admin/users/{email}` lists it)"),
    ),
    responses(
        (status = 200, description = "The passkey removed (recovery codes too when no factor is left); the user is told by mail", body = super::openapi::PasskeysRemoved),
        (status = 400, description = "Not an address", body = super::openapi::ErrorBody),
        (status = 404, description = "No account with this address, or no such passkey", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn remove_passkey(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (email, id) = path.into_inner();
    remove_passkeys(&req, &state, &email, Some(&id)).await
}

/// `DELETE /api/v1/admin/users/{email}/passkeys`: removes every passkey.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{email}/passkeys",
    operation_id = "remove_user_passkeys",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("email" = String, Path, description = "The user's address")),
    responses(
        (status = 200, description = "Every passkey removed (recovery codes too when no factor is left); the user is told by mail when there was one", body = super::openapi::PasskeysRemoved),
        (status = 400, description = "Not an address", body = super::openapi::ErrorBody),
        (status = 404, description = "No account with this address", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn remove_all_passkeys(
    req: HttpRequest,
    state: web::Data<AppState>,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove_passkeys(&req, &state, &email, None).await
}

async fn remove_passkeys(
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    id: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(req, state).await?;
    let by_token = matches!(admin, Admin::Token);
    let email = email_param(req, "email", email)?;
    let removed = state.admin.remove_passkeys(&email, id, by_token).await.map_err(AppError::from)?;
    let (user, removed) = removed.ok_or_else(not_found)?;
    tracing::info!(admin = admin.name(), removed, "admin removed a user's passkeys");
    let what = if id.is_some() { "remove-passkey" } else { "remove-passkeys" };
    record(state, req, &admin, Some(&user), what).await;
    if removed > 0 {
        let change = AccountChange::PasskeyRemoved;
        crate::routes::account_confirm::announce_by_admin(req, state, &user, &email, change).await?;
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "removed": removed })))
}

/// `POST /api/v1/admin/users/{email}/block` and `/unblock`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{email}/{action}",
    operation_id = "set_user_blocked",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(
        ("email" = String, Path, description = "The user's address"),
        ("action" = String, Path, description = "`block` (also ends the user's sessions) or `unblock`", pattern = "^(block|unblock)$"),
    ),
    responses(
        (status = 200, description = "The user is now blocked or unblocked", body = super::openapi::BlockState),
        (status = 400, description = "Not an address", body = super::openapi::ErrorBody),
        (status = 404, description = "No account with this address, or an action other than `block` and `unblock`", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn set_blocked(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let (email, action) = path.into_inner();
    let blocked = match action.as_str() {
        "block" => true,
        "unblock" => false,
        _ => return Err(not_found()),
    };
    let email = email_param(&req, "email", &email)?;
    let blocking = state.admin.set_blocked(&email, blocked).await.map_err(AppError::from)?;
    let (user, changed) = blocking.ok_or_else(not_found)?;
    tracing::info!(admin = admin.name(), blocked, "admin changed a user's block");
    record(&state, &req, &admin, Some(&user), &action).await;
    if blocked && changed {
        let change = AccountChange::Blocked;
        crate::routes::account_confirm::announce_by_admin(&req, &state, &user, &email, change).await?;
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "blocked": blocked })))
}

/// Query of `GET /api/v1/admin/audit`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this user's events (their last 100).
    user: Option<String>,
    /// Only this kind (e.g. `session_issued`).
    kind: Option<String>,
    /// Events older than this id (paging).
    before: Option<String>,
    /// Page size (≤ 200, default 50).
    limit: Option<usize>,
}

/// `GET /api/v1/admin/audit`: newest first; `next` pages back.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    operation_id = "list_audit_events",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Events, newest first, and the id to page back from", body = super::openapi::AuditPage),
        (status = 400, description = "A malformed parameter (named), or `user` that is not an address", body = super::openapi::QueryRefusal),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: ApiQuery<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    if q.before.as_deref().is_some_and(|before| !is_stream_id(before)) {
        let t = crate::i18n::Lang::of(&req).messages();
        let bad = BadInput::new("query", "before", t.admin_audit_before_bad);
        return Ok(bad.error_response());
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let wanted = |e: &crate::audit::AuditEvent| q.kind.as_deref().is_none_or(|k| e.kind.name() == k);
    let (events, next) = match &q.user {
        Some(email) => {
            let events =
                state.admin.user_events(&email_param(&req, "user", email)?, 100).await.map_err(AppError::from)?;
            (events.into_iter().filter(wanted).take(limit).collect::<Vec<_>>(), None)
        }
        None => {
            // Filtered pages are filled from as many raw pages as it takes (bounded).
            let mut events = Vec::new();
            let mut before = q.before.clone();
            for _ in 0..50 {
                let page = state.admin.global_events(before.as_deref(), 200).await.map_err(AppError::from)?;
                let exhausted = page.len() < 200;
                before = page.last().map(|e| e.id.clone());
                events.extend(page.into_iter().filter(wanted));
                if events.len() >= limit || exhausted {
                    break;
                }
            }
            events.truncate(limit);
            let next = (events.len() == limit).then(|| events.last().map(|e| e.id.clone())).flatten();
            (events, next)
        }
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events, "next": next })))
}

/// Records what an admin did, in the global log and (when it concerns one) the user's.
pub(super) async fn record(
    state: &AppState,
    req: &HttpRequest,
    admin: &Admin,
    user: Option<&crate::domain::UserId>,
    what: &str,
) {
    let origin = super::client::request_origin(req, &state.trusted_proxies);
    state.audit.record(EventKind::AdminAction, user, &origin, &format!("{} by {}", what, admin.name())).await;
}
