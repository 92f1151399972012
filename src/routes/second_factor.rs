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
use crate::second_factor::service::{SecondFactorError, TotpEnrollment};
use crate::signin::{AccountChange, PasskeyOnly, Proof, SignInError};

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
    /// Why only a passkey finishes this step (shown above it), if so.
    passkey_only: Option<&'static str>,
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
    /// An authenticator app is offered (a seed was made).
    pub(super) totp: bool,
    /// A passkey is offered besides (a sign-in step that must set up a factor).
    pub(super) passkey: bool,
    /// Said above the choices (why only a passkey is offered), if anything.
    pub(super) notice: Option<&'static str>,
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
            totp: true,
            passkey: false,
            notice: None,
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
    cookies::sent(req, cookies::PENDING)
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
    let passkeys_on = step.methods.passkey && state.second_factors.passkeys_available();
    let passkey_only = step.passkey_only.map(|why| match why {
        PasskeyOnly::Admin => t.second_passkey_only_admin,
        PasskeyOnly::App => t.second_passkey_only_app,
    });
    if step.pending.must_enroll {
        let (_, enrollment) = state.signin.enrollment_in_step(cookie.as_deref()).await?;
        let mut template = match enrollment {
            Some(enrollment) => EnrollPage::new(t, &csrf, "/login/2fa/enroll", enrollment, said.error),
            None => EnrollPage {
                t,
                csrf: csrf.token.clone(),
                action: "/login/2fa/enroll",
                required: true,
                totp: false,
                passkey: false,
                notice: None,
                qr_svg: String::new(),
                base32: String::new(),
                error: said.error,
                app: None,
            },
        };
        template.passkey = passkeys_on;
        template.notice = passkey_only.map(|why| if passkeys_on { why } else { t.second_passkey_missing });
        template.app = app;
        return Ok(branded_page(req, status, template, &csrf.cookies()));
    }
    let has_passkey = !step.factors.passkeys.is_empty() && passkeys_on;
    let template = SecondFactorPage {
        t,
        csrf: csrf.token.clone(),
        email: step.pending.user.email.to_string(),
        has_totp: step.factors.totp.is_some() && passkey_only.is_none(),
        has_passkey,
        passkey_only: passkey_only.map(|why| if has_passkey { why } else { t.second_passkey_missing }),
        recovery_left: if passkey_only.is_some() { 0 } else { step.recovery_left },
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
        Ok(signed_in) => {
            let claims = &signed_in.session.claims;
            if let Some(method) = claims.amr.iter().find(|m| *m == "hwk" || *m == "swk") {
                state.oidc.notify_passkey_used(&claims.sub, method).await;
            }
            super::verify::signed_in_response(&req, &state, signed_in).await
        }
        Err(SignInError::WrongSecondFactor(left)) => {
            let said = Said { error: Some(tries_left(&req, left)), error_field, sms_sent: by_sms, ..Said::default() };
            render_step(&req, &state, said, StatusCode::BAD_REQUEST).await
        }
        Err(SignInError::Mfa(SecondFactorError::PasskeyOnly)) => {
            let t = Lang::of(&req).messages();
            let said = Said { error: Some(t.second_passkey_codes_refused.to_owned()), ..Said::default() };
            render_step(&req, &state, said, StatusCode::FORBIDDEN).await
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
        Err(SignInError::Mfa(SecondFactorError::PasskeyOnly)) => {
            let t = Lang::of(&req).messages();
            let said = Said { error: Some(t.second_passkey_codes_refused.to_owned()), ..Said::default() };
            render_step(&req, &state, said, StatusCode::FORBIDDEN).await
        }
        Err(e) => Err(ended(e)),
    }
}

/// `POST /login/2fa/enroll/passkey/start`: the creation options (JSON) for a passkey set up
/// inside a step that requires a factor; `POST /login/2fa/enroll/passkey` finishes it.
pub async fn enroll_passkey_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    if !state.second_factors.passkeys_available() {
        return Err(SecondFactorError::MethodNotAllowed.into());
    }
    let options =
        state.signin.begin_passkey_enrollment_in_step(pending_cookie(&req).as_deref()).await.map_err(ended)?;
    Ok(HttpResponse::Ok().insert_header((actix_web::http::header::CACHE_CONTROL, "no-store")).json(options))
}

/// `POST /login/2fa/enroll/passkey`: the authenticator's answer adds the passkey and signs in
/// with it; the recovery codes are shown once, with the way on.
pub async fn confirm_passkey_enrollment(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let device = client::request_origin(&req, &state.trusted_proxies).known_browser();
    let cookie = pending_cookie(&req);
    match state.signin.confirm_passkey_enrollment_in_step(cookie.as_deref(), &form.credential, device.as_deref()).await
    {
        Ok((signed_in, codes)) => {
            announce(&req, &state, &signed_in.session.claims, AccountChange::PasskeyAdded).await?;
            let cookies: Vec<Cookie<'static>> = signed_in_cookies(&req, &state, &signed_in).await?;
            let t = Lang::of(&req).messages();
            let mut template = RecoveryCodesPage::new(t, &codes, signed_in.return_to.as_str());
            template.app = app_view(&state, t, &signed_in.return_to, true).await;
            Ok(branded_page(&req, StatusCode::OK, template, &cookies))
        }
        Err(SignInError::WrongSecondFactor(left)) => {
            let error = format!("{} {}", SecondFactorError::PasskeyRefused, tries_left(&req, left));
            render_step(&req, &state, Said { error: Some(error), ..Said::default() }, StatusCode::BAD_REQUEST).await
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

/// The error page for a step that failed for good.
fn ended(e: SignInError) -> AppError {
    match e {
        SignInError::Mfa(e) => e.into(),
        other => other.into(),
    }
}
