//! Second factors: TOTP, recovery codes and SMS codes, and the service that manages them
//! (the text messages themselves go through `crate::sms`).

pub mod discoverable;
pub mod passkeys;
pub mod recovery;
pub mod service;
pub mod texts;
pub mod totp;
