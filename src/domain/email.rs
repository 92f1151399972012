//! A parsed, normalised email address.

use std::fmt;
use std::str::FromStr;

use lettre::Address;
use serde::{Deserialize, Serialize};

use crate::crypto::Keyring;

/// The longest address accepted, in bytes (RFC 5321 path limit less the angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// An email address that passed [`Email::parse`]: a bare `local@domain` (no display name),
/// with the domain in ASCII (IDN → punycode) and the whole address in lower case.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// A local part with `%`, `!` or an encoded word (`=?…?=`): some relays route on them
    /// (`a%b@relay`, `host!user`, a decoded header), sending the mail somewhere other than the
    /// domain after the `@` — which is the domain `SIGNUP_ALLOW` checks.
    #[error(
        "Addresses with %, ! or =?…?= before the @ are not accepted: some mail servers would deliver them elsewhere."
    )]
    RoutingCharacter,
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
        if routes_elsewhere(local) {
            return Err(EmailError::RoutingCharacter);
        }
        if !is_dot_atom(local) {
            return Err(EmailError::Malformed);
        }
        let domain = idna::domain_to_ascii_cow(domain.as_bytes(), idna::AsciiDenyList::STD3)
            .map_err(|_| EmailError::Malformed)?
            .into_owned();
        if !is_host_name(&domain) {
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

    /// The keyed hash that stands for this address in store keys (so key names carry no
    /// address). Every layer that finds an account by address uses this one.
    pub fn lookup_key(&self, keyring: &Keyring) -> String {
        keyring.lookup.mac_b64(&[b"email", self.0.as_bytes()])
    }

    /// The mailbox a rate limit counts: the address with any `+tag` dropped from its local
    /// part (`ann+1@example.com` → `ann@example.com`), since those all reach one person. Only
    /// limits use it; the account is still the address as typed.
    pub fn mailbox(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        match local.split_once('+') {
            Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
            _ => self.0.clone(),
        }
    }

    /// The address with most characters hidden, for logs: `j***@e***.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
        let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
        format!("{}***@{}***.{}", first(local), first(host), tld)
    }
}

/// An ASCII dot-atom local part (RFC 5322): atext runs separated by single dots. Non-ASCII
/// local parts need SMTPUTF8, which many relays lack, and invite look-alike addresses.
fn is_dot_atom(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|run| !run.is_empty() && run.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c)))
}

/// True for a local part some relays read as a route rather than a mailbox: `%` (the
/// "percent hack", `user%other.host@relay`), `!` (UUCP bang paths) and RFC 2047 encoded words
/// (`=?charset?…?=`, which a relay or client may decode into another address).
fn routes_elsewhere(local: &str) -> bool {
    local.contains(['%', '!']) || local.contains("=?")
}

/// A public host name: two or more letter-digit-hyphen labels, the last alphabetic (or an IDN
/// `xn--` label). IP literals and single-label hosts are refused: mail to them is never a login.
pub fn is_host_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let tld = labels.last().copied().unwrap_or_default();
    let tld_ok = tld.len() >= 2 && (tld.bytes().all(|b| b.is_ascii_alphabetic()) || tld.starts_with("xn--"));
    labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
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
        assert_eq!(Email::parse("juergen@bücher.de").unwrap().as_str(), "juergen@xn--bcher-kva.de");
        assert_eq!(Email::parse("a@例え.テスト").unwrap().as_str(), "a@xn--r8jz45g.xn--zckzah");
    }

    #[test]
    fn ip_literals_odd_domains_and_unicode_local_parts_are_refused() {
        for bad in [
            "a@10.0.0.1",
            "a@169.254.169.254",
            "a@ex!ample.com",
            "a@example.com#x.evil.com",
            "a@-example.com",
            "a@example.c",
            "jürgen@example.com",
            "\u{430}dmin@corp.com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse("first.last+tag@sub.example.co.uk").is_ok());
        assert!(Email::parse("o'brien@example.ie").is_ok());
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
    fn local_parts_that_relays_reroute_are_refused() {
        for bad in [
            "victim%evil.example@allowed.example",
            "evil.example!victim@allowed.example",
            "=?utf-8?q?victim=40evil.example?=@allowed.example",
            "=?x?b?dmljdGlt?=@allowed.example",
            "a!b@example.com",
            "100%@example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::RoutingCharacter), "{bad:?}");
        }
        // `=` alone and other atext stay allowed.
        for good in ["a=b@example.com", "x?y@example.com", "first.last+tag@example.com", "o'brien@example.ie"] {
            assert!(Email::parse(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn overlong_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
        assert_eq!(Email::parse(&"x".repeat(10_000)), Err(EmailError::TooLong));
    }

    #[test]
    fn the_mailbox_drops_a_plus_tag_only() {
        let mailbox = |s: &str| Email::parse(s).unwrap().mailbox();
        assert_eq!(mailbox("Ann+1@Example.com"), "ann@example.com");
        assert_eq!(mailbox("ann+a+b@example.com"), "ann@example.com");
        assert_eq!(mailbox("ann@example.com"), "ann@example.com");
        assert_eq!(mailbox("+ann@example.com"), "+ann@example.com", "no mailbox left of the tag");
        assert_eq!(Email::parse("ann+1@example.com").unwrap().as_str(), "ann+1@example.com");
    }

    #[test]
    fn masked_hides_most_of_the_address() {
        assert_eq!(Email::parse("jane@example.com").unwrap().masked(), "j***@e***.com");
    }
}
