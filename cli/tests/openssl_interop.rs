//! PEM read and written interchangeably with the real `openssl` binary, and
//! kids equal to RFC 7638 thumbprints computed here from openssl's own view
//! of each public key.

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

use common::{
    cli, find_kid, jwks_kids, openssl, openssl_kid, openssl_public_kid, openssl_run, pem_blocks,
    status_json, status_kids, step_now,
};

#[test]
fn openssl_ecparam_noout_key_is_accepted_with_the_right_kid() {
    let dir = tempfile::tempdir().unwrap();
    let key = common::openssl_ec_key(dir.path(), "k.pem");
    assert!(
        fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN EC PRIVATE KEY-----")
    );
    // Independent thumbprint: from `openssl ec -pubout -outform DER`.
    let der = openssl(&["ec", "-in", path_str(&key), "-pubout", "-outform", "DER"]);
    let expected = common::kid_from_spki_der(&der);
    assert_eq!(status_kids(&key), [expected.as_str()]);
    assert_eq!(jwks_kids(&key), [expected.as_str()]);
    let status = status_json(&key);
    assert_eq!(status["keys"][0]["kind"], "private");
    assert_eq!(status["keys"][0]["format"], "sec1");
}

#[test]
fn openssl_ecparam_with_ec_parameters_block_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-out",
        path_str(&key),
    ]);
    let text = fs::read_to_string(&key).unwrap();
    assert!(text.contains("-----BEGIN EC PARAMETERS-----"), "{text}");
    let expected = openssl_kid(&key);
    assert_eq!(status_kids(&key), [expected.as_str()]);
    // Editing keeps the key (the skipped EC PARAMETERS block is dropped).
    let added = cli(&["add", path_str(&key)]).ok().trim().to_owned();
    assert_eq!(status_kids(&key), [expected.as_str(), added.as_str()]);
}

#[test]
fn openssl_genpkey_pkcs8_key_is_accepted_with_the_right_kid() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path_str(&key),
    ]);
    assert!(
        fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let expected = openssl_kid(&key);
    assert_eq!(status_kids(&key), [expected.as_str()]);
    assert_eq!(status_json(&key)["keys"][0]["format"], "pkcs8");
}

#[test]
fn openssl_public_key_is_a_verify_only_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = common::openssl_ec_key(dir.path(), "k.pem");
    let public = dir.path().join("k.pub");
    openssl(&[
        "ec",
        "-in",
        path_str(&key),
        "-pubout",
        "-out",
        path_str(&public),
    ]);
    let signing = common::openssl_ec_key(dir.path(), "s.pem");
    let bundle = dir.path().join("bundle.pem");
    let text = fs::read_to_string(&signing).unwrap() + &fs::read_to_string(&public).unwrap();
    fs::write(&bundle, text).unwrap();
    let status = status_json(&bundle);
    assert_eq!(status["keys"][0]["kid"], openssl_kid(&signing).as_str());
    assert_eq!(status["keys"][0]["role"], "signing");
    assert_eq!(
        status["keys"][1]["kid"],
        openssl_public_kid(&public).as_str()
    );
    assert_eq!(status["keys"][1]["kind"], "public-only");
    assert_eq!(status["keys"][1]["role"], "published");
}

#[test]
fn generated_keys_pass_openssl_checks_and_kids_agree() {
    let dir = tempfile::tempdir().unwrap();
    let sec1 = dir.path().join("sec1.pem");
    let kid = find_kid(&cli(&["generate", "-o", path_str(&sec1)]).fails(0));
    let text = fs::read_to_string(&sec1).unwrap();
    // The history comment (which openssl skips), then the SEC1 block.
    assert!(
        text.starts_with("# signing-key: serial=1 added=")
            && text.contains("\n-----BEGIN EC PRIVATE KEY-----\n"),
        "{text}"
    );
    let check = openssl_run(&["ec", "-in", path_str(&sec1), "-check", "-noout"], None);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(openssl_kid(&sec1), kid);
    // openssl sees a P-256 key.
    let described = String::from_utf8(openssl(&[
        "pkey",
        "-in",
        path_str(&sec1),
        "-noout",
        "-text",
    ]))
    .unwrap();
    assert!(
        described.contains("prime256v1") || described.contains("P-256"),
        "{described}"
    );

    let pkcs8 = dir.path().join("pkcs8.pem");
    let kid = find_kid(&cli(&["generate", "--pkcs8", "-o", path_str(&pkcs8)]).fails(0));
    let text = fs::read_to_string(&pkcs8).unwrap();
    assert!(
        text.starts_with("# signing-key: serial=1 added=")
            && text.contains("\n-----BEGIN PRIVATE KEY-----\n"),
        "{text}"
    );
    let check = openssl_run(&["pkey", "-in", path_str(&pkcs8), "-check", "-noout"], None);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(openssl_kid(&pkcs8), kid);

    // To stdout, the same kind of key.
    let stdout_key = cli(&["generate"]).ok();
    let check = openssl_run(&["ec", "-check", "-noout"], Some(stdout_key.as_bytes()));
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn bundle_written_by_add_is_readable_by_openssl_block_by_block() {
    let dir = tempfile::tempdir().unwrap();
    // A mixed bundle: openssl SEC1 (with EC PARAMETERS), openssl PKCS#8.
    let first = dir.path().join("first.pem");
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-out",
        path_str(&first),
    ]);
    let second = dir.path().join("second.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path_str(&second),
    ]);
    let bundle = dir.path().join("bundle.pem");
    fs::write(
        &bundle,
        fs::read_to_string(&first).unwrap() + &fs::read_to_string(&second).unwrap(),
    )
    .unwrap();
    let expected_first = openssl_kid(&first);
    let expected_second = openssl_kid(&second);

    let added = cli(&["add", path_str(&bundle)]).ok().trim().to_owned();
    let added_pkcs8 = cli(&["add", "--pkcs8", path_str(&bundle)])
        .ok()
        .trim()
        .to_owned();
    let text = fs::read_to_string(&bundle).unwrap();
    // The keys that were there are kept byte for byte (as openssl wrote
    // them), the first one with the EC PARAMETERS block before it.
    assert!(text.contains(fs::read_to_string(&first).unwrap().trim()));
    assert!(text.contains(pem_blocks(&fs::read_to_string(&second).unwrap())[0].as_str()));
    let blocks: Vec<String> = pem_blocks(&text)
        .into_iter()
        .filter(|block| !block.contains("EC PARAMETERS"))
        .collect();
    assert_eq!(blocks.len(), 4, "{text}");

    let expected = [expected_first, expected_second, added, added_pkcs8];
    for (index, block) in blocks.iter().enumerate() {
        let path = dir.path().join(format!("block{index}.pem"));
        fs::write(&path, block).unwrap();
        let check = openssl_run(&["pkey", "-in", path_str(&path), "-check", "-noout"], None);
        assert!(
            check.status.success(),
            "block {index}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        assert_eq!(openssl_kid(&path), expected[index], "block {index}");
    }
    assert_eq!(status_kids(&bundle), expected);
}

#[test]
fn crlf_bundle_is_accepted_and_edited() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::openssl_ec_key(dir.path(), "a.pem");
    let b = common::openssl_ec_key(dir.path(), "b.pem");
    let lf = fs::read_to_string(&a).unwrap() + &fs::read_to_string(&b).unwrap();
    let crlf = format!("\r\n  {}\r\n\r\n", lf.replace('\n', "\r\n"));
    let bundle = dir.path().join("bundle.pem");
    fs::write(&bundle, &crlf).unwrap();
    let expected = [openssl_kid(&a), openssl_kid(&b)];
    assert_eq!(status_kids(&bundle), expected);
    assert_eq!(jwks_kids(&bundle), expected);
    // An edit rewrites it with LF line endings, keys unchanged.
    step_now("promote", &[path_str(&bundle)]).ok();
    let text = fs::read_to_string(&bundle).unwrap();
    assert!(!text.contains('\r'));
    assert_eq!(
        status_kids(&bundle),
        [expected[1].clone(), expected[0].clone()]
    );
}

/// The kid of `key` as openssl sees it once rewritten with P-256's name.
fn named_curve_kid(key: &std::path::Path, public: bool) -> String {
    let mut args = vec!["ec", "-in", path_str(key)];
    if public {
        args.push("-pubin");
    }
    args.extend(["-param_enc", "named_curve", "-pubout", "-outform", "DER"]);
    common::kid_from_spki_der(&openssl(&args))
}

#[test]
fn p256_keys_with_explicit_curve_parameters_are_the_same_named_curve_keys() {
    let dir = tempfile::tempdir().unwrap();
    let sec1 = dir.path().join("explicit.pem");
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-param_enc",
        "explicit",
        "-noout",
        "-out",
        path_str(&sec1),
    ]);
    let with_parameters = dir.path().join("explicit-with-parameters.pem");
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-param_enc",
        "explicit",
        "-out",
        path_str(&with_parameters),
    ]);
    let pkcs8 = dir.path().join("explicit-pkcs8.pem");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        path_str(&sec1),
        "-out",
        path_str(&pkcs8),
    ]);
    let public = dir.path().join("explicit-public.pem");
    openssl(&[
        "ec",
        "-in",
        path_str(&sec1),
        "-pubout",
        "-out",
        path_str(&public),
    ]);
    // What openssl wrote really spells the domain out.
    for file in [&sec1, &pkcs8, &public] {
        let text = openssl(&["asn1parse", "-in", path_str(file)]);
        let text = String::from_utf8_lossy(&text);
        assert!(text.contains("prime-field"), "{}: {text}", file.display());
    }
    assert!(
        fs::read_to_string(&with_parameters)
            .unwrap()
            .contains("BEGIN EC PARAMETERS")
    );

    for (file, is_public, format) in [
        (&sec1, false, "sec1"),
        (&with_parameters, false, "sec1"),
        (&pkcs8, false, "pkcs8"),
        (&public, true, "spki"),
    ] {
        let expected = named_curve_kid(file, is_public);
        assert_eq!(status_kids(file), [expected.as_str()], "{}", file.display());
        assert_eq!(jwks_kids(file), [expected.as_str()]);
        assert_eq!(status_json(file)["keys"][0]["format"], format);
        if is_public {
            continue;
        }
        // An edit writes the key back with P-256's name, which openssl
        // reads as the same key.
        let added = cli(&["add", path_str(file)]).ok().trim().to_owned();
        assert_eq!(status_kids(file), [expected.as_str(), added.as_str()]);
        let text = fs::read_to_string(file).unwrap();
        let first = pem_blocks(&text)
            .into_iter()
            .find(|block| !block.contains("EC PARAMETERS"))
            .unwrap();
        let rewritten = dir.path().join("rewritten.pem");
        fs::write(&rewritten, first).unwrap();
        let shown = openssl(&["pkey", "-in", path_str(&rewritten), "-text", "-noout"]);
        let shown = String::from_utf8_lossy(&shown);
        assert!(shown.contains("ASN1 OID: prime256v1"), "{shown}");
        assert_eq!(openssl_kid(&rewritten), expected);
    }
}

#[test]
fn explicit_parameters_of_another_curve_are_refused_as_another_curve() {
    let dir = tempfile::tempdir().unwrap();
    for (curve, why) in [
        ("secp384r1", "a 384-bit prime field"),
        ("secp256k1", "a 256-bit prime field"),
        ("brainpoolP256r1", "a 256-bit prime field"),
    ] {
        let key = dir.path().join(format!("{curve}.pem"));
        openssl(&[
            "ecparam",
            "-genkey",
            "-name",
            curve,
            "-param_enc",
            "explicit",
            "-noout",
            "-out",
            path_str(&key),
        ]);
        let error = cli(&["status", path_str(&key)]).fails(2);
        assert!(error.contains("block 1"), "{curve}: {error}");
        assert!(error.contains(why), "{curve}: {error}");
        assert!(error.contains("only P-256"), "{curve}: {error}");
        let pkcs8 = dir.path().join(format!("{curve}-pkcs8.pem"));
        openssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            path_str(&key),
            "-out",
            path_str(&pkcs8),
        ]);
        let error = cli(&["status", path_str(&pkcs8)]).fails(2);
        assert!(
            error.contains(why) && error.contains("only P-256"),
            "{curve}: {error}"
        );
    }
}
