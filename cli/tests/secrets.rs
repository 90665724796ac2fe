//! Secrets hygiene: no command prints private key material except those
//! whose job it is (`encode`, `decode`, `generate -o -`, `envoy-config -o -`
//! of a discovery file), and the JWKS never holds `d`.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;

use common::{cli, path_str, status_kids, step_now};

/// 20-character slices of the base64 that encodes each private scalar:
/// in a SEC1 block's first line, characters 10 to 54 carry the DER bytes
/// 7 to 40 (the 32-byte `d`; the public key comes later in the block, and is
/// public). Any of them in an output is a leak.
fn key_fragments(bundle_text: &str) -> Vec<String> {
    let mut fragments = Vec::new();
    let mut lines = bundle_text.lines();
    while let Some(line) = lines.next() {
        if line == "-----BEGIN EC PRIVATE KEY-----" {
            let first = lines.next().unwrap();
            fragments.extend((10..=34).step_by(4).map(|at| first[at..at + 20].to_owned()));
        }
    }
    fragments.push("PRIVATE KEY-----".to_owned());
    fragments
}

#[track_caller]
fn assert_no_key_material(output: &str, fragments: &[String], what: &str) {
    for fragment in fragments {
        assert!(
            !output.contains(fragment.as_str()),
            "{what} printed key material ({fragment}):\n{output}"
        );
    }
}

#[test]
fn no_command_prints_private_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    let b = path_str(&bundle);
    cli(&["generate", "-o", b]).ok();
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut record = |what: &str, run: common::Run| {
        outputs.push((what.to_owned(), format!("{}{}", run.stdout, run.stderr)));
    };
    record("add", cli(&["add", b]));
    record("status", cli(&["status", b]));
    record("status --json", cli(&["status", "--json", b]));
    record("jwks", cli(&["jwks", b]));
    record("promote refused", cli(&["promote", b]));
    record("promote", step_now("promote", &[b]));
    record("retire refused", cli(&["retire", b]));
    record("revoke unknown", cli(&["revoke", b, "0000000000000000"]));
    record("rotate", cli(&["rotate", "--every", "1h", "--dry-run", b]));
    record("verify garbage", cli(&["verify", "a.b.c", "--jwks", b]));
    let settings = dir.path().join("bad.json");
    fs::write(&settings, fs::read_to_string(&bundle).unwrap()).unwrap();
    record(
        "envoy-config with a key as settings",
        cli(&[
            "envoy-config",
            b,
            "--settings",
            path_str(&settings),
            "-o",
            "-",
        ]),
    );
    record(
        "envoy-config to file",
        cli(&[
            "envoy-config",
            b,
            "-o",
            path_str(&dir.path().join("f.json")),
        ]),
    );
    let mangled = dir.path().join("mangled.pem");
    let text = fs::read_to_string(&bundle).unwrap();
    fs::write(&mangled, text.replacen("MH", "XX", 1)).unwrap();
    record(
        "status of a mangled bundle",
        cli(&["status", path_str(&mangled)]),
    );
    let text = fs::read_to_string(&bundle).unwrap();
    record("retire keep-public", cli(&["retire", "--keep-public", b]));

    let fragments = key_fragments(&text);
    assert!(fragments.len() > 10, "two private keys");
    for (what, output) in &outputs {
        assert_no_key_material(output, &fragments, what);
    }
    let jwks: serde_json::Value = serde_json::from_str(&cli(&["jwks", b]).ok()).unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "{key}");
    }
    assert_eq!(status_kids(&bundle).len(), 2);

    // The check can see a leak: every fragment is in the bundle itself.
    assert!(
        fragments
            .iter()
            .all(|fragment| text.contains(fragment.as_str()))
    );
}
