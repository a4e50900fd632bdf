//! Where a webhook may be sent: an `https://` URL whose every address is on the public Internet.
//! The checks are pure (no lookup): the API applies them to a URL when it is registered (an
//! address written in it), the worker to every address its host resolves to, right before it
//! connects to exactly those addresses ([`super::delivery`]).
//!
//! Refused: loopback, private (RFC 1918), shared (CGNAT), link-local (the instance metadata
//! service at 169.254.169.254 among them), unspecified, broadcast, multicast, reserved,
//! documentation and benchmarking ranges; in IPv6 the same plus unique-local (`fd00:ec2::254`, the
//! metadata service over IPv6, is one), site-local, and every form that carries an IPv4 address
//! — IPv4-mapped (`::ffff:127.0.0.1`), IPv4-compatible, NAT64 (`64:ff9b::/96`), 6to4
//! (`2002::/16`) — judged by that IPv4 address, and Teredo. Names that only resolve inside a
//! machine or a network (`localhost`, `*.localhost`, `*.local`, `*.internal`) are refused before
//! any lookup.
//!
//! **A local stack reaches nothing off its machine.** Where the functions have an AWS endpoint
//! override (`make dev`, the tests, `sam local`: never in AWS), the worker delivers only to test
//! targets and looks no name up: a fuzzer's or a demo's endpoint on the public web is refused.
//!
//! **Test targets.** `WEBHOOK_TEST_TARGETS` lists `address:port` pairs a test's own loopback
//! receiver listens on: those (and only those) are allowed, over plain `http://` too. The
//! template's production rules refuse the parameter, and so does the configuration when
//! `STAGE=prod`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

pub use crate::config::TestTargets;

/// Why a target is refused (the message a client or a delivery record shows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("must be an https:// URL")]
    NotHttps,
    #[error("the host {0} names this machine or a private network")]
    LocalName(String),
    #[error("refused: {0} is not a public address")]
    NotPublic(IpAddr),
    #[error("the host resolves to no address")]
    Unresolved,
    #[error("refused: a local stack delivers only to WEBHOOK_TEST_TARGETS")]
    LocalOnly,
}

/// The host names that never leave a machine or a private network.
fn local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || [".localhost", ".local", ".internal", ".localdomain"]
            .iter()
            .any(|suffix| host.ends_with(suffix))
}

/// The IPv4 address an IPv6 address carries, in the forms a network may route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    // NAT64 (64:ff9b::/96) and IPv4-compatible (::/96, deprecated).
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) || s[..6] == [0; 6] {
        return Some(low);
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            (s[1] & 0xff) as u8,
            (s[2] >> 8) as u8,
            (s[2] & 0xff) as u8,
        ));
    }
    None
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // Shared address space (RFC 6598, carrier-grade NAT): 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments: 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking: 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved (240.0.0.0/4).
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return !ip.is_loopback() && !ip.is_unspecified() && public_v4(v4);
    }
    let s = ip.segments();
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    global_unicast
        // Teredo (2001::/32) tunnels to an address it hides.
        && !(s[0] == 0x2001 && s[1] == 0)
        // Documentation (2001:db8::/32).
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
        // Benchmarking (2001:2::/48) and ORCHID (2001:10::/28, 2001:20::/28).
        && !(s[0] == 0x2001 && (s[1] == 2 || (0x10..0x30).contains(&s[1])))
}

/// Whether `ip` is an address on the public Internet (see the module's list).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

/// A URL's host as a delivery reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An address written in the URL: connected to as it is.
    Address(IpAddr),
    /// A name, looked up when a delivery is made.
    Name(String),
}

/// The host and port of `url`, refused when the URL is not `https://` (or `http://` to a test
/// target) or names a local host or a non-public address.
pub fn check_url(url: &Url, tests: &TestTargets) -> Result<(Target, u16), Refusal> {
    let port = url.port_or_known_default().ok_or(Refusal::NotHttps)?;
    let target = match url.host() {
        Some(Host::Ipv4(v4)) => Target::Address(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Target::Address(IpAddr::V6(v6)),
        Some(Host::Domain(name)) if local_name(name) => {
            return Err(Refusal::LocalName(name.to_owned()));
        }
        Some(Host::Domain(name)) => Target::Name(name.to_owned()),
        None => return Err(Refusal::NotHttps),
    };
    if let Target::Address(ip) = target {
        check_addresses(url, &[SocketAddr::new(ip, port)], tests)?;
    } else if url.scheme() != "https" {
        return Err(Refusal::NotHttps);
    }
    Ok((target, port))
}

/// Every address a delivery would connect to is public (or a test target), and a plain
/// `http://` URL reaches only test targets.
pub fn check_addresses(
    url: &Url,
    addrs: &[SocketAddr],
    tests: &TestTargets,
) -> Result<(), Refusal> {
    if addrs.is_empty() {
        return Err(Refusal::Unresolved);
    }
    for addr in addrs {
        if tests.allows(*addr) {
            continue;
        }
        if !is_public(addr.ip()) {
            return Err(Refusal::NotPublic(addr.ip()));
        }
        if url.scheme() != "https" {
            return Err(Refusal::NotHttps);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn loopback_private_link_local_and_metadata_addresses_are_not_public() {
        for text in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip(text)), "{text} must be refused");
        }
    }

    #[test]
    fn public_addresses_in_either_family_are_allowed() {
        for text in [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(text)), "{text} is public");
        }
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("a URL")
    }

    #[test]
    fn urls_naming_local_hosts_or_addresses_in_any_notation_are_refused() {
        let none = TestTargets::default();
        for text in [
            "https://localhost/hook",
            "https://LOCALHOST./hook",
            "https://api.localhost/hook",
            "https://printer.local/hook",
            "https://metadata.google.internal/computeMetadata",
            "https://127.0.0.1/hook",
            "https://2130706433/hook",
            "https://0x7f.1/hook",
            "https://0177.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://[::ffff:a9fe:a9fe]/latest/meta-data",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00:ec2::254]/latest/meta-data",
            "http://hooks.example.com/plain",
            "http://93.184.215.14/plain",
        ] {
            assert!(
                check_url(&url(text), &none).is_err(),
                "{text} must be refused"
            );
        }
        assert!(check_url(&url("https://hooks.example.com/in"), &none).is_ok());
        assert!(check_url(&url("https://93.184.215.14:8443/in"), &none).is_ok());
    }

    #[test]
    fn a_test_target_is_allowed_only_at_its_own_address_and_port() {
        let tests = TestTargets::parse("127.0.0.1:4000").expect("targets");
        assert!(check_url(&url("http://127.0.0.1:4000/hook"), &tests).is_ok());
        assert!(check_url(&url("http://127.0.0.1:4001/hook"), &tests).is_err());
        assert!(check_url(&url("http://[::1]:4000/hook"), &tests).is_err());
        assert_eq!(TestTargets::parse("localhost:4000"), None);
        assert_eq!(TestTargets::parse(""), Some(TestTargets::default()));
    }
}
