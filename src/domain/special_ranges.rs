//! The IANA special-purpose address registries: addresses no webhook may reach in production.

use std::net::IpAddr;

/// The IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates), every entry,
/// plus multicast (RFC 5771): no webhook goes to any of them.
pub const SPECIAL_V4: [(&str, &str); 20] = [
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private use"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link local"),
    ("172.16.0.0/12", "private use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
    ("192.168.0.0/16", "private use"),
    ("192.175.48.0/24", "direct delegation AS112 service"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
    ("0.0.0.0/32", "this host"),
];

/// The IANA IPv6 Special-Purpose Address Registry, every entry, plus multicast, site-local
/// (deprecated) and the deprecated IPv4-compatible block. NAT64 (`64:ff9b::/96`,
/// `64:ff9b:1::/48`), 6to4 (`2002::/16`), Teredo (`2001::/32`, inside `2001::/23`) and
/// IPv4-mapped (`::ffff:0:0/96`) addresses carry an IPv4 address a gateway would reach: they
/// are refused whole, whatever IPv4 address they carry.
pub const SPECIAL_V6: [(&str, &str); 19] = [
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("64:ff9b::/96", "IPv4/IPv6 translation (NAT64)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID, AMT, AS112 …)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "direct delegation AS112 service"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link local"),
    ("fec0::/10", "site local (deprecated)"),
    ("ff00::/8", "multicast"),
    ("::ffff:0:0:0/96", "IPv4-translated (SIIT)"),
];

/// The special-purpose range `ip` falls in, if any (see [`SPECIAL_V4`], [`SPECIAL_V6`]).
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    let contains = |(net, name): &(&str, &'static str)| {
        net.parse::<ipnet::IpNet>().is_ok_and(|net| net.contains(&ip)).then_some(*name)
    };
    match ip {
        IpAddr::V4(_) => SPECIAL_V4.iter().find_map(contains),
        IpAddr::V6(_) => SPECIAL_V6.iter().find_map(contains),
    }
}

/// True for an address on the public internet: in no IANA special-purpose range, IPv4 or IPv6,
/// and not multicast. In production webhooks go only to such addresses, so a client's webhook
/// URL cannot probe the service's own network, directly or through a translation prefix.
pub fn is_public(ip: IpAddr) -> bool {
    special_range(ip).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8", "1.1.1.1", "2a00:1450:4001::1", "223.255.255.255"]
        {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    /// The first and last address of every registry entry, and the addresses just outside a
    /// few of them, so a wrong prefix length shows.
    #[test]
    fn every_iana_special_purpose_range_is_refused_end_to_end() {
        for (net, name) in SPECIAL_V4.iter().chain(SPECIAL_V6.iter()) {
            let net: ipnet::IpNet = net.parse().unwrap_or_else(|_| panic!("{net} ({name}) does not parse"));
            for ip in [net.network(), net.broadcast()] {
                assert!(!is_public(ip), "{ip} in {net} ({name}) counted as public");
            }
        }
        for outside in ["11.0.0.0", "100.128.0.0", "198.20.0.0", "223.255.255.254", "2003::1", "2001:200::1"] {
            assert!(is_public(outside.parse().unwrap()), "{outside} is public");
        }
    }

    /// One example from every entry of the IPv4 and IPv6 special-purpose registries, and the
    /// translated forms of private IPv4 addresses.
    #[test]
    fn addresses_from_every_registry_entry_and_their_translations_are_not_public() {
        let v4 = [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.53",
            "169.254.169.254",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.8",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.0.170",
            "192.0.2.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.168.0.1",
            "192.175.48.1",
            "198.18.0.1",
            "198.19.255.254",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.254",
            "255.255.255.255",
        ];
        let v6 = [
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "100::1",
            "100:0:0:1::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "2001:1::1",
            "2001:1::2",
            "2001:1::3",
            "2001:2::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:10::1",
            "2001:20::1",
            "2001:30::1",
            "2001:db8::1",
            "2002:a00:1::1",
            "2002:7f00:1::1",
            "2620:4f:8000::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ];
        for ip in v4.iter().chain(v6.iter()) {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(special_range(parsed).is_some(), "{ip} counted as public");
        }
    }
}
