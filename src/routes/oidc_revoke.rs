//! `POST /oauth2/revoke` (RFC 7009): a client revokes one of its refresh or access tokens.

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::oidc::basic_credentials;
use crate::oidc::{RevokeForm, TokenError};

/// The revocation form; a parameter given twice is refused (RFC 6749 §3.2, which RFC 7009 follows).
fn revoke_form(body: web::Bytes) -> Result<RevokeForm, TokenError> {
    let mut form = RevokeForm::default();
    for (key, value) in url::form_urlencoded::parse(&body) {
        let slot = match key.as_ref() {
            "token" => &mut form.token,
            "token_type_hint" => &mut form.token_type_hint,
            "client_id" => &mut form.client_id,
            "client_secret" => &mut form.client_secret,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(TokenError::InvalidRequest("a parameter was given twice"));
        }
    }
    Ok(form)
}

/// `POST /oauth2/revoke`: 200 whether or not the token was known (RFC 7009 §2.2); the client
/// authenticates as at the token endpoint.
pub async fn revoke(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let used_basic = req.headers().contains_key(AUTHORIZATION);
    let result = match (revoke_form(body), basic_credentials(&req)) {
        (Ok(form), Ok(basic)) => state.oidc.revoke(&form, basic).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let (mut response, error, description) = match &result {
        Ok(()) => (HttpResponse::Ok(), "", ""),
        Err(TokenError::InvalidClient) => {
            let mut response = HttpResponse::Unauthorized();
            if used_basic {
                response.insert_header((WWW_AUTHENTICATE, "Basic realm=\"latchkey\""));
            }
            (response, "invalid_client", "client authentication failed")
        }
        Err(TokenError::Store(_)) => {
            let mut response = HttpResponse::ServiceUnavailable();
            // Like every other 503 of ours (see `AppError::Unavailable`).
            response.insert_header((RETRY_AFTER, "5"));
            (response, "temporarily_unavailable", "try again later")
        }
        Err(TokenError::InvalidRequest(d) | TokenError::InvalidGrant(d) | TokenError::InvalidScope(d)) => {
            (HttpResponse::BadRequest(), "invalid_request", *d)
        }
        Err(TokenError::UnsupportedGrantType | TokenError::Server(_)) => {
            (HttpResponse::InternalServerError(), "server_error", "try again later")
        }
    };
    if let Err(e @ (TokenError::Store(_) | TokenError::Server(_))) = &result {
        tracing::error!(error = ?e, "revocation endpoint failed");
    }
    response.insert_header((CACHE_CONTROL, "no-store")).insert_header((PRAGMA, "no-cache"));
    if result.is_ok() {
        return response.finish();
    }
    response.json(serde_json::json!({ "error": error, "error_description": description }))
}
