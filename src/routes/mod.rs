//! Thin handlers grouped by page or API: parse input, call one service, render.

pub mod account;
pub mod account_mfa;
pub mod admin;
pub mod admin_clients;
pub mod admin_outbox;
pub mod admin_pages;
pub mod api;
pub mod client;
pub mod cookies;
pub mod csrf;
pub mod login;
pub mod mfa_errors;
pub mod oidc;
pub mod ops;
pub mod second_factor;
pub mod verify;

use actix_web::body::BoxBody;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::SET_COOKIE;
use actix_web::{HttpRequest, HttpResponse, Responder};

/// Renders a page (an askama template deriving `WebTemplate`) with a status and cookies.
pub fn page(
    req: &HttpRequest,
    status: StatusCode,
    template: impl Responder,
    cookies: &[Cookie<'static>],
) -> HttpResponse<BoxBody> {
    let mut response = template.customize().with_status(status);
    for cookie in cookies {
        response = response.append_header((SET_COOKIE, cookie.encoded().to_string()));
    }
    response.respond_to(req).map_into_boxed_body()
}
