//! `POST /hooks/bounces/{provider}`: the mail providers' bounce and complaint webhooks (`ses`,
//! `postmark`, `sendgrid`, `mailgun`), each on only when its secret is configured (404
//! otherwise). A request that is not the provider's is a 401; one that cannot be read, a 400
//! naming the field.

use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use crate::deliverability::hooks::{HookError, HookRequest, Provider};

/// Largest webhook body accepted (SendGrid and SNS batch several events).
pub const MAX_HOOK_BODY: usize = 256 * 1024;

/// `POST /hooks/bounces/{provider}`.
pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    provider: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let Some(provider) = Provider::parse(&provider).filter(|p| state.bounces.enabled(*p)) else {
        return HttpResponse::NotFound().json(serde_json::json!({ "error": "not_found", "message": "not found" }));
    };
    // Larger than other bodies: SendGrid and SNS batch several events.
    let body = match payload.to_bytes_limited(MAX_HOOK_BODY).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return HttpResponse::PayloadTooLarge().json(
                serde_json::json!({ "error": "invalid_body", "message": "the body is too large", "field": "." }),
            );
        }
        Err(_) => {
            return HttpResponse::BadRequest().json(
                serde_json::json!({ "error": "invalid_body", "message": "the body could not be read", "field": "." }),
            );
        }
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let request = HookRequest {
        authorization: header(AUTHORIZATION.as_str()),
        sendgrid_signature: header("x-twilio-email-event-webhook-signature"),
        sendgrid_timestamp: header("x-twilio-email-event-webhook-timestamp"),
        body: &body,
    };
    match state.bounces.receive(provider, &request).await {
        Ok(reports) => HttpResponse::Ok().json(serde_json::json!({ "reports": reports })),
        Err(HookError::NotEnabled) => {
            HttpResponse::NotFound().json(serde_json::json!({ "error": "not_found", "message": "not found" }))
        }
        Err(HookError::Unauthorized(why)) => {
            tracing::warn!(provider = provider.name(), why, "bounce webhook refused");
            let mut response = HttpResponse::Unauthorized();
            if provider == Provider::Postmark {
                response.insert_header((WWW_AUTHENTICATE, "Basic realm=\"bounces\""));
            }
            response.json(serde_json::json!({ "error": "unauthorized", "message": why }))
        }
        Err(HookError::Malformed { field, message }) => HttpResponse::BadRequest().json(serde_json::json!({
            "error": "invalid_body",
            "message": format!("{field}: {message}"),
            "field": field,
        })),
        Err(HookError::Store(e)) => {
            tracing::warn!(error = %e, provider = provider.name(), "bounce webhook: store unavailable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "error": "unavailable", "message": "service temporarily unavailable" }))
        }
    }
}
