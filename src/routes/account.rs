//! The account page, its session list, and signing out.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::AppState;
use super::signed_in::{CsrfForm, current_session};
use super::{SignedIn, Visitor, cookies, csrf, page};
use crate::domain::{EventKind, SessionId};
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::signin::{AccountChange, MadeBy};

/// `GET /account`.
#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    email: String,
    signed_in_at: String,
    methods: String,
    expires_at: String,
    sessions: Vec<SessionRow>,
    has_totp: bool,
    recovery_left: usize,
    phone: Option<String>,
    sms_available: bool,
    factor_fresh: bool,
    activity: Vec<ActivityRow>,
    passkeys: Vec<PasskeyRow>,
    passkeys_allowed: bool,
    /// After an email sign-in, for an account without a passkey, in a browser not offered one
    /// before: "Sign in faster next time with a passkey" (shown by the script, once).
    passkey_offer: bool,
}

/// One passkey on the account page.
pub struct PasskeyRow {
    id: String,
    name: String,
    added_at: String,
    last_used_at: Option<String>,
    /// The authenticator may sync it to other devices (backup eligible).
    synced: bool,
    /// It is backed up (as the authenticator last said).
    backed_up: bool,
}

/// One line of recent sign-in activity.
pub struct ActivityRow {
    at: String,
    what: &'static str,
    device: String,
    ip: String,
}

fn describe(kind: EventKind, t: &'static Messages) -> &'static str {
    match kind {
        EventKind::SessionIssued => t.activity_signed_in,
        EventKind::SessionEnded => t.activity_signed_out,
        EventKind::SessionsRevoked => t.activity_signed_out_everywhere,
        EventKind::SecondFactorPassed => t.activity_factor_passed,
        EventKind::SecondFactorFailed => t.activity_factor_failed,
        EventKind::AdminAction => t.activity_admin,
        EventKind::FactorChanged => t.activity_factor_changed,
        EventKind::RefreshTokenReused => t.activity_refresh_token_reused,
        EventKind::AccountExported => t.activity_account_exported,
        EventKind::EmailChanged => t.activity_email_changed,
        EventKind::EmailChangeRequested => t.activity_email_change_requested,
        _ => t.activity_other,
    }
}

/// One line of the session list.
pub struct SessionRow {
    sid: String,
    device: String,
    ip: String,
    created_at: String,
    last_seen_at: String,
    current: bool,
}

/// Body of `POST /logout` and `POST /logout/all`.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Body of `POST /account/sessions/end`.
#[derive(Deserialize)]
pub struct EndSessionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sid: String,
}

impl CsrfForm for EndSessionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn utc_ts(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0).map(utc).unwrap_or_default()
}

/// Back to the account page (303).
pub(super) fn to_account() -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, "/account")).finish()
}

fn to_login() -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, "/login?return_to=/account")).finish()
}

/// `GET /account`: who you are and where you are signed in; strangers go to the login page.
pub async fn account_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, .. })) = visitor else { return Ok(to_login()) };
    let t = Lang::of(&req).messages();
    let sessions = state
        .sessions
        .list(&claims)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            current: s.sid == claims.sid,
            sid: s.sid.to_string(),
            device: s.origin.browser(),
            ip: s.origin.ip_text(),
            created_at: utc(s.created_at),
            last_seen_at: utc(s.last_seen_at),
        })
        .collect();
    let activity = state
        .audit_events(&claims.sub)
        .await?
        .into_iter()
        .map(|e| ActivityRow {
            at: e.at.get(..16).unwrap_or_default().replace('T', " ") + " UTC",
            what: describe(e.kind, t),
            device: e.browser,
            ip: e.ip,
        })
        .collect();
    let factors = state.second_factors.factors(&claims.sub).await?;
    let recovery_left = state.second_factors.recovery_left(&claims.sub).await?;
    let factor_fresh = state.sessions.factor_used_within(&claims, super::account_confirm::FRESH_FACTOR).await?;
    let csrf = csrf::issue(&req, &state.keyring)?;
    let passkeys = factors
        .passkeys
        .iter()
        .map(|p| PasskeyRow {
            id: p.id.clone(),
            name: p.name.clone(),
            added_at: utc(p.added_at),
            last_used_at: p.last_used_at.map(utc),
            synced: p.synced,
            backed_up: p.backed_up,
        })
        .collect();
    let passkeys_allowed = state.second_factors.passkeys_available() && state.signin.passkeys_allowed().await?;
    let passkey_offer = passkeys_allowed
        && factors.passkeys.is_empty()
        && claims.amr.iter().any(|m| m == "email")
        && cookies::sent(&req, cookies::PASSKEY_OFFERED).is_none();
    let template = AccountPage {
        passkey_offer,
        t,
        factor_fresh,
        passkeys,
        passkeys_allowed,
        has_totp: factors.totp.is_some(),
        recovery_left,
        phone: factors.phone_masked,
        activity,
        sms_available: state.second_factors.sms_configured() && state.signin.sms_allowed().await?,
        csrf: csrf.token.clone(),
        email: claims.email.to_string(),
        signed_in_at: utc_ts(claims.auth_time),
        methods: sign_in_methods(t, &claims.amr),
        expires_at: utc_ts(claims.exp),
        sessions,
    };
    Ok(page(&req, StatusCode::OK, template, &csrf.cookies()))
}

/// `POST /account/sessions/end`: ends one of your other sessions.
pub async fn end_session(
    state: web::Data<AppState>,
    visitor: Visitor<EndSessionForm>,
) -> Result<HttpResponse, AppError> {
    let Visitor(Some(SignedIn { claims, form, .. })) = visitor else { return Ok(to_login()) };
    let sid = SessionId::parse(&form.sid).ok_or_else(|| AppError::Invalid(|t| t.account_no_such_session))?;
    // Sessions are looked up under the signed-in user only, so nobody can end another's.
    state.sessions.end_one(&claims, &sid).await?;
    Ok(to_account())
}

/// `POST /logout`: ends this session and clears the cookie.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    sign_out(&req, &state, &form.csrf, false).await
}

/// `POST /logout/all`: ends every session of this user, on every device.
pub async fn logout_all(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, AppError> {
    sign_out(&req, &state, &form.csrf, true).await
}

async fn sign_out(
    req: &HttpRequest,
    state: &AppState,
    csrf_token: &str,
    everywhere: bool,
) -> Result<HttpResponse, AppError> {
    csrf::verify(req, &state.keyring, &state.public_origin, csrf_token)?;
    let origin = super::client::request_origin(req, &state.trusted_proxies);
    let ended = match current_session(req, state).await {
        Ok(Some(claims)) if everywhere => {
            let ended = state.sessions.end_all(&claims).await.map(drop).map_err(AppError::from);
            state.audit.record(EventKind::SessionsRevoked, Some(&claims.sub), &origin, "by user").await;
            state.oidc.notify_ended(&claims.sub, None).await;
            let change = AccountChange::SessionsEnded;
            let noticed = state
                .signin
                .account_changed(Lang::of(req), &claims.sub, &claims.email, change, &origin, MadeBy::Owner)
                .await;
            ended.and(noticed.map_err(AppError::from))
        }
        Ok(Some(claims)) => {
            let ended = state.sessions.end(&claims).await.map_err(AppError::from);
            state.audit.record(EventKind::SessionEnded, Some(&claims.sub), &origin, "").await;
            state.oidc.notify_ended(&claims.sub, Some(&claims.sid)).await;
            ended
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    // The cookie goes whatever the store said: a browser asked to sign out is signed out.
    let removal = cookies::removal(cookies::SESSION);
    match ended {
        Ok(()) => Ok(HttpResponse::SeeOther().cookie(removal).insert_header((LOCATION, "/login")).finish()),
        Err(e) => {
            let mut response = actix_web::ResponseError::error_response(&e);
            response.add_cookie(&removal).map_err(|e| AppError::Internal(e.into()))?;
            Ok(response)
        }
    }
}

/// "This wasn't me?" — confirm first (mail scanners follow links).
#[derive(Template, WebTemplate)]
#[template(path = "not_me.html")]
pub struct NotMePage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    token: String,
    done: bool,
}

/// Query / body of the "this wasn't me" link.
#[derive(Deserialize)]
pub struct NotMeForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// `GET /account/not-me?token=…`: a page with one button; does nothing by itself.
pub async fn not_me_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NotMeForm>,
) -> Result<HttpResponse, AppError> {
    if !state.signin.report_is_live(&query.token).await? {
        return Err(AppError::Gone(|t| t.error_not_me_ended));
    }
    let csrf = csrf::issue(&req, &state.keyring)?;
    let template =
        NotMePage { t: Lang::of(&req).messages(), csrf: csrf.token.clone(), token: query.token.clone(), done: false };
    Ok(page(&req, StatusCode::OK, template, &csrf.cookies()))
}

/// `POST /account/not-me`: ends every session of the account and voids waiting links.
pub async fn not_me(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<NotMeForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let origin = super::client::request_origin(&req, &state.trusted_proxies);
    let Some(user) = state.signin.report_not_me(&form.token, &origin).await? else {
        return Err(AppError::Gone(|t| t.error_not_me_ended));
    };
    state.oidc.notify_ended(&user, None).await;
    let template = NotMePage { t: Lang::of(&req).messages(), csrf: String::new(), token: String::new(), done: true };
    Ok(page(&req, StatusCode::OK, template, &[cookies::removal(cookies::SESSION)]))
}

/// How a session signed in, in words: each RFC 8176 `amr` value we issue, named in `t`'s
/// language (`mfa` only says there were two, so it is left out); another value as it is.
fn sign_in_methods(t: &Messages, amr: &[String]) -> String {
    let named: Vec<&str> = amr
        .iter()
        .filter(|m| *m != "mfa")
        .map(|m| match m.as_str() {
            "email" => t.method_email,
            "otp" => t.method_otp,
            "sms" => t.method_sms,
            "hwk" | "swk" => t.method_passkey,
            other => other,
        })
        .collect();
    named.join(", ")
}
