//! A header map as the proxy-wasm ABI hands it over (`proxy_get_header_map_pairs`),
//! read in place: the names and values borrow from the host's one buffer,
//! where the SDK's `get_map_bytes` copies each into its own allocation
//! (two per header, every request).
//!
//! The layout (ABI 0.2.1, as Envoy's host writes it): the number of pairs
//! (u32, little-endian), then each pair's name and value lengths (u32, u32),
//! then each name and value in that order, each followed by a NUL byte.

/// A header's name (always UTF-8: Envoy's names are tokens) and its value
/// (bytes: a value may be anything but NUL, CR and LF).
pub type HeaderPair<'a> = (&'a str, &'a [u8]);

/// Why a buffer is not a header map. The filter fails the request rather
/// than strip what it could not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than its counts and lengths say.
    Truncated,
    /// A name or value not followed by its NUL.
    MissingNul,
    /// Bytes after the last value.
    TrailingBytes,
    /// A name that is not UTF-8.
    NameNotUtf8,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Truncated => "truncated",
            Self::MissingNul => "a name or value without its NUL",
            Self::TrailingBytes => "bytes after the last pair",
            Self::NameNotUtf8 => "a name that is not UTF-8",
        })
    }
}

/// The pairs of a serialized header map, in the host's order. An empty
/// buffer is an empty map (the host returns none for a map that does not
/// exist, such as the trailers of a request without them).
pub fn parse(bytes: &[u8]) -> Result<Vec<HeaderPair<'_>>, Malformed> {
    let Some((count, rest)) = split_u32(bytes) else {
        return if bytes.is_empty() {
            Ok(Vec::new())
        } else {
            Err(Malformed::Truncated)
        };
    };
    // The lengths come first, eight bytes a pair: checking that they fit
    // bounds the allocation by the buffer, whatever the count says.
    let lengths_size = count.checked_mul(8).ok_or(Malformed::Truncated)?;
    if rest.len() < lengths_size {
        return Err(Malformed::Truncated);
    }
    let (mut lengths, mut data) = rest.split_at(lengths_size);
    let mut pairs = Vec::with_capacity(count);
    while let Some((name_length, after_name)) = split_u32(lengths) {
        let (value_length, after_value) = split_u32(after_name).ok_or(Malformed::Truncated)?;
        lengths = after_value;
        let (name, after) = terminated(data, name_length)?;
        let (value, after) = terminated(after, value_length)?;
        data = after;
        let name = std::str::from_utf8(name).map_err(|_| Malformed::NameNotUtf8)?;
        pairs.push((name, value));
    }
    if data.is_empty() {
        Ok(pairs)
    } else {
        Err(Malformed::TrailingBytes)
    }
}

fn split_u32(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    let value = usize::try_from(u32::from_le_bytes(*head)).ok()?;
    Some((value, rest))
}

/// `length` bytes, then their NUL; and what follows.
fn terminated(bytes: &[u8], length: usize) -> Result<(&[u8], &[u8]), Malformed> {
    let (field, rest) = bytes.split_at_checked(length).ok_or(Malformed::Truncated)?;
    match rest.split_first() {
        Some((0, rest)) => Ok((field, rest)),
        Some(_) => Err(Malformed::MissingNul),
        None => Err(Malformed::Truncated),
    }
}

/// The host's side: `pairs` serialized as `proxy_get_header_map_pairs`
/// returns them. For tests and the fuzz target.
#[cfg(any(test, feature = "fuzzing"))]
pub fn serialize(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let u32_le = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    let length = |bytes: &[u8]| u32_le(bytes.len());
    let mut out = Vec::new();
    out.extend_from_slice(&u32_le(pairs.len()));
    for (name, value) in pairs {
        out.extend_from_slice(&length(name));
        out.extend_from_slice(&length(value));
    }
    for (name, value) in pairs {
        for field in [name, value] {
            out.extend_from_slice(field);
            out.push(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Three pairs laid out as the ABI specifies (the end-to-end tests read
    /// Envoy's own through the filter).
    #[rustfmt::skip]
    const FROM_THE_ABI: &[u8] = &[
        3, 0, 0, 0,
        7, 0, 0, 0, 3, 0, 0, 0,
        5, 0, 0, 0, 1, 0, 0, 0,
        6, 0, 0, 0, 0, 0, 0, 0,
        b':', b'm', b'e', b't', b'h', b'o', b'd', 0, b'G', b'E', b'T', 0,
        b':', b'p', b'a', b't', b'h', 0, b'/', 0,
        b'x', b'-', b'e', b'm', b'p', b't', 0, 0,
    ];

    #[test]
    fn reads_names_and_values_in_place_in_the_hosts_order() {
        let pairs = parse(FROM_THE_ABI).unwrap();
        assert_eq!(
            pairs,
            [
                (":method", &b"GET"[..]),
                (":path", &b"/"[..]),
                ("x-empt", &b""[..]),
            ]
        );
        assert_eq!(
            serialize(&[(b":method", b"GET"), (b":path", b"/"), (b"x-empt", b"")]),
            FROM_THE_ABI
        );
    }

    #[test]
    fn an_empty_buffer_or_no_pairs_is_an_empty_map() {
        assert_eq!(parse(&[]).unwrap(), []);
        assert_eq!(parse(&[0, 0, 0, 0]).unwrap(), []);
    }

    #[test]
    fn refuses_every_malformed_map() {
        for cut in 1..FROM_THE_ABI.len() {
            assert!(parse(&FROM_THE_ABI[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = FROM_THE_ABI.to_vec();
        extra.push(0);
        assert_eq!(parse(&extra), Err(Malformed::TrailingBytes));
        let mut no_nul = FROM_THE_ABI.to_vec();
        let first_nul = 4 + 3 * 8 + 7;
        no_nul[first_nul] = b'x';
        assert_eq!(parse(&no_nul), Err(Malformed::MissingNul));
        let mut latin1 = FROM_THE_ABI.to_vec();
        latin1[4 + 3 * 8 + 1] = 0xe9;
        assert_eq!(parse(&latin1), Err(Malformed::NameNotUtf8));
        // A count the buffer cannot hold is refused before allocating.
        assert_eq!(
            parse(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
            Err(Malformed::Truncated)
        );
        // A length past the end, even one that would wrap.
        let mut huge = serialize(&[(b"a", b"b")]);
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&huge), Err(Malformed::Truncated));
    }

    proptest! {
        #[test]
        fn what_the_host_serializes_reads_back(
            pairs in prop::collection::vec(("[a-z:_-]{0,12}", prop::collection::vec(1u8.., 0..40)), 0..12)
        ) {
            let borrowed: Vec<(&[u8], &[u8])> =
                pairs.iter().map(|(name, value)| (name.as_bytes(), value.as_slice())).collect();
            let bytes = serialize(&borrowed);
            let read = parse(&bytes).unwrap();
            let expected: Vec<HeaderPair<'_>> =
                pairs.iter().map(|(name, value)| (name.as_str(), value.as_slice())).collect();
            prop_assert_eq!(read, expected);
        }

        #[test]
        fn any_bytes_are_refused_or_read_back_exactly(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let (Ok(pairs), false) = (parse(&bytes), bytes.is_empty()) {
                let borrowed: Vec<(&[u8], &[u8])> =
                    pairs.iter().map(|(name, value)| (name.as_bytes(), *value)).collect();
                prop_assert_eq!(serialize(&borrowed), bytes);
            }
        }
    }
}
