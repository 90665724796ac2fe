//! Bundles the CLI must refuse: every command exits 2 with the block and the
//! reason on stderr, and no editing command touches the file.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;

use common::path_str;

use std::fs;
use std::path::Path;

use common::{cli, openssl, openssl_ec_key};

/// Runs every command that reads a bundle against `content` and checks each
/// one fails with exit 2, a message containing each of `expected`, and the
/// file byte-for-byte unchanged.
#[track_caller]
fn assert_rejected(dir: &Path, content: &[u8], expected: &[&str]) {
    let bundle = dir.join("bundle.pem");
    fs::write(&bundle, content).unwrap();
    let b = path_str(&bundle);
    let some_kid = "a".repeat(64);
    let commands: Vec<Vec<&str>> = vec![
        vec!["add", b],
        vec!["add", "--pkcs8", b],
        vec!["promote", b],
        vec!["promote", b, "--kid", &some_kid],
        vec!["retire", b],
        vec!["retire", "--keep-public", b],
        vec!["revoke", b, &some_kid],
        vec!["revoke", b, &some_kid, "--force"],
        vec!["status", b],
        vec!["status", "--json", b],
        vec!["jwks", b],
        vec!["encode", b],
        vec!["decode", b],
    ];
    for args in commands {
        let run = cli(&args);
        assert!(
            run.stdout.is_empty(),
            "{args:?} printed data: {}",
            run.stdout
        );
        let err = run.fails(2);
        assert!(err.starts_with(&format!("error: {b}: ")), "{args:?}: {err}");
        for needle in expected {
            assert!(
                err.contains(needle),
                "{args:?}: expected {needle:?} in {err}"
            );
        }
        assert_eq!(
            fs::read(&bundle).unwrap(),
            content,
            "{args:?} changed the file"
        );
    }
    // No temporary file was left behind either.
    let names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")),
        "{names:?}"
    );
}

/// A valid P-256 key (block 1) followed by the given PEM (block 2).
fn after_valid_key(dir: &Path, pem: &[u8]) -> Vec<u8> {
    let key = openssl_ec_key(dir, "valid.pem");
    let mut content = fs::read(key).unwrap();
    content.extend_from_slice(pem);
    content
}

#[test]
fn rsa_private_key_is_rejected_with_how_to_publish_it() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = openssl(&["genrsa", "2048"]);
    assert_rejected(dir.path(), &rsa, &["block 1", "RSA private key", "-pubout"]);
    let content = after_valid_key(dir.path(), &rsa);
    assert_rejected(dir.path(), &content, &["block 2: RSA private key"]);
    // The traditional "RSA PRIVATE KEY" label too.
    let traditional = common::openssl_run(&["rsa", "-traditional"], Some(&rsa));
    assert!(traditional.status.success());
    assert!(String::from_utf8_lossy(&traditional.stdout).contains("BEGIN RSA PRIVATE KEY"));
    let content = after_valid_key(dir.path(), &traditional.stdout);
    assert_rejected(dir.path(), &content, &["block 2: RSA private key"]);
    // A small RSA public key, in both containers.
    let small = openssl(&["genrsa", "1024"]);
    for pubout in ["-pubout", "-RSAPublicKey_out"] {
        let public = common::openssl_run(&["rsa", pubout], Some(&small));
        assert!(public.status.success());
        let content = after_valid_key(dir.path(), &public.stdout);
        assert_rejected(
            dir.path(),
            &content,
            &["block 2: RSA key of 1024 bits", "2048"],
        );
    }
}

#[test]
fn sec1_key_whose_public_key_does_not_match_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // Two keys; the first one's stored public key swapped for the second's.
    let first = openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
    let second = openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
    let der = |pem: &[u8]| common::openssl_run(&["ec", "-outform", "DER"], Some(pem)).stdout;
    let (first_der, second_der) = (der(&first), der(&second));
    let public_at = first_der.len() - 65;
    let mut swapped = first_der.clone();
    swapped[public_at..].copy_from_slice(&second_der[second_der.len() - 65..]);
    let pem = format!(
        "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&swapped)
    );
    let content = after_valid_key(dir.path(), pem.as_bytes());
    assert_rejected(
        dir.path(),
        &content,
        &["block 2", "does not match its private key"],
    );
}

#[test]
fn p384_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p384 = openssl(&["ecparam", "-name", "secp384r1", "-genkey", "-noout"]);
    let content = after_valid_key(dir.path(), &p384);
    assert_rejected(dir.path(), &content, &["block 2", "P-384"]);
}

#[test]
fn encrypted_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let key = openssl_ec_key(dir.path(), "plain.pem");
    let encrypted = openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-passout",
        "pass:x",
        "-in",
        path_str(&key),
    ]);
    assert!(String::from_utf8_lossy(&encrypted).contains("ENCRYPTED PRIVATE KEY"));
    let content = after_valid_key(dir.path(), &encrypted);
    assert_rejected(dir.path(), &content, &["block 2", "encrypted"]);
}

#[test]
fn garbage_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    assert_rejected(dir.path(), b"this is not a key\n", &["not a PEM bundle"]);
    // A PEM block whose body is not base64.
    let content = after_valid_key(
        dir.path(),
        b"-----BEGIN EC PRIVATE KEY-----\n!!!not base64!!!\n-----END EC PRIVATE KEY-----\n",
    );
    assert_rejected(dir.path(), &content, &["block 2", "unreadable PEM"]);
    // Valid base64, not a key.
    let content = after_valid_key(
        dir.path(),
        b"-----BEGIN EC PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END EC PRIVATE KEY-----\n",
    );
    assert_rejected(dir.path(), &content, &["block 2", "malformed key"]);
    // Text outside the blocks.
    let content = after_valid_key(dir.path(), b"trailing notes\n");
    assert_rejected(dir.path(), &content, &["text outside a PEM block"]);
    // A block that never ends.
    let content = after_valid_key(dir.path(), b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n");
    assert_rejected(dir.path(), &content, &["block 2", "END"]);
}

#[test]
fn duplicate_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let key = openssl_ec_key(dir.path(), "k.pem");
    let pem = fs::read(&key).unwrap();
    let content = [pem.clone(), pem].concat();
    assert_rejected(
        dir.path(),
        &content,
        &["block 2", "duplicate key", "block 1"],
    );
    // The public half of a key already present is a duplicate too.
    let public = openssl(&["ec", "-in", path_str(&key), "-pubout"]);
    let content = [fs::read(&key).unwrap(), public].concat();
    assert_rejected(dir.path(), &content, &["block 2", "duplicate key"]);
}

#[test]
fn empty_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    assert_rejected(dir.path(), b"", &["empty"]);
    assert_rejected(dir.path(), b"  \n\r\n\t", &["empty"]);
    // Only EC PARAMETERS: no key at all.
    let params = openssl(&["ecparam", "-name", "prime256v1"]);
    assert_rejected(dir.path(), &params, &["empty"]);
}

#[test]
fn certificate_and_other_labels_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let key = openssl_ec_key(dir.path(), "k.pem");
    let cert = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        path_str(&key),
        "-subj",
        "/CN=test",
        "-days",
        "1",
    ]);
    let content = [fs::read(&key).unwrap(), cert].concat();
    assert_rejected(dir.path(), &content, &["block 2", "\"CERTIFICATE\""]);
    let content = after_valid_key(
        dir.path(),
        b"-----BEGIN OPENSSH PRIVATE KEY-----\naGVsbG8=\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    assert_rejected(dir.path(), &content, &["block 2", "OPENSSH PRIVATE KEY"]);
}

#[test]
fn public_only_bundle_cannot_be_promoted_or_retired() {
    let dir = tempfile::tempdir().unwrap();
    let key = openssl_ec_key(dir.path(), "k.pem");
    let public = openssl(&["ec", "-in", path_str(&key), "-pubout"]);
    let bundle = dir.path().join("bundle.pem");
    fs::write(&bundle, &public).unwrap();
    for args in [
        vec!["promote", path_str(&bundle)],
        vec!["retire", path_str(&bundle)],
        vec!["retire", "--keep-public", path_str(&bundle)],
    ] {
        let err = cli(&args).fails(2);
        assert!(
            err.contains("no private key: nothing in the bundle can sign"),
            "{args:?}: {err}"
        );
        assert_eq!(fs::read(&bundle).unwrap(), public, "{args:?}");
    }
    // Reading it is fine: it is a verify-only key.
    let status = common::status_json(&bundle);
    assert_eq!(status["step"], "no-signing-key");
}

#[test]
fn missing_file_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let err = cli(&["add", path_str(&missing)]).fails(2);
    assert!(err.contains("nope.pem"), "{err}");
    assert!(!missing.exists());
    cli(&["frobnicate"]).fails(2);
    cli(&["add"]).fails(2);
    cli(&["revoke", "x.pem"]).fails(2);
    cli(&["verify", "token"]).fails(2);
    cli(&["generate", "--bogus"]).fails(2);
    // Help is not an error.
    assert!(cli(&["--help"]).ok().contains("promote"));
}

#[test]
fn ed25519_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let ed25519 = openssl(&["genpkey", "-algorithm", "ed25519"]);
    let content = after_valid_key(dir.path(), &ed25519);
    assert_rejected(dir.path(), &content, &["block 2", "Ed25519"]);
}
