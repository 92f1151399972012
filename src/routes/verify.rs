//! The link and the code from the mail: a confirm page (GET never consumes), redemption by
//! click (`POST /login/verify`) or by code (`POST /login/code`).

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::AppState;
use super::app_brand::{AppView, app_view, branded_page};
use super::signed_in::current_session;
use super::{client, cookies, csrf, page};
use crate::domain::LinkToken;
use crate::error::AppError;
use crate::i18n::{Lang, Messages};
use crate::signin::{LinkProblem, LinkView, NewSession, SignInError, SignInOutcome};
use crate::store::LinkAttempt;

/// "Sign in as …?" with one button.
#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    token: String,
    email: String,
    requested_at: String,
    ip: String,
    browser: String,
    other_browser: bool,
    /// The app this sign-in is for, when it resumes a registered client's authorization.
    pub(super) app: Option<AppView>,
}

/// Another browser: the code from the mail finishes the sign-in.
#[derive(Template, WebTemplate)]
#[template(path = "enter_code.html")]
pub struct EnterCodePage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    token: Option<String>,
    email: String,
    requested_at: String,
    ip: String,
    browser: String,
    error: Option<String>,
    /// The app this sign-in is for, when it resumes a registered client's authorization.
    pub(super) app: Option<AppView>,
}

/// Another browser under policy `deny`.
#[derive(Template, WebTemplate)]
#[template(path = "other_browser.html")]
pub struct OtherBrowserPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    email: String,
    requested_at: String,
    ip: String,
    browser: String,
    /// The app this sign-in is for, when it resumes a registered client's authorization.
    pub(super) app: Option<AppView>,
}

/// An unknown, expired, used, replaced or dead link, with a form for a new one.
#[derive(Template, WebTemplate)]
#[template(path = "link_problem.html")]
pub struct LinkProblemPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    title: &'static str,
    message: &'static str,
    email: String,
}

/// Query of `GET /login/verify`.
#[derive(Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    token: String,
}

/// Body of `POST /login/verify`.
#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// Body of `POST /login/code`.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
    token: Option<String>,
}

/// Who asked, for the pages that name it.
pub(super) struct Requested {
    pub(super) email: String,
    pub(super) at: String,
    pub(super) ip: String,
    pub(super) browser: String,
}

impl From<&LinkAttempt> for Requested {
    fn from(a: &LinkAttempt) -> Self {
        Self {
            email: a.email.to_string(),
            at: a.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ip: a.requested_from.ip_text(),
            browser: a.requested_from.browser(),
        }
    }
}

pub(super) fn attempt_cookie(req: &HttpRequest) -> Option<String> {
    cookies::sent(req, cookies::ATTEMPT)
}

/// `GET /login/verify?token=…`: names the account; never consumes the token.
pub async fn confirm_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(&req, &state.keyring)?;
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let Some(token) = LinkToken::parse(&query.token) else {
        return Ok(problem_page(&req, &csrf, LinkProblem::Unknown));
    };
    let view = match state.signin.preview(&token, attempt_cookie(&req).as_deref(), &origin).await {
        Ok(view) => view,
        Err(SignInError::Link(problem)) => return Ok(problem_page(&req, &csrf, problem)),
        Err(e) => return Err(e.into()),
    };
    let cookies = csrf.cookies();
    let t = Lang::of(&req).messages();
    // The approve page is not branded: no app lookup for it.
    let app = match &view {
        LinkView::OneClick(a) | LinkView::EnterCode(a) | LinkView::OtherBrowserDenied(a) => {
            app_view(&state, t, &a.return_to, true).await
        }
        LinkView::Approve(_) => None,
    };
    Ok(match view {
        LinkView::OneClick(attempt) => {
            let r = Requested::from(&attempt);
            let other_browser = !state.signin.is_same_browser(&token, &attempt, attempt_cookie(&req).as_deref());
            let template = ConfirmPage {
                t,
                csrf: csrf.token.clone(),
                token: token.expose().to_owned(),
                email: r.email,
                requested_at: r.at,
                ip: r.ip,
                browser: r.browser,
                other_browser,
                app,
            };
            branded_page(&req, StatusCode::OK, template, &cookies)
        }
        LinkView::EnterCode(attempt) => {
            let template = enter_code(&req, &csrf, Some(&token), &attempt, None, app);
            branded_page(&req, StatusCode::OK, template, &cookies)
        }
        LinkView::OtherBrowserDenied(attempt) => {
            let r = Requested::from(&attempt);
            let template =
                OtherBrowserPage { t, email: r.email, requested_at: r.at, ip: r.ip, browser: r.browser, app };
            branded_page(&req, StatusCode::FORBIDDEN, template, &cookies)
        }
        LinkView::Approve(attempt) => {
            let template = super::approve::approve_page(&req, &csrf, &token, &attempt, None);
            page(&req, StatusCode::OK, template, &cookies)
        }
    })
}

/// `POST /login/verify`: consumes the token and starts the session, in the browser that
/// asked (or anywhere under policy `click`); elsewhere it asks for the code.
pub async fn redeem_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let csrf = csrf::issue(&req, &state.keyring)?;
    let Some(token) = LinkToken::parse(&form.token) else {
        return Ok(problem_page(&req, &csrf, LinkProblem::Unknown));
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    match state.signin.redeem_link(&token, attempt_cookie(&req).as_deref(), origin).await {
        Ok(outcome) => outcome_response(&req, &state, outcome).await,
        Err(SignInError::NeedsCode(attempt)) => {
            let app = app_view(&state, Lang::of(&req).messages(), &attempt.return_to, true).await;
            let template = enter_code(&req, &csrf, Some(&token), &attempt, None, app);
            Ok(branded_page(&req, StatusCode::FORBIDDEN, template, &csrf.cookies()))
        }
        Err(SignInError::Link(problem)) => Ok(problem_page(&req, &csrf, problem)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /login/code`: finishes with the mailed code — with the link's `token` on another
/// device, or by the `__Host-attempt` cookie in the browser that asked.
pub async fn redeem_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let csrf = csrf::issue(&req, &state.keyring)?;
    let token = match form.token.as_deref().filter(|t| !t.is_empty()) {
        Some(raw) => match LinkToken::parse(raw) {
            Some(token) => Some(token),
            None => return Ok(problem_page(&req, &csrf, LinkProblem::Unknown)),
        },
        None => None,
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let cookie = attempt_cookie(&req);
    match state.signin.redeem_code(token.as_ref(), cookie.as_deref(), &form.code, origin).await {
        Ok(outcome) => outcome_response(&req, &state, outcome).await,
        Err(e @ (SignInError::WrongCode(_) | SignInError::MalformedCode)) => {
            let t = Lang::of(&req).messages();
            let message = match e {
                SignInError::WrongCode(left) => t.fill(t.count(&t.code_wrong_tries_left, left), left),
                _ => t.code_malformed.to_owned(),
            };
            // Show the form again, for the attempt the browser or the token names.
            let preview = match &token {
                Some(token) => state.signin.attempt_for_form(token).await?,
                None => state.signin.attempt_for_cookie(cookie.as_deref()).await?,
            };
            let Some(attempt) = preview else { return Ok(problem_page(&req, &csrf, LinkProblem::Unknown)) };
            let app = app_view(&state, t, &attempt.return_to, true).await;
            let template = enter_code(&req, &csrf, token.as_ref(), &attempt, Some(message), app);
            Ok(branded_page(&req, StatusCode::BAD_REQUEST, template, &csrf.cookies()))
        }
        Err(SignInError::Link(problem)) => Ok(problem_page(&req, &csrf, problem)),
        Err(e) => Err(e.into()),
    }
}

/// After the link: signed in, or on to the second-factor step with its `__Host-pending` cookie.
pub(super) async fn outcome_response(
    req: &HttpRequest,
    state: &AppState,
    outcome: SignInOutcome,
) -> Result<HttpResponse, AppError> {
    match outcome {
        SignInOutcome::Done(signed_in) => signed_in_response(req, state, *signed_in).await,
        SignInOutcome::SecondFactor { cookie, ttl } => Ok(HttpResponse::SeeOther()
            .cookie(cookies::host_cookie(cookies::PENDING, cookie, Some(ttl)))
            .cookie(cookies::removal(cookies::ATTEMPT))
            .insert_header((LOCATION, "/login/2fa"))
            .finish()),
    }
}

/// The cookies of a finished sign-in: the session, and removals of the attempt and pending
/// step. Ends any session this browser had before.
pub async fn signed_in_cookies(
    req: &HttpRequest,
    state: &AppState,
    signed_in: &NewSession,
) -> Result<Vec<actix_web::cookie::Cookie<'static>>, AppError> {
    if let Ok(Some(previous)) = current_session(req, state).await {
        state.sessions.end(&previous).await?;
    }
    let session = cookies::host_cookie(
        cookies::SESSION,
        signed_in.session.token.expose_secret().to_owned(),
        Some(signed_in.session.max_age),
    );
    // The browser's long-lived id: known browsers sign in quietly, new ones get a notice.
    let device = match cookies::sent(req, cookies::DEVICE).filter(|v| v.len() == 43) {
        Some(device) => device,
        None => crate::crypto::random_token::<32>().map_err(|e| AppError::Internal(e.into()))?,
    };
    let claims = &signed_in.session.claims;
    let origin = client::request_origin(req, &state.trusted_proxies);
    if let Err(e) = state.signin.note_device(Lang::of(req), &claims.sub, &claims.email, &device, &origin).await {
        // A notice that cannot go out must not undo a good sign-in.
        tracing::warn!(error = %e, "new-device check failed");
    }
    Ok(vec![
        session,
        cookies::host_cookie(cookies::DEVICE, device, Some(cookies::DEVICE_TTL)),
        cookies::removal(cookies::ATTEMPT),
        cookies::removal(cookies::PENDING),
    ])
}

/// Signed in: the cookies, and a 303 on to `return_to`.
pub async fn signed_in_response(
    req: &HttpRequest,
    state: &AppState,
    signed_in: NewSession,
) -> Result<HttpResponse, AppError> {
    let mut response = HttpResponse::SeeOther();
    for cookie in signed_in_cookies(req, state, &signed_in).await? {
        response.cookie(cookie);
    }
    Ok(response.insert_header((LOCATION, signed_in.return_to.as_str())).finish())
}

fn enter_code(
    req: &HttpRequest,
    csrf: &csrf::Csrf,
    token: Option<&LinkToken>,
    attempt: &LinkAttempt,
    error: Option<String>,
    app: Option<AppView>,
) -> EnterCodePage {
    let r = Requested::from(attempt);
    EnterCodePage {
        t: Lang::of(req).messages(),
        csrf: csrf.token.clone(),
        token: token.map(|t| t.expose().to_owned()),
        email: r.email,
        requested_at: r.at,
        ip: r.ip,
        browser: r.browser,
        error,
        app,
    }
}

pub(super) fn problem_page(req: &HttpRequest, csrf: &csrf::Csrf, problem: LinkProblem) -> HttpResponse {
    let t = Lang::of(req).messages();
    let (status, title, message, email) = match problem {
        LinkProblem::Unknown => (StatusCode::NOT_FOUND, t.link_unknown_title, t.link_unknown_body, String::new()),
        LinkProblem::Expired(email) => (StatusCode::GONE, t.link_expired_title, t.link_expired_body, email.to_string()),
        LinkProblem::Used(email) => (StatusCode::GONE, t.link_used_title, t.link_used_body, email.to_string()),
        LinkProblem::Superseded(email) => {
            (StatusCode::GONE, t.link_superseded_title, t.link_superseded_body, email.to_string())
        }
        LinkProblem::Dead(email) => (StatusCode::GONE, t.link_dead_title, t.link_dead_body, email.to_string()),
    };
    stopped_page(req, csrf, status, (title, message), email)
}

/// A page saying why a sign-in cannot go on (`title`, `message`), with a form for a new link.
pub(super) fn stopped_page(
    req: &HttpRequest,
    csrf: &csrf::Csrf,
    status: StatusCode,
    (title, message): (&'static str, &'static str),
    email: String,
) -> HttpResponse {
    let template = LinkProblemPage { t: Lang::of(req).messages(), csrf: csrf.token.clone(), title, message, email };
    page(req, status, template, &csrf.cookies())
}
