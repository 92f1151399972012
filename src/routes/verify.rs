//! The link in the mail: a confirm page (GET never consumes) and the redemption (POST).

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{client, cookies, csrf, page};
use crate::app::AppState;
use crate::domain::LinkToken;
use crate::error::AppError;
use crate::signin::{LinkProblem, SignInError};

/// "Sign in as …?" with one button.
#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    csrf: String,
    token: String,
    email: String,
    requested_at: String,
    ip: String,
    browser: String,
}

/// An unknown, expired or used link, with a form for a new one.
#[derive(Template, WebTemplate)]
#[template(path = "link_problem.html")]
pub struct LinkProblemPage {
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

/// `GET /login/verify?token=…`: names the account; never consumes the token.
pub async fn confirm_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(&req, &state.keys)?;
    let Some(token) = LinkToken::parse(&query.token) else {
        return Ok(problem_page(&req, &csrf, LinkProblem::Unknown));
    };
    match state.signin.preview(&token).await {
        Ok(attempt) => {
            let template = ConfirmPage {
                csrf: csrf.token.clone(),
                token: token.expose().to_owned(),
                email: attempt.email.to_string(),
                requested_at: attempt.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                ip: attempt.requested_from.ip_text(),
                browser: attempt.requested_from.browser(),
            };
            Ok(page(&req, StatusCode::OK, template, &csrf.cookies()))
        }
        Err(SignInError::Link(problem)) => Ok(problem_page(&req, &csrf, problem)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /login/verify`: consumes the token and starts the session.
pub async fn redeem_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, AppError> {
    csrf::verify(&req, &state.keys, &state.public_origin, &form.csrf)?;
    let csrf = csrf::issue(&req, &state.keys)?;
    let Some(token) = LinkToken::parse(&form.token) else {
        return Ok(problem_page(&req, &csrf, LinkProblem::Unknown));
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    match state.signin.redeem(&token, origin).await {
        Ok(signed_in) => {
            let cookie = cookies::host_cookie(
                cookies::SESSION,
                signed_in.session.token.expose_secret().to_owned(),
                Some(signed_in.session.max_age),
            );
            Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((LOCATION, signed_in.return_to.as_str())).finish())
        }
        Err(SignInError::Link(problem)) => Ok(problem_page(&req, &csrf, problem)),
        Err(e) => Err(e.into()),
    }
}

fn problem_page(req: &HttpRequest, csrf: &csrf::Csrf, problem: LinkProblem) -> HttpResponse {
    let (status, title, message, email) = match problem {
        LinkProblem::Unknown => (
            StatusCode::NOT_FOUND,
            "This link does not work",
            "The link is incomplete or was never issued. Check that you copied all of it, or ask for a new one.",
            String::new(),
        ),
        LinkProblem::Expired(email) => (
            StatusCode::GONE,
            "This link has expired",
            "Sign-in links work for a limited time. Ask for a new one below.",
            email.to_string(),
        ),
        LinkProblem::Used(email) => (
            StatusCode::GONE,
            "This link was already used",
            "Each sign-in link works once. If that was not you, ask for a new link and sign in; nobody else can use this one.",
            email.to_string(),
        ),
    };
    let template = LinkProblemPage { csrf: csrf.token.clone(), title, message, email };
    page(req, status, template, &csrf.cookies())
}
