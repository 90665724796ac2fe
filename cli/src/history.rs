//! Which key is newest. A PEM bundle records no history, and after `add`
//! (`[old, new]`) and after `promote` (`[new, old]`) the same two private
//! keys only trade places, so `generate` and `add` write a comment line above
//! each key they create:
//!
//! ```text
//! # signing-key: serial=2 added=2026-11-23T20:20:00Z
//! -----BEGIN EC PRIVATE KEY-----
//! ```
//!
//! RFC 7468 allows text outside PEM blocks and openssl ignores it; the
//! library keeps such comments with the key below them.

use std::time::SystemTime;

use signed_headers_keys::BundleKey;

const MARKER: &str = "# signing-key:";

/// The serial `generate` or `add` gave this key, if any.
pub fn serial(key: &BundleKey) -> Option<u64> {
    key.comments().iter().find_map(|line| {
        line.strip_prefix(MARKER)?
            .split_whitespace()
            .find_map(|field| field.strip_prefix("serial="))?
            .parse()
            .ok()
    })
}

/// The key with its history line set to `serial` and the current time
/// (other comments kept).
pub fn stamp(key: BundleKey, serial: u64) -> BundleKey {
    let added = humantime::format_rfc3339_seconds(SystemTime::now());
    let mut comments: Vec<String> = key
        .comments()
        .iter()
        .filter(|line| !line.starts_with(MARKER))
        .cloned()
        .collect();
    comments.push(format!("{MARKER} serial={serial} added={added}"));
    key.with_comments(comments)
}

/// The serial for a key added to `keys`: after every serial already there.
pub fn next_serial(keys: &[BundleKey]) -> u64 {
    let highest = keys.iter().filter_map(serial).max();
    match highest {
        Some(highest) => highest.saturating_add(1),
        // Keys made elsewhere (openssl): count them as the earlier serials.
        None => u64::try_from(keys.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1),
    }
}

/// The position of the newest private key: the highest serial; keys without
/// one (made elsewhere) count as older, and among them the later one is newer.
pub fn newest_private(keys: &[BundleKey]) -> Option<usize> {
    keys.iter()
        .enumerate()
        .filter(|(_, key)| key.is_private())
        .max_by_key(|(position, key)| (serial(key).map_or(0, |s| s.saturating_add(1)), *position))
        .map(|(position, _)| position)
}
