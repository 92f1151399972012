//! Recovery codes: ten single-use codes shown once, stored only as keyed hashes.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{self, CryptoError, HmacKey};

/// Codes issued at a time.
pub const COUNT: usize = 10;

/// One recovery code, `xxxxx-xxxxx` (50 bits, lowercase base32). `Debug` never shows it.
pub struct RecoveryCode(SecretString);

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

impl RecoveryCode {
    /// A fresh set of [`COUNT`] codes.
    pub fn generate_set() -> Result<Vec<Self>, CryptoError> {
        (0..COUNT).map(|_| Self::generate()).collect()
    }

    fn generate() -> Result<Self, CryptoError> {
        let bytes = crypto::random_bytes::<7>()?;
        let bits = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars: String = (0..10).map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char).collect();
        Ok(Self(SecretString::from(format!("{}-{}", &chars[..5], &chars[5..]))))
    }

    /// Reads a typed code: case, spaces and dashes do not matter. `None` if it cannot be one.
    pub fn parse(input: &str) -> Option<Self> {
        let chars: String =
            input.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')).map(|c| c.to_ascii_lowercase()).collect();
        let ok = chars.len() == 10 && chars.bytes().all(|b| ALPHABET.contains(&b));
        ok.then(|| Self(SecretString::from(format!("{}-{}", &chars[..5], &chars[5..]))))
    }

    /// The code as shown once to the person.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The stored form: keyed hash bound to the user.
    pub fn hash(&self, key: &HmacKey, user: &str) -> String {
        key.mac_b64(&[b"recovery", user.as_bytes(), self.0.expose_secret().as_bytes()])
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn a_set_has_ten_distinct_codes_that_parse_back_to_the_same_hash() {
        let keys = SecretKey::new(vec![4; 32]).derive();
        let set = RecoveryCode::generate_set().unwrap();
        assert_eq!(set.len(), COUNT);
        let mut hashes: Vec<_> = set.iter().map(|c| c.hash(&keys.token, "u1")).collect();
        hashes.dedup();
        assert_eq!(hashes.len(), COUNT);
        let typed = set[0].expose().to_uppercase().replace('-', " ");
        assert_eq!(RecoveryCode::parse(&typed).unwrap().hash(&keys.token, "u1"), hashes[0]);
        assert_ne!(set[0].hash(&keys.token, "u2"), hashes[0], "hash not bound to the user");
    }

    #[test]
    fn junk_is_not_a_recovery_code() {
        for bad in ["", "abcde", "abcde-fghij-k", "abcde-fghiu", "ÄÄÄÄÄ-ÄÄÄÄÄ"] {
            assert!(RecoveryCode::parse(bad).is_none(), "{bad:?}");
        }
    }
}
