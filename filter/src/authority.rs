//! The request's host, as the assertion's audience and issuer name it.
//!
//! Envoy hands the filter `:authority` as the client sent it: empty for an
//! HTTP/1.1 `Host:` with no value, and two `Host` headers joined with a comma
//! (`a.example,b.example`). Signing either would assert an audience no
//! application is, so only a well-formed `host[:port]` is accepted
//! (RFC 9110 requires a 400 for the rest).

use std::net::Ipv6Addr;

/// The longest DNS name (RFC 1035), without the trailing dot.
const MAX_HOST_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Why an authority cannot name the audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidAuthority {
    /// No `Host` value at all.
    Empty,
    /// A comma: several `Host` headers joined into one.
    Several,
    /// Anything else that is not `host[:port]`.
    Malformed,
}

impl std::fmt::Display for InvalidAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InvalidAuthority::Empty => "the request has no Host",
            InvalidAuthority::Several => "the request has more than one Host",
            InvalidAuthority::Malformed => "the request's Host is not a valid host[:port]",
        })
    }
}

/// The host of `authority`, lowercase, without port: a DNS name (letters,
/// digits, `-`, `_`, dot-separated labels), an IPv4 address, or a bracketed
/// IPv6 address (kept in brackets, as sent).
///
/// A trailing dot is kept: Envoy routes `app.example.` as written (not to
/// the virtual host of `app.example`, unless the connection manager sets
/// `strip_trailing_host_dot`, which removes it before routing and before
/// this filter), so the audience names the host the request was routed as.
pub fn request_host(authority: &str) -> Result<String, InvalidAuthority> {
    if authority.is_empty() {
        return Err(InvalidAuthority::Empty);
    }
    if authority.contains(',') {
        return Err(InvalidAuthority::Several);
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (address, after) = rest.split_once(']').ok_or(InvalidAuthority::Malformed)?;
            address
                .parse::<Ipv6Addr>()
                .map_err(|_| InvalidAuthority::Malformed)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or(InvalidAuthority::Malformed)?),
            };
            let host = authority
                .get(..address.len() + 2)
                .ok_or(InvalidAuthority::Malformed)?;
            (host, port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if let Some(port) = port {
        let valid_port = (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok();
        if !valid_port {
            return Err(InvalidAuthority::Malformed);
        }
    }
    if host.starts_with('[') {
        return Ok(host.to_ascii_lowercase());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let valid_label = |label: &str| {
        (1..=MAX_LABEL_LEN).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > MAX_HOST_NAME_LEN || !name.split('.').all(valid_label) {
        return Err(InvalidAuthority::Malformed);
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port_lowercase() {
        for (authority, host) in [
            ("app.example.com", "app.example.com"),
            ("App.Example.COM:8443", "app.example.com"),
            ("app.example.com.", "app.example.com."),
            ("app.example.com.:80", "app.example.com."),
            ("127.0.0.1:10000", "127.0.0.1"),
            ("localhost", "localhost"),
            ("my_service:8080", "my_service"),
            ("[::1]", "[::1]"),
            ("[::1]:8080", "[::1]"),
            ("[2001:DB8::1]:443", "[2001:db8::1]"),
            ("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]"),
            ("x:65535", "x"),
        ] {
            assert_eq!(request_host(authority), Ok(host.to_owned()), "{authority}");
        }
    }

    #[test]
    fn empty_doubled_and_malformed_authorities_are_refused() {
        use InvalidAuthority::*;
        for (authority, why) in [
            ("", Empty),
            ("a.example,b.example", Several),
            ("a.example, a.example", Several),
            (",", Several),
            (" ", Malformed),
            ("a.example b", Malformed),
            ("a.example:", Malformed),
            (":80", Malformed),
            ("a.example:http", Malformed),
            ("a.example:65536", Malformed),
            ("a.example:123456", Malformed),
            ("a.example:80:80", Malformed),
            ("a..example", Malformed),
            (".a.example", Malformed),
            ("a.example..", Malformed),
            (".", Malformed),
            ("user@a.example", Malformed),
            ("a.example/path", Malformed),
            ("a%2eexample", Malformed),
            ("ä.example", Malformed),
            ("a.example\t", Malformed),
            ("[::1", Malformed),
            ("[::1]x", Malformed),
            ("[::1]:", Malformed),
            ("[not-ipv6]", Malformed),
            ("[fe80::1%25eth0]", Malformed),
            ("::1", Malformed),
            ("[]", Malformed),
        ] {
            assert_eq!(request_host(authority), Err(why), "{authority:?}");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        assert_eq!(request_host(&long_label), Err(Malformed));
        let long_name = ["abcdefghij"; 24].join(".");
        assert!(long_name.len() > MAX_HOST_NAME_LEN);
        assert_eq!(request_host(&long_name), Err(Malformed));
    }

    #[test]
    fn mutated_authorities_never_panic_and_accepted_hosts_are_clean() {
        let seeds = ["App.Example:8443", "[2001:db8::1]:443", "a.b.", "[::1]"];
        let alphabet = b"[]:.,-_@%aZ09\xff ";
        let mut next = crate::test_rng::xorshift(0x51ed_2701_a3c9_4b17);
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..=next() % 3 {
                let at = (next() as usize) % (bytes.len() + 1);
                let byte = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, byte),
                }
            }
            let authority = String::from_utf8_lossy(&bytes);
            if let Ok(host) = request_host(&authority) {
                // What is signed never carries a port, a comma, a space or
                // an upper-case letter.
                assert!(!host.is_empty(), "{authority:?}");
                assert!(
                    !host.contains([',', ' ', '@', '%'])
                        && !host.chars().any(|c| c.is_ascii_uppercase()),
                    "{authority:?} -> {host:?}"
                );
                assert!(
                    host.starts_with('[') || !host.contains(':'),
                    "{authority:?} -> {host:?}"
                );
            }
        }
    }
}
