//! The client network a per-IP limit counts: an IPv4 address as itself, an IPv6 address by its
//! prefix (one subscriber usually holds a whole /64), an IPv4-mapped IPv6 address as IPv4.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv6Net};

/// The default IPv6 prefix length limits count by (`RATE_LIMIT_IPV6_PREFIX`).
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The network `ip` is counted in: IPv4 as a /32, IPv6 as its first `ipv6_prefix` bits
/// (clamped to 128), `::ffff:a.b.c.d` as `a.b.c.d`.
pub fn client_network(ip: IpAddr, ipv6_prefix: u8) -> IpNet {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpNet::from(IpAddr::V4(v4)),
        IpAddr::V6(v6) => {
            let net = Ipv6Net::new(v6, ipv6_prefix.min(128)).unwrap_or_else(|_| Ipv6Net::from(v6));
            IpNet::V6(net.trunc())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(ip: &str, prefix: u8) -> String {
        client_network(ip.parse().unwrap(), prefix).to_string()
    }

    #[test]
    fn ipv6_addresses_share_their_prefix_and_mapped_ipv4_is_ipv4() {
        assert_eq!(net("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(net("2001:db8:1:2:ffff::9", 64), "2001:db8:1:2::/64");
        assert_ne!(net("2001:db8:1:3::1", 64), net("2001:db8:1:2::1", 64));
        assert_eq!(net("2001:db8:1:2:ffff::9", 48), "2001:db8:1::/48");
        assert_eq!(net("2001:db8::1", 128), "2001:db8::1/128");
        assert_eq!(net("203.0.113.7", 64), "203.0.113.7/32");
        assert_eq!(net("::ffff:203.0.113.7", 64), "203.0.113.7/32");
    }
}
