//! Mail counts by domain group: a small fixed table of the big mailbox providers, so the
//! metrics' labels stay few whatever addresses people type.

use crate::domain::Email;

/// The providers counted apart; every other domain is `other`.
const GROUPS: &[(&str, &[&str])] = &[
    ("gmail", &["gmail.com", "googlemail.com"]),
    ("microsoft", &["outlook.com", "hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "outlook.de", "hotmail.fr"]),
    ("yahoo", &["yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr", "yahoo.co.jp", "aol.com"]),
    ("apple", &["icloud.com", "me.com", "mac.com"]),
    ("proton", &["proton.me", "protonmail.com", "pm.me"]),
];

/// The group `email`'s domain counts toward: `gmail`, `microsoft`, `yahoo`, `apple`, `proton`
/// or `other`.
pub fn domain_group(email: &Email) -> &'static str {
    let domain = email.as_str().rsplit_once('@').map_or("", |(_, d)| d);
    GROUPS.iter().find(|(_, domains)| domains.contains(&domain)).map_or("other", |(group, _)| group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_providers_have_their_group_and_the_rest_is_other() {
        let group = |a: &str| domain_group(&Email::parse(a).unwrap());
        assert_eq!(group("ann@gmail.com"), "gmail");
        assert_eq!(group("ann@googlemail.com"), "gmail");
        assert_eq!(group("ann@hotmail.com"), "microsoft");
        assert_eq!(group("ann@yahoo.co.jp"), "yahoo");
        assert_eq!(group("ann@icloud.com"), "apple");
        assert_eq!(group("ann@example.com"), "other");
        assert_eq!(group("ann@gmail.com.evil.example"), "other");
    }
}
