//! Decoding values Envoy hands over from dynamic metadata in their native
//! encoding: strings as their bytes, lists in the proxy-wasm "pairs" encoding.

/// A `groups` claim: normally a list; some identity providers send a single
/// string, which becomes a one-element list.
pub fn groups(bytes: &[u8]) -> Vec<String> {
    match decode_list(bytes) {
        Some(items) => items
            .into_iter()
            .filter_map(|item| String::from_utf8(item.to_vec()).ok())
            .collect(),
        None => match std::str::from_utf8(bytes) {
            Ok(single) if !single.is_empty() => vec![single.to_owned()],
            _ => Vec::new(),
        },
    }
}

/// Decodes Envoy's serialization of a list: a pairs map whose keys are the
/// items (see [`decode_pairs`]). `None` unless the bytes are exactly that
/// shape, so a plain string is never misread as a list.
fn decode_list(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    decode_pairs(bytes).map(|pairs| pairs.into_iter().map(|(key, _)| key).collect())
}

/// Decodes the proxy-wasm "pairs" encoding Envoy uses for maps (a Struct:
/// its keys and values) and lists (items as keys, empty values): a
/// little-endian u32 count, then (key length, value length) per pair, then
/// each key and value followed by a NUL. `None` unless the bytes are exactly
/// that shape.
pub fn decode_pairs(bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let read_u32 = |at: usize| -> Option<usize> {
        let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(word)).ok()
    };
    let count = read_u32(0)?;
    let mut data_at = count.checked_mul(8)?.checked_add(4)?;
    if data_at > bytes.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(count);
    for index in 0..count {
        let sizes_at = 4 + index * 8;
        let key_len = read_u32(sizes_at)?;
        let value_len = read_u32(sizes_at + 4)?;
        let key_end = data_at.checked_add(key_len)?;
        let key = bytes.get(data_at..key_end)?;
        let value_at = key_end.checked_add(1)?;
        let value_end = value_at.checked_add(value_len)?;
        if bytes.get(key_end) != Some(&0) || bytes.get(value_end) != Some(&0) {
            return None;
        }
        pairs.push((key, bytes.get(value_at..value_end)?));
        data_at = value_end.checked_add(1)?;
    }
    (data_at == bytes.len()).then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Envoy's encoding of a list of strings.
    fn encode_list(items: &[&str]) -> Vec<u8> {
        let mut out = (items.len() as u32).to_le_bytes().to_vec();
        for item in items {
            out.extend((item.len() as u32).to_le_bytes());
            out.extend(0u32.to_le_bytes());
        }
        for item in items {
            out.extend(item.as_bytes());
            out.extend([0, 0]);
        }
        out
    }

    #[test]
    fn groups_lists_strings_and_garbage() {
        assert_eq!(groups(&encode_list(&[])), Vec::<String>::new());
        assert_eq!(groups(&encode_list(&["a", "", "b"])), vec!["a", "", "b"]);
        assert_eq!(groups(b"solo"), vec!["solo"]);
        assert_eq!(groups(b""), Vec::<String>::new());
        let mut truncated = encode_list(&["abc"]);
        truncated.pop();
        assert_eq!(decode_list(&truncated), None);
        assert_eq!(decode_list(&[0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(
            decode_list(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
            None
        );
    }

    #[test]
    fn random_and_mutated_metadata_never_panics() {
        let mut next = crate::test_rng::xorshift(0x9e37_79b9_7f4a_7c15);
        let valid = encode_list(&["admins", "dev", ""]);
        for _ in 0..20_000 {
            let mut bytes = if next().is_multiple_of(2) {
                valid.clone()
            } else {
                (0..next() % 64).map(|_| next() as u8).collect()
            };
            if !bytes.is_empty() {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
                bytes.truncate((next() as usize) % (bytes.len() + 1));
            }
            let _ = groups(&bytes);
        }
    }
}
