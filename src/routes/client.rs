//! Who is asking: the client IP (believing `X-Forwarded-For` only from trusted proxies) and
//! the user agent.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;
use ipnet::IpNet;

use crate::domain::RequestOrigin;

/// The request's origin as shown to people.
pub fn request_origin(req: &HttpRequest, trusted_proxies: &[IpNet]) -> RequestOrigin {
    let ua = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    RequestOrigin::new(client_ip(req, trusted_proxies), ua)
}

/// A connection that came through `BIND_SOCKET`. Only a process on this host can open the
/// socket, so its peer counts as 127.0.0.1: trusted as a proxy when `TRUSTED_PROXIES` names
/// 127.0.0.1, and otherwise one client whose limits every caller through the socket shares.
#[derive(Debug, Clone, Copy)]
pub struct LocalSocket;

/// The peer address; if the peer is a trusted proxy, the right-most untrusted address in
/// `X-Forwarded-For` instead (addresses left of it could be forged by the client).
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    // IPv4 peers on a dual-stack socket arrive as ::ffff:a.b.c.d; compare them as IPv4.
    let peer = match req.peer_addr() {
        Some(peer) => peer.ip().to_canonical(),
        None if req.conn_data::<LocalSocket>().is_some() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        None => return None,
    };
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    // Read as bytes: a header value may carry any byte, and one that is not UTF-8 must not
    // throw the whole header away (every client would then be the proxy, sharing its limits).
    // Only the hops right of the first untrusted one are read; whatever is left of it, junk
    // included, the client wrote and is ignored.
    let hops: Vec<&[u8]> =
        req.headers().get_all("x-forwarded-for").flat_map(|v| v.as_bytes().split(|b| *b == b',')).collect();
    let mut nearest = peer;
    for hop in hops.into_iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted(&ip) => nearest = ip,
            Some(ip) => return Some(ip),
            // Junk no trusted proxy would write: stop at the last address we can vouch for.
            None => break,
        }
    }
    Some(nearest)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:567`,
/// `[2001:db8::1]:567`), in canonical form; `None` for anything else (including bytes that are
/// not UTF-8).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}
