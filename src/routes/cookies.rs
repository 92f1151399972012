//! The service's cookies. All are `__Host-` cookies: `Secure`, `Path=/`, no `Domain`.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{AUTHORIZATION, COOKIE};

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
    sent(req, SESSION).or_else(|| bearer_token(req))
}

/// The value of the first cookie named `name` in the request's `Cookie` headers, as sent: the
/// cookies that carry a secret or bind a browser are read with this, never with
/// `HttpRequest::cookie`. That one percent-decodes names, so `__Host%2Dsession` — a name the
/// browser does not hold to the `__Host-` rules, which any site of the parent domain can set
/// for the whole domain — would stand for `__Host-session`, and a sibling site could plant its
/// own session, attempt or CSRF secret in a victim's browser. It also parses and decodes every
/// cookie of the request (a few percent of `/auth/verify`'s CPU); our values (base64url tokens,
/// language codes) have nothing to decode.
pub fn sent(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        // UTF-8, as actix-web reads it: `HeaderValue::to_str` refuses any byte that is not
        // visible ASCII, so one cookie with an accented value (set by any site of the parent
        // domain) would hide the session.
        .filter_map(|header| std::str::from_utf8(header.as_bytes()).ok())
        .flat_map(|header| header.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_session_token_is_the_first_session_cookie_in_any_cookie_header_else_the_bearer_header() {
        let cases: [(&[&str], Option<&str>, Option<&str>); 5] = [
            (
                &["theme=dark; x__Host-session=not-it", "lang=fr;__Host-session=eyJ.a-b_c.d ; __Host-session=second"],
                Some("Bearer eyJ.from-header"),
                Some("eyJ.a-b_c.d"),
            ),
            (&["theme=dark; __Host-sessionx=not-it"], Some("Bearer eyJ.from-header"), Some("eyJ.from-header")),
            // Another site's cookie with an accented value does not hide the session.
            (&["city=Zürich; __Host-session=eyJ.after-utf8"], None, Some("eyJ.after-utf8")),
            // A percent-encoded name is another cookie, even first in the header.
            (&["__Host%2Dsession=eyJ.attacker; __Host-session=eyJ.own"], None, Some("eyJ.own")),
            (&[], None, None),
        ];
        for (cookie_headers, authorization, expected) in cases {
            let mut req = TestRequest::default();
            for header in cookie_headers {
                req = req.append_header((COOKIE, *header));
            }
            if let Some(authorization) = authorization {
                req = req.insert_header((AUTHORIZATION, authorization));
            }
            assert_eq!(session_token(&req.to_http_request()).as_deref(), expected, "{cookie_headers:?}");
        }
    }
}
