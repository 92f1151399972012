//! How a registered app shows on the sign-in pages and in the sign-in mail of its flow.

use url::Url;

use super::Client;

/// A registered client's name and links, as the pages of its sign-in show them. Only ever
/// made from a registered [`Client`], never from request input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppBrand {
    /// The client's registered name ("Team wiki"); plain text, escaped where shown.
    pub name: String,
    /// Its logo: an https URL whose origin is a plain host (it goes into the page's
    /// Content-Security-Policy `img-src`).
    pub logo_uri: Option<String>,
    /// The origin of [`AppBrand::logo_uri`] (`https://cdn.example.com`), for `img-src`.
    pub logo_origin: Option<String>,
    /// Its home page (http or https).
    pub client_uri: Option<String>,
    /// Its privacy policy (http or https).
    pub policy_uri: Option<String>,
}

impl AppBrand {
    /// The brand of `client`. Links that are not absolute http(s) URLs without user info, and
    /// a logo that is not https from a plain host, are left out (registration already refuses
    /// them; this holds for records written before that check too).
    pub fn of(client: &Client) -> Self {
        let logo = client.logo_uri.as_deref().and_then(|raw| {
            let url = page_link(raw)?;
            let origin = url.origin().ascii_serialization();
            let plain = origin.bytes().all(|b| b.is_ascii_alphanumeric() || b":/.-[]".contains(&b));
            (url.scheme() == "https" && plain).then(|| (raw.to_owned(), origin))
        });
        let link = |raw: &Option<String>| raw.as_deref().filter(|raw| page_link(raw).is_some()).map(str::to_owned);
        let name = if client.name.trim().is_empty() { client.id.clone() } else { client.name.clone() };
        let (logo_uri, logo_origin) = logo.unzip();
        Self { name, logo_uri, logo_origin, client_uri: link(&client.client_uri), policy_uri: link(&client.policy_uri) }
    }
}

/// `raw` as an absolute http(s) URL without user info.
fn page_link(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    let plain = url.username().is_empty() && url.password().is_none();
    (plain && matches!(url.scheme(), "https" | "http")).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(logo: &str, home: &str) -> Client {
        serde_json::from_value(serde_json::json!({
            "id": "wiki", "name": "Team wiki", "redirect_uris": ["https://w.example/cb"],
            "post_logout_redirect_uris": [], "kind": {"type": "public"}, "scopes": ["openid"],
            "logo_uri": logo, "client_uri": home,
        }))
        .unwrap()
    }

    #[test]
    fn an_https_logo_is_kept_with_its_origin() {
        let brand = AppBrand::of(&client("https://cdn.example.com:8443/l.png", "https://w.example/"));
        assert_eq!(brand.name, "Team wiki");
        assert_eq!(brand.logo_uri.as_deref(), Some("https://cdn.example.com:8443/l.png"));
        assert_eq!(brand.logo_origin.as_deref(), Some("https://cdn.example.com:8443"));
        assert_eq!(brand.client_uri.as_deref(), Some("https://w.example/"));
    }

    #[test]
    fn other_logos_and_links_are_left_out() {
        for logo in ["http://cdn.example.com/l.png", "data:image/png;base64,AAAA", "https://a;script-src/l.png", "x"] {
            let brand = AppBrand::of(&client(logo, "javascript:alert(1)"));
            assert_eq!((brand.logo_uri, brand.logo_origin), (None, None), "{logo}");
            assert_eq!(brand.client_uri, None);
        }
    }
}
