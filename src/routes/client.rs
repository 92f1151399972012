//! Who is asking: the client IP (believing `X-Forwarded-For` only from trusted proxies) and
//! the user agent.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;
use ipnet::IpNet;

use crate::domain::RequestOrigin;

/// The request's origin as shown to people.
pub fn request_origin(req: &HttpRequest, trusted_proxies: &[IpNet]) -> RequestOrigin {
    let ua = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    RequestOrigin::new(client_ip(req, trusted_proxies), ua)
}

/// The peer address; if the peer is a trusted proxy, the right-most untrusted address in
/// `X-Forwarded-For` instead (addresses left of it could be forged by the client).
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    // IPv4 peers on a dual-stack socket arrive as ::ffff:a.b.c.d; compare them as IPv4.
    let peer = req.peer_addr()?.ip().to_canonical();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let headers: Vec<&str> = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect();
    let mut nearest = peer;
    for hop in headers.iter().flat_map(|v| v.split(',')).collect::<Vec<_>>().into_iter().rev() {
        match parse_hop(hop) {
            Ok(ip) if trusted(&ip) => nearest = ip,
            Ok(ip) => return Some(ip),
            // Junk no trusted proxy would write: stop at the last address we can vouch for.
            Err(_) => break,
        }
    }
    Some(nearest)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:567`,
/// `[2001:db8::1]:567`), in canonical form.
fn parse_hop(hop: &str) -> Result<IpAddr, std::net::AddrParseError> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|e| hop.parse::<std::net::SocketAddr>().map(|s| s.ip()).map_err(|_| e))
        .map(|ip| ip.to_canonical())
}
