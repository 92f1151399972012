//! The account page and signing out.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::DateTime;
use serde::Deserialize;

use super::{cookies, csrf, page};
use crate::app::AppState;
use crate::error::AppError;
use crate::session::{SessionClaims, SessionError};

/// `GET /account`.
#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    csrf: String,
    email: String,
    signed_in_at: String,
    methods: String,
    expires_at: String,
    device: String,
    ip: String,
}

/// Body of `POST /logout`.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// The live session of this request, if any. Store failures are errors (503), not "signed out".
pub async fn current_session(req: &HttpRequest, state: &AppState) -> Result<Option<SessionClaims>, AppError> {
    let Some(token) = cookies::session_token(req) else { return Ok(None) };
    match state.sessions.authenticate(&token).await {
        Ok(claims) => Ok(Some(claims)),
        Err(SessionError::Invalid(_) | SessionError::Revoked) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn utc(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// `GET /account`: who you are and this session; strangers go to the login page.
pub async fn account_page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let Some(claims) = current_session(&req, &state).await? else {
        return Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/login?return_to=/account")).finish());
    };
    let record = state.sessions.record(&claims).await?;
    let origin = record.map(|r| r.origin).unwrap_or_default();
    let csrf = csrf::issue(&req, &state.keys)?;
    let template = AccountPage {
        csrf: csrf.token.clone(),
        email: claims.email.to_string(),
        signed_in_at: utc(claims.auth_time),
        methods: claims.amr.join(", "),
        expires_at: utc(claims.exp),
        device: origin.browser(),
        ip: origin.ip_text(),
    };
    Ok(page(&req, StatusCode::OK, template, &csrf.cookies()))
}

/// `POST /logout`: ends this session and clears the cookie.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keys, &state.public_origin, &form.csrf)?;
    if let Some(claims) = current_session(&req, &state).await? {
        state.sessions.end(&claims).await?;
    }
    Ok(HttpResponse::SeeOther().cookie(cookies::removal(cookies::SESSION)).insert_header((LOCATION, "/login")).finish())
}
