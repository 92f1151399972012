//! How second-factor failures and phone-number problems read to a person.

use actix_web::http::StatusCode;

use crate::domain::PhoneError;
use crate::error::AppError;
use crate::i18n::{Messages, Text};
use crate::second_factor::service::{NameProblem, SecondFactorError};

/// A failure to show on the page (status and message), or an error page.
pub enum Shown {
    /// Re-show the form with this status and message.
    Form(StatusCode, String),
    /// An error page.
    Page(AppError),
}

/// The status and catalogue key of a refusal a person can act on; `None` for the failures
/// that are error pages of their own (or a credential the browser's script got wrong, whose
/// message names the field in the parser's words).
fn refusal(e: &SecondFactorError) -> Option<(StatusCode, Text)> {
    let (status, text): (StatusCode, Text) = match e {
        SecondFactorError::WrongCode => (StatusCode::BAD_REQUEST, |t| t.second_wrong_code),
        SecondFactorError::CountryNotAllowed => (StatusCode::BAD_REQUEST, |t| t.second_country_refused),
        SecondFactorError::SmsUnavailable => (StatusCode::SERVICE_UNAVAILABLE, |t| t.second_sms_failed),
        SecondFactorError::SmsDisabled => (StatusCode::BAD_REQUEST, |t| t.second_sms_unavailable),
        SecondFactorError::MethodNotAllowed => (StatusCode::FORBIDDEN, |t| t.second_method_off),
        SecondFactorError::PasskeyOnly => (StatusCode::FORBIDDEN, |t| t.second_passkey_codes_refused),
        SecondFactorError::SmsPaused(_) => (StatusCode::TOO_MANY_REQUESTS, |t| t.second_sms_paused),
        SecondFactorError::PasskeyRefused => (StatusCode::BAD_REQUEST, |t| t.passkey_refused),
        SecondFactorError::PasskeyCloned => (StatusCode::BAD_REQUEST, |t| t.passkey_cloned),
        SecondFactorError::PasskeyKnown => (StatusCode::BAD_REQUEST, |t| t.passkey_known),
        SecondFactorError::TooManyPasskeys => (StatusCode::BAD_REQUEST, |t| t.passkey_too_many),
        SecondFactorError::NoSuchPasskey => (StatusCode::BAD_REQUEST, |t| t.passkey_no_such),
        SecondFactorError::PasskeyName(problem) => (StatusCode::BAD_REQUEST, name_problem(*problem)),
        _ => return None,
    };
    Some((status, text))
}

/// The catalogue key for a passkey name's problem.
fn name_problem(problem: NameProblem) -> Text {
    match problem {
        NameProblem::TooLong => |t| t.passkey_name_too_long,
        NameProblem::NotPlainText => |t| t.passkey_name_control,
        NameProblem::Empty => |t| t.passkey_name_empty,
    }
}

/// The catalogue key for why a typed phone number was refused.
pub fn phone_problem(e: PhoneError) -> Text {
    match e {
        PhoneError::Empty => |t| t.phone_empty,
        PhoneError::TooLong => |t| t.phone_too_long,
        PhoneError::ForbiddenCharacter => |t| t.phone_forbidden_character,
        PhoneError::MissingCountryCode => |t| t.phone_missing_country_code,
        PhoneError::WrongLength => |t| t.phone_wrong_length,
        PhoneError::Malformed => |t| t.phone_malformed,
    }
}

/// What a person reading `t`'s language sees for `e`.
pub fn shown(e: SecondFactorError, t: &Messages) -> Shown {
    if let Some((status, text)) = refusal(&e) {
        return Shown::Form(status, text(t).to_owned());
    }
    match e {
        SecondFactorError::RateLimited(wait) => Shown::Page(AppError::RateLimited(wait)),
        SecondFactorError::NothingPending => Shown::Page(AppError::Gone(|t| t.error_code_ended)),
        SecondFactorError::Store(e) => Shown::Page(e.into()),
        SecondFactorError::BadCredential(message) => Shown::Form(StatusCode::BAD_REQUEST, message),
        other => Shown::Page(AppError::Internal(other.into())),
    }
}

/// A second-factor failure as an error page in the reader's language: 503 when the provider
/// is down, 400 with the message otherwise (a paused service's refusal too: the page has no
/// form to show again).
impl From<SecondFactorError> for AppError {
    fn from(e: SecondFactorError) -> Self {
        match refusal(&e) {
            Some((StatusCode::SERVICE_UNAVAILABLE, _)) => Self::Unavailable(e.into()),
            Some((_, text)) => Self::Invalid(text),
            None => match e {
                SecondFactorError::RateLimited(wait) => Self::RateLimited(wait),
                SecondFactorError::NothingPending => Self::Gone(|t| t.error_code_ended),
                SecondFactorError::Store(e) => e.into(),
                SecondFactorError::BadCredential(message) => Self::BadRequest(message),
                other => Self::Internal(other.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::i18n::Lang;
    use crate::second_factor::passkeys::MAX_NAME;

    #[test]
    fn every_language_names_the_longest_passkey_name_and_the_field() {
        for lang in Lang::ALL {
            let t = lang.messages();
            assert!(t.passkey_name_too_long.contains(&MAX_NAME.to_string()), "{lang:?}");
            for text in [t.passkey_name_too_long, t.passkey_name_control, t.passkey_name_empty] {
                assert!(text.starts_with("name"), "{lang:?}: {text}");
            }
            assert!(t.passkey_no_such.starts_with("id"), "{lang:?}");
        }
    }
}
