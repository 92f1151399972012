//! The service's cookies. All are `__Host-` cookies: `Secure`, `Path=/`, no `Domain`.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::AUTHORIZATION;

/// The session JWT.
pub const SESSION: &str = "__Host-session";
/// The CSRF secret.
pub const CSRF: &str = "__Host-csrf";
/// Binds a browser to the sign-in link it asked for.
pub const ATTEMPT: &str = "__Host-attempt";
/// Binds a browser to its pending second-factor step.
pub const PENDING: &str = "__Host-pending";
/// Binds a browser to the passkey sign-in it began at `/login`.
pub const PASSKEY: &str = "__Host-passkey";
/// Set by `static/passkey.js` once this browser was offered to set up a passkey after an
/// email sign-in (the offer is shown once).
pub const PASSKEY_OFFERED: &str = "__Host-passkey-offered";
/// Recognises a browser across sign-ins (for new-device notices).
pub const DEVICE: &str = "__Host-device";
/// How long a browser is remembered.
pub const DEVICE_TTL: std::time::Duration = std::time::Duration::from_secs(400 * 86_400);

/// A `__Host-` cookie: `Secure; HttpOnly; SameSite=Lax; Path=/`, with `Max-Age` when given.
pub fn host_cookie(name: &'static str, value: String, max_age: Option<Duration>) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, value).secure(true).http_only(true).same_site(SameSite::Lax).path("/");
    if let Some(age) = max_age {
        cookie =
            cookie.max_age(actix_web::cookie::time::Duration::seconds(age.as_secs().try_into().unwrap_or(i64::MAX)));
    }
    cookie.finish()
}

/// A cookie that deletes `name` (same attributes, empty value, `Max-Age=0`).
pub fn removal(name: &'static str) -> Cookie<'static> {
    host_cookie(name, String::new(), Some(Duration::ZERO))
}

/// The session token: the `__Host-session` cookie, or an `Authorization: Bearer` header.
pub fn session_token(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION).map(|cookie| cookie.value().to_owned()).or_else(|| bearer_token(req))
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}
