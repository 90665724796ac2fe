//! File handling: mode 0600 on everything written, `generate -o` never
//! clobbers without `--force`, encode/decode round trip, and `jwks` printing
//! exactly the document the filter serves.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::path_str;

use std::fs;
use std::os::unix::fs::symlink;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use signed_headers_keys::{Bundle, JwksDocument};

use common::{cli, cli_in, find_kid, mode, set_mode, status_kids, step_now};

#[test]
fn generate_output_is_0600_and_never_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let first = find_kid(&cli(&["generate", "-o", path_str(&key)]).fails(0));
    assert_eq!(mode(&key), 0o600);
    let before = fs::read(&key).unwrap();

    // Refused: exit 2, same bytes.
    let err = cli(&["generate", "-o", path_str(&key)]).fails(2);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(fs::read(&key).unwrap(), before);
    let err = cli(&["generate", "--pkcs8", "-o", path_str(&key)]).fails(2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read(&key).unwrap(), before);

    // With --force: a new key, still 0600 even if the old file was 0644.
    set_mode(&key, 0o644);
    let second = find_kid(&cli(&["generate", "-o", path_str(&key), "--force"]).fails(0));
    assert_ne!(first, second);
    assert_ne!(fs::read(&key).unwrap(), before);
    assert_eq!(status_kids(&key), [second]);
    assert_eq!(mode(&key), 0o600);

    // `-o -` is stdout.
    let run = cli_in(&["generate", "-o", "-"], Some(dir.path()), None);
    assert_eq!(run.code, 0);
    // The history comment, then the key.
    let mut lines = run.stdout.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("# signing-key: serial=1 added=")
    );
    assert_eq!(lines.next(), Some("-----BEGIN EC PRIVATE KEY-----"));
    assert!(!dir.path().join("-").exists());
    // Only our file is in the directory: no temporary left over.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn edits_leave_mode_0600_even_from_0644() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    cli(&["generate", "-o", path_str(&bundle)]).fails(0);
    for step in [
        vec!["add", path_str(&bundle)],
        vec![
            "promote",
            "--min-age",
            "0",
            "--allow-shorter-wait",
            path_str(&bundle),
        ],
        vec![
            "retire",
            "--min-age",
            "0",
            "--allow-shorter-wait",
            "--keep-public",
            path_str(&bundle),
        ],
        vec!["add", path_str(&bundle)],
        vec![
            "retire",
            "--min-age",
            "0",
            "--allow-shorter-wait",
            path_str(&bundle),
        ],
    ] {
        set_mode(&bundle, 0o644);
        cli(&step).ok();
        assert_eq!(mode(&bundle), 0o600, "after {step:?}");
    }
    // revoke too.
    let kid = cli(&["add", path_str(&bundle)]).ok().trim().to_owned();
    set_mode(&bundle, 0o644);
    cli(&["revoke", path_str(&bundle), &kid]).ok();
    assert_eq!(mode(&bundle), 0o600);
    // Beside the bundle: its (empty, 0600) lock file, no temporary file.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".bundle.pem.lock", "bundle.pem"]);
    let lock = dir.path().join(".bundle.pem.lock");
    assert_eq!(mode(&lock), 0o600);
    assert_eq!(fs::metadata(&lock).unwrap().len(), 0);
}

#[test]
fn edits_follow_a_symlink_and_keep_it() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.pem");
    cli(&["generate", "-o", path_str(&real)]).fails(0);
    let link = dir.path().join("link.pem");
    symlink(&real, &link).unwrap();
    let kid = cli(&["add", path_str(&link)]).ok().trim().to_owned();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(status_kids(&real)[1], kid);
}

#[test]
fn encode_decode_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    cli(&["generate", "-o", path_str(&bundle)]).fails(0);
    cli(&["add", "--pkcs8", path_str(&bundle)]).ok();
    let pem = fs::read_to_string(&bundle).unwrap();

    let encoded = cli(&["encode", path_str(&bundle)]).ok();
    assert!(encoded.ends_with('\n'));
    let line = encoded.trim_end();
    assert!(!line.contains('\n') && !line.contains(' '));
    // Standard base64 of the PEM.
    assert_eq!(
        String::from_utf8(STANDARD.decode(line).unwrap()).unwrap(),
        pem
    );

    // decode from stdin and from a file give the PEM back.
    let run = cli_in(&["decode"], None, Some(encoded.as_bytes()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, pem);
    let encoded_file = dir.path().join("key.b64");
    fs::write(&encoded_file, &encoded).unwrap();
    assert_eq!(cli(&["decode", path_str(&encoded_file)]).ok(), pem);

    // The encoded form is itself a bundle every command reads.
    assert_eq!(status_kids(&encoded_file), status_kids(&bundle));
    assert_eq!(cli(&["encode", path_str(&encoded_file)]).ok(), encoded);

    // Editing the base64 form keeps it base64 (one line).
    let kids = status_kids(&encoded_file);
    let added = cli(&["add", path_str(&encoded_file)])
        .ok()
        .trim()
        .to_owned();
    let text = fs::read_to_string(&encoded_file).unwrap();
    assert!(
        !text.contains("-----BEGIN") && text.trim_end().lines().count() == 1,
        "{text}"
    );
    assert_eq!(
        status_kids(&encoded_file),
        [kids[0].clone(), kids[1].clone(), added]
    );
    assert_eq!(mode(&encoded_file), 0o600);

    // decode validates: base64 of an RSA key is refused.
    let rsa = common::openssl(&["genrsa", "2048"]);
    let run = cli_in(
        &["decode", "-"],
        None,
        Some(STANDARD.encode(rsa).as_bytes()),
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("block 1: RSA private key"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn jwks_prints_exactly_the_filter_document() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    cli(&["generate", "-o", path_str(&bundle)]).fails(0);
    cli(&["add", path_str(&bundle)]).ok();
    step_now("promote", &[path_str(&bundle)]).ok();
    step_now("retire", &["--keep-public", path_str(&bundle)]).ok();

    let printed = cli(&["jwks", path_str(&bundle)]).ok();
    let parsed = Bundle::parse(&fs::read_to_string(&bundle).unwrap()).unwrap();
    let expected = JwksDocument::new(&parsed.jwks());
    assert_eq!(printed, format!("{}\n", expected.body()));

    // Each JWK: kty, crv, x, y, kid, use, alg, and never d.
    let doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
    for key in doc["keys"].as_array().unwrap() {
        let mut names: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert_eq!(key["alg"], "ES256");
        assert_eq!(key["use"], "sig");
    }

    // From stdin, and from the base64 form, the same bytes.
    let pem = fs::read(&bundle).unwrap();
    let run = cli_in(&["jwks", "-"], None, Some(&pem));
    assert_eq!(run.stdout, printed);
    let encoded = STANDARD.encode(&pem);
    let run = cli_in(&["jwks", "-"], None, Some(encoded.as_bytes()));
    assert_eq!(run.stdout, printed);
}
