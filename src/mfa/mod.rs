//! Second factors: TOTP, recovery codes and SMS codes, and the service that manages them.

pub mod recovery;
pub mod service;
pub mod sms;
pub mod totp;
