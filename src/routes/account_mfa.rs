//! Second-factor settings on the account page: set up, turn off, new recovery codes.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::account::current_session;
use super::second_factor::{EnrollPage, RecoveryCodesPage};
use super::{csrf, page};
use crate::app::AppState;
use crate::error::AppError;
use crate::mfa::service::MfaError;
use crate::session::SessionClaims;

/// Body of the forms here.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

fn mfa_error(e: MfaError) -> AppError {
    match e {
        MfaError::WrongCode => {
            AppError::BadRequest("That code is not right. Go back and try the current one.".to_owned())
        }
        MfaError::NothingPending => AppError::Gone("The set-up has expired. Start it again from your account page."),
        MfaError::Store(e) => e.into(),
        other => AppError::Internal(other.into()),
    }
}

async fn signed_in(req: &HttpRequest, state: &AppState, csrf_token: &str) -> Result<SessionClaims, AppError> {
    csrf::verify(req, &state.keys, &state.public_origin, csrf_token)?;
    current_session(req, state).await?.ok_or(AppError::Unauthorized)
}

/// `POST /account/totp/enroll`: a new seed and its QR code, waiting for a first code.
pub async fn enroll_totp(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let claims = signed_in(&req, &state, &form.csrf).await?;
    let enrollment = state.second.begin_totp(&claims.sub, &claims.email).await.map_err(mfa_error)?;
    let csrf = csrf::issue(&req, &state.keys)?;
    Ok(page(&req, StatusCode::OK, EnrollPage::new(&csrf, "/account/totp/confirm", enrollment, None), &csrf.cookies()))
}

/// `POST /account/totp/confirm`: the first code turns TOTP on; recovery codes shown once.
pub async fn confirm_totp(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let claims = signed_in(&req, &state, &form.csrf).await?;
    match state.second.confirm_totp(&claims.sub, &form.code).await {
        Ok(codes) => Ok(page(&req, StatusCode::OK, RecoveryCodesPage::new(&codes, "/account"), &[])),
        Err(MfaError::WrongCode) => {
            let enrollment = state.second.pending_totp(&claims.sub, &claims.email).await.map_err(mfa_error)?;
            let enrollment = enrollment.ok_or_else(|| mfa_error(MfaError::NothingPending))?;
            let csrf = csrf::issue(&req, &state.keys)?;
            let error = Some("That code is not right. Try the one your app shows now.".to_owned());
            let template = EnrollPage::new(&csrf, "/account/totp/confirm", enrollment, error);
            Ok(page(&req, StatusCode::BAD_REQUEST, template, &csrf.cookies()))
        }
        Err(e) => Err(mfa_error(e)),
    }
}

/// `POST /account/totp/disable`: a current code turns TOTP off.
pub async fn disable_totp(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let claims = signed_in(&req, &state, &form.csrf).await?;
    state.second.disable_totp(&claims.sub, &form.code).await.map_err(mfa_error)?;
    Ok(HttpResponse::SeeOther().insert_header((LOCATION, "/account")).finish())
}

/// `POST /account/recovery-codes`: a current code replaces the recovery codes.
pub async fn regenerate_recovery(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let claims = signed_in(&req, &state, &form.csrf).await?;
    if !state.second.check_totp(&claims.sub, &form.code).await.map_err(mfa_error)? {
        return Err(mfa_error(MfaError::WrongCode));
    }
    let codes = state.second.regenerate_recovery(&claims.sub).await.map_err(mfa_error)?;
    Ok(page(&req, StatusCode::OK, RecoveryCodesPage::new(&codes, "/account"), &[]))
}
