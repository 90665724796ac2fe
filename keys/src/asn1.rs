//! The little DER this crate reads and writes by hand: RSA public keys
//! and keys with explicit curve parameters, which the RustCrypto parsers
//! do not take.

/// One DER TLV: `(tag, contents, rest)`.
pub fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes
            .iter()
            .fold(0usize, |acc, &byte| (acc << 8) | usize::from(byte));
        // DER: the shortest form, and no leading zero byte.
        if length < 0x80 || bytes.first() == Some(&0) {
            return None;
        }
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (contents, rest) = rest.split_at(length);
    Some((tag, contents, rest))
}

/// A positive DER INTEGER without its sign byte.
pub fn unsigned(contents: &[u8]) -> Option<Vec<u8>> {
    match contents {
        [] => None,
        [first, ..] if first & 0x80 != 0 => None,
        [0, next, ..] if next & 0x80 == 0 => None,
        [0, rest @ ..] => Some(rest.to_vec()),
        all => Some(all.to_vec()),
    }
}

/// A DER length.
pub fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|byte| *byte == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}
