//! CSRF protection: each form carries HMAC(`__Host-csrf` cookie) under a key derived from
//! SECRET_KEY, and cross-site POSTs (by `Origin` or `Sec-Fetch-Site`) are refused.

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;
use actix_web::http::header::ORIGIN;

use super::cookies;
use crate::crypto::{self, Keyring};
use crate::error::AppError;

/// A form token for the page being rendered, and the cookie to set if the browser had none.
pub struct Csrf {
    /// The value for the form's hidden `csrf` field.
    pub token: String,
    /// A new `__Host-csrf` cookie, when one had to be made.
    pub cookie: Option<Cookie<'static>>,
}

impl Csrf {
    /// The cookies to send with the page.
    pub fn cookies(&self) -> Vec<Cookie<'static>> {
        self.cookie.iter().cloned().collect()
    }
}

fn well_formed(secret: &str) -> bool {
    secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn token_for(keyring: &Keyring, secret: &str) -> String {
    keyring.csrf.mac_b64(&[b"csrf", secret.as_bytes()])
}

/// The token for a form on this page, reusing the browser's cookie when it has one.
pub fn issue(req: &HttpRequest, keyring: &Keyring) -> Result<Csrf, AppError> {
    if let Some(existing) = cookies::sent(req, cookies::CSRF).filter(|c| well_formed(c)) {
        return Ok(Csrf { token: token_for(keyring, &existing), cookie: None });
    }
    let secret = crypto::random_token::<32>().map_err(|e| AppError::Internal(e.into()))?;
    Ok(Csrf { token: token_for(keyring, &secret), cookie: Some(cookies::host_cookie(cookies::CSRF, secret, None)) })
}

/// Refuses a POST whose `Origin` is another site, or that a browser marks `cross-site`.
///
/// Our pages send `Referrer-Policy: no-referrer` (tokens live in URLs), and under that policy
/// browsers send `Origin: null` even on same-origin form posts; such a request passes when the
/// browser also says `Sec-Fetch-Site: same-origin` (or sends no fetch metadata at all, where the
/// CSRF token still stands guard).
pub fn check_origin(req: &HttpRequest, public_origin: &str) -> Result<(), AppError> {
    let fetch_site = req.headers().get("sec-fetch-site").map(|v| v.as_bytes().to_vec());
    let same_site = fetch_site.as_deref().is_none_or(|v| v == b"same-origin" || v == b"none");
    let origin_ok = match req.headers().get(ORIGIN) {
        None => true,
        Some(origin) if origin.as_bytes() == b"null" => same_site,
        Some(origin) => origin.as_bytes() == public_origin.as_bytes(),
    };
    if origin_ok && fetch_site.as_deref() != Some(b"cross-site") {
        Ok(())
    } else {
        Err(AppError::Forbidden(|t| t.error_cross_site))
    }
}

/// Checks a form POST: same origin, and a token matching this browser's CSRF cookie.
pub fn verify(req: &HttpRequest, keyring: &Keyring, public_origin: &str, form_token: &str) -> Result<(), AppError> {
    check_origin(req, public_origin)?;
    let expired = AppError::Forbidden(|t| t.error_form_expired);
    let cookie = cookies::sent(req, cookies::CSRF).filter(|c| well_formed(c)).ok_or(expired)?;
    let expected = token_for(keyring, &cookie);
    if crypto::constant_time_eq(expected.as_bytes(), form_token.as_bytes()) {
        Ok(())
    } else {
        Err(AppError::Forbidden(|t| t.error_form_expired))
    }
}
