//! Thin handlers grouped by page or API: parse input, call one service, render. The state
//! they share ([`AppState`]) and the route table ([`configure`]) are here too.

pub mod account;
pub mod account_confirm;
pub mod account_data;
pub mod account_email;
pub mod account_factors;
pub mod admin;
pub mod admin_clients;
pub mod admin_email;
pub mod admin_outbox;
pub mod admin_pages;
pub mod admin_suppressions;
pub mod api;
pub mod app_brand;
pub mod approve;
pub mod bounce_hooks;
pub mod client;
pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod factor_errors;
pub mod input;
pub mod language;
pub mod login;
pub mod logout;
pub mod native_login;
pub mod oidc;
pub mod oidc_revoke;
pub mod openapi;
pub mod ops;
pub mod passkey_login;
pub mod passkeys;
pub mod second_factor;
pub mod signed_in;
mod state;
mod table;
pub mod undeliverable;
pub mod verify;

pub use client::LocalSocket;
pub use signed_in::{SignedIn, Visitor};
pub use state::AppState;
pub use table::{MAX_BODY, configure, configure_metrics};

use actix_web::body::BoxBody;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LANGUAGE, SET_COOKIE, VARY};
use actix_web::{HttpRequest, HttpResponse, Responder};

use crate::i18n::Lang;

/// A page that knows which language it is written in.
pub trait Localized {
    /// The page's language, for `Content-Language`.
    fn lang(&self) -> Lang;
}

/// Every page struct has a `t: &'static Messages` field naming its language.
macro_rules! localized {
    ($($page:ty),+ $(,)?) => {
        $(impl Localized for $page {
            fn lang(&self) -> Lang {
                self.t.lang
            }
        })+
    };
}

localized!(
    login::LoginPage,
    login::SentPage,
    verify::ConfirmPage,
    verify::EnterCodePage,
    verify::OtherBrowserPage,
    verify::LinkProblemPage,
    second_factor::SecondFactorPage,
    second_factor::EnrollPage,
    second_factor::RecoveryCodesPage,
    account::AccountPage,
    account::NotMePage,
    account_factors::PhoneConfirmPage,
    account_confirm::ConfirmFactorPage,
    admin_pages::AdminPage,
    admin_pages::AdminUserPage,
    logout::LogoutConfirmPage,
    logout::SignedOutPage,
    approve::ApprovePage,
    approve::ApprovedPage,
    account_data::DeleteAccountPage,
    account_data::AccountDeletedPage,
    account_email::EmailChangePage,
);

/// Renders a page (an askama template deriving `WebTemplate`) with a status and cookies, and
/// `Content-Language` (with `Vary: Accept-Language`, as the language follows that header).
pub fn page<T: Responder + Localized>(
    req: &HttpRequest,
    status: StatusCode,
    template: T,
    cookies: &[Cookie<'static>],
) -> HttpResponse<BoxBody> {
    let lang = template.lang();
    let mut response = template
        .customize()
        .with_status(status)
        .insert_header((CONTENT_LANGUAGE, lang.tag()))
        .append_header((VARY, "Accept-Language"))
        .append_header((VARY, "Cookie"));
    for cookie in cookies {
        response = response.append_header((SET_COOKIE, cookie.encoded().to_string()));
    }
    response.respond_to(req).map_into_boxed_body()
}
