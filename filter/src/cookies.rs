//! Removing named cookies from a request's `Cookie` header, so that the
//! identity provider's tokens (the oauth2 filter's `IdToken`, `BearerToken`)
//! need not reach the application.

/// `header` without the cookies named in `names` (matched exactly, as
/// RFC 6265 compares names), or `None` when none of them is present. The
/// result may be empty: the header should then be removed. Bytes, not text:
/// the other cookies pass through exactly as sent, whatever their encoding.
pub fn without_cookies(header: &[u8], names: &[String]) -> Option<Vec<u8>> {
    if names.is_empty() {
        return None;
    }
    let is_stripped = |pair: &[u8]| {
        let name = pair
            .split(|&b| b == b'=')
            .next()
            .unwrap_or(pair)
            .trim_ascii();
        names.iter().any(|stripped| stripped.as_bytes() == name)
    };
    let pairs = header
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty());
    if !pairs.clone().any(is_stripped) {
        return None;
    }
    Some(
        pairs
            .filter(|pair| !is_stripped(pair))
            .collect::<Vec<_>>()
            .join(b"; ".as_slice()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["IdToken".into(), "BearerToken".into()]
    }

    #[test]
    fn removes_only_the_named_cookies() {
        assert_eq!(
            without_cookies(b"a=1; IdToken=x.y.z; b=2;BearerToken=t", &names()).as_deref(),
            Some(b"a=1; b=2".as_slice())
        );
        assert_eq!(
            without_cookies(b"IdToken=x; BearerToken=y", &names()).as_deref(),
            Some(b"".as_slice())
        );
        assert_eq!(
            without_cookies(b" IdToken = x ;c=3", &names()).as_deref(),
            Some(b"c=3".as_slice())
        );
    }

    #[test]
    fn leaves_other_headers_untouched() {
        assert_eq!(without_cookies(b"a=1; b=2", &names()), None);
        assert_eq!(without_cookies(b"idtoken=1; IdTokenX=2", &names()), None);
        assert_eq!(without_cookies(b"IdToken=x", &[]), None);
        assert_eq!(without_cookies(b"", &names()), None);
    }

    #[test]
    fn other_cookies_keep_their_bytes() {
        assert_eq!(
            without_cookies(b"a=\xff\xfe; IdToken=x", &names()).as_deref(),
            Some(b"a=\xff\xfe".as_slice())
        );
    }
}
