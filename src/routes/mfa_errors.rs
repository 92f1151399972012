//! How second-factor failures read to a person.

use actix_web::http::StatusCode;

use crate::error::AppError;
use crate::i18n::{EN, Messages};
use crate::mfa::service::MfaError;

/// A failure to show on the page (status and message), or an error page.
pub enum Shown {
    /// Re-show the form with this status and message.
    Form(StatusCode, String),
    /// An error page.
    Page(AppError),
}

/// What a person reading `t`'s language sees for `e` (provider and policy messages are English).
pub fn shown(e: MfaError, t: &Messages) -> Shown {
    match e {
        MfaError::WrongCode => Shown::Form(StatusCode::BAD_REQUEST, t.second_wrong_code.to_owned()),
        MfaError::CountryNotAllowed => Shown::Form(StatusCode::BAD_REQUEST, e.to_string()),
        MfaError::SmsUnavailable => Shown::Form(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        MfaError::SmsDisabled => Shown::Form(StatusCode::BAD_REQUEST, t.second_sms_unavailable.to_owned()),
        MfaError::MethodNotAllowed => Shown::Form(StatusCode::FORBIDDEN, e.to_string()),
        MfaError::RateLimited(wait) => Shown::Page(AppError::RateLimited(wait)),
        MfaError::SmsPaused(_) => Shown::Form(StatusCode::TOO_MANY_REQUESTS, t.second_sms_paused.to_owned()),
        MfaError::NothingPending => Shown::Page(AppError::Gone(|t| t.error_code_ended)),
        MfaError::Store(e) => Shown::Page(e.into()),
        other => Shown::Page(AppError::Internal(other.into())),
    }
}

/// A second-factor failure as an error page: 503 when the provider is down, 400 with the
/// message otherwise.
impl From<MfaError> for AppError {
    fn from(e: MfaError) -> Self {
        match shown(e, &EN) {
            Shown::Form(StatusCode::SERVICE_UNAVAILABLE, message) => Self::Unavailable(anyhow::anyhow!(message)),
            Shown::Form(_, message) => Self::BadRequest(message),
            Shown::Page(e) => e,
        }
    }
}
