//! Where the service may send people and calls: redirect URIs, webhook targets, and the
//! loopback exception that lets development (and native apps) use plain http.

use std::net::IpAddr;

use url::Url;

use super::special_ranges::special_range;

/// True when `url` points at this machine (`localhost`, 127.0.0.0/8, `::1`): the only place
/// plaintext SMTP, plain-http providers and http redirect URIs are allowed in production.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        // Non-special schemes (smtp://) leave IP literals as opaque host text.
        Some(url::Host::Domain(d)) => {
            d == "localhost" || d.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A webhook target: in production https, and not this machine or another internal address —
/// no IP literal in an IANA special-purpose range, no local or single-label name; nowhere a
/// trailing-dot name (deliveries also resolve names to public addresses only).
pub fn check_webhook_url(raw: &str, production: bool) -> Result<(), String> {
    check_redirect_uri(raw, production)?;
    let url = Url::parse(raw).map_err(|_| "not an absolute URI")?;
    let special = match url.host() {
        Some(url::Host::Ipv4(ip)) => special_range(ip.into()),
        Some(url::Host::Ipv6(ip)) => special_range(ip.into()),
        Some(url::Host::Domain(d)) => {
            if let Some(reason) = refused_host_name(d, production) {
                return Err(reason.to_owned());
            }
            None
        }
        None => return Err("needs a host".to_owned()),
    };
    if production && url.scheme() != "https" {
        return Err("must be https:// to a public host in production".to_owned());
    }
    if let Some(range) = special.filter(|_| production) {
        return Err(format!(
            "must be a public host in production, not an address in a special-purpose range ({range})"
        ));
    }
    Ok(())
}

/// An absolute URI with no fragment; https in production unless it points at loopback.
pub fn check_redirect_uri(uri: &str, production: bool) -> Result<(), &'static str> {
    let url = Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if url.fragment().is_some() {
        return Err("must not have a #fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info");
    }
    let loopback = is_loopback(&url);
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || !production => Ok(()),
        "http" => Err("must be https:// (http only to loopback)"),
        _ => Err("must be an http(s) URI"),
    }
}

/// A native app's redirect URI (RFC 8252 §7): a private-use scheme in reverse-DNS form
/// (`com.example.app:/callback`, the scheme holding a dot), a loopback IP literal over http
/// (`http://127.0.0.1/callback`, any port at request time), or https.
pub fn check_native_redirect_uri(uri: &str, production: bool) -> Result<(), &'static str> {
    let url = Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if matches!(url.scheme(), "http" | "https") {
        return check_redirect_uri(uri, production);
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment");
    }
    if !url.scheme().contains('.') {
        return Err(
            "a native app's scheme must be reverse-DNS (com.example.app:/callback), or http loopback, or https",
        );
    }
    Ok(())
}

/// An origin a browser app calls from (`https://app.example.com`, no path): https, or http to
/// loopback (anywhere outside production).
pub fn check_web_origin(origin: &str, production: bool) -> Result<(), &'static str> {
    let url = Url::parse(origin).map_err(|_| "not an origin (scheme://host[:port])")?;
    if url.origin().ascii_serialization() != origin {
        return Err("must be exactly scheme://host[:port], with no path or trailing slash");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) || !production => Ok(()),
        _ => Err("must be https:// (http only to loopback)"),
    }
}

/// Why a webhook host name is refused, if it is: a trailing dot (`localhost.` skips
/// `localhost` checks and the resolver's search rules), and in production the special-use
/// local names (`localhost`, `*.localhost`, `*.local`, `*.internal`, `*.home.arpa`) and
/// single-label names, which a resolver's search domains turn into internal hosts.
pub fn refused_host_name(host: &str, production: bool) -> Option<&'static str> {
    if host.ends_with('.') {
        return Some("a host name ending in a dot is not accepted");
    }
    let host = host.to_ascii_lowercase();
    let local = ["localhost", "local", "internal", "home.arpa", "localdomain"]
        .iter()
        .any(|name| host == *name || host.ends_with(&format!(".{name}")));
    if production && local {
        return Some("a local host name is not a public host");
    }
    if production && !host.contains('.') {
        return Some("a single-label host name is not a public host");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_dots_local_and_single_label_names_are_refused() {
        for name in ["localhost.", "example.com.", "hooks.example.com."] {
            assert!(refused_host_name(name, false).is_some(), "{name}");
            assert!(refused_host_name(name, true).is_some(), "{name}");
        }
        for name in [
            "localhost",
            "LOCALHOST",
            "app.localhost",
            "printer.local",
            "metadata.internal",
            "nas.home.arpa",
            "intranet",
        ] {
            assert!(refused_host_name(name, true).is_some(), "{name}");
        }
        assert_eq!(refused_host_name("localhost", false), None, "development may call loopback");
        assert_eq!(refused_host_name("hooks.example.com", true), None);
    }
}
