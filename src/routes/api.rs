//! The JSON API under `/api/v1`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::AppState;
use super::input::{BadInput, parse_json_body};
use super::login::attempt_cookie;
use super::signed_in::current_session;
use super::{client, csrf, native_login};
use crate::domain::{Email, LocalPath, suggest_domain};
use crate::error::{ApiError, AppError};
use crate::i18n::Lang;
use crate::signin::SignInError;

/// Body of `POST /api/v1/login`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// The address to send the sign-in link to.
    email: String,
    /// A local path to land on after signing in; anything else is ignored.
    return_to: Option<String>,
    /// A native app signing the person in ([integration](../integration.md#native-apps)):
    /// answered with an attempt `handle` instead of a cookie.
    client_id: Option<String>,
    /// With `client_id`: the PKCE S256 challenge of the app's verifier.
    code_challenge: Option<String>,
    /// With `client_id`: `S256`.
    code_challenge_method: Option<String>,
    /// With `client_id`: the scopes asked for (default `openid email`).
    scope: Option<String>,
}

/// `POST /api/v1/login`: 202 `{"status":"sent"}` for every well-formed address; under policy
/// `approve` also the `number` to show and the `status_url` to poll.
#[utoipa::path(
    post,
    path = "/api/v1/login",
    operation_id = "request_link",
    tag = "sign-in",
    request_body = LoginRequest,
    responses(
        (status = 202, description = "Accepted: a link is mailed if the address may sign in (the answer is the same \
            for every well-formed address). Sets the `__Host-attempt` cookie that binds the link to this browser; \
            for a native app (`client_id`), no cookie but the attempt `handle` for `POST /api/v1/login/code`.",
            body = super::openapi::LinkSent,
            headers(("Set-Cookie" = String, description = "`__Host-attempt`"))),
        (status = 400, description = "Not a JSON body of this shape (the field named), or not an address; an \
            address whose domain receives no mail under `MAIL_DOMAIN_CHECK=refuse` (`field` `email`, with \
            `suggestion` for a near miss of a common domain); with `client_id`: not a native app's, or no S256 \
            `code_challenge`", body = super::openapi::AppRefusal),
        (status = 403, description = "A cross-site request (`Origin` or `Sec-Fetch-Site`); with `client_id`: an app \
            that requires a second factor (`second_factor_required`)", body = super::openapi::AppRefusal),
        (status = 429, description = "Too many links requested for this address or from this network",
            body = super::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        super::openapi::ServerFailures,
    )
)]
pub async fn request_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // A JSON body cannot be sent cross-site without a CORS preflight we never grant; the
    // origin check covers browsers that send one anyway.
    csrf::check_origin(&req, &state.public_origin)?;
    let body: LoginRequest = match parse_json_body(body) {
        Ok(body) => body,
        Err(e) => return Ok(HttpResponse::BadRequest().json(e.body("invalid_body"))),
    };
    if let Some(client_id) = body.client_id.as_deref() {
        let app = native_login::AppLoginRequest {
            email: &body.email,
            client_id,
            code_challenge: body.code_challenge.as_deref(),
            code_challenge_method: body.code_challenge_method.as_deref(),
            scope: body.scope.as_deref(),
        };
        return native_login::request_app_link(&req, &state, app).await;
    }
    let email = Email::parse(&body.email).map_err(|e| AppError::Invalid(super::login::email_problem_key(&e)))?;
    let return_to = body.return_to.as_deref().and_then(LocalPath::parse);
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let suggestion = suggest_domain(&email).map(|s| s.suggested.to_string());
    let requested = match state.signin.request_link(email, return_to, origin, false, Lang::of(&req)).await {
        Ok(requested) => requested,
        Err(SignInError::NoMailDomain) => return Ok(no_mail_domain(&req, suggestion)),
        Err(e) => return Err(AppError::from(e).into()),
    };
    let mut body = serde_json::json!({ "status": "sent" });
    if let Some(suggestion) = suggestion {
        body["suggestion"] = suggestion.into();
    }
    if let Some(number) = requested.number {
        // Policy `approve`: the app shows the number for the other device to type, and polls.
        body["number"] = number.value().into();
        body["status_url"] = "/api/v1/login/status".into();
    }
    Ok(HttpResponse::Accepted().cookie(attempt_cookie(requested)).json(body))
}

/// The 400 for an address whose domain receives no mail (`MAIL_DOMAIN_CHECK=refuse`), naming
/// the field, in the reader's language; with the near miss's correction when there is one.
pub(super) fn no_mail_domain(req: &HttpRequest, suggestion: Option<String>) -> HttpResponse {
    let t = Lang::of(req).messages();
    let mut body = BadInput::new("body", "email", t.email_domain_no_mail).body("bad_request");
    if let Some(suggestion) = suggestion {
        body["suggestion"] = suggestion.into();
    }
    HttpResponse::BadRequest().json(body)
}

/// `GET /api/v1/session`: the verified claims of a live session, or 401.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    operation_id = "get_session",
    tag = "sign-in",
    security(("session_cookie" = []), ("session_bearer" = [])),
    responses(
        (status = 200, description = "The verified claims of the live session", body = crate::session::SessionClaims),
        (status = 401, description = "No session, or one that ended, expired or does not verify",
            body = super::openapi::ErrorBody),
        super::openapi::ServerFailures,
    )
)]
pub async fn session(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match current_session(&req, &state).await? {
        Some(claims) => Ok(HttpResponse::Ok().json(claims)),
        None => Err(AppError::Unauthorized.into()),
    }
}
