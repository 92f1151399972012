//! A parsed, normalised email address.

use std::fmt;
use std::str::FromStr;

use lettre::Address;
use serde::{Deserialize, Serialize};

/// The longest address accepted, in bytes (RFC 5321 path limit less the angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// An email address that passed [`Email::parse`]: a bare `local@domain` (no display name),
/// with the domain in ASCII (IDN → punycode) and the whole address in lower case.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why an address was refused; the message is safe to show to the person who typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing was typed.
    #[error("Please enter your email address.")]
    Empty,
    /// Longer than [`MAX_EMAIL_BYTES`].
    #[error("That address is too long.")]
    TooLong,
    /// Control characters (CR, LF, NUL …) or whitespace inside the address.
    #[error("That address contains characters that are not allowed.")]
    ForbiddenCharacter,
    /// Not of the form `name@example.com`.
    #[error("That does not look like an email address (name@example.com).")]
    Malformed,
}

impl Email {
    /// Parses what a person typed. Surrounding spaces and tabs are trimmed; anything else
    /// unusual (CR, LF, NUL …) is refused rather than repaired.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let input = input.trim_matches([' ', '\t']);
        if input.is_empty() {
            return Err(EmailError::Empty);
        }
        if input.len() > MAX_EMAIL_BYTES {
            return Err(EmailError::TooLong);
        }
        if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EmailError::ForbiddenCharacter);
        }
        // Quoted local parts and display names are legal somewhere, but not in a login box.
        if input.contains(['"', '<', '>', '(', ')', ',', ';', '[', ']', '\\']) {
            return Err(EmailError::Malformed);
        }
        let (local, domain) = input.rsplit_once('@').ok_or(EmailError::Malformed)?;
        if local.is_empty() || domain.is_empty() || local.contains('@') {
            return Err(EmailError::Malformed);
        }
        let domain = idna::domain_to_ascii(domain).map_err(|_| EmailError::Malformed)?;
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(EmailError::Malformed);
        }
        let normalised = format!("{}@{}", local.to_lowercase(), domain);
        if normalised.len() > MAX_EMAIL_BYTES {
            return Err(EmailError::TooLong);
        }
        Address::from_str(&normalised).map_err(|_| EmailError::Malformed)?;
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with most characters hidden, for logs: `j***@e***.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
        let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
        format!("{}***@{}***.{}", first(local), first(host), tld)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_are_lowercased() {
        assert_eq!(Email::parse(" Jane.Doe@Example.COM ").unwrap().as_str(), "jane.doe@example.com");
    }

    #[test]
    fn idn_domains_become_punycode() {
        assert_eq!(Email::parse("jürgen@bücher.de").unwrap().as_str(), "jürgen@xn--bcher-kva.de");
    }

    #[test]
    fn header_injection_is_refused() {
        for bad in ["a@b.com\r\nBcc: x@y.com", "a@b.com\n", "a\0@b.com", "a b@c.com"] {
            assert_eq!(Email::parse(bad), Err(EmailError::ForbiddenCharacter), "{bad:?}");
        }
    }

    #[test]
    fn display_names_and_junk_are_refused() {
        for bad in ["Jane <jane@example.com>", "\"a\"@b.com", "no-at-sign", "a@", "@b.com", "a@localhost", "a@b@c.com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn overlong_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
        assert_eq!(Email::parse(&"x".repeat(10_000)), Err(EmailError::TooLong));
    }

    #[test]
    fn masked_hides_most_of_the_address() {
        assert_eq!(Email::parse("jane@example.com").unwrap().masked(), "j***@e***.com");
    }
}
