//! Just enough URL handling for the login flow: splitting `https://` URLs,
//! and `application/x-www-form-urlencoded` both ways.

use std::collections::HashMap;

/// An absolute `https://host[:port]/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl {
    /// Without the port.
    pub host: String,
    /// `host[:port]` as written, for the `Host` header.
    pub authority: String,
    /// Path and query (`/` when the URL has none).
    pub target: String,
}

impl HttpsUrl {
    pub fn parse(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("https://")?;
        let (authority, target) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host);
        Some(Self {
            host: host.to_owned(),
            authority: authority.to_owned(),
            target: target.to_owned(),
        })
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+` (form encoding); malformed escapes stay as written.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let hex = |offset: usize| {
            bytes
                .get(at + offset)
                .and_then(|b| char::from(*b).to_digit(16))
        };
        match (byte, hex(1), hex(2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                at += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                at += 1;
            }
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=2` into a map (the last of repeated names wins).
pub fn parse_form(form: &str) -> HashMap<String, String> {
    form.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_forms() {
        let url = HttpsUrl::parse("https://app.example:8443/cb?code=1").unwrap();
        assert_eq!(url.host, "app.example");
        assert_eq!(url.authority, "app.example:8443");
        assert_eq!(url.target, "/cb?code=1");
        assert_eq!(HttpsUrl::parse("https://a.example").unwrap().target, "/");
        assert_eq!(HttpsUrl::parse("http://a.example/"), None);
        assert_eq!(decode(&encode("a b/c?d=é&")), "a b/c?d=é&");
        let form = parse_form("a=1&b=x%20y+z&c");
        assert_eq!(form["b"], "x y z");
        assert_eq!(form["c"], "");
    }
}
