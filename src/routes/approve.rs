//! Policy `approve`: the page another device sees (`GET /login/verify` there), the number it
//! types (`POST /login/approve`), the status the browser that asked reloads until it is signed
//! in (`GET /login/status`), and the JSON answer its page's script polls instead
//! (`GET /api/v1/login/status`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::AppState;
use super::app_brand::{app_view, branded_page};
use super::login::SentPage;
use super::signed_in::current_session;
use super::verify::{Requested, attempt_cookie, outcome_response, problem_page, stopped_page};
use super::{client, csrf, page};
use crate::domain::LinkToken;
use crate::error::{ApiError, AppError};
use crate::i18n::{Lang, Messages};
use crate::signin::{LinkProblem, SignInError, Waiting};
use crate::store::LinkAttempt;

/// Another device: "Sign in on Chrome on Linux, from …, at …?" and a box for the number.
#[derive(Template, WebTemplate)]
#[template(path = "approve.html")]
pub struct ApprovePage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    csrf: String,
    token: String,
    email: String,
    requested_at: String,
    ip: String,
    browser: String,
    error: Option<&'static str>,
}

/// Another device approved: back to the browser that asked.
#[derive(Template, WebTemplate)]
#[template(path = "approved.html")]
pub struct ApprovedPage {
    /// The catalogue the page is written in.
    pub(super) t: &'static Messages,
    browser: String,
}

/// Body of `POST /login/approve`.
#[derive(Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    csrf: String,
}

/// Query of `GET /login/status`.
#[derive(Deserialize)]
pub struct StatusQuery {
    /// Present: show the code box instead of reloading.
    code: Option<String>,
}

/// The page another device sees for the link `token`.
pub(super) fn approve_page(
    req: &HttpRequest,
    csrf: &csrf::Csrf,
    token: &LinkToken,
    attempt: &LinkAttempt,
    error: Option<&'static str>,
) -> ApprovePage {
    let r = Requested::from(attempt);
    ApprovePage {
        t: Lang::of(req).messages(),
        csrf: csrf.token.clone(),
        token: token.expose().to_owned(),
        email: r.email,
        requested_at: r.at,
        ip: r.ip,
        browser: r.browser,
        error,
    }
}

/// `POST /login/approve`: the number typed on another device. The right one approves the
/// browser that asked (this device gets no session); a wrong one ends the attempt.
pub async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ApproveForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keyring, &state.public_origin, &form.csrf)?;
    let csrf = csrf::issue(&req, &state.keyring)?;
    let Some(token) = LinkToken::parse(&form.token) else {
        return Ok(problem_page(&req, &csrf, LinkProblem::Unknown));
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let t = Lang::of(&req).messages();
    match state.signin.approve(&token, &form.number, origin).await {
        Ok(attempt) => {
            let template = ApprovedPage { t, browser: attempt.requested_from.browser() };
            Ok(page(&req, StatusCode::OK, template, &csrf.cookies()))
        }
        Err(SignInError::MalformedNumber) => {
            let Some(attempt) = state.signin.attempt_for_form(&token).await? else {
                return Ok(problem_page(&req, &csrf, LinkProblem::Unknown));
            };
            let template = approve_page(&req, &csrf, &token, &attempt, Some(t.approve_malformed));
            Ok(page(&req, StatusCode::BAD_REQUEST, template, &csrf.cookies()))
        }
        Err(SignInError::WrongNumber(email)) => Ok(stopped_page(
            &req,
            &csrf,
            StatusCode::FORBIDDEN,
            (t.approve_wrong_title, t.approve_wrong_body),
            email.to_string(),
        )),
        Err(SignInError::Link(problem)) => Ok(problem_page(&req, &csrf, problem)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /login/status`: the browser that asked (by its `__Host-attempt`), looking again. Still
/// waiting: the same "check your email" page (one read of the attempt, and one of the app's
/// registration when the sign-in is for an app registered through the admin API; apps from
/// `CLIENTS_FILE` are in memory). Approved from another device:
/// signed in here and on to `return_to`. Any other browser gets nothing.
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<StatusQuery>,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(&req, &state.keyring)?;
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let t = Lang::of(&req).messages();
    match state.signin.waiting(attempt_cookie(&req).as_deref(), origin).await {
        Ok(Waiting::Pending(attempt)) => {
            let left = (attempt.expires_at - state.clock.now()).num_seconds().max(1) as u64;
            let code_form = query.code.is_some();
            let app = app_view(&state, t, &attempt.return_to, true).await;
            let minutes = left.div_ceil(60);
            let template =
                SentPage::new(&req, &state, &csrf, &attempt.email, minutes, attempt.number, code_form).for_app(app);
            Ok(branded_page(&req, StatusCode::OK, template, &csrf.cookies()))
        }
        Ok(Waiting::Finished(outcome)) => outcome_response(&req, &state, outcome).await,
        Ok(Waiting::Undeliverable(attempt)) => Ok(super::undeliverable::page_for(&req, &csrf, &attempt.email)),
        Err(SignInError::WrongNumber(email)) => Ok(stopped_page(
            &req,
            &csrf,
            StatusCode::GONE,
            (t.approve_stopped_title, t.approve_stopped_body),
            email.to_string(),
        )),
        Err(SignInError::Link(problem @ (LinkProblem::Unknown | LinkProblem::Used(_)))) => {
            // Signed in since, in another tab of this browser (the link opened here): the wait
            // is over.
            if current_session(&req, &state).await?.is_some() {
                return Ok(super::account::to_account());
            }
            Ok(problem_page(&req, &csrf, problem))
        }
        Err(SignInError::Link(problem)) => Ok(problem_page(&req, &csrf, problem)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v1/login/status`: where this browser's sign-in stands, for the waiting page's
/// script and browser apps (one store read; nothing changes). Anything but `waiting` means: go
/// to `next`, which finishes the sign-in or says why it ended.
#[utoipa::path(
    get,
    path = "/api/v1/login/status",
    operation_id = "get_sign_in_status",
    tag = "sign-in",
    responses(
        (status = 200, description = "The sign-in this browser's `__Host-attempt` cookie names (its secret \
            checked): `waiting` for an approval from another device, `approved` (go to `next` to finish it here), \
            `ended` (go to `next` to see why), or `undeliverable` (the address's mail was refused or bounced \
            since the link was asked for; `next` says so)", body = super::openapi::SignInStatus),
        (status = 404, description = "No attempt cookie, an attempt long gone, or a cookie that is not the asking \
            browser's (another browser learns nothing: the same answer)", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many forged attempt cookies from this network",
            body = super::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        super::openapi::ServerFailures,
    )
)]
pub async fn progress(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let origin = client::request_origin(&req, &state.trusted_proxies);
    match state.signin.progress(attempt_cookie(&req).as_deref(), &origin).await {
        Ok(progress) => Ok(HttpResponse::Ok().json(serde_json::json!({ "status": progress.name(), "next": FINISH }))),
        Err(SignInError::Link(_)) => Err(AppError::NotFound.into()),
        Err(e) => Err(AppError::from(e).into()),
    }
}

/// Where the browser that asked goes once its sign-in is no longer waiting.
pub const FINISH: &str = "/login/status";
