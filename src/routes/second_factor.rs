//! The second-factor step of sign-in: `/login/2fa` (and enrollment when policy requires it).

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::AppState;
use super::account_confirm::announce;
use super::app_brand::{AppView, app_view, branded_page};
use super::factor_errors::{Shown, shown};
use super::signed_in::CsrfForm;
use super::verify::signed_in_cookies;
use super::{client, cookies, csrf};
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::second_factor::recovery::RecoveryCode;
use crate::second_factor::service::TotpEnrollment;
use crate::signin::{AccountChange, Proof, SignInError};

/// Code entry: authenticator app, or a recovery code.
#[derive(Template, WebTemplate)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    email: String,
    has_totp: bool,
    has_passkey: bool,
    recovery_left: usize,
    phone: Option<String>,
    sms_sent: bool,
    notice: Option<String>,
    error: Option<String>,
    /// The id of the field `error` is about (`code`, `sms_code`, `recovery_code`), or "".
    error_field: &'static str,
    /// The app this sign-in is for, when it resumes a registered client's authorization.
    pub(super) app: Option<AppView>,
}

/// Setting up an authenticator app (in the step, or from the account page).
#[derive(Template, WebTemplate)]
#[template(path = "enroll_totp.html")]
pub struct EnrollPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    pub(super) csrf: String,
    pub(super) action: &'static str,
    pub(super) required: bool,
    pub(super) qr_svg: String,
    pub(super) base32: String,
    pub(super) error: Option<String>,
    /// The app this sign-in is for, when it resumes a registered client's authorization.
    pub(super) app: Option<AppView>,
}

impl EnrollPage {
    /// The page for `enrollment`, posting its code to `action`.
    pub(super) fn new(
        t: &'static Messages,
        csrf: &csrf::Csrf,
        action: &'static str,
        enrollment: TotpEnrollment,
        error: Option<String>,
    ) -> Self {
        Self {
            t,
            csrf: csrf.token.clone(),
            action,
            required: action == "/login/2fa/enroll",
            qr_svg: enrollment.qr_svg,
            base32: enrollment.base32,
            error,
            app: None,
        }
    }
}

/// Recovery codes, shown once.
#[derive(Template, WebTemplate)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    pub(super) codes: Vec<String>,
    pub(super) continue_to: String,
    /// The app this sign-in is for, when it resumes a registered client's authorization.
    pub(super) app: Option<AppView>,
}

impl RecoveryCodesPage {
    /// The page listing `codes`, then on to `continue_to`.
    pub(super) fn new(t: &'static Messages, codes: &[RecoveryCode], continue_to: &str) -> Self {
        Self {
            t,
            codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
            continue_to: continue_to.to_owned(),
            app: None,
        }
    }
}

/// Body of `POST /login/2fa` and `POST /login/2fa/enroll`, and of "confirm it's you"
/// (`POST /account/confirm-factor`, `POST /account/confirm-factor/sms`).
#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) recovery_code: String,
    #[serde(default)]
    pub(super) sms_code: String,
    /// A passkey's answer (WebAuthn credential JSON).
    #[serde(default)]
    pub(super) credential: String,
}

impl CsrfForm for StepForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// What to say above a page's code forms.
#[derive(Default)]
pub(super) struct Said {
    pub(super) notice: Option<String>,
    pub(super) error: Option<String>,
    /// The id of the field `error` is about (`code`, `sms_code`, `recovery_code`), or "" when
    /// it is about none: that field is marked invalid and described by the error.
    pub(super) error_field: &'static str,
    pub(super) sms_sent: bool,
}

/// The id of the form field that holds `proof`.
fn field_of(proof: &Proof<'_>) -> &'static str {
    match proof {
        Proof::Recovery(_) => "recovery_code",
        Proof::Sms(_) => "sms_code",
        Proof::Totp(_) => "code",
        // No field to mark: the passkey answer comes from a button.
        Proof::Passkey(_) => "credential",
    }
}

pub(super) fn pending_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(cookies::PENDING).map(|c| c.value().to_owned())
}

fn tries_left(req: &HttpRequest, left: u32) -> String {
    let t = Lang::of(req).messages();
    t.fill(t.count(&t.code_wrong_tries_left, left), left)
}

/// `GET /login/2fa`: the code form, or enrollment when the account must set one up.
pub async fn step_page(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    render_step(&req, &state, Said::default(), StatusCode::OK).await
}

async fn render_step(
    req: &HttpRequest,
    state: &AppState,
    said: Said,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(req, &state.keyring)?;
    let cookie = pending_cookie(req);
    let step = state.signin.second_step(cookie.as_deref()).await?;
    let t = Lang::of(req).messages();
    let app = app_view(state, t, &step.pending.return_to, true).await;
    if step.pending.must_enroll {
        let (_, enrollment) = state.signin.enrollment_in_step(cookie.as_deref()).await?;
        let mut template = EnrollPage::new(t, &csrf, "/login/2fa/enroll", enrollment, said.error);
        template.app = app;
        return Ok(branded_page(req, status, template, &csrf.cookies()));
    }
    let template = SecondFactorPage {
        t,
        csrf: csrf.token.clone(),
        email: step.pending.user.email.to_string(),
        has_totp: step.factors.totp.is_some(),
        has_passkey: !step.factors.passkeys.is_empty()
            && step.methods.passkey
            && state.second_factors.passkeys_available(),
        recovery_left: step.recovery_left,
        phone: step.factors.phone_masked.filter(|_| step.sms_available),
        sms_sent: said.sms_sent,
        notice: said.notice,
        error: said.error,
        error_field: said.error_field,
        app,
    };
    Ok(branded_page(req, status, template, &csrf.cookies()))
}

/// `POST /login/2fa`: a TOTP code or a recovery code finishes the sign-in.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let proof = if !form.credential.trim().is_empty() {
        Proof::Passkey(&form.credential)
    } else if !form.recovery_code.trim().is_empty() {
        Proof::Recovery(&form.recovery_code)
    } else if !form.sms_code.trim().is_empty() {
        Proof::Sms(&form.sms_code)
    } else {
        Proof::Totp(&form.code)
    };
    let by_sms = matches!(proof, Proof::Sms(_));
    let error_field = field_of(&proof);
    match state.signin.verify_second_factor(pending_cookie(&req).as_deref(), proof).await {
        Ok(signed_in) => super::verify::signed_in_response(&req, &state, signed_in).await,
        Err(SignInError::WrongSecondFactor(left)) => {
            let said = Said { error: Some(tries_left(&req, left)), error_field, sms_sent: by_sms, ..Said::default() };
            render_step(&req, &state, said, StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(ended(e)),
    }
}

/// `POST /login/2fa/sms`: texts a code to the verified phone (a resend waits 30 s).
pub async fn send_sms(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let origin = client::request_origin(&req, &state.trusted_proxies);
    match state.signin.send_sms_code(pending_cookie(&req).as_deref(), &origin, Lang::of(&req)).await {
        Ok(masked) => {
            let t = Lang::of(&req).messages();
            let said = Said { notice: Some(t.fill(t.second_sms_sent, masked)), sms_sent: true, ..Said::default() };
            render_step(&req, &state, said, StatusCode::OK).await
        }
        Err(SignInError::Mfa(e)) => match shown(e, Lang::of(&req).messages()) {
            Shown::Form(status, message) => {
                render_step(&req, &state, Said { error: Some(message), ..Said::default() }, status).await
            }
            Shown::Page(e) => Err(e),
        },
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
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    match state.signin.confirm_enrollment_in_step(pending_cookie(&req).as_deref(), &form.code).await {
        Ok((signed_in, codes)) => {
            // Sessions from before the account needed a factor end; the owner is told.
            announce(&req, &state, &signed_in.session.claims, AccountChange::TotpAdded).await?;
            let cookies: Vec<Cookie<'static>> = signed_in_cookies(&req, &state, &signed_in).await?;
            let t = Lang::of(&req).messages();
            let mut template = RecoveryCodesPage::new(t, &codes, signed_in.return_to.as_str());
            template.app = app_view(&state, t, &signed_in.return_to, true).await;
            Ok(branded_page(&req, StatusCode::OK, template, &cookies))
        }
        Err(SignInError::WrongSecondFactor(left)) => {
            render_step(
                &req,
                &state,
                Said { error: Some(tries_left(&req, left)), error_field: "code", ..Said::default() },
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(ended(e)),
    }
}

/// The error page for a step that failed for good.
fn ended(e: SignInError) -> AppError {
    match e {
        SignInError::Mfa(e) => e.into(),
        other => other.into(),
    }
}
