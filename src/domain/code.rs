//! The short code in the sign-in mail: 8 Crockford base32 characters (40 bits), shown as
//! `K7PM-2QXR`, forgiving of case, spaces, dashes and the usual look-alikes when typed.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{self, CryptoError};

/// Crockford's base32 alphabet: no I, L, O or U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code (8 × 5 = 40 bits).
pub const CODE_LEN: usize = 8;

/// A short sign-in code, normalised (`K7PM2QXR`). `Debug` never shows it.
pub struct ShortCode(SecretString);

impl ShortCode {
    /// A new random code from the OS CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let bytes = crypto::random_bytes::<5>()?;
        let bits = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let code: String = (0..CODE_LEN).rev().map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char).collect();
        Ok(Self(SecretString::from(code)))
    }

    /// Reads what a person typed: case, spaces and dashes do not matter; O reads as 0, I and L
    /// as 1. `None` if it cannot be a code.
    pub fn parse(input: &str) -> Option<Self> {
        let mut code = String::with_capacity(CODE_LEN);
        for c in input.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')) {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !ALPHABET.contains(&(c as u8)) || !c.is_ascii() || code.len() == CODE_LEN {
                return None;
            }
            code.push(c);
        }
        (code.len() == CODE_LEN).then(|| Self(SecretString::from(code)))
    }

    /// The normalised code (for hashing).
    pub fn normalised(&self) -> &str {
        self.0.expose_secret()
    }

    /// The code as shown in mail: `K7PM-2QXR`.
    pub fn display(&self) -> String {
        let c = self.0.expose_secret();
        format!("{}-{}", &c[..4], &c[4..])
    }
}

impl fmt::Debug for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShortCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_40_bits_in_8_characters() {
        let code = ShortCode::generate().unwrap();
        assert_eq!(code.normalised().len(), CODE_LEN);
        assert_eq!(code.display().len(), CODE_LEN + 1);
        assert!(code.normalised().bytes().all(|b| ALPHABET.contains(&b)));
    }

    #[test]
    fn typed_codes_are_forgiven_case_dashes_and_look_alikes() {
        let code = ShortCode::parse("k7pm-2qxr").unwrap();
        assert_eq!(code.normalised(), "K7PM2QXR");
        assert_eq!(ShortCode::parse(" K7PM 2QXR ").unwrap().normalised(), "K7PM2QXR");
        assert_eq!(ShortCode::parse("OIL0-0000").unwrap().normalised(), "01100000");
    }

    #[test]
    fn anything_else_is_not_a_code() {
        for bad in ["", "K7PM-2QX", "K7PM-2QXRZ", "K7PM-2QXU", "K7PM_2QXR", "ÄÄÄÄÄÄÄÄ"] {
            assert!(ShortCode::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_code() {
        let code = ShortCode::generate().unwrap();
        assert!(!format!("{code:?}").contains(code.normalised()));
    }
}
