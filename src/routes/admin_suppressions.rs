//! The suppression list for admins: `GET` and `DELETE /api/v1/admin/suppressions?email=`, and
//! the page `/admin/suppressions` (see an address's entry, clear it).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::{Deserialize, Serialize};

use super::admin::{Admin, record, require_admin};
use super::input::{BadInput, parse_query};
use super::{AppState, Localized, csrf, page};
use crate::domain::Email;
use crate::error::{ApiError, AppError};
use crate::i18n::{Lang, Messages};
use crate::store::{Suppression, SuppressionReason};

/// Query of the suppression routes.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuppressionQuery {
    /// The address (any `+tag` shares the entry of the address without it).
    email: String,
}

/// An address's entry on the suppression list, as admins see it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuppressionView {
    /// Why: `bounce`, `complaint` or `smtp_5xx`.
    reason: SuppressionReason,
    /// Who said so: `smtp`, `ses`, `postmark`, `sendgrid` or `mailgun`.
    source: String,
    /// When it was suppressed (RFC 3339).
    at: String,
    /// When the entry lapses by itself (RFC 3339).
    expires_at: String,
}

impl From<Suppression> for SuppressionView {
    fn from(s: Suppression) -> Self {
        Self { reason: s.reason, source: s.source, at: s.at.to_rfc3339(), expires_at: s.expires_at.to_rfc3339() }
    }
}

/// `GET /api/v1/admin/suppressions`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuppressionReport {
    /// The address asked about.
    email: String,
    /// Its entry; `null` when mail goes to it as usual.
    suppression: Option<SuppressionView>,
}

/// `DELETE /api/v1/admin/suppressions`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuppressionCleared {
    /// Whether the address was on the list.
    cleared: bool,
}

fn email_of(query: &SuppressionQuery) -> Result<Email, BadInput> {
    Email::parse(&query.email).map_err(|e| BadInput::new("query", "email", e.to_string()))
}

/// `GET /api/v1/admin/suppressions?email=`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/suppressions",
    operation_id = "get_suppression",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(SuppressionQuery),
    responses(
        (status = 200, description = "Whether mail to the address is suppressed, and why", body = SuppressionReport),
        (status = 400, description = "A missing or malformed address (named)", body = super::openapi::InvalidInput),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, actix_web::Error> {
    // Credentials first: a stranger learns nothing about the query.
    require_admin(&req, &state).await?;
    let email = email_of(&parse_query(req.query_string())?)?;
    let entry = state.bounces.suppressions().check(&email).await.map_err(|e| ApiError(e.into()))?;
    Ok(HttpResponse::Ok().json(SuppressionReport { email: email.to_string(), suppression: entry.map(Into::into) }))
}

/// `DELETE /api/v1/admin/suppressions?email=`: mail goes to the address again.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/suppressions",
    operation_id = "clear_suppression",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(SuppressionQuery),
    responses(
        (status = 200, description = "The address is off the list (`cleared`: whether it was on it)", body = SuppressionCleared),
        (status = 400, description = "A missing or malformed address (named)", body = super::openapi::InvalidInput),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn clear(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, actix_web::Error> {
    // Credentials first: a stranger learns nothing about the query.
    let admin = require_admin(&req, &state).await?;
    let email = email_of(&parse_query(req.query_string())?)?;
    let cleared = clear_for(&req, &state, &admin, &email).await?;
    Ok(HttpResponse::Ok().json(SuppressionCleared { cleared }))
}

/// Clears `email`'s entry, audited (when there was one) as the admin's action.
async fn clear_for(req: &HttpRequest, state: &AppState, admin: &Admin, email: &Email) -> Result<bool, ApiError> {
    let cleared = state.bounces.suppressions().clear(email).await.map_err(|e| ApiError(e.into()))?;
    if cleared {
        tracing::info!(admin = admin.name(), to = %email.masked(), "admin cleared a suppression");
        record(state, req, admin, None, &format!("clear-suppression {}", email.masked())).await;
    }
    Ok(cleared)
}

/// The admin page for one address's mail delivery.
#[derive(Template, WebTemplate)]
#[template(path = "admin_suppressions.html")]
pub struct AdminSuppressionPage {
    t: &'static Messages,
    csrf: String,
    email: String,
    notice: Option<&'static str>,
    /// The entry, described.
    status: Option<String>,
}

impl Localized for AdminSuppressionPage {
    fn lang(&self) -> Lang {
        self.t.lang
    }
}

/// Form of `POST /admin/suppressions/clear`.
#[derive(Deserialize)]
pub struct ClearForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    email: &Email,
    notice: Option<&'static str>,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(req, &state.keyring)?;
    let t = Lang::of(req).messages();
    let entry = state.bounces.suppressions().check(email).await?;
    let when = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    let status = entry.map(|e| t.fill3(t.admin_suppressed, e.reason.name(), &e.source, when(e.expires_at)));
    let template = AdminSuppressionPage { t, csrf: csrf.token.clone(), email: email.to_string(), notice, status };
    Ok(page(req, StatusCode::OK, template, &csrf.cookies()))
}

/// `GET /admin/suppressions?email=`.
pub async fn page_for(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SuppressionQuery>,
) -> Result<HttpResponse, AppError> {
    if let Err(away) = super::admin_pages::admin_session(&req, &state).await? {
        return Ok(away);
    }
    let t = Lang::of(&req).messages();
    let email = Email::parse(&query.email)
        .map_err(|e| AppError::BadRequest(format!("email: {}", super::login::email_problem(t, &e))))?;
    render(&req, &state, &email, None).await
}

/// `POST /admin/suppressions/clear`.
pub async fn clear_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ClearForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let admin = match super::admin_pages::admin_session(&req, &state).await? {
        Ok(admin) => Admin::Person(admin.sub.to_string()),
        Err(away) => return Ok(away),
    };
    let t = Lang::of(&req).messages();
    let email = Email::parse(&form.email)
        .map_err(|e| AppError::BadRequest(format!("email: {}", super::login::email_problem(t, &e))))?;
    clear_for(&req, &state, &admin, &email).await.map_err(|ApiError(e)| e)?;
    let t = Lang::of(&req).messages();
    render(&req, &state, &email, Some(t.admin_suppression_cleared)).await
}
