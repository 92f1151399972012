//! The number that ties an approval to the browser that asked (policy `approve`): the asking
//! browser shows it, the approving device types it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError};

/// A two-digit number, 10–99. Stored as a plain number; `Debug` does not show it.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct MatchNumber(u8);

impl fmt::Debug for MatchNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MatchNumber(..)")
    }
}

impl TryFrom<u8> for MatchNumber {
    type Error = &'static str;
    fn try_from(stored: u8) -> Result<Self, Self::Error> {
        Self::from_stored(stored).ok_or("not a number from 10 to 99")
    }
}

impl From<MatchNumber> for u8 {
    fn from(n: MatchNumber) -> Self {
        n.0
    }
}

impl MatchNumber {
    /// A uniformly random number, 10–99.
    pub fn generate() -> Result<Self, CryptoError> {
        loop {
            // Rejection sampling: 180 is the largest multiple of 90 a byte holds.
            for byte in crypto::random_bytes::<16>()? {
                if byte < 180 {
                    return Ok(Self(10 + byte % 90));
                }
            }
        }
    }

    /// What a person typed (spaces around it forgiven); `None` unless it is 10–99.
    pub fn parse(typed: &str) -> Option<Self> {
        let typed = typed.trim();
        if typed.len() != 2 || !typed.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        typed.parse::<u8>().ok().filter(|n| (10..=99).contains(n)).map(Self)
    }

    /// A stored number, if it is one.
    pub fn from_stored(stored: u8) -> Option<Self> {
        (10..=99).contains(&stored).then_some(Self(stored))
    }

    /// The number.
    pub fn value(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_numbers_have_two_digits() {
        for _ in 0..500 {
            let n = MatchNumber::generate().unwrap().value();
            assert!((10..=99).contains(&n), "{n}");
        }
    }

    #[test]
    fn debug_does_not_show_the_number() {
        assert_eq!(format!("{:?}", MatchNumber::parse("47").unwrap()), "MatchNumber(..)");
    }

    #[test]
    fn only_two_digits_parse() {
        assert_eq!(MatchNumber::parse(" 47 ").map(MatchNumber::value), Some(47));
        for typed in ["", "7", "07", "100", "4a", "+4", "४७", "-1"] {
            assert_eq!(MatchNumber::parse(typed), None, "{typed}");
        }
    }
}
