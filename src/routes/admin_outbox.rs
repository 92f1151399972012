//! The outbox, for admins: `GET /api/v1/admin/outbox` (counts and dead letters) and
//! `POST /api/v1/admin/outbox/dead/{id}/retry` (send a dead letter again).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::admin::{record, require_admin};
use super::input::ApiQuery;
use crate::error::{ApiError, AppError};
use crate::store::DeadLetter;

/// `?limit=` for the dead letters shown.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Dead letters listed (≤ 200, default 50).
    limit: Option<usize>,
}

/// One dead letter as admins see it: whom, what kind, why — never what it carried.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeadView {
    /// Its id, for `POST /api/v1/admin/outbox/dead/{id}/retry`.
    id: String,
    /// `mail`, `sms` or `webhook`.
    kind: String,
    /// The recipient, masked (`u***@e***.com`, `+44*****123`, a webhook's host).
    to: String,
    /// Delivery attempts made.
    tries: u32,
    /// Why the last attempt failed.
    reason: String,
    /// When it was given up on (RFC 3339).
    at: String,
    /// When it was queued (RFC 3339).
    queued_at: String,
}

impl From<DeadLetter> for DeadView {
    fn from(d: DeadLetter) -> Self {
        let queued_at = chrono::DateTime::from_timestamp_millis(d.job.queued_at).unwrap_or_default().to_rfc3339();
        Self { id: d.handle, kind: d.job.kind, to: d.job.to, tries: d.job.tries, reason: d.reason, at: d.at, queued_at }
    }
}

/// `GET /api/v1/admin/outbox`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/outbox",
    operation_id = "get_outbox",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(OutboxQuery),
    responses(
        (status = 200, description = "How much waits in the outbox, and the newest dead letters", body = super::openapi::OutboxReport),
        (status = 400, description = "A malformed parameter (named)", body = super::openapi::InvalidInput),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: ApiQuery<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let (stats, dead) = state.admin.outbox(limit).await.map_err(AppError::from)?;
    let dead: Vec<DeadView> = dead.into_iter().map(DeadView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "ready": stats.ready,
        "in_flight": stats.in_flight,
        "scheduled": stats.scheduled,
        "dead": stats.dead,
        "dead_letters": dead,
    })))
}

/// `POST /api/v1/admin/outbox/dead/{id}/retry`: 200 when requeued, 404 when no such letter
/// (ids are opaque: one that is not a store's id is no letter).
#[utoipa::path(
    post,
    path = "/api/v1/admin/outbox/dead/{id}/retry",
    operation_id = "retry_dead_letter",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "A dead letter's `id`, as the outbox lists it")),
    responses(
        (status = 200, description = "Queued again, its tries reset", body = super::openapi::Requeued),
        (status = 404, description = "No dead letter with this id", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn retry(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    if !state.admin.retry_dead_letter(&id).await.map_err(AppError::from)? {
        return Err(AppError::NotFound.into());
    }
    tracing::info!(admin = admin.name(), "admin requeued a dead letter");
    record(&state, &req, &admin, None, &format!("outbox-retry {}", id.as_str())).await;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "requeued" })))
}
