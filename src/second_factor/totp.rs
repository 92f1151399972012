//! TOTP (RFC 6238) as pure functions: the time is passed in, so tests move it freely.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox};
use totp_rs::{Algorithm, Builder, Totp};

use crate::crypto::{self, CryptoError};

/// Seconds per time step.
pub const STEP: u64 = 30;
/// Digits in a code.
pub const DIGITS: u8 = 6;
/// Steps accepted either side of now (clock drift, typing time).
pub const SKEW: u16 = 1;

/// A 160-bit TOTP seed. `Debug` never shows it.
pub struct TotpSecret(SecretBox<Vec<u8>>);

impl TotpSecret {
    /// A new random seed (20 bytes, the RFC 4226 recommendation).
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::from_bytes(crypto::random_bytes::<20>()?.to_vec()))
    }

    /// Wraps seed bytes (after unsealing them from the store).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// The raw seed, for sealing.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    fn totp(&self, issuer: Option<&str>, account: &str) -> Option<Totp> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW)
            .with_step_duration(STEP)
            .with_secret(self.0.expose_secret().clone())
            .with_issuer(issuer)
            .with_account_name(account)
            .build()
            .ok()
    }

    /// The `otpauth://totp/…` URI an authenticator app scans (issuer and account name may not
    /// contain `:`, which is replaced).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Option<String> {
        let clean = |s: &str| s.replace(':', " ");
        self.totp(Some(&clean(issuer)), &clean(account))?.to_url().ok()
    }

    /// The seed in base32, for typing into an app by hand.
    pub fn base32(&self) -> String {
        base32_encode(self.0.expose_secret())
    }

    /// The code for unix time `at`.
    pub fn code_at(&self, at: u64) -> Option<String> {
        Some(self.totp(None, "")?.generate(at).to_string())
    }

    /// The time step (unix time / 30) that `typed` matches within ±1 step of `now`, if any.
    /// Callers must refuse a step already used ([RFC 6238 §5.2]).
    pub fn matching_step(&self, typed: &str, now: u64) -> Option<u64> {
        let typed: String = typed.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        self.totp(None, "")?.check(&typed, now)
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// RFC 4648 base32 without padding (what authenticator apps expect for manual entry).
fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(ALPHABET[((bits >> (35 - i * 5)) & 31) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_totp(algorithm: Algorithm, seed: &[u8], step: u64, digits: u8) -> Totp {
        Builder::new()
            .with_algorithm(algorithm)
            .with_digits(digits)
            .with_skew(0)
            .with_step_duration(step)
            .with_secret(seed.to_vec())
            .build()
            .unwrap()
    }

    /// RFC 6238 appendix B: SHA1/SHA256/SHA512 with 20/32/64-byte seeds, 8 digits.
    #[test]
    fn rfc6238_known_answers() {
        let times = [59, 1_111_111_109, 1_111_111_111, 1_234_567_890, 2_000_000_000, 20_000_000_000];
        let cases: [(Algorithm, &[u8], [&str; 6]); 3] = [
            (
                Algorithm::SHA1,
                b"12345678901234567890",
                ["94287082", "07081804", "14050471", "89005924", "69279037", "65353130"],
            ),
            (
                Algorithm::SHA256,
                b"12345678901234567890123456789012",
                ["46119246", "68084774", "67062674", "91819424", "90698825", "77737706"],
            ),
            (
                Algorithm::SHA512,
                b"1234567890123456789012345678901234567890123456789012345678901234",
                ["90693936", "25091201", "99943326", "93441116", "38618901", "47863826"],
            ),
        ];
        for (algorithm, seed, expected) in cases {
            let totp = rfc_totp(algorithm, seed, 30, 8);
            for (time, code) in times.iter().zip(expected) {
                assert_eq!(totp.generate(*time).to_string(), code, "{algorithm:?} at {time}");
            }
        }
    }

    /// RFC 4226 appendix D: HOTP = TOTP with a 1-second step at time = counter.
    #[test]
    fn rfc4226_known_answers() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        let hotp = rfc_totp(Algorithm::SHA1, b"12345678901234567890", 1, 6);
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp.generate(counter as u64).to_string(), *code, "counter {counter}");
        }
    }

    #[test]
    fn one_step_either_side_is_accepted_two_are_not() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_700_000_000;
        let step = now / STEP;
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let at = (now as i64 + offset * STEP as i64) as u64;
            let code = secret.code_at(at).unwrap();
            let expected = accepted.then_some((step as i64 + offset) as u64);
            assert_eq!(secret.matching_step(&code, now), expected, "offset {offset}");
        }
        assert_eq!(secret.matching_step("12345", now), None);
        assert_eq!(secret.matching_step("abcdef", now), None);
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let uri = secret.otpauth_uri("login.example.com", "jane@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "{uri}");
        assert!(uri.contains("issuer=login.example.com"), "{uri}");
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }
}
