//! The second-factor step of sign-in: `/login/2fa` (and enrollment when policy requires it).

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::verify::signed_in_cookies;
use super::{cookies, csrf, page};
use crate::app::AppState;
use crate::error::AppError;
use crate::mfa::recovery::RecoveryCode;
use crate::mfa::service::TotpEnrollment;
use crate::signin::{Proof, SignInError};

/// Code entry: authenticator app, or a recovery code.
#[derive(Template, WebTemplate)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    csrf: String,
    email: String,
    has_totp: bool,
    recovery_left: usize,
    error: Option<String>,
}

/// Setting up an authenticator app (in the step, or from the account page).
#[derive(Template, WebTemplate)]
#[template(path = "enroll_totp.html")]
pub struct EnrollPage {
    pub(super) csrf: String,
    pub(super) action: &'static str,
    pub(super) required: bool,
    pub(super) qr_svg: String,
    pub(super) base32: String,
    pub(super) error: Option<String>,
}

impl EnrollPage {
    /// The page for `enrollment`, posting its code to `action`.
    pub(super) fn new(
        csrf: &csrf::Csrf,
        action: &'static str,
        enrollment: TotpEnrollment,
        error: Option<String>,
    ) -> Self {
        Self {
            csrf: csrf.token.clone(),
            action,
            required: action == "/login/2fa/enroll",
            qr_svg: enrollment.qr_svg,
            base32: enrollment.base32,
            error,
        }
    }
}

/// Recovery codes, shown once.
#[derive(Template, WebTemplate)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub(super) codes: Vec<String>,
    pub(super) continue_to: String,
}

impl RecoveryCodesPage {
    /// The page listing `codes`, then on to `continue_to`.
    pub(super) fn new(codes: &[RecoveryCode], continue_to: &str) -> Self {
        Self { codes: codes.iter().map(|c| c.expose().to_owned()).collect(), continue_to: continue_to.to_owned() }
    }
}

/// Body of `POST /login/2fa` and `POST /login/2fa/enroll`.
#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
}

fn pending_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(cookies::PENDING).map(|c| c.value().to_owned())
}

fn tries_left(left: u32) -> String {
    if left == 1 {
        "That code is not right. One try left.".to_owned()
    } else {
        format!("That code is not right. {left} tries left.")
    }
}

/// `GET /login/2fa`: the code form, or enrollment when the account must set one up.
pub async fn step_page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render_step(&req, &state, None, StatusCode::OK).await
}

async fn render_step(
    req: &HttpRequest,
    state: &AppState,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(req, &state.keys)?;
    let cookie = pending_cookie(req);
    let step = state.signin.second_step(cookie.as_deref()).await?;
    if step.pending.must_enroll {
        let (_, enrollment) = state.signin.enrollment_in_step(cookie.as_deref()).await?;
        let template = EnrollPage::new(&csrf, "/login/2fa/enroll", enrollment, error);
        return Ok(page(req, status, template, &csrf.cookies()));
    }
    let template = SecondFactorPage {
        csrf: csrf.token.clone(),
        email: step.pending.user.email.to_string(),
        has_totp: step.factors.totp.is_some(),
        recovery_left: step.recovery_left,
        error,
    };
    Ok(page(req, status, template, &csrf.cookies()))
}

/// `POST /login/2fa`: a TOTP code or a recovery code finishes the sign-in.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keys, &state.public_origin, &form.csrf)?;
    let proof = if form.recovery_code.trim().is_empty() {
        Proof::Totp(&form.code)
    } else {
        Proof::Recovery(&form.recovery_code)
    };
    match state.signin.verify_second_factor(pending_cookie(&req).as_deref(), proof).await {
        Ok(signed_in) => super::verify::signed_in_response(&req, &state, signed_in).await,
        Err(SignInError::WrongSecondFactor(left)) => {
            render_step(&req, &state, Some(tries_left(left)), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(ended(e)),
    }
}

/// `POST /login/2fa/enroll`: the first code from the new app turns it on and signs in; the
/// recovery codes are shown once, with the way on.
pub async fn confirm_enrollment(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keys, &state.public_origin, &form.csrf)?;
    match state.signin.confirm_enrollment_in_step(pending_cookie(&req).as_deref(), &form.code).await {
        Ok((signed_in, codes)) => {
            let cookies: Vec<Cookie<'static>> = signed_in_cookies(&req, &state, &signed_in).await?;
            let template = RecoveryCodesPage::new(&codes, signed_in.return_to.as_str());
            Ok(page(&req, StatusCode::OK, template, &cookies))
        }
        Err(SignInError::WrongSecondFactor(left)) => {
            render_step(&req, &state, Some(tries_left(left)), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(ended(e)),
    }
}

/// A step that has ended also loses its cookie.
fn ended(e: SignInError) -> AppError {
    e.into()
}
