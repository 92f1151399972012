//! The language picker: links in every page's footer remember a language in `__Host-lang`.
//!
//! The picker is a link, not a form: every page carries it without a CSRF token, and it changes
//! no account state, only how the pages read in this browser. It still refuses a cross-site
//! request (`Sec-Fetch-Site: cross-site`), so another site cannot switch someone's language.

use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, LOCATION, REFERER};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{AppState, cookies, csrf};

use crate::domain::LocalPath;
use crate::error::AppError;
use crate::i18n::{LANG_COOKIE, Lang};

/// How long a picked language is remembered.
pub const LANG_TTL: Duration = Duration::from_secs(400 * 86_400);

/// `GET /language/{tag}`: remembers the language and goes back to the page the link was on
/// (its `Referer`, sent for this same-origin link only), or to `/`.
pub async fn pick(
    req: HttpRequest,
    state: web::Data<AppState>,
    tag: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    csrf::check_origin(&req, &state.public_origin)?;
    let lang = Lang::parse(&tag).ok_or(AppError::NotFound)?;
    let back = back_to(&req, &state.public_origin);
    let cookie = cookies::host_cookie(LANG_COOKIE, lang.tag().to_owned(), Some(LANG_TTL));
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, back.as_ref().map_or("/", LocalPath::as_str)))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}

/// The local path of a `Referer` on this origin; `None` for another origin or none at all.
fn back_to(req: &HttpRequest, public_origin: &str) -> Option<LocalPath> {
    let referer = req.headers().get(REFERER)?.to_str().ok()?;
    let path = referer.strip_prefix(public_origin.trim_end_matches('/'))?;
    LocalPath::parse(path)
}
