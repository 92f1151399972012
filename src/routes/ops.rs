//! Operations endpoints and static files.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::AppState;
use crate::error::AppError;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers; 503 otherwise.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header((RETRY_AFTER, "5"))
                .json(serde_json::json!({ "status": "unavailable", "store": "unreachable" }))
        }
    }
}

/// `GET /.well-known/jwks.json`: the public keys sessions are signed with.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .insert_header((CONTENT_TYPE, "application/jwk-set+json"))
        .body(state.signer.keys().jwks().to_string())
}

/// `GET /static/style.css`.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/style.css"))
}

/// Anything else.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}

/// `GET /metrics` on the public port: in production it needs `Authorization: Bearer
/// <ADMIN_API_TOKEN>` (counters over time could tell an outsider what their own requests
/// did); set `METRICS_ADDR` to serve it on a private listener instead.
pub async fn public_metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let allowed =
        !state.production || super::cookies::bearer_token(&req).is_some_and(|token| state.admin.token_matches(&token));
    if !allowed {
        return HttpResponse::Unauthorized().insert_header(("WWW-Authenticate", "Bearer")).finish();
    }
    metrics(state).await
}

/// `GET /metrics`: Prometheus text; the outbox's gauges (shared by every instance) when the
/// store answers.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut body = state.audit.metrics().render();
    if let Ok(stats) = state.admin.outbox_stats().await {
        body.push_str(&crate::audit::outbox_gauges(&stats));
    }
    HttpResponse::Ok().insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")).body(body)
}
