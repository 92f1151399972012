//! Confirming it is still the owner before a change to the second factors: a second factor
//! used in this session within the last ten minutes (however the session began), noted in the
//! session's record. And what every factor change does afterwards: other sessions end when a
//! factor is added, the owner is mailed, the change is audited and the apps are told.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use super::AppState;
use super::account::to_account;
use super::factor_errors::{Shown, shown};
use super::second_factor::{Said, StepForm};
use super::{SignedIn, Visitor, client, csrf, page};
use crate::domain::EventKind;
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::second_factor::service::SecondFactorError;
use crate::session::SessionClaims;
use crate::signin::{AccountChange, MadeBy};

/// How recently a second factor must have been used in a session to change the factors (or,
/// to set up a first factor, how recently the session signed in).
pub const FRESH_FACTOR: Duration = Duration::from_secs(600);

/// "Confirm it's you": the account's factors, to use one of them in this session.
#[derive(Template, WebTemplate)]
#[template(path = "confirm_factor.html")]
pub struct ConfirmFactorPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    has_totp: bool,
    has_passkey: bool,
    recovery_left: usize,
    phone: Option<String>,
    sms_sent: bool,
    notice: Option<String>,
    error: Option<String>,
    /// The id of the field `error` is about (`code`, `sms_code`, `recovery_code`), or "".
    error_field: &'static str,
}

/// What an SMS code for confirming this session is bound to (never a pending step's id, which
/// is a keyed hash without a colon).
fn sms_binding(claims: &SessionClaims) -> String {
    format!("session:{}", claims.sid)
}

/// What a passkey ceremony for confirming this session is bound to (never a pending step's id,
/// which is a keyed hash without a colon).
fn passkey_binding(claims: &SessionClaims) -> String {
    format!("confirm:{}", claims.sid)
}

/// `POST /account/confirm-factor/passkey/start`: the request options (JSON) for confirming
/// this session with one of the account's passkeys; `POST /account/confirm-factor` with the
/// answer finishes it.
pub async fn passkey_start(state: web::Data<AppState>, visitor: Visitor<StepForm>) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, .. })) = visitor else { return Ok(to_login()) };
    if !state.signin.passkeys_allowed().await? {
        return Err(SecondFactorError::MethodNotAllowed.into());
    }
    let options = state.second_factors.begin_passkey_check(&claims.sub, &passkey_binding(&claims)).await?;
    Ok(HttpResponse::Ok().insert_header((actix_web::http::header::CACHE_CONTROL, "no-store")).json(options))
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    claims: &SessionClaims,
    said: Said,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let factors = state.second_factors.factors(&claims.sub).await?;
    let sms_available = state.second_factors.sms_configured() && state.signin.sms_allowed().await?;
    let csrf = csrf::issue(req, &state.keyring)?;
    let template = ConfirmFactorPage {
        t: Lang::of(req).messages(),
        csrf: csrf.token.clone(),
        has_totp: factors.totp.is_some(),
        has_passkey: !factors.passkeys.is_empty()
            && state.second_factors.passkeys_available()
            && state.signin.passkeys_allowed().await?,
        recovery_left: state.second_factors.recovery_left(&claims.sub).await?,
        phone: factors.phone_masked.filter(|_| sms_available && factors.phone.is_some()),
        sms_sent: said.sms_sent,
        notice: said.notice,
        error: said.error,
        error_field: said.error_field,
    };
    Ok(page(req, status, template, &csrf.cookies()))
}

/// Whether this session may change how the account signs in (or delete it) now.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Freshness {
    /// A second factor was used in it within [`FRESH_FACTOR`], or the account has none and it
    /// signed in within it.
    Fresh,
    /// The account has a second factor, not used in this session lately.
    NeedsFactor,
    /// The account has no second factor, and this session signed in longer ago.
    NeedsSignIn,
}

impl Freshness {
    /// How fresh the session of `claims` is.
    pub(super) async fn of(state: &AppState, claims: &SessionClaims) -> Result<Self, AppError> {
        if state.sessions.factor_used_within(claims, FRESH_FACTOR).await? {
            return Ok(Self::Fresh);
        }
        if state.second_factors.account_has_factor(&claims.sub, &claims.email).await? {
            return Ok(Self::NeedsFactor);
        }
        if state.sessions.began_within(claims, FRESH_FACTOR).await? {
            return Ok(Self::Fresh);
        }
        Ok(Self::NeedsSignIn)
    }
}

/// `None` when this session may change the factors now: a second factor was used in it within
/// [`FRESH_FACTOR`], or — while the account has none, by its factors' data and by its record's
/// `factor_kinds` alike — it signed in within [`FRESH_FACTOR`].
/// Otherwise a 403: the "confirm it's you" page when the account has a factor (a stolen or
/// older email-only session cannot swap or remove it), and "sign in again" when it has none (a
/// stolen session of any age could otherwise set up its own factor, which ends every other
/// session and locks the owner out; a fresh sign-in by link proves the mailbox).
pub(super) async fn unless_fresh(
    req: &HttpRequest,
    state: &AppState,
    claims: &SessionClaims,
) -> Result<Option<HttpResponse>, AppError> {
    match Freshness::of(state, claims).await? {
        Freshness::Fresh => return Ok(None),
        Freshness::NeedsSignIn => return Err(AppError::Forbidden(|t| t.error_first_factor_sign_in_again)),
        Freshness::NeedsFactor => {}
    }
    let said = Said { error: Some(Lang::of(req).messages().error_factor_not_fresh.to_owned()), ..Said::default() };
    render(req, state, claims, said, StatusCode::FORBIDDEN).await.map(Some)
}

/// After a change to the factors (or every session ended): mails the owner, audits the change
/// and tells the apps. A factor just added then ends every *other* session: they signed in
/// with less than the account now asks for.
pub(super) async fn announce(
    req: &HttpRequest,
    state: &AppState,
    claims: &SessionClaims,
    change: AccountChange,
) -> Result<(), AppError> {
    let origin = client::request_origin(req, &state.trusted_proxies);
    // The owner is told first, and the other sessions end even if the notice could not be
    // queued: the change is made, whatever fails.
    let told =
        state.signin.account_changed(Lang::of(req), &claims.sub, &claims.email, change, &origin, MadeBy::Owner).await;
    if change.is_factor_change() {
        state.oidc.notify_factor_changed(&claims.sub, change.name()).await;
    }
    if matches!(change, AccountChange::TotpAdded | AccountChange::PhoneAdded | AccountChange::PasskeyAdded) {
        let ended = state.sessions.end_others(claims).await?;
        if !ended.is_empty() {
            let detail = format!("other sessions: {}", change.name());
            state.audit.record(EventKind::SessionsRevoked, Some(&claims.sub), &origin, &detail).await;
        }
        for sid in &ended {
            state.oidc.notify_ended(&claims.sub, Some(sid)).await;
        }
    }
    told?;
    Ok(())
}

/// After an administrator's `change` to the account of `user` (at `email`): mails the owner
/// (in the language of their latest sign-in; a factor change is also audited as one) and tells
/// their apps: `user.sessions_revoked` when every session ended (a revocation, a block),
/// `user.second_factor_changed` otherwise. The apps are told even when the notice could not be
/// queued; the action itself is audited where it is taken.
pub(crate) async fn announce_by_admin(
    req: &HttpRequest,
    state: &AppState,
    user: &crate::domain::UserId,
    email: &crate::domain::Email,
    change: AccountChange,
) -> Result<(), AppError> {
    let origin = client::request_origin(req, &state.trusted_proxies);
    let lang = state.signin.account_lang(user).await.unwrap_or_default();
    let told = state.signin.account_changed(lang, user, email, change, &origin, MadeBy::Administrator).await;
    if change.is_factor_change() {
        state.oidc.notify_factor_changed(user, change.name()).await;
    } else {
        state.oidc.notify_ended(user, None).await;
    }
    told.map_err(AppError::from)
}

fn to_login() -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, "/login?return_to=/account/confirm-factor")).finish()
}

/// `GET /account/confirm-factor`: the factors to confirm with.
pub async fn confirm_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, .. })) = visitor else { return Ok(to_login()) };
    render(&req, &state, &claims, Said::default(), StatusCode::OK).await
}

/// `POST /account/confirm-factor`: an app, SMS or recovery code or a passkey, checked like a sign-in step's
/// (counted against the account before it is checked); the right one notes in the session that
/// a second factor was used now.
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: Visitor<StepForm>,
) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, form, .. })) = visitor else { return Ok(to_login()) };
    let methods = state.admin.policy().await?.methods;
    let user = &claims.sub;
    let checked = if !form.credential.trim().is_empty() && methods.passkey {
        match state.second_factors.check_passkey(user, &passkey_binding(&claims), &form.credential).await {
            Ok(_) => Ok((true, "passkey")),
            Err(SecondFactorError::PasskeyRefused | SecondFactorError::NothingPending) => Ok((false, "passkey")),
            Err(SecondFactorError::PasskeyCloned) => {
                let origin = client::request_origin(&req, &state.trusted_proxies);
                let detail = "passkey counter went back";
                state.audit.record(EventKind::SecondFactorFailed, Some(user), &origin, detail).await;
                Err(SecondFactorError::PasskeyCloned)
            }
            Err(e) => Err(e),
        }
    } else if !form.recovery_code.trim().is_empty() {
        state.second_factors.use_recovery_code(user, &form.recovery_code).await.map(|ok| (ok, "recovery"))
    } else if !form.sms_code.trim().is_empty() && methods.sms {
        state.second_factors.check_login_code(user, &sms_binding(&claims), &form.sms_code).await.map(|ok| (ok, "sms"))
    } else if methods.totp {
        state.second_factors.check_totp(user, &form.code).await.map(|ok| (ok, "otp"))
    } else {
        Err(SecondFactorError::MethodNotAllowed)
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    match checked {
        Ok((true, how)) => {
            state.sessions.stamp_factor(&claims).await?;
            state.audit.record(EventKind::SecondFactorPassed, Some(user), &origin, how).await;
            Ok(to_account())
        }
        Ok((false, how)) => {
            state.audit.record(EventKind::SecondFactorFailed, Some(user), &origin, how).await;
            let t = Lang::of(&req).messages();
            let error_field = match how {
                "recovery" => "recovery_code",
                "sms" => "sms_code",
                _ => "code",
            };
            let said = Said {
                error: Some(t.second_wrong_code.to_owned()),
                error_field,
                sms_sent: how == "sms",
                ..Said::default()
            };
            render(&req, &state, &claims, said, StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/confirm-factor/sms`: texts a code to the verified phone, for this session.
pub async fn send_sms(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: Visitor<StepForm>,
) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, .. })) = visitor else { return Ok(to_login()) };
    if !state.signin.sms_allowed().await? {
        return Err(SecondFactorError::SmsDisabled.into());
    }
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let t = Lang::of(&req).messages();
    match state.second_factors.send_login_code(&claims.sub, &sms_binding(&claims), origin.ip, t.lang).await {
        Ok(masked) => {
            let said = Said { notice: Some(t.fill(t.second_sms_sent, masked)), sms_sent: true, ..Said::default() };
            render(&req, &state, &claims, said, StatusCode::OK).await
        }
        Err(e) => match shown(e, t) {
            Shown::Form(status, message) => {
                render(&req, &state, &claims, Said { error: Some(message), ..Said::default() }, status).await
            }
            Shown::Page(e) => Err(e),
        },
    }
}
