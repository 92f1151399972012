//! The login page and link requests from it.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{client, csrf, page};
use crate::app::AppState;
use crate::domain::{Email, LocalPath};
use crate::error::AppError;

/// `GET /login`.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    csrf: String,
    email: String,
    return_to: Option<String>,
    error: Option<String>,
}

/// "Check your email".
#[derive(Template, WebTemplate)]
#[template(path = "sent.html")]
pub struct SentPage {
    email: String,
    minutes: u64,
}

/// Query of `GET /login`.
#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

/// Body of `POST /login`.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
    return_to: Option<String>,
}

/// `GET /`: to the account page (which sends strangers to the login page).
pub async fn root() -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, "/account")).finish()
}

/// `GET /login`: the email form.
pub async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let csrf = csrf::issue(&req, &state.keys)?;
    let return_to = query.return_to.as_deref().and_then(LocalPath::parse).map(|p| p.as_str().to_owned());
    let template = LoginPage { csrf: csrf.token.clone(), email: String::new(), return_to, error: None };
    Ok(page(&req, StatusCode::OK, template, &csrf.cookies()))
}

/// `POST /login`: the same "check your email" page for every well-formed address; the form
/// again with a 400 for anything else. Returns once the mail is queued.
pub async fn request_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    csrf::verify(&req, &state.keys, &state.public_origin, &form.csrf)?;
    let return_to = form.return_to.as_deref().and_then(LocalPath::parse);
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(problem) => {
            let csrf = csrf::issue(&req, &state.keys)?;
            let template = LoginPage {
                csrf: csrf.token.clone(),
                email: form.email.chars().take(254).collect(),
                return_to: return_to.map(|p| p.as_str().to_owned()),
                error: Some(problem.to_string()),
            };
            return Ok(page(&req, StatusCode::BAD_REQUEST, template, &csrf.cookies()));
        }
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    state.signin.request_link(email.clone(), return_to, origin).await?;
    let template = SentPage { email: email.to_string(), minutes: state.link_ttl.as_secs().div_ceil(60) };
    Ok(page(&req, StatusCode::OK, template, &[]))
}
