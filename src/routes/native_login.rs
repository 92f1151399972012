//! The JSON sign-in of native apps (RFC 8252 apps that cannot keep a browser session):
//! `POST /api/v1/login` with a `client_id` answers an attempt `handle` instead of a cookie,
//! and `POST /api/v1/login/code` finishes with the mailed code and the app's PKCE verifier,
//! answering the app's OpenID Connect tokens.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::AppState;
use super::client;
use super::input::{BadInput, parse_json_body};
use crate::domain::Email;
use crate::error::{ApiError, AppError};
use crate::i18n::{Lang, Messages};
use crate::oidc::TokenError;
use crate::oidc::native::NativeError;
use crate::signin::{LinkProblem, SignInError, SignInOutcome};

/// What an app sends to `POST /api/v1/login` (the fields beyond `email` are read here).
pub struct AppLoginRequest<'a> {
    /// The address to send the code to.
    pub email: &'a str,
    /// A registered native app.
    pub client_id: &'a str,
    /// The PKCE S256 challenge.
    pub code_challenge: Option<&'a str>,
    /// Must be `S256`.
    pub code_challenge_method: Option<&'a str>,
    /// The scopes asked for (default `openid email`).
    pub scope: Option<&'a str>,
}

/// `POST /api/v1/login` for a native app: the same limits, refusals and store work as the
/// sign-in page, for every well-formed address; the answer carries the sealed attempt handle.
pub async fn request_app_link(
    req: &HttpRequest,
    state: &AppState,
    body: AppLoginRequest<'_>,
) -> Result<HttpResponse, ApiError> {
    let email = match Email::parse(body.email) {
        Ok(email) => email,
        Err(e) => {
            let message = super::login::email_problem(Lang::of(req).messages(), &e);
            return Ok(bad_input(&BadInput::new("body", "email", message)));
        }
    };
    let app = match state.oidc.native_client(body.client_id).await {
        Ok(app) => app,
        Err(e) => return native_error(req, e),
    };
    if app.require_second_factor {
        // Known before anything about the account: the JSON sign-in has no second step.
        return Ok(second_factor_required(Lang::of(req).messages()));
    }
    let handle = |binding| {
        let (challenge, method, scope) = (body.code_challenge, body.code_challenge_method, body.scope);
        state.oidc.app_attempt_handle(&app, binding, challenge, method, scope)
    };
    // A bad challenge is refused before any limit is counted or mail queued.
    if let Err(e) = handle(String::new()) {
        return native_error(req, e);
    }
    let origin = client::request_origin(req, &state.trusted_proxies);
    let suggestion = crate::domain::suggest_domain(&email).map(|s| s.suggested.to_string());
    // The mail names the app, which helps the person tell a real sign-in from a phished code.
    let requested = match state.signin.request_native_link(email, origin, Lang::of(req), app.name.clone()).await {
        Ok(requested) => requested,
        Err(SignInError::NoMailDomain) => return Ok(super::api::no_mail_domain(req, suggestion)),
        Err(e) => return Err(AppError::from(e).into()),
    };
    let handle = match handle(requested.attempt_cookie) {
        Ok(handle) => handle,
        Err(e) => return native_error(req, e),
    };
    let mut body = serde_json::json!({ "status": "sent", "handle": handle });
    if let Some(suggestion) = suggestion {
        body["suggestion"] = suggestion.into();
    }
    Ok(HttpResponse::Accepted().insert_header((CACHE_CONTROL, "no-store")).json(body))
}

/// Body of `POST /api/v1/login/code`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AppCodeRequest {
    /// The `handle` from `POST /api/v1/login`.
    handle: String,
    /// The code from the mail.
    code: String,
    /// The native app the attempt was made for.
    client_id: String,
    /// The PKCE verifier whose S256 hash was the `code_challenge`.
    code_verifier: String,
}

/// `POST /api/v1/login/code`: the handle, the mailed code and the app's PKCE verifier → the
/// app's tokens. The handle and verifier are checked before the attempt is touched; then each
/// code spends one of the attempt's tries before it is checked, as on the sign-in page.
#[utoipa::path(
    post,
    path = "/api/v1/login/code",
    operation_id = "redeem_app_code",
    tag = "sign-in",
    request_body = AppCodeRequest,
    responses(
        (status = 200, description = "Signed in: the app's tokens, as `POST /oauth2/token` answers them \
            (`id_token` with `aud` = `client_id`; a session is recorded, which signing out everywhere ends)",
            body = super::openapi::AppTokens),
        (status = 400, description = "A field missing or malformed (named); a handle not made for this client \
            (`invalid_grant`); a verifier that does not match (`invalid_grant`); a wrong code (`wrong_code`, \
            with `tries_left`)", body = super::openapi::AppRefusal),
        (status = 403, description = "The account must use a second factor, which this flow cannot ask for \
            (`second_factor_required`)", body = super::openapi::AppRefusal),
        (status = 410, description = "The attempt ended: too many wrong codes, expired, used, or replaced by a \
            newer one (`attempt_ended`)", body = super::openapi::AppRefusal),
        (status = 429, description = "Too many failed sign-ins from this network", body = super::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        super::openapi::ServerFailures,
    )
)]
pub async fn redeem_app_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: AppCodeRequest = match parse_json_body(body) {
        Ok(body) => body,
        Err(e) => return Ok(bad_input(&e)),
    };
    let t = Lang::of(&req).messages();
    let app = match state.oidc.native_client(&body.client_id).await {
        Ok(app) => app,
        Err(e) => return native_error(&req, e),
    };
    let attempt = match state.oidc.open_app_attempt(&body.handle, &app.id, &body.code_verifier) {
        Ok(attempt) => attempt,
        Err(e) => return native_error(&req, e),
    };
    let origin = client::request_origin(&req, &state.trusted_proxies);
    let signed_in = match state.signin.redeem_code(None, Some(&attempt.binding), &body.code, origin.clone()).await {
        Ok(SignInOutcome::Done(signed_in)) => signed_in,
        Ok(SignInOutcome::SecondFactor { .. }) => return Ok(second_factor_required(t)),
        Err(SignInError::MalformedCode) => {
            return Ok(bad_input(&BadInput::new("body", "code", t.native_not_a_code)));
        }
        Err(SignInError::WrongCode(left)) => {
            let body = serde_json::json!({ "error": "wrong_code", "message": t.native_wrong_code, "tries_left": left });
            return Ok(HttpResponse::BadRequest().insert_header((CACHE_CONTROL, "no-store")).json(body));
        }
        Err(SignInError::Link(problem)) => return Ok(attempt_ended(t, &problem)),
        Err(e) => return Err(AppError::from(e).into()),
    };
    let claims = &signed_in.session.claims;
    let tokens = state.oidc.app_tokens(&app, &attempt, &body.code_verifier, claims).await;
    if tokens.is_ok() {
        // An app has no device cookie: the app and the software it reports are its "device",
        // so the first sign-in of an app the account has not seen mails the person a notice.
        let device = format!("app\n{}\n{}", app.id, origin.browser());
        if let Err(e) = state.signin.note_device(Lang::of(&req), &claims.sub, &claims.email, &device, &origin).await {
            // A notice that cannot go out must not undo a good sign-in.
            tracing::warn!(error = %e, "new-device check failed");
        }
    }
    match tokens {
        Ok(tokens) => Ok(HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"))
            .json(tokens)),
        Err(TokenError::Store(e)) => Err(AppError::from(e).into()),
        Err(e) => Err(AppError::Internal(anyhow::Error::new(e).context("the tokens of a native sign-in")).into()),
    }
}

/// A refusal of this flow: `{"error", "message", "field"?, "fields"?}`, never stored by caches.
fn refusal(status: StatusCode, error: &str, message: &str, field: Option<&str>) -> HttpResponse {
    let mut body = serde_json::json!({ "error": error, "message": message });
    if let Some(field) = field {
        body["field"] = field.into();
        body["fields"] = serde_json::json!({ field: message });
    }
    HttpResponse::build(status).insert_header((CACHE_CONTROL, "no-store")).json(body)
}

/// 410: the attempt cannot be finished any more.
fn attempt_ended(t: &Messages, problem: &LinkProblem) -> HttpResponse {
    let message = match problem {
        LinkProblem::Dead(_) => t.native_attempt_dead,
        LinkProblem::Expired(_) => t.native_attempt_expired,
        LinkProblem::Used(_) => t.native_attempt_used,
        LinkProblem::Superseded(_) => t.native_attempt_superseded,
        LinkProblem::Unknown => t.native_attempt_unknown,
    };
    refusal(StatusCode::GONE, "attempt_ended", message, None)
}

/// 403 `second_factor_required`: no tokens without the second factor this flow cannot ask for.
fn second_factor_required(t: &Messages) -> HttpResponse {
    refusal(StatusCode::FORBIDDEN, "second_factor_required", t.native_second_factor_required, None)
}

/// 400 `invalid_body` naming the field at fault.
fn bad_input(e: &BadInput) -> HttpResponse {
    HttpResponse::BadRequest().insert_header((CACHE_CONTROL, "no-store")).json(e.body("invalid_body"))
}

/// The answer for a refusal of the app's request.
fn native_error(req: &HttpRequest, e: NativeError) -> Result<HttpResponse, ApiError> {
    let t = Lang::of(req).messages();
    match e {
        NativeError::Field { field, message } => Ok(bad_input(&BadInput::new("body", field, message(t)))),
        NativeError::UnknownHandle => {
            Ok(refusal(StatusCode::BAD_REQUEST, "invalid_grant", t.native_unknown_handle, Some("handle")))
        }
        NativeError::WrongVerifier => {
            Ok(refusal(StatusCode::BAD_REQUEST, "invalid_grant", t.native_wrong_verifier, Some("code_verifier")))
        }
        NativeError::Store(e) => Err(AppError::from(e).into()),
        NativeError::Crypto(e) => Err(AppError::Internal(e.into()).into()),
    }
}
