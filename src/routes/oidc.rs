//! OpenID Connect endpoints (logout aside: `logout`) and forward-auth.

use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, ORIGIN, PRAGMA, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::AppState;
use super::signed_in::current_session;
use crate::domain::LocalPath;
use crate::error::{ApiError, AppError};
use crate::oidc::{AuthorizeError, AuthorizeParams, TokenError, TokenForm};

/// `GET /.well-known/openid-configuration`, and the same document as the OAuth 2.0
/// authorization server metadata (RFC 8414) at `GET /.well-known/oauth-authorization-server`.
pub async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header((CACHE_CONTROL, "public, max-age=300")).json(state.oidc.discovery())
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, location)).finish()
}

/// `GET /oauth2/authorize`: with a live session, straight back to the app with a code;
/// otherwise through the sign-in, which returns here afterwards.
pub async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<AuthorizeParams>,
) -> Result<HttpResponse, AppError> {
    let auth = match state.oidc.authorize(&params).await {
        Ok(auth) => auth,
        Err(AuthorizeError::Page(message)) => return Err(AppError::Invalid(message)),
        Err(AuthorizeError::Redirect(url)) => return Ok(see_other(url.as_str())),
        Err(AuthorizeError::Store(e)) => return Err(e.into()),
    };
    // A session too old for this app or request (`max_age`), one asked to sign in again
    // (`prompt=login`), or one without a second factor the app requires, signs in again.
    let current = current_session(&req, &state).await?;
    let step_up = current.as_ref().is_some_and(|s| state.oidc.wants_passkey_step_up(&auth, s));
    let session = current.clone().filter(|s| state.oidc.session_suits(&auth, s));
    match session {
        Some(session) => {
            let url = state.oidc.issue_code(&auth, &session).await?;
            Ok(see_other(url.as_str()))
        }
        None if auth.prompt_none && step_up => {
            Ok(see_other(auth.error("interaction_required", "a passkey is required").as_str()))
        }
        None if auth.prompt_none => Ok(see_other(auth.error("login_required", "no session").as_str())),
        None => {
            let here = state.oidc.sign_in_return(&auth, req.query_string());
            let Some(back) = LocalPath::parse(&here) else {
                return Ok(see_other(auth.error("invalid_request", "request too long").as_str()));
            };
            // A session that lacks only the passkey this app requires steps up with one: the
            // session stands for the first factor, the passkey step for the second.
            if let Some(session) = current.filter(|_| step_up) {
                let origin = super::client::request_origin(&req, &state.trusted_proxies);
                let (cookie, ttl) =
                    state.signin.step_up_with_passkey(&session.sub, &session.email, back, origin).await?;
                return Ok(HttpResponse::SeeOther()
                    .cookie(super::cookies::host_cookie(super::cookies::PENDING, cookie, Some(ttl)))
                    .insert_header((LOCATION, "/login/2fa"))
                    .finish());
            }
            let mut login = url::form_urlencoded::Serializer::new(String::from("/login?"));
            login.append_pair("return_to", back.as_str());
            if auth.client.require_second_factor || auth.client.require_phishing_resistant {
                login.append_pair("second_factor", "required");
            }
            Ok(see_other(&login.finish()))
        }
    }
}

/// `POST /oauth2/authorize` (OIDC Core §3.1.2.1): the same request as a form. Answered with a
/// 303 to the same parameters as a `GET`, which the browser follows with its session cookie
/// (a `SameSite=Lax` cookie is not sent on another site's form post, but is on the `GET`).
pub async fn authorize_form(body: web::Bytes) -> HttpResponse {
    let mut again = url::form_urlencoded::Serializer::new(String::from("/oauth2/authorize?"));
    again.extend_pairs(url::form_urlencoded::parse(&body));
    see_other(&again.finish())
}

/// Client credentials from `Authorization: Basic` (each part form-urlencoded, RFC 6749 §2.3.1).
pub(super) fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, TokenError> {
    let Some(header) = req.headers().get(AUTHORIZATION) else { return Ok(None) };
    let header = header.to_str().map_err(|_| TokenError::InvalidClient)?;
    let Some((scheme, value)) = header.split_once(' ') else { return Err(TokenError::InvalidClient) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TokenError::InvalidClient);
    }
    let decoded = STANDARD.decode(value.trim()).map_err(|_| TokenError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| TokenError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(TokenError::InvalidClient)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// The token form; a parameter given twice is refused (RFC 6749 §3.2).
fn token_form(body: web::Bytes) -> Result<TokenForm, TokenError> {
    let mut form = TokenForm::default();
    for (key, value) in url::form_urlencoded::parse(&body) {
        let slot = match key.as_ref() {
            "grant_type" => &mut form.grant_type,
            "code" => &mut form.code,
            "redirect_uri" => &mut form.redirect_uri,
            "code_verifier" => &mut form.code_verifier,
            "client_id" => &mut form.client_id,
            "client_secret" => &mut form.client_secret,
            "refresh_token" => &mut form.refresh_token,
            "scope" => &mut form.scope,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(TokenError::InvalidRequest("a parameter was given twice"));
        }
    }
    Ok(form)
}

/// `POST /oauth2/token`: the authorization_code and refresh_token grants.
pub async fn token(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let used_basic = req.headers().contains_key(AUTHORIZATION);
    let form = token_form(body);
    // Its client_id, for the CORS answer below.
    let form_client = form.as_ref().ok().and_then(|form| form.client_id.clone());
    let result = match (form, basic_credentials(&req)) {
        (Ok(form), Ok(basic)) if form.grant_type.as_deref() == Some("refresh_token") => {
            state.oidc.refresh(&form, basic, &super::client::request_origin(&req, &state.trusted_proxies)).await
        }
        (Ok(form), Ok(basic)) => state.oidc.exchange(&form, basic).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let mut response = match &result {
        Ok(_) => HttpResponse::Ok(),
        Err(TokenError::InvalidClient) => HttpResponse::Unauthorized(),
        Err(TokenError::Store(_)) => HttpResponse::ServiceUnavailable(),
        Err(TokenError::Server(_)) => HttpResponse::InternalServerError(),
        Err(_) => HttpResponse::BadRequest(),
    };
    response.insert_header((CACHE_CONTROL, "no-store")).insert_header((PRAGMA, "no-cache"));
    // A browser app reads the answer only when its own registration lists its origin.
    if req.headers().contains_key(ORIGIN) {
        let client_id = basic_credentials(&req).ok().flatten().map(|(id, _)| id);
        let client_id = client_id.or(form_client);
        if let Some(origin) = super::cors::token_origin(&req, &state, client_id.as_deref()).await {
            response.insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin));
        }
    }
    if matches!(result, Err(TokenError::Store(_))) {
        // Like every other 503 of ours (see `AppError::Unavailable`).
        response.insert_header((RETRY_AFTER, "5"));
    }
    match result {
        Ok(tokens) => response.json(tokens),
        Err(e) => {
            if matches!(e, TokenError::InvalidClient) && used_basic {
                response.insert_header((WWW_AUTHENTICATE, "Basic realm=\"latchkey\""));
            }
            let description = match &e {
                TokenError::InvalidRequest(d) | TokenError::InvalidGrant(d) | TokenError::InvalidScope(d) => *d,
                TokenError::InvalidClient => "client authentication failed",
                TokenError::UnsupportedGrantType => "only authorization_code and refresh_token are supported",
                TokenError::Store(_) | TokenError::Server(_) => {
                    tracing::error!(error = ?e, "token endpoint failed");
                    "try again later"
                }
            };
            let error = match &e {
                TokenError::Store(_) => "temporarily_unavailable",
                TokenError::Server(_) => "server_error",
                other => match other.to_string().as_str() {
                    "invalid_request" => "invalid_request",
                    "invalid_client" => "invalid_client",
                    "invalid_grant" => "invalid_grant",
                    "invalid_scope" => "invalid_scope",
                    _ => "unsupported_grant_type",
                },
            };
            response.json(serde_json::json!({ "error": error, "error_description": description }))
        }
    }
}

/// `GET /oauth2/userinfo` (Bearer access token). Errors are JSON: apps call it, not people.
pub async fn userinfo(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    answer_userinfo(&state, super::cookies::bearer_token(&req)).await
}

/// `POST /oauth2/userinfo`: the access token in `Authorization: Bearer`, or as `access_token`
/// in a form body (RFC 6750 §2.2); both at once is a 400 `invalid_request`.
pub async fn userinfo_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let in_body = if is_form {
        url::form_urlencoded::parse(&body).find(|(k, _)| k == "access_token").map(|(_, v)| v.into_owned())
    } else {
        None
    };
    let token = match (super::cookies::bearer_token(&req), in_body) {
        (Some(_), Some(_)) => {
            return Ok(HttpResponse::BadRequest().insert_header((CACHE_CONTROL, "no-store")).json(
                serde_json::json!({ "error": "invalid_request", "error_description": "send the access token once" }),
            ));
        }
        (header, body) => header.or(body),
    };
    answer_userinfo(&state, token).await
}

/// The userinfo answer for `token`. Without one, a bare challenge: RFC 6750 §3.1 gives no
/// error code to a request that carried no credentials.
async fn answer_userinfo(state: &AppState, token: Option<String>) -> Result<HttpResponse, ApiError> {
    let Some(token) = token else {
        return Ok(HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, "Bearer realm=\"latchkey\""))
            .finish());
    };
    Ok(match state.oidc.userinfo(&token).await.map_err(AppError::from)? {
        Some(info) => HttpResponse::Ok().insert_header((CACHE_CONTROL, "no-store")).json(info),
        None => HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, "Bearer realm=\"latchkey\", error=\"invalid_token\""))
            .json(serde_json::json!({ "error": "invalid_token" })),
    })
}

/// `GET /auth/verify`: forward-auth for nginx `auth_request` / Traefik `forwardAuth`. 200 with
/// `X-Auth-User-Id` and `X-Auth-Email` for a live session, 401 otherwise.
pub async fn forward_auth(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    Ok(match current_session(&req, &state).await? {
        Some(claims) => HttpResponse::Ok()
            .insert_header(("X-Auth-User-Id", claims.sub.as_str()))
            .insert_header(("X-Auth-Email", claims.email.as_str()))
            .finish(),
        None => HttpResponse::Unauthorized().finish(),
    })
}
