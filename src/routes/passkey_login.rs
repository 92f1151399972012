//! Signing in with a passkey at `/login`: `POST /login/passkey/start` answers the request
//! options (JSON) for `static/passkey.js` and sets `__Host-passkey`, which binds the ceremony
//! to this browser; `POST /login/passkey` (the form the script submits, the answer in its
//! `credential` field) signs in and goes on to `return_to`, or shows the login page again
//! saying the passkey did not sign in.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::app_brand::branded_page;
use super::verify::signed_in_response;
use super::{AppState, client, cookies, csrf, login};
use crate::domain::LocalPath;
use crate::error::AppError;
use crate::i18n::Lang;
use crate::second_factor::passkeys::CEREMONY_TTL;
use crate::second_factor::service::SecondFactorError;
use crate::signin::SignInError;

/// Body of `POST /login/passkey/start`.
#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    /// `true` for the request the address field's autofill answers (conditional UI).
    #[serde(default)]
    conditional: String,
}

/// Body of `POST /login/passkey`.
#[derive(Deserialize)]
pub struct PasskeySignInForm {
    #[serde(default)]
    csrf: String,
    /// The browser's answer (WebAuthn credential JSON).
    #[serde(default)]
    credential: String,
    /// Where to go after signing in (a local path; an OIDC authorization being resumed).
    return_to: Option<String>,
    /// `required` when the app being signed in to requires a second factor.
    second_factor: Option<String>,
}

/// A sign-in failure as the error page it reads as.
fn shown(e: SignInError) -> AppError {
    match e {
        SignInError::Mfa(e) => e.into(),
        e => e.into(),
    }
}

fn passkey_cookie(req: &HttpRequest) -> Option<String> {
    cookies::sent(req, cookies::PASSKEY)
}

/// `POST /login/passkey/start`: the request options (JSON) for signing in with a passkey in
/// this browser; `POST /login/passkey` with the answer finishes it.
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<StartForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    if !state.second_factors.passkeys_available() {
        return Err(SecondFactorError::MethodNotAllowed.into());
    }
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let conditional = form.conditional == "true";
    let cookie = passkey_cookie(&req);
    let started = state.signin.begin_passkey_sign_in(cookie.as_deref(), conditional, &origin).await.map_err(shown)?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(cookies::host_cookie(cookies::PASSKEY, started.cookie, Some(CEREMONY_TTL)))
        .json(started.options))
}

/// `POST /login/passkey`: the passkey's answer signs in (no mail) and goes on to `return_to`;
/// a refused one shows the login page again (400).
pub async fn finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PasskeySignInForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    if !state.second_factors.passkeys_available() {
        return Err(SecondFactorError::MethodNotAllowed.into());
    }
    let form = form.into_inner();
    let return_to = form.return_to.as_deref().and_then(LocalPath::parse);
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let cookie = passkey_cookie(&req);
    let destination = return_to.clone().unwrap_or_else(LocalPath::account);
    let outcome = state.signin.finish_passkey_sign_in(cookie.as_deref(), &form.credential, destination, origin).await;
    // The ceremony is used up whatever the answer; so is its cookie.
    let removal = cookies::removal(cookies::PASSKEY);
    let message = match outcome {
        Ok(signed_in) => {
            let claims = &signed_in.session.claims;
            if let Some(method) = claims.amr.first() {
                state.oidc.notify_passkey_used(&claims.sub, method).await;
            }
            let mut response = signed_in_response(&req, &state, signed_in).await?;
            response.add_cookie(&removal).map_err(|e| AppError::Internal(e.into()))?;
            return Ok(response);
        }
        Err(SignInError::Mfa(SecondFactorError::PasskeyRefused)) => {
            |t: &crate::i18n::Messages| t.passkey_sign_in_refused
        }
        Err(SignInError::Mfa(SecondFactorError::PasskeyCloned)) => |t: &crate::i18n::Messages| t.passkey_sign_in_cloned,
        Err(e) => return Err(shown(e)),
    };
    let csrf = csrf::issue(&req, &state.keyring)?;
    let t = Lang::of(&req).messages();
    let required = form.second_factor.as_deref() == Some("required");
    let template =
        login::passkey_refused_page(&req, &state, &csrf, (return_to, required), message(t).to_owned()).await?;
    let mut cookies = csrf.cookies();
    cookies.push(removal);
    Ok(branded_page(&req, StatusCode::BAD_REQUEST, template, &cookies))
}
