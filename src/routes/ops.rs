//! Operations endpoints and static files.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use crate::error::AppError;
use crate::store_guard::Trust;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the store answers, carries this deployment's identity and (in
/// production, `REDIS_DURABILITY=check`) persists and never evicts; otherwise 503 with a body
/// saying why (`store`: `unreachable`, `empty`, `foreign` or `not_durable`). The durability
/// check is reused for a few seconds (`DURABILITY_RECHECK`), so a flood of this public route
/// does not become a flood of `CONFIG GET`; which settings of which node are wrong is in the
/// log, and in the body only for a request with `Authorization: Bearer <ADMIN_API_TOKEN>`.
pub async fn readyz(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let unavailable =
        |body: serde_json::Value| HttpResponse::ServiceUnavailable().insert_header((RETRY_AFTER, "5")).json(body);
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check failed");
        return unavailable(serde_json::json!({ "status": "unavailable", "store": "unreachable" }));
    }
    if let Some(watch) = &state.durability {
        match watch.problems().await {
            Ok(problems) if problems.is_empty() => {}
            Ok(problems) => {
                let mut body = serde_json::json!({
                    "status": "unavailable",
                    "store": "not_durable",
                    "reason": "Redis can lose data: the log names each setting to fix",
                });
                let admin = super::cookies::bearer_token(&req).is_some_and(|token| state.admin.token_matches(&token));
                if admin {
                    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    body["problems"] = problems.into();
                }
                return unavailable(body);
            }
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                return unavailable(serde_json::json!({ "status": "unavailable", "store": "unreachable" }));
            }
        }
    }
    let trust = match state.guard.refresh().await {
        Ok(trust) => trust,
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            return unavailable(serde_json::json!({ "status": "unavailable", "store": "unreachable" }));
        }
    };
    if !matches!(trust, Trust::Trusted { .. }) {
        return unavailable(serde_json::json!({
            "status": "unavailable",
            "store": trust.name(),
            "reason": trust.explain(),
        }));
    }
    let mut body = serde_json::json!({ "status": "ready", "store": "trusted" });
    if let Some(report) = &state.mail_dns {
        // Warnings, never a reason to be unready: the records are public anyway.
        body["mail_dns"] = serde_json::json!(report);
    }
    HttpResponse::Ok().json(body)
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

/// `GET /static/passkey.js`: the one script, for the WebAuthn calls.
pub async fn passkey_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/passkey.js"))
}

/// `GET /static/waiting.js`: the waiting page's poll (policy `approve`).
pub async fn waiting_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/waiting.js"))
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
    body.push_str(&state.guard.gauges());
    if let Ok(stats) = state.admin.outbox_stats().await {
        body.push_str(&crate::audit::outbox_gauges(&stats));
    }
    HttpResponse::Ok().insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")).body(body)
}
