//! The JSON API under `/api/v1`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::AppState;
use super::login::attempt_cookie;
use super::signed_in::current_session;
use super::{client, csrf};
use crate::domain::{Email, LocalPath};
use crate::error::{ApiError, AppError};
use crate::i18n::Lang;

/// Body of `POST /api/v1/login`.
#[derive(Deserialize)]
pub struct LoginRequest {
    email: String,
    return_to: Option<String>,
}

/// `POST /api/v1/login`: 202 `{"status":"sent"}` for every well-formed address.
pub async fn request_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    // A JSON body cannot be sent cross-site without a CORS preflight we never grant; the
    // origin check covers browsers that send one anyway.
    csrf::check_origin(&req, &state.public_origin)?;
    let body = body.into_inner();
    let email = Email::parse(&body.email).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let return_to = body.return_to.as_deref().and_then(LocalPath::parse);
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let requested =
        state.signin.request_link(email, return_to, origin, false, Lang::of(&req)).await.map_err(AppError::from)?;
    Ok(HttpResponse::Accepted().cookie(attempt_cookie(requested)).json(serde_json::json!({ "status": "sent" })))
}

/// `GET /api/v1/session`: the verified claims of a live session, or 401.
pub async fn session(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match current_session(&req, &state).await? {
        Some(claims) => Ok(HttpResponse::Ok().json(claims)),
        None => Err(AppError::Unauthorized.into()),
    }
}
