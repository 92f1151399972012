//! Who administers: `ADMIN_EMAILS` and `ADMIN_API_TOKEN`.

use secrecy::{ExposeSecret, SecretString};

use super::reader::Reader;
use crate::domain::Email;

impl Reader<'_> {
    /// `ADMIN_EMAILS`: these accounts always need a second factor.
    pub(super) fn admin_emails(&mut self) -> Vec<Email> {
        let Some(raw) = self.get("ADMIN_EMAILS") else { return Vec::new() };
        let mut emails = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Email::parse(item) {
                Ok(email) => emails.push(email),
                Err(e) => self.problem("ADMIN_EMAILS", format!("`{item}`: {e}")),
            }
        }
        emails
    }

    /// `ADMIN_API_TOKEN`, kept as its hex SHA-256.
    pub(super) fn admin_token_sha256(&mut self) -> Option<String> {
        match self.get("ADMIN_API_TOKEN").map(SecretString::from) {
            Some(token) if token.expose_secret().len() >= 32 => Some(crate::crypto::sha256_hex(token.expose_secret())),
            Some(_) => {
                self.problem("ADMIN_API_TOKEN", "must be at least 32 characters (make one with `latchkey secret`)");
                None
            }
            None => None,
        }
    }
}
