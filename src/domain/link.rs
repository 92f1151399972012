//! The sign-in link's token and the id it is stored under.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{self, CryptoError, HmacKey};

/// The secret in a sign-in link: 32 bytes from the OS CSPRNG, base64url. Only its keyed hash
/// ([`AttemptId`]) is ever stored; `Debug` never shows it.
pub struct LinkToken(SecretString);

impl LinkToken {
    /// Length of a token's text.
    pub const LEN: usize = 43;

    /// A new random token.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(SecretString::from(crypto::random_token::<32>()?)))
    }

    /// Accepts text that could be a token (right length and alphabet); anything else is
    /// refused before it reaches the store.
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        let ok = input.len() == Self::LEN && input.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(SecretString::from(input.to_owned())))
    }

    /// The token text, for the mailed link and the confirm form.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The id this token's attempt is stored under: HMAC-SHA256 of the token under `key`.
    pub fn attempt_id(&self, key: &HmacKey) -> AttemptId {
        AttemptId(key.mac_b64(&[b"link", self.expose().as_bytes()]))
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken([redacted])")
    }
}

/// The keyed hash of a [`LinkToken`]: names the sign-in attempt in the store, and reveals
/// nothing about the token without `SECRET_KEY`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AttemptId(String);

impl AttemptId {
    /// Reads an id back (from the `__Host-attempt` cookie); refuses anything that is not the
    /// shape of an HMAC, so it is safe inside a store key.
    pub fn parse(input: &str) -> Option<Self> {
        let ok = input.len() == 43 && input.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(input.to_owned()))
    }

    /// The id as text (base64url).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttemptId({}…)", &self.0[..8.min(self.0.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn tokens_parse_only_their_own_shape() {
        let t = LinkToken::generate().unwrap();
        assert!(LinkToken::parse(t.expose()).is_some());
        assert!(LinkToken::parse("short").is_none());
        assert!(LinkToken::parse(&"!".repeat(LinkToken::LEN)).is_none());
        assert!(LinkToken::parse(&format!("{}{{", &t.expose()[..42])).is_none());
    }

    #[test]
    fn attempt_id_is_keyed_and_hides_the_token() {
        let keys = SecretKey::new(vec![3; 32]).derive();
        let other = SecretKey::new(vec![4; 32]).derive();
        let t = LinkToken::generate().unwrap();
        assert_ne!(t.attempt_id(&keys.token), t.attempt_id(&other.token));
        assert!(!t.attempt_id(&keys.token).as_str().contains(t.expose()));
        assert!(!format!("{t:?}").contains(t.expose()));
    }
}
