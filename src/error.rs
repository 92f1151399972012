//! One error type for handlers, mapped to a status and an HTML page or a JSON body. Internal
//! details are logged with a reference id and never shown; the reference id is.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::crypto;
use crate::i18n::{EN, Lang, Messages, Text};
use crate::outbox::OutboxError;
use crate::session::SessionError;
use crate::signin::SignInError;
use crate::store::StoreError;

/// What went wrong while handling a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; the message says how, and is safe to show.
    #[error("{0}")]
    BadRequest(String),
    /// The request is malformed; the message is a catalogue key, so the page is in the
    /// reader's language.
    #[error("{}", english(*.0))]
    Invalid(Text),
    /// Refused: a missing or wrong CSRF token, or a cross-site request. The message is a
    /// catalogue key, so the page is in the reader's language.
    #[error("{}", english(*.0))]
    Forbidden(Text),
    /// No valid session.
    #[error("sign-in required")]
    Unauthorized,
    /// No such page.
    #[error("not found")]
    NotFound,
    /// Something that existed has ended (a sign-in step); the message (a catalogue key) says
    /// what to do.
    #[error("{}", english(*.0))]
    Gone(Text),
    /// Too many requests; retry after this long.
    #[error("{}", EN.fill(EN.error_rate_limited, EN.wait(*.0)))]
    RateLimited(std::time::Duration),
    /// The store is unreachable: fail closed.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or an unexpected failure; logged with a reference id.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => Self::Unavailable(e),
            StoreError::Corrupt(e) => Self::Internal(e),
        }
    }
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Invalid(_) | SessionError::Revoked => Self::Unauthorized,
            SessionError::Store(e) => e.into(),
            SessionError::Crypto(e) => Self::Internal(e.into()),
        }
    }
}

impl From<crate::admin::ResetError> for AppError {
    fn from(e: crate::admin::ResetError) -> Self {
        match e {
            crate::admin::ResetError::AdminNeedsToken => Self::Forbidden(|t| t.error_admin_needs_token),
            crate::admin::ResetError::NoSuchPasskey => Self::NotFound,
            crate::admin::ResetError::Store(e) => e.into(),
        }
    }
}

impl From<crate::oidc::service::AuthorizeFailure> for AppError {
    fn from(e: crate::oidc::service::AuthorizeFailure) -> Self {
        match e {
            crate::oidc::service::AuthorizeFailure::Store(e) => e.into(),
            crate::oidc::service::AuthorizeFailure::Crypto(e) => Self::Internal(e.into()),
        }
    }
}

impl From<OutboxError> for AppError {
    fn from(e: OutboxError) -> Self {
        match e {
            OutboxError::Store(e) => e.into(),
            e => Self::Internal(e.into()),
        }
    }
}

impl From<SignInError> for AppError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::Store(e) => e.into(),
            SignInError::Session(e) => e.into(),
            SignInError::Outbox(e) => e.into(),
            SignInError::RateLimited(retry_after) => Self::RateLimited(retry_after),
            SignInError::NoPendingStep => Self::Gone(|t| t.error_step_ended),
            SignInError::FactorMissing => Self::Forbidden(|t| t.error_factor_missing),
            SignInError::NoMailDomain => Self::Invalid(|t| t.email_domain_no_mail),
            // Link problems are pages of their own; reaching here is a handler bug.
            other => Self::Internal(other.into()),
        }
    }
}

impl AppError {
    /// A short machine-readable code for JSON bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) | Self::Invalid(_) => "bad_request",
            Self::Forbidden(_) => "forbidden",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::Gone(_) => "gone",
            Self::RateLimited(_) => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Logs what should be logged and returns the reference id for a 5xx.
    fn log(&self) -> Option<String> {
        let reference = || crypto::random_token::<6>().unwrap_or_else(|_| "unknown".to_owned());
        match self {
            Self::Internal(e) => {
                let r = reference();
                tracing::error!(reference = %r, error = ?e, "internal error");
                Some(r)
            }
            Self::Unavailable(e) => {
                let r = reference();
                tracing::warn!(reference = %r, error = ?e, "dependency unavailable; failing closed");
                Some(r)
            }
            _ => None,
        }
    }

    /// The message shown to a person, in `t`'s language. (`BadRequest` messages come from
    /// lower layers and are English.)
    fn public_message(&self, t: &Messages) -> String {
        match self {
            Self::BadRequest(message) => message.clone(),
            Self::Forbidden(text) | Self::Gone(text) | Self::Invalid(text) => text(t).to_owned(),
            Self::Unauthorized => t.error_sign_in_first.to_owned(),
            Self::NotFound => t.error_not_found.to_owned(),
            Self::RateLimited(wait) => t.fill(t.error_rate_limited, t.wait(*wait)),
            Self::Unavailable(_) => t.error_unavailable.to_owned(),
            Self::Internal(_) => t.error_internal.to_owned(),
        }
    }

    /// The HTML error page in `lang`, quoting `reference` if there is one.
    fn html_response(&self, lang: Lang, reference: Option<String>) -> HttpResponse {
        let t = lang.messages();
        let page = ErrorPage {
            t,
            title: t.status_title(self.status_code().as_u16()),
            message: self.public_message(t),
            reference,
        };
        let body = page.render().unwrap_or_else(|_| t.error_internal.to_owned());
        self.builder()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_LANGUAGE, lang.tag()))
            .insert_header((header::VARY, "Accept-Language"))
            .body(body)
    }

    /// A response builder with the status and, for 429 and 503, `Retry-After`.
    fn builder(&self) -> actix_web::HttpResponseBuilder {
        let mut resp = HttpResponse::build(self.status_code());
        let retry_after = match self {
            Self::RateLimited(wait) => Some(wait.as_secs().max(1)),
            Self::Unavailable(_) => Some(5),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        resp
    }

    /// The error as JSON: `{"error": code, "message": …, "reference"?: …}`, in English until
    /// [`localize_error_page`] sees the request.
    pub fn json_response(&self) -> HttpResponse {
        let reference = self.log();
        let mut response = self.json_in(Lang::En, reference.clone());
        response.extensions_mut().insert(ErrorReference(reference));
        response
    }

    /// The JSON error with its `message` in `lang`; the `error` code stays the same.
    fn json_in(&self, lang: Lang, reference: Option<String>) -> HttpResponse {
        let mut body = serde_json::json!({ "error": self.code(), "message": self.public_message(lang.messages()) });
        if let Some(r) = reference {
            body["reference"] = r.into();
        }
        self.builder().insert_header((header::CONTENT_LANGUAGE, lang.tag())).json(body)
    }
}

/// A catalogue key's English text, for logs and `Display`.
fn english(text: Text) -> &'static str {
    text(&EN)
}

/// The reference id an error page quotes, kept on the response so that
/// [`localize_error_page`] can render the page again in the reader's language.
#[derive(Clone)]
struct ErrorReference(Option<String>);

/// Error-handler middleware (`ErrorHandlers::default_handler`): an [`AppError`] page is
/// rendered in English by [`ResponseError::error_response`], which cannot see the request;
/// this renders it again in the request's language (`Lang::of`), and an [`ApiError`]'s JSON
/// `message` too (its `error` code stays English).
pub fn localize_error_page<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let lang = Lang::of(res.request());
    let reference = || res.response().extensions().get::<ErrorReference>().and_then(|r| r.0.clone());
    let error = res.response().error();
    let localized = match (error.and_then(|e| e.as_error::<AppError>()), error.and_then(|e| e.as_error::<ApiError>())) {
        _ if lang == Lang::En => None,
        (Some(error), _) => Some(error.html_response(lang, reference())),
        (None, Some(ApiError(error))) => Some(error.json_in(lang, reference())),
        (None, None) => None,
    };
    Ok(ErrorHandlerResponse::Response(match localized {
        Some(response) => {
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, response).map_into_right_body()
        }
        None => res.map_into_left_body(),
    }))
}

/// The HTML error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: &'static Messages,
    title: &'static str,
    message: String,
    reference: Option<String>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Gone(_) => StatusCode::GONE,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let reference = self.log();
        let mut response = self.html_response(Lang::En, reference.clone());
        response.extensions_mut().insert(ErrorReference(reference));
        response
    }
}

/// An [`AppError`] answered as JSON, for `/api/v1/…`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub AppError);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.json_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_down() -> StoreError {
        StoreError::Unavailable(anyhow::anyhow!("connection refused"))
    }

    #[test]
    fn a_store_failure_is_a_503_whichever_layer_reports_it() {
        let errors = [
            AppError::from(store_down()),
            AppError::from(SignInError::Store(store_down())),
            AppError::from(SignInError::Session(SessionError::Store(store_down()))),
            AppError::from(SignInError::from(crate::second_factor::service::SecondFactorError::Store(store_down()))),
            AppError::from(crate::oidc::service::AuthorizeFailure::Store(store_down())),
            AppError::from(crate::admin::ResetError::Store(store_down())),
        ];
        for e in errors {
            assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE, "{e:?}");
            assert_eq!(e.error_response().headers().get(header::RETRY_AFTER).unwrap(), "5");
        }
    }
}
