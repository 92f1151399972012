//! CORS for browser-only apps (public clients): the token, userinfo, discovery and JWKS
//! endpoints answer an `Origin` that a registered client lists in `allowed_cors_origins` with
//! `Access-Control-Allow-Origin: <that origin>` — never a wildcard, never credentials. The
//! token endpoint allows only the origins of the client its request names (see
//! [`token_origin`]); the others, any registered client's.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ALLOW, HeaderValue, ORIGIN, VARY,
};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;

/// The paths that answer CORS requests.
const CORS_PATHS: [&str; 5] = [
    "/oauth2/userinfo",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks.json",
    TOKEN_PATH,
];

/// The token endpoint: its handler decides its `Access-Control-Allow-Origin` (see [`token_origin`]).
const TOKEN_PATH: &str = "/oauth2/token";

/// How long a browser may keep a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Middleware on every route: for the CORS paths, answers preflights (`OPTIONS`) and adds
/// `Vary: Origin` and, for a registered origin, `Access-Control-Allow-Origin`. Other paths pass
/// untouched.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !CORS_PATHS.contains(&req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let preflight_asked = req.method() == Method::OPTIONS;
    // The token endpoint's own answers are decided by its handler, for the client it names.
    let is_token = req.path() == TOKEN_PATH;
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let registered = match (&origin, &state) {
        (Some(origin), Some(state)) if preflight_asked || !is_token => state.oidc.cors_origin_registered(origin).await,
        _ => false,
    };
    if preflight_asked {
        let response = preflight(origin.as_deref(), registered);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin.filter(|_| registered)
        && let Ok(value) = HeaderValue::from_str(&origin)
    {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    Ok(response.map_into_left_body())
}

/// The answer to `OPTIONS`: for a registered origin, 204 with what may be sent; for another
/// origin, 403 without any CORS header (the browser then sends nothing); without `Origin` (not
/// a browser's preflight), 204 with `Allow`.
fn preflight(origin: Option<&str>, registered: bool) -> HttpResponse {
    match origin {
        Some(origin) if registered => HttpResponse::NoContent()
            .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type, dpop"))
            .insert_header((ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
            .insert_header((VARY, "Origin"))
            .finish(),
        Some(_) => HttpResponse::Forbidden().insert_header((VARY, "Origin")).finish(),
        None => HttpResponse::NoContent().insert_header((ALLOW, "GET, POST, OPTIONS")).finish(),
    }
}

/// The `Access-Control-Allow-Origin` of a token response: the request's `Origin` when the
/// client it names (`client_id` in the form, or Basic credentials) lists that origin. Read
/// only for requests that carry an `Origin`, so server-side apps pay nothing.
pub async fn token_origin(req: &HttpRequest, state: &AppState, client_id: Option<&str>) -> Option<HeaderValue> {
    let origin = req.headers().get(ORIGIN)?;
    let allowed = state.oidc.cors_origin_of_client(client_id?, origin.to_str().ok()?).await.ok()?;
    allowed.then(|| origin.clone())
}
