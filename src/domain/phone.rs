//! A parsed phone number in E.164 form, masked wherever it could reach a log.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest input accepted, in characters, spaces and punctuation included.
pub const MAX_PHONE_INPUT_CHARS: usize = 32;

/// A phone number that passed [`PhoneNumber::parse`]: `+` and 8 to 15 digits, the first not
/// 0 (`+442079460958`). There is deliberately no `Display`: the full number is reached only
/// through [`PhoneNumber::as_str`], and `Debug` shows [`PhoneNumber::masked`].
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

/// Why a number was refused; the message is safe to show to the person who typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing was typed.
    #[error("Please enter your phone number.")]
    Empty,
    /// Longer than [`MAX_PHONE_INPUT_CHARS`] characters.
    #[error("That phone number is too long.")]
    TooLong,
    /// Letters, control characters or symbols other than spaces, `-`, `.`, `(`, `)` and `+`.
    #[error("A phone number may contain only digits, spaces, +, -, . and brackets.")]
    ForbiddenCharacter,
    /// No `+` or `00` in front, or a `0` where the country code should start.
    #[error("Please start with + and your country code, for example +44 20 7946 0958.")]
    MissingCountryCode,
    /// Fewer than 8 or more than 15 digits after the `+`.
    #[error("A phone number has 8 to 15 digits after the + and country code included.")]
    WrongLength,
    /// A `+` in the middle, or similar.
    #[error("That does not look like a phone number.")]
    Malformed,
}

impl PhoneNumber {
    /// Parses what a person typed: `+44 20 7946 0958`, `+1 (415) 555-2671`, `0044 20 7946 0958`.
    /// Spaces, `-`, `.` and brackets are dropped, and so is the `(0)` people write after a
    /// country code (`+44 (0)20 …`), which is not dialled from abroad. Letters (`ext. 12`,
    /// vanity numbers) and control characters are refused rather than repaired.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let input = input.trim_matches([' ', '\t']);
        if input.is_empty() {
            return Err(PhoneError::Empty);
        }
        if input.chars().nth(MAX_PHONE_INPUT_CHARS).is_some() {
            return Err(PhoneError::TooLong);
        }
        if !input.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')' | '\u{a0}')) {
            return Err(PhoneError::ForbiddenCharacter);
        }
        let compact: String = input.replace("(0)", "").chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest
        } else {
            return Err(PhoneError::MissingCountryCode);
        };
        if digits.contains('+') {
            return Err(PhoneError::Malformed);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::MissingCountryCode);
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(PhoneError::WrongLength);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The number in E.164: `+442079460958`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country calling code, digits only: `44` for `+442079460958`, `1` for any number of
    /// the North American Numbering Plan (US, CA and much of the Caribbean share it).
    pub fn calling_code(&self) -> &str {
        let digits = &self.0[1..];
        &digits[..calling_code_len(digits)]
    }

    /// The number with all but the calling code and the last two digits hidden, for logs and
    /// pages: `+44 ••••••••58`.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let code = self.calling_code();
        let hidden = digits.len() - code.len() - 2;
        format!("+{code} {}{}", "•".repeat(hidden), &digits[digits.len() - 2..])
    }
}

/// How many leading digits of an international number are its country calling code. ITU-T
/// E.164 codes are prefix-free: zones 1 and 7 are one digit; in the other zones a few
/// two-digit codes exist and every other code is three digits.
fn calling_code_len(digits: &str) -> usize {
    const TWO_DIGIT: [&str; 44] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
        "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84",
        "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with(['1', '7']) {
        1
    } else if TWO_DIGIT.iter().any(|code| digits.starts_with(code)) {
        2
    } else {
        3
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(input: &str) -> String {
        PhoneNumber::parse(input).unwrap_or_else(|e| panic!("{input:?} refused: {e}")).as_str().to_owned()
    }

    #[test]
    fn what_people_type_becomes_e164() {
        assert_eq!(e164("+44 20 7946 0958"), "+442079460958");
        assert_eq!(e164("+1 (415) 555-2671"), "+14155552671");
        assert_eq!(e164("0044 20 7946 0958"), "+442079460958");
        assert_eq!(e164("+49.30.901820"), "+4930901820");
        assert_eq!(e164("  +33 6 12 34 56 78\t"), "+33612345678");
        assert_eq!(e164("(+44) 20-7946-0958"), "+442079460958");
        assert_eq!(e164("+44\u{a0}20\u{a0}7946\u{a0}0958"), "+442079460958");
    }

    #[test]
    fn the_trunk_zero_in_brackets_is_dropped() {
        assert_eq!(e164("+44 (0)20 7946 0958"), "+442079460958");
        assert_eq!(e164("+49 (0) 30 901820"), "+4930901820");
    }

    #[test]
    fn a_country_code_is_required() {
        for bad in ["020 7946 0958", "4420 7946 0958", "+020 7946 0958", "000 44 20 7946 0958", "(415) 555-2671"] {
            assert_eq!(PhoneNumber::parse(bad), Err(PhoneError::MissingCountryCode), "{bad:?}");
        }
    }

    #[test]
    fn eight_to_fifteen_digits_are_accepted() {
        assert_eq!(e164("+4930 1234"), "+49301234");
        assert_eq!(e164("+123456789012345"), "+123456789012345");
        for bad in ["+4930123", "+1234567890123456", "+", "00"] {
            assert_eq!(PhoneNumber::parse(bad), Err(PhoneError::WrongLength), "{bad:?}");
        }
    }

    #[test]
    fn letters_control_characters_and_symbols_are_refused() {
        for bad in [
            "+1 800 FLOWERS",
            "+44 20 7946 0958 ext 12",
            "+44 20 7946 0958\r\n",
            "+44\n2079460958",
            "+44\u{0}2079460958",
            "+44 20 7946 0958;",
            "+44/2079460958",
            "+٤٤٢٠٧٩٤٦٠٩٥٨",
            "+４４２０７９４６０９５８",
        ] {
            assert_eq!(PhoneNumber::parse(bad), Err(PhoneError::ForbiddenCharacter), "{bad:?}");
        }
    }

    #[test]
    fn empty_overlong_and_misplaced_plus_are_refused() {
        assert_eq!(PhoneNumber::parse("  "), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse("+44 20 7946 0958 - - - - - - - - -"), Err(PhoneError::TooLong));
        assert_eq!(PhoneNumber::parse(&"1".repeat(10_000)), Err(PhoneError::TooLong));
        assert_eq!(PhoneNumber::parse("+44 20 +7946 0958"), Err(PhoneError::Malformed));
        assert_eq!(PhoneNumber::parse("++442079460958"), Err(PhoneError::Malformed));
        // 32 characters exactly is still fine.
        assert_eq!(e164("+44  20  7946  0958            1").len(), 14);
    }

    #[test]
    fn calling_codes_of_one_two_and_three_digits() {
        let code = |n: &str| PhoneNumber::parse(n).unwrap().calling_code().to_owned();
        assert_eq!(code("+14155552671"), "1");
        assert_eq!(code("+74951234567"), "7");
        assert_eq!(code("+442079460958"), "44");
        assert_eq!(code("+8613812345678"), "86");
        assert_eq!(code("+353851234567"), "353");
        assert_eq!(code("+420601123456"), "420");
        assert_eq!(code("+97150123456"), "971");
        assert_eq!(code("+2348031234567"), "234");
    }

    #[test]
    fn masked_shows_only_the_calling_code_and_last_two_digits() {
        let n = PhoneNumber::parse("+44 20 7946 0958").unwrap();
        assert_eq!(n.masked(), "+44 ••••••••58");
        assert_eq!(PhoneNumber::parse("+1 415 555 2671").unwrap().masked(), "+1 ••••••••71");
        assert_eq!(format!("{n:?}"), "PhoneNumber(+44 ••••••••58)");
        assert!(!format!("{n:?}").contains("7946"));
    }

    #[test]
    fn serde_uses_the_e164_string_and_parses_on_the_way_in() {
        let n = PhoneNumber::parse("+44 20 7946 0958").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+442079460958\"");
        assert_eq!(serde_json::from_str::<PhoneNumber>("\"+442079460958\"").unwrap(), n);
        assert!(serde_json::from_str::<PhoneNumber>("\"0207946\"").is_err());
    }
}
