//! Which destination countries may receive text messages: the allow-list that stands between
//! the service and SMS pumping fraud (`SMS_ALLOWED_COUNTRIES`).

use super::PhoneNumber;

/// Which destination countries may receive codes. Entries are ISO 3166 alpha-2 codes (`GB`)
/// or calling-code prefixes (`+44`, or a longer `+1876` for one NANP country); `*` allows all.
///
/// Countries sharing a calling code cannot be told apart by it: `US` and `CA` each allow all
/// of `+1`, which is the whole North American Numbering Plan, Caribbean included; `RU` allows
/// all of `+7`, Kazakhstan included; `GB` allows Jersey, Guernsey and the Isle of Man. To allow
/// one NANP country but not the rest, list its area codes (`+1876`) or its ISO code (`JM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedCountries {
    /// Digit prefixes of allowed E.164 numbers (no `+`); `None` allows every number.
    prefixes: Option<Vec<String>>,
}

impl AllowedCountries {
    /// Every country.
    pub fn all() -> Self {
        Self { prefixes: None }
    }

    /// Parses a comma-separated list (`US,GB,+49`, case and spaces ignored). Unknown codes
    /// are listed in the error, which says how to fix them.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let entries: Vec<&str> = raw.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        if entries == ["*"] {
            return Ok(Self::all());
        }
        let mut prefixes = Vec::new();
        let mut unknown = Vec::new();
        for entry in &entries {
            match prefixes_for(entry) {
                Some(found) => prefixes.extend(found),
                None => unknown.push(format!("`{entry}`")),
            }
        }
        if !unknown.is_empty() {
            return Err(format!(
                "{} not a country this service knows: use ISO 3166 codes (GB, DE) or calling codes (+44, +49), \
                 comma-separated; `*` alone allows every country",
                if unknown.len() == 1 { format!("{} is", unknown[0]) } else { format!("{} are", unknown.join(", ")) }
            ));
        }
        if prefixes.is_empty() {
            return Err("lists no country: use ISO 3166 codes (GB, DE) or calling codes (+44, +49)".into());
        }
        prefixes.sort();
        prefixes.dedup();
        Ok(Self { prefixes: Some(prefixes) })
    }

    /// Whether codes may be sent to `number`.
    pub fn allows(&self, number: &PhoneNumber) -> bool {
        let digits = &number.as_str()[1..];
        self.prefixes.as_ref().is_none_or(|prefixes| prefixes.iter().any(|p| digits.starts_with(p.as_str())))
    }
}

/// The digit prefixes one allow-list entry stands for, or `None` if it is not understood.
fn prefixes_for(entry: &str) -> Option<Vec<String>> {
    if let Some(digits) = entry.strip_prefix('+') {
        if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // A prefix must hold at least a whole calling code: `+4` would allow 40 to 49.
        let probe = PhoneNumber::parse(&format!("+{digits:0<15}")).ok()?;
        return (probe.calling_code().len() <= digits.len()).then(|| vec![digits.to_owned()]);
    }
    let iso = entry.to_ascii_uppercase();
    COUNTRY_CALLING_CODES
        .iter()
        .find(|(code, _)| *code == iso)
        .map(|(_, prefixes)| prefixes.iter().map(|p| (*p).to_owned()).collect())
}

/// ISO 3166 alpha-2 code → E.164 prefixes (digits), for the countries people most often list.
/// Others are allowed by calling code (`+354`).
const COUNTRY_CALLING_CODES: &[(&str, &[&str])] = &[
    // North American Numbering Plan: all of +1 for US and CA; area codes for the others.
    ("US", &["1"]),
    ("CA", &["1"]),
    ("PR", &["1787", "1939"]),
    ("JM", &["1876", "1658"]),
    ("DO", &["1809", "1829", "1849"]),
    ("BS", &["1242"]),
    ("BB", &["1246"]),
    ("TT", &["1868"]),
    // Latin America
    ("MX", &["52"]),
    ("BR", &["55"]),
    ("AR", &["54"]),
    ("CL", &["56"]),
    ("CO", &["57"]),
    ("PE", &["51"]),
    ("VE", &["58"]),
    ("EC", &["593"]),
    ("UY", &["598"]),
    ("PY", &["595"]),
    ("BO", &["591"]),
    ("CR", &["506"]),
    ("PA", &["507"]),
    ("GT", &["502"]),
    // Europe
    ("GB", &["44"]),
    ("IE", &["353"]),
    ("FR", &["33"]),
    ("DE", &["49"]),
    ("NL", &["31"]),
    ("BE", &["32"]),
    ("LU", &["352"]),
    ("CH", &["41"]),
    ("LI", &["423"]),
    ("AT", &["43"]),
    ("IT", &["39"]),
    ("ES", &["34"]),
    ("PT", &["351"]),
    ("DK", &["45"]),
    ("SE", &["46"]),
    ("NO", &["47"]),
    ("FI", &["358"]),
    ("IS", &["354"]),
    ("PL", &["48"]),
    ("CZ", &["420"]),
    ("SK", &["421"]),
    ("HU", &["36"]),
    ("RO", &["40"]),
    ("BG", &["359"]),
    ("GR", &["30"]),
    ("CY", &["357"]),
    ("MT", &["356"]),
    ("SI", &["386"]),
    ("HR", &["385"]),
    ("RS", &["381"]),
    ("BA", &["387"]),
    ("EE", &["372"]),
    ("LV", &["371"]),
    ("LT", &["370"]),
    ("UA", &["380"]),
    ("MD", &["373"]),
    ("TR", &["90"]),
    ("RU", &["7"]),
    ("KZ", &["76", "77"]),
    ("GE", &["995"]),
    ("AM", &["374"]),
    // Asia and Oceania
    ("AU", &["61"]),
    ("NZ", &["64"]),
    ("JP", &["81"]),
    ("KR", &["82"]),
    ("CN", &["86"]),
    ("HK", &["852"]),
    ("TW", &["886"]),
    ("SG", &["65"]),
    ("MY", &["60"]),
    ("ID", &["62"]),
    ("PH", &["63"]),
    ("TH", &["66"]),
    ("VN", &["84"]),
    ("IN", &["91"]),
    ("PK", &["92"]),
    ("BD", &["880"]),
    ("LK", &["94"]),
    ("NP", &["977"]),
    // Middle East
    ("AE", &["971"]),
    ("SA", &["966"]),
    ("QA", &["974"]),
    ("KW", &["965"]),
    ("BH", &["973"]),
    ("OM", &["968"]),
    ("IL", &["972"]),
    ("JO", &["962"]),
    ("LB", &["961"]),
    // Africa
    ("ZA", &["27"]),
    ("EG", &["20"]),
    ("MA", &["212"]),
    ("TN", &["216"]),
    ("NG", &["234"]),
    ("GH", &["233"]),
    ("KE", &["254"]),
    ("TZ", &["255"]),
    ("UG", &["256"]),
    ("RW", &["250"]),
    ("SN", &["221"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn number(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap()
    }

    #[test]
    fn allow_list_takes_iso_codes_and_calling_codes() {
        let allowed = AllowedCountries::parse(" de , +44,fr ").unwrap();
        for yes in ["+4930901820", "+442079460958", "+33612345678"] {
            assert!(allowed.allows(&number(yes)), "{yes} refused");
        }
        for no in ["+14155552671", "+4121234567", "+8613812345678", "+2348031234567"] {
            assert!(!allowed.allows(&number(no)), "{no} allowed");
        }
    }

    #[test]
    fn nanp_countries_share_plus_one() {
        let us = AllowedCountries::parse("US").unwrap();
        assert!(us.allows(&number("+14155552671")));
        assert!(us.allows(&number("+18765550123")), "US allows all of +1, Jamaica included");
        assert!(!us.allows(&number("+74951234567")));
        let jamaica = AllowedCountries::parse("JM").unwrap();
        assert!(jamaica.allows(&number("+18765550123")));
        assert!(!jamaica.allows(&number("+14155552671")));
        assert_eq!(AllowedCountries::parse("+1876").unwrap(), AllowedCountries::parse("+1876,+1876").unwrap());
    }

    #[test]
    fn allow_list_refuses_what_it_does_not_understand() {
        for bad in ["XX", "+4", "+0", "+", "+44a", "UK", "*,US", "GBR", ",", "+12345678"] {
            assert!(AllowedCountries::parse(bad).is_err(), "{bad:?} accepted");
        }
        let message = AllowedCountries::parse("US,XX,+4").unwrap_err();
        assert!(message.starts_with("`XX`, `+4` are not"), "{message}");
        assert_eq!(AllowedCountries::parse("*").unwrap(), AllowedCountries::all());
    }

    #[test]
    fn the_country_table_is_sound() {
        assert!(COUNTRY_CALLING_CODES.len() >= 60);
        let mut seen = std::collections::HashSet::new();
        for (iso, prefixes) in COUNTRY_CALLING_CODES {
            assert!(iso.len() == 2 && iso.bytes().all(|b| b.is_ascii_uppercase()), "{iso}");
            assert!(seen.insert(iso), "{iso} twice");
            for p in *prefixes {
                assert_eq!(prefixes_for(&format!("+{p}")), Some(vec![(*p).to_owned()]), "{iso} {p}");
            }
        }
    }
}
