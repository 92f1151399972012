//! `return_to`: where to send a person after sign-in — a local path, never another site.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A path on this service (`/account`, `/oauth2/authorize?…`). Anything that a browser could
/// read as another origin (`//evil`, `/\evil`, `https://evil`, encoded variants) is refused.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LocalPath(String);

impl LocalPath {
    /// Longest accepted path, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// Accepts only an absolute local path; returns `None` for anything else.
    pub fn parse(input: &str) -> Option<Self> {
        let ok = input.len() <= Self::MAX_LEN
            && input.starts_with('/')
            && !input.starts_with("//")
            && !input.contains('\\')
            && !input.chars().any(|c| c.is_control() || c.is_whitespace())
            && !Self::decoded_prefix_escapes(input);
        ok.then(|| Self(input.to_owned()))
    }

    /// The default destination after sign-in.
    pub fn account() -> Self {
        Self("/account".to_owned())
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when percent-decoding the start of the path yields `//` or `/\`, which some
    /// browsers and proxies decode before following a redirect.
    fn decoded_prefix_escapes(input: &str) -> bool {
        let head: String = input.chars().take(16).collect();
        let decoded = percent_decode(&head).to_ascii_lowercase();
        decoded.starts_with("//") || decoded.starts_with("/\\") || decoded.contains("://")
    }
}

/// Decodes `%XX` escapes repeatedly (double encoding included); invalid escapes stay as typed.
fn percent_decode(input: &str) -> String {
    let mut current = input.to_owned();
    for _ in 0..3 {
        let decoded = url::form_urlencoded::parse(format!("x={}", current.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if decoded == current {
            break;
        }
        current = decoded;
    }
    current
}

impl fmt::Debug for LocalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalPath({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for ok in ["/account", "/oauth2/authorize?client_id=a&state=b", "/"] {
            assert_eq!(LocalPath::parse(ok).map(|p| p.0), Some(ok.to_owned()));
        }
    }

    #[test]
    fn other_origins_are_refused() {
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%252F%252Fevil.example",
            "/%5Cevil.example",
            "evil.example",
            "",
            "/\tevil",
            "/a\r\nLocation: x",
        ] {
            assert!(LocalPath::parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
