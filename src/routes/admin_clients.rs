//! `/api/v1/admin/clients`: register, list, edit, rotate and remove OIDC clients at run time.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::admin::{record, require_admin};
use super::input::{BadInput, parse_json};
use crate::error::{ApiError, AppError};
use crate::oidc::registry::{ClientDraft, ClientError};

fn answer(e: ClientError) -> Result<HttpResponse, ApiError> {
    let (mut status, body) = match &e {
        ClientError::Invalid(problems) => {
            (HttpResponse::BadRequest(), serde_json::json!({ "error": "invalid_client", "problems": problems }))
        }
        ClientError::Exists => {
            (HttpResponse::Conflict(), serde_json::json!({ "error": "exists", "message": e.to_string() }))
        }
        ClientError::FromFile => {
            (HttpResponse::Conflict(), serde_json::json!({ "error": "read_only", "message": e.to_string() }))
        }
        ClientError::NotFound => return Err(AppError::NotFound.into()),
        ClientError::Store(_) | ClientError::Crypto(_) => {
            return Err(AppError::Unavailable(anyhow::anyhow!(e.to_string())).into());
        }
    };
    Ok(status.json(body))
}

fn bad_draft(e: &BadInput) -> HttpResponse {
    let mut body = e.body("invalid_client");
    body["problems"] = serde_json::json!([e.to_string()]);
    HttpResponse::BadRequest().json(body)
}

/// The body as a client draft: JSON, every bad field named.
fn draft(req: &HttpRequest, body: &[u8]) -> Result<ClientDraft, Box<HttpResponse>> {
    super::admin::json_body(req, body)?;
    parse_json(body).map_err(|e| Box::new(bad_draft(&e)))
}

/// `GET /api/v1/admin/clients`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/clients",
    operation_id = "list_clients",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every client: those from `CLIENTS_FILE`, then those registered here", body = super::openapi::ClientList),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    let clients = state.oidc.list_clients().await.map_err(AppError::from)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "clients": clients })))
}

/// `POST /api/v1/admin/clients`: 201 with the client and, for a confidential one, its secret
/// (shown this once).
#[utoipa::path(
    post,
    path = "/api/v1/admin/clients",
    operation_id = "create_client",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    request_body(content = crate::oidc::registry::ClientDraft, description = "The client's settings (`client_id` and `type` are ignored on update)"),
    responses(
        (status = 201, description = "Registered; the secrets are shown this once", body = crate::oidc::registry::CreatedClient),
        (status = 400, description = "The draft breaks these rules (each named), or a body that is not JSON", body = super::openapi::ClientRefusal),
        (status = 409, description = "The `client_id` is taken (`exists`)", body = super::openapi::ErrorBody),
        (status = 413, description = "A body over 16 KiB (no JSON body)"),
        (status = 415, description = "Not sent as `application/json`", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let draft = match draft(&req, &body) {
        Ok(draft) => draft,
        Err(response) => return Ok(*response),
    };
    match state.oidc.create_client(draft).await {
        Ok(created) => {
            record(&state, &req, &admin, None, &format!("client created {}", created.client.client_id)).await;
            Ok(HttpResponse::Created().json(created))
        }
        Err(e) => answer(e),
    }
}

/// `PUT /api/v1/admin/clients/{id}`: new redirect URIs and settings.
#[utoipa::path(
    put,
    path = "/api/v1/admin/clients/{id}",
    operation_id = "update_client",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "The `client_id`")),
    request_body(content = crate::oidc::registry::ClientDraft, description = "The client's settings (`client_id` and `type` are ignored on update)"),
    responses(
        (status = 200, description = "Changed; a webhook secret is shown once when a webhook was added", body = super::openapi::UpdatedClient),
        (status = 400, description = "The draft breaks these rules (each named), or a body that is not JSON", body = super::openapi::ClientRefusal),
        (status = 404, description = "No client with this id", body = super::openapi::ErrorBody),
        (status = 409, description = "The client comes from `CLIENTS_FILE` (`read_only`): change it there", body = super::openapi::ErrorBody),
        (status = 413, description = "A body over 16 KiB (no JSON body)"),
        (status = 415, description = "Not sent as `application/json`", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    let draft = match draft(&req, &body) {
        Ok(draft) => draft,
        Err(response) => return Ok(*response),
    };
    match state.oidc.update_client(&id, draft).await {
        Ok((client, webhook_secret)) => {
            record(&state, &req, &admin, None, &format!("client updated {}", client.client_id)).await;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "client": client, "webhook_secret": webhook_secret })))
        }
        Err(e) => answer(e),
    }
}

/// `POST /api/v1/admin/clients/{id}/rotate-secret`: a new secret, shown once.
#[utoipa::path(
    post,
    path = "/api/v1/admin/clients/{id}/rotate-secret",
    operation_id = "rotate_client_secret",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "The `client_id`")),
    responses(
        (status = 200, description = "The new secret, shown this once; the old one stops working", body = super::openapi::ClientSecret),
        (status = 400, description = "A public client has no secret", body = super::openapi::InvalidClient),
        (status = 404, description = "No client with this id", body = super::openapi::ErrorBody),
        (status = 409, description = "The client comes from `CLIENTS_FILE` (`read_only`): change it there", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    match state.oidc.rotate_secret(&id).await {
        Ok(secret) => {
            record(&state, &req, &admin, None, &format!("client secret rotated {id}")).await;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "client_secret": secret })))
        }
        Err(e) => answer(e),
    }
}

/// `DELETE /api/v1/admin/clients/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/clients/{id}",
    operation_id = "delete_client",
    tag = "admin",
    security(("admin_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "The `client_id`")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No client with this id", body = super::openapi::ErrorBody),
        (status = 409, description = "The client comes from `CLIENTS_FILE` (`read_only`): change it there", body = super::openapi::ErrorBody),
        super::openapi::AdminRefusals,
        super::openapi::ServerFailures,
    )
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&req, &state).await?;
    match state.oidc.delete_client(&id).await {
        Ok(()) => {
            record(&state, &req, &admin, None, &format!("client deleted {id}")).await;
            Ok(HttpResponse::NoContent().finish())
        }
        Err(e) => answer(e),
    }
}
