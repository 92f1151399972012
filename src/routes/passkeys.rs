//! Passkeys: adding, renaming and removing them on the account page, and beginning their use at the
//! second step (`POST /login/2fa` with a `credential` finishes it). The two `…/start` routes
//! answer JSON for `static/passkey.js`; the finishing routes are forms the script submits, so
//! their answers are pages like every other form's.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::account::to_account;
use super::second_factor::{RecoveryCodesPage, StepForm};
use super::signed_in::CsrfForm;
use super::{AppState, SignedIn, csrf, page};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::second_factor::service::SecondFactorError;
use crate::session::SessionClaims;
use crate::signin::AccountChange;

/// Body of the passkey forms on the account page.
#[derive(Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    csrf: String,
    /// The browser's answer (WebAuthn credential JSON), when finishing.
    #[serde(default)]
    credential: String,
    /// The name to give a new passkey.
    #[serde(default)]
    name: String,
    /// The passkey to remove (its credential id).
    #[serde(default)]
    id: String,
}

impl CsrfForm for PasskeyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// What a registration ceremony is bound to: the session that began it.
fn binding(claims: &SessionClaims) -> String {
    format!("session:{}", claims.sid)
}

fn json(options: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().insert_header((CACHE_CONTROL, "no-store")).json(options)
}

async fn allowed(state: &AppState) -> Result<(), AppError> {
    if !state.signin.passkeys_allowed().await? || !state.second_factors.passkeys_available() {
        return Err(SecondFactorError::MethodNotAllowed.into());
    }
    Ok(())
}

/// `POST /account/passkeys/register/start`: the creation options for a new passkey (JSON),
/// from a session that may change the second factors now.
pub async fn register_start(state: web::Data<AppState>, user: SignedIn<PasskeyForm>) -> Result<HttpResponse, AppError> {
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    allowed(&state).await?;
    let claims = &user.claims;
    let options = state.second_factors.begin_passkey_registration(&claims.sub, &claims.email, &binding(claims)).await?;
    Ok(json(options))
}

/// `POST /account/passkeys/register/finish`: the authenticator's answer adds the passkey; the
/// owner is told. Someone with no recovery codes yet gets them now, shown once.
pub async fn register_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SignedIn<PasskeyForm>,
) -> Result<HttpResponse, AppError> {
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    allowed(&state).await?;
    let claims = &user.claims;
    let form = &user.form;
    let device = super::client::request_origin(&req, &state.trusted_proxies).known_browser();
    state
        .second_factors
        .finish_passkey_registration(&claims.sub, &binding(claims), &form.credential, &form.name, device.as_deref())
        .await?;
    // The owner is told before anything else can fail.
    user.announce(AccountChange::PasskeyAdded).await?;
    if state.second_factors.recovery_left(&claims.sub).await? == 0 {
        let codes = state.second_factors.regenerate_recovery(&claims.sub).await?;
        let t = Lang::of(&req).messages();
        return Ok(page(&req, StatusCode::OK, RecoveryCodesPage::new(t, &codes, "/account"), &[]));
    }
    Ok(to_account())
}

/// `POST /account/passkeys/remove`: removes one passkey (`id`), from a session that used a
/// second factor in the last ten minutes (otherwise the "confirm it's you" page).
pub async fn remove(state: web::Data<AppState>, user: SignedIn<PasskeyForm>) -> Result<HttpResponse, AppError> {
    if let Some(refused) = user.unless_fresh().await? {
        return Ok(refused);
    }
    state.second_factors.remove_passkey(&user.claims.sub, &user.form.id).await?;
    user.announce(AccountChange::PasskeyRemoved).await?;
    Ok(to_account())
}

/// `POST /account/passkeys/rename`: gives one passkey (`id`) a new `name` (plain text, at most
/// 64 characters). A name is no change to how the account signs in: no fresh factor needed,
/// no notice.
pub async fn rename(state: web::Data<AppState>, user: SignedIn<PasskeyForm>) -> Result<HttpResponse, AppError> {
    state.second_factors.rename_passkey(&user.claims.sub, &user.form.id, &user.form.name).await?;
    Ok(to_account())
}

/// `POST /login/2fa/passkey/start`: the request options (JSON) for using a passkey at the
/// second step waiting for this browser; `POST /login/2fa` with the answer finishes it.
pub async fn step_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<StepForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    if !state.second_factors.passkeys_available() {
        return Err(SecondFactorError::MethodNotAllowed.into());
    }
    let cookie = super::second_factor::pending_cookie(&req);
    let options = state.signin.begin_passkey_step(cookie.as_deref()).await?;
    Ok(json(options))
}
