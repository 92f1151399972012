//! Second-factor settings on the account page: set up, turn off, new recovery codes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use askama::Template;
use askama_web::WebTemplate;

use super::AppState;
use super::account::to_account;
use super::factor_errors::phone_problem;
use super::second_factor::{EnrollPage, RecoveryCodesPage};
use super::signed_in::CsrfForm;
use super::{SignedIn, client, csrf, page};
use crate::domain::PhoneNumber;
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::second_factor::service::{EnrollSlot, SecondFactorError};
use crate::signin::AccountChange;

/// "Enter the code we texted".
#[derive(Template, WebTemplate)]
#[template(path = "phone_confirm.html")]
pub struct PhoneConfirmPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    number: String,
    error: Option<String>,
}

/// Body of `POST /account/phone`.
#[derive(Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
}

impl CsrfForm for PhoneForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Body of the forms here.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

impl CsrfForm for CodeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/totp/enroll`: a new seed and its QR code, waiting for a first code.
pub async fn enroll_totp(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn<CodeForm>,
) -> Result<HttpResponse, AppError> {
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    if !state.admin.policy().await?.methods.totp {
        return Err(AppError::Invalid(|t| t.account_totp_turned_off));
    }
    let claims = &user.claims;
    let enrollment = state.second_factors.begin_totp(&claims.sub, &claims.email, EnrollSlot::Account).await?;
    let csrf = csrf::issue(&req, &state.keyring)?;
    Ok(page(
        &req,
        StatusCode::OK,
        EnrollPage::new(Lang::of(&req).messages(), &csrf, "/account/totp/confirm", enrollment, None),
        &csrf.cookies(),
    ))
}

/// `POST /account/totp/confirm`: the first code turns TOTP on; recovery codes shown once.
pub async fn confirm_totp(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn<CodeForm>,
) -> Result<HttpResponse, AppError> {
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    let claims = &user.claims;
    match state.second_factors.confirm_totp(&claims.sub, &user.form.code, EnrollSlot::Account).await {
        Ok(()) => {
            // The owner is told before anything else can fail.
            user.announce(AccountChange::TotpAdded).await?;
            let codes = state.second_factors.regenerate_recovery(&claims.sub).await?;
            Ok(page(&req, StatusCode::OK, RecoveryCodesPage::new(Lang::of(&req).messages(), &codes, "/account"), &[]))
        }
        Err(SecondFactorError::WrongCode) => {
            let enrollment = state.second_factors.pending_totp(&claims.sub, &claims.email, EnrollSlot::Account).await?;
            let enrollment = enrollment.ok_or(SecondFactorError::NothingPending)?;
            let csrf = csrf::issue(&req, &state.keyring)?;
            let error = Some(Lang::of(&req).messages().enroll_wrong_code.to_owned());
            let template =
                EnrollPage::new(Lang::of(&req).messages(), &csrf, "/account/totp/confirm", enrollment, error);
            Ok(page(&req, StatusCode::BAD_REQUEST, template, &csrf.cookies()))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/totp/disable`: turns TOTP off, from a session that used a second factor in
/// the last ten minutes (otherwise the "confirm it's you" page, 403).
pub async fn disable_totp(state: web::Data<AppState>, user: SignedIn<CodeForm>) -> Result<HttpResponse, AppError> {
    turn_off(&user, state.second_factors.disable_totp(&user.claims.sub), AccountChange::TotpRemoved).await
}

/// `POST /account/recovery-codes`: ten new recovery codes replace the old ones, from a session
/// that used a second factor in the last ten minutes (otherwise the "confirm it's you" page).
pub async fn regenerate_recovery(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn<CodeForm>,
) -> Result<HttpResponse, AppError> {
    if !state.second_factors.factors(&user.claims.sub).await?.any() {
        return Err(SecondFactorError::NothingPending.into());
    }
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    let codes = state.second_factors.regenerate_recovery(&user.claims.sub).await?;
    user.announce(AccountChange::RecoveryCodesReplaced).await?;
    Ok(page(&req, StatusCode::OK, RecoveryCodesPage::new(Lang::of(&req).messages(), &codes, "/account"), &[]))
}

/// `POST /account/phone/remove`: the phone stops being a second factor, from a session that
/// used a second factor in the last ten minutes (otherwise the "confirm it's you" page).
pub async fn remove_phone(state: web::Data<AppState>, user: SignedIn<CodeForm>) -> Result<HttpResponse, AppError> {
    turn_off(&user, state.second_factors.remove_phone(&user.claims.sub), AccountChange::PhoneRemoved).await
}

/// Runs `off` (a factor's removal; a future does nothing until awaited) only for a session
/// fresh enough to change factors — otherwise the answer that refuses it — then tells the
/// owner and goes back to the account page.
async fn turn_off(
    user: &SignedIn<CodeForm>,
    off: impl Future<Output = Result<(), SecondFactorError>>,
    change: AccountChange,
) -> Result<HttpResponse, AppError> {
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    off.await?;
    user.announce(change).await?;
    Ok(to_account())
}

/// `POST /account/phone`: texts a code to verify a phone number (E.164, allowed country).
pub async fn add_phone(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn<PhoneForm>,
) -> Result<HttpResponse, AppError> {
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    if !state.signin.sms_allowed().await? {
        return Err(AppError::Invalid(|t| t.second_sms_unavailable));
    }
    let phone = PhoneNumber::parse(&user.form.phone).map_err(|e| AppError::Invalid(phone_problem(e)))?;
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let csrf = csrf::issue(&req, &state.keyring)?;
    state.second_factors.start_phone_enrollment(&user.claims.sub, &phone, origin.ip, Lang::of(&req)).await?;
    let t = Lang::of(&req).messages();
    let template = PhoneConfirmPage { t, csrf: csrf.token.clone(), number: phone.masked(), error: None };
    Ok(page(&req, StatusCode::OK, template, &csrf.cookies()))
}

/// `POST /account/phone/confirm`: the texted code makes the phone a second factor. Someone
/// with no recovery codes yet gets them now, shown once.
pub async fn confirm_phone(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn<CodeForm>,
) -> Result<HttpResponse, AppError> {
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    let user_id = &user.claims.sub;
    match state.second_factors.confirm_phone(user_id, &user.form.code).await {
        Ok(_) => {
            // The owner is told before anything else can fail.
            user.announce(AccountChange::PhoneAdded).await?;
            if state.second_factors.recovery_left(user_id).await? > 0 {
                return Ok(to_account());
            }
            let codes = state.second_factors.regenerate_recovery(user_id).await?;
            Ok(page(&req, StatusCode::OK, RecoveryCodesPage::new(Lang::of(&req).messages(), &codes, "/account"), &[]))
        }
        Err(SecondFactorError::WrongCode) => {
            let csrf = csrf::issue(&req, &state.keyring)?;
            let t = Lang::of(&req).messages();
            let template = PhoneConfirmPage {
                t,
                csrf: csrf.token.clone(),
                number: t.phone_yours.to_owned(),
                error: Some(t.second_wrong_code.to_owned()),
            };
            Ok(page(&req, StatusCode::BAD_REQUEST, template, &csrf.cookies()))
        }
        Err(e) => Err(e.into()),
    }
}
