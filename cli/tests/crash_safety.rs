//! A bundle is the only copy of a private key: no way of running or
//! stopping the CLI may lose it. Concurrent edits are serialized by a lock,
//! an edit killed between writing and renaming leaves the old bundle intact,
//! and the owner of a bundle survives an edit by another user (root).

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use signed_headers_keys::Bundle;

use common::{BIN, cli, mode, path_str, status_kids, step_now};

#[test]
fn concurrent_edits_of_one_bundle_are_serialized() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    cli(&["generate", "-o", path_str(&bundle)]).ok();
    let editors: Vec<_> = (0..8)
        .map(|_| {
            Command::new(BIN)
                .args(["add", path_str(&bundle)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut added: Vec<String> = editors
        .into_iter()
        .map(|editor| {
            let output = editor.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        })
        .collect();
    // No edit was lost: every added key is in the bundle, once.
    let kids = status_kids(&bundle);
    assert_eq!(kids.len(), 9, "{kids:?}");
    let mut in_bundle = kids[1..].to_vec();
    added.sort();
    in_bundle.sort();
    assert_eq!(added, in_bundle);
    let text = fs::read_to_string(&bundle).unwrap();
    let mut serials: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split("serial=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap())
        .collect();
    serials.sort_unstable();
    serials.dedup();
    assert_eq!(serials.len(), 9, "each add saw the one before: {text}");
}

#[test]
fn an_edit_killed_before_the_rename_leaves_the_bundle_intact() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    cli(&["generate", "-o", path_str(&bundle)]).ok();
    let before = fs::read(&bundle).unwrap();

    // The debug build aborts right after writing and syncing the temporary
    // file, before renaming it over the bundle.
    let crashed = Command::new(BIN)
        .args(["add", path_str(&bundle)])
        .env("SIGNING_KEY_TEST_CRASH_BEFORE_RENAME", "1")
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the process was killed");
    assert_eq!(
        fs::read(&bundle).unwrap(),
        before,
        "the old bundle is intact"
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert_eq!(leftovers.len(), 1, "the interrupted write's temporary file");
    assert_eq!(mode(&leftovers[0]), 0o600, "it holds a private key");

    // The next edit works on the intact bundle and clears the leftover.
    cli(&["add", path_str(&bundle)]).ok();
    assert_eq!(status_kids(&bundle).len(), 2);
    assert!(!leftovers[0].exists());
}

#[test]
fn killing_edits_at_random_moments_never_corrupts_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    cli(&["generate", "-o", path_str(&bundle)]).ok();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut keys = 1;
    for _ in 0..40 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut editor = Command::new(BIN)
            .args(["add", path_str(&bundle)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(seed % 4000));
        let _ = editor.kill();
        let _ = editor.wait();
        // Whatever the moment, the bundle is the old one or the new one.
        let text = fs::read_to_string(&bundle).unwrap();
        let now = Bundle::parse(&text).unwrap().keys().len();
        assert!(now == keys || now == keys + 1, "{keys} -> {now}");
        keys = now;
        assert_eq!(mode(&bundle), 0o600);
    }
}

#[test]
fn an_edit_keeps_the_bundles_owner() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    cli(&["generate", "-o", path_str(&bundle)]).ok();
    let running_as_root = fs::metadata(&bundle).unwrap().uid() == 0;
    // As root (how a rotation job often runs), the bundle may belong to the
    // user Envoy runs as; an edit must not hand it to root.
    let (uid, gid) = if running_as_root {
        (65534, 65534)
    } else {
        let meta = fs::metadata(&bundle).unwrap();
        (meta.uid(), meta.gid())
    };
    if running_as_root {
        std::os::unix::fs::chown(&bundle, Some(uid), Some(gid)).unwrap();
    }
    cli(&["add", path_str(&bundle)]).ok();
    step_now("promote", &[path_str(&bundle)]).ok();
    let meta = fs::metadata(&bundle).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    assert_eq!(mode(&bundle), 0o600);
}
