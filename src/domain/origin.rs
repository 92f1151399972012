//! Where a request came from, as shown to a person in mail and on pages.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The client's address (after trusted-proxy handling) and a short description of its browser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOrigin {
    /// The client's IP address, if known.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, cut to a sane length.
    pub user_agent: String,
}

impl RequestOrigin {
    /// Longest user agent kept, in characters.
    pub const MAX_USER_AGENT: usize = 200;

    /// Builds an origin, trimming the user agent to printable characters and a bounded length.
    pub fn new(ip: Option<IpAddr>, user_agent: &str) -> Self {
        let ip = ip.map(|ip| ip.to_canonical());
        let user_agent = user_agent.chars().filter(|c| !c.is_control()).take(Self::MAX_USER_AGENT).collect();
        Self { ip, user_agent }
    }

    /// The browser and system when both are known ("Chrome on Linux"), to name what was set
    /// up from it; `None` for a browser this guess does not know.
    pub fn known_browser(&self) -> Option<String> {
        let name = self.browser();
        (!name.starts_with("a browser") && !name.starts_with("an unknown")).then_some(name)
    }

    /// A person-readable guess at the browser and system, e.g. "Firefox on Linux".
    pub fn browser(&self) -> String {
        let ua = self.user_agent.as_str();
        let browser = [
            ("Edg/", "Edge"),
            ("OPR/", "Opera"),
            ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"),
            ("Safari/", "Safari"),
            ("curl/", "curl"),
        ]
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name);
        let system = [
            ("Android", "Android"),
            ("iPhone", "iOS"),
            ("iPad", "iPadOS"),
            ("Windows", "Windows"),
            ("Mac OS X", "macOS"),
            ("Linux", "Linux"),
        ]
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name);
        match (browser, system) {
            (Some(b), Some(s)) => format!("{b} on {s}"),
            (Some(b), None) => b.to_owned(),
            (None, Some(s)) => format!("a browser on {s}"),
            // Never the raw header: it is attacker-written text and ends up in our mail.
            (None, None) => "an unknown browser".to_owned(),
        }
    }

    /// The IP address as text, or "an unknown address".
    pub fn ip_text(&self) -> String {
        self.ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_names_common_agents() {
        let ff = RequestOrigin::new(None, "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0");
        assert_eq!(ff.browser(), "Firefox on Linux");
        assert_eq!(RequestOrigin::new(None, "").browser(), "an unknown browser");
        let phishing = RequestOrigin::new(None, "Account locked: visit https://evil.example/unlock");
        assert_eq!(phishing.browser(), "an unknown browser");
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(RequestOrigin::new(None, "a\r\nb").user_agent, "ab");
    }
}
