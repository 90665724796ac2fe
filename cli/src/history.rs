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
//! `promote` adds `promoted=<time>` to the key it moves first. The times are
//! what the rotation's safety checks (`--min-age`) and `rotate` read: how
//! long a key has been published before it signs, and how long the old key
//! has been out of use before it goes.
//!
//! RFC 7468 allows text outside PEM blocks and openssl ignores it; the
//! library keeps such comments with the key below them.

use std::time::SystemTime;

use signed_headers_keys::BundleKey;

const MARKER: &str = "# signing-key:";

/// The value of `name=` in the key's history line, if any.
fn field(key: &BundleKey, name: &str) -> Option<String> {
    key.comments().iter().find_map(|line| {
        line.strip_prefix(MARKER)?
            .split_whitespace()
            .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    })
}

fn time_field(key: &BundleKey, name: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(&field(key, name)?).ok()
}

/// The serial `generate` or `add` gave this key, if any.
pub fn serial(key: &BundleKey) -> Option<u64> {
    field(key, "serial")?.parse().ok()
}

/// When `generate` or `add` made this key (its publication starts with the
/// next deployment).
pub fn added(key: &BundleKey) -> Option<SystemTime> {
    time_field(key, "added")
}

/// When `promote` made this key the signing key.
pub fn promoted(key: &BundleKey) -> Option<SystemTime> {
    time_field(key, "promoted")
}

/// Since when the key signs: its promotion, or, never promoted, its
/// creation (the first key of a bundle signs from the start).
pub fn signing_since(key: &BundleKey) -> Option<SystemTime> {
    promoted(key).or_else(|| added(key))
}

/// The key with `promoted=<now>` in its history line (other fields and
/// comments kept).
pub fn stamp_promoted(key: BundleKey, now: SystemTime) -> BundleKey {
    let promoted = humantime::format_rfc3339_seconds(now).to_string();
    let mut found = false;
    let mut comments: Vec<String> = key
        .comments()
        .iter()
        .map(|line| match line.strip_prefix(MARKER) {
            Some(fields) => {
                found = true;
                let mut kept: Vec<String> = fields
                    .split_whitespace()
                    .filter(|field| !field.starts_with("promoted="))
                    .map(str::to_owned)
                    .collect();
                kept.push(format!("promoted={promoted}"));
                format!("{MARKER} {}", kept.join(" "))
            }
            None => line.clone(),
        })
        .collect();
    if !found {
        comments.push(format!("{MARKER} promoted={promoted}"));
    }
    key.with_comments(comments)
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
