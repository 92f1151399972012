//! The waiting page's "we could not deliver mail to …" (`GET /login/status` once the attempt's
//! mail was refused or bounced), with the form to ask again.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use super::{Localized, csrf, page};
use crate::domain::Email;
use crate::i18n::{Lang, Messages};

/// "We could not deliver mail to x@…: check the address."
#[derive(Template, WebTemplate)]
#[template(path = "undeliverable.html")]
pub struct UndeliverablePage {
    /// The catalogue the page is written in.
    t: &'static Messages,
    csrf: String,
    email: String,
}

impl Localized for UndeliverablePage {
    fn lang(&self) -> Lang {
        self.t.lang
    }
}

/// The page for the browser whose attempt's mail to `email` could not be delivered.
pub(super) fn page_for(req: &HttpRequest, csrf: &csrf::Csrf, email: &Email) -> HttpResponse {
    let template =
        UndeliverablePage { t: Lang::of(req).messages(), csrf: csrf.token.clone(), email: email.to_string() };
    page(req, StatusCode::OK, template, &csrf.cookies())
}
