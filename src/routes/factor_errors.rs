//! How second-factor failures read to a person.

use actix_web::http::StatusCode;

use crate::error::AppError;
use crate::i18n::{EN, Messages};
use crate::second_factor::service::SecondFactorError;

/// A failure to show on the page (status and message), or an error page.
pub enum Shown {
    /// Re-show the form with this status and message.
    Form(StatusCode, String),
    /// An error page.
    Page(AppError),
}

/// What a person reading `t`'s language sees for `e` (provider and policy messages are English).
pub fn shown(e: SecondFactorError, t: &Messages) -> Shown {
    match e {
        SecondFactorError::WrongCode => Shown::Form(StatusCode::BAD_REQUEST, t.second_wrong_code.to_owned()),
        SecondFactorError::CountryNotAllowed => Shown::Form(StatusCode::BAD_REQUEST, e.to_string()),
        SecondFactorError::SmsUnavailable => Shown::Form(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        SecondFactorError::SmsDisabled => Shown::Form(StatusCode::BAD_REQUEST, t.second_sms_unavailable.to_owned()),
        SecondFactorError::MethodNotAllowed => Shown::Form(StatusCode::FORBIDDEN, e.to_string()),
        SecondFactorError::PasskeyOnly => Shown::Form(StatusCode::FORBIDDEN, t.second_passkey_codes_refused.to_owned()),
        SecondFactorError::RateLimited(wait) => Shown::Page(AppError::RateLimited(wait)),
        SecondFactorError::SmsPaused(_) => Shown::Form(StatusCode::TOO_MANY_REQUESTS, t.second_sms_paused.to_owned()),
        SecondFactorError::NothingPending => Shown::Page(AppError::Gone(|t| t.error_code_ended)),
        SecondFactorError::Store(e) => Shown::Page(e.into()),
        SecondFactorError::BadCredential(_)
        | SecondFactorError::PasskeyRefused
        | SecondFactorError::PasskeyCloned
        | SecondFactorError::PasskeyKnown
        | SecondFactorError::TooManyPasskeys
        | SecondFactorError::NoSuchPasskey => Shown::Form(StatusCode::BAD_REQUEST, e.to_string()),
        other => Shown::Page(AppError::Internal(other.into())),
    }
}

/// A second-factor failure as an error page: 503 when the provider is down, 400 with the
/// message otherwise.
impl From<SecondFactorError> for AppError {
    fn from(e: SecondFactorError) -> Self {
        match shown(e, &EN) {
            Shown::Form(StatusCode::SERVICE_UNAVAILABLE, message) => Self::Unavailable(anyhow::anyhow!(message)),
            Shown::Form(_, message) => Self::BadRequest(message),
            Shown::Page(e) => e,
        }
    }
}
