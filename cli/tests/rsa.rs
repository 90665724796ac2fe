//! RSA public keys, verify-only: published as RS256 JWKs whose `n`/`e`
//! match openssl's and whose kid matches an independent RFC 7638
//! computation and jsonwebtoken's own thumbprint; RS256 tokens verify with
//! `verify --key` and with a JWKS built by `jwks old.pem new.pem`.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use common::{cli, openssl, openssl_run, path_str};

/// openssl's modulus (hex) and exponent (decimal) of an RSA public key file.
fn openssl_modulus_and_exponent(public: &Path) -> (Vec<u8>, u64) {
    let modulus = openssl(&[
        "rsa",
        "-pubin",
        "-in",
        path_str(public),
        "-noout",
        "-modulus",
    ]);
    let modulus = String::from_utf8(modulus).unwrap();
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect();
    let text = String::from_utf8(openssl(&[
        "rsa",
        "-pubin",
        "-in",
        path_str(public),
        "-noout",
        "-text",
    ]))
    .unwrap();
    let exponent = text
        .lines()
        .find_map(|line| line.strip_prefix("Exponent: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    (bytes, exponent)
}

struct RsaKey {
    private: std::path::PathBuf,
    spki: std::path::PathBuf,
    pkcs1: std::path::PathBuf,
}

fn rsa_key(dir: &Path, name: &str, bits: &str) -> RsaKey {
    let private = dir.join(format!("{name}.key"));
    fs::write(&private, openssl(&["genrsa", bits])).unwrap();
    let spki = dir.join(format!("{name}.pub.pem"));
    let pkcs1 = dir.join(format!("{name}.rsapub.pem"));
    fs::write(
        &spki,
        openssl(&["rsa", "-in", path_str(&private), "-pubout"]),
    )
    .unwrap();
    fs::write(
        &pkcs1,
        openssl(&["rsa", "-in", path_str(&private), "-RSAPublicKey_out"]),
    )
    .unwrap();
    RsaKey {
        private,
        spki,
        pkcs1,
    }
}

#[test]
fn rsa_public_keys_are_published_as_rs256_jwks_matching_openssl() {
    let dir = tempfile::tempdir().unwrap();
    for bits in ["2048", "4096"] {
        let key = rsa_key(dir.path(), &format!("rsa{bits}"), bits);
        let (modulus, exponent) = openssl_modulus_and_exponent(&key.spki);
        assert_eq!(modulus.len() * 8, bits.parse::<usize>().unwrap());
        for file in [&key.spki, &key.pkcs1] {
            let jwks: Value = serde_json::from_str(&cli(&["jwks", path_str(file)]).ok()).unwrap();
            let jwk = &jwks["keys"][0];
            assert_eq!(jwk["kty"], "RSA");
            assert_eq!(jwk["alg"], "RS256");
            assert_eq!(jwk["use"], "sig");
            assert!(jwk.get("d").is_none() && jwk.get("crv").is_none());
            assert_eq!(
                URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap(),
                modulus
            );
            assert_eq!(
                jwk["e"],
                URL_SAFE_NO_PAD.encode(
                    exponent
                        .to_be_bytes()
                        .iter()
                        .skip_while(|b| **b == 0)
                        .copied()
                        .collect::<Vec<u8>>()
                )
            );
            // RFC 7638, computed here, and by jsonwebtoken.
            let canonical = format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                jwk["e"].as_str().unwrap(),
                jwk["n"].as_str().unwrap()
            );
            let digest = Sha256::digest(canonical.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(jwk["kid"], hex);
            let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
            assert_eq!(
                parsed
                    .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                    .unwrap(),
                URL_SAFE_NO_PAD.encode(digest)
            );
            // status names it a verify-only RS256 key.
            let status: Value =
                serde_json::from_str(&cli(&["status", "--json", path_str(file)]).ok()).unwrap();
            assert_eq!(status["keys"][0]["alg"], "RS256");
            assert_eq!(status["keys"][0]["kind"], "public-only");
        }
        // Both containers are the same key.
        assert_eq!(
            cli(&["jwks", path_str(&key.spki)]).ok(),
            cli(&["jwks", path_str(&key.pkcs1)]).ok()
        );
    }
}

fn rs256_token(private: &Path, kid: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    // jsonwebtoken reads a PKCS#1 RSA private key as DER.
    let pkcs1_der = openssl_run(
        &[
            "rsa",
            "-in",
            path_str(private),
            "-traditional",
            "-outform",
            "DER",
        ],
        None,
    )
    .stdout;
    let key = jsonwebtoken::EncodingKey::from_rsa_der(&pkcs1_der);
    jsonwebtoken::encode(
        &header,
        &json!({"sub": "svc", "iss": "https://auth.example", "aud": "app", "iat": now, "exp": now + 300}),
        &key,
    )
    .unwrap()
}

#[test]
fn rs256_tokens_verify_with_the_key_or_a_merged_jwks_and_fail_with_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let old = rsa_key(dir.path(), "old", "2048");
    let new = rsa_key(dir.path(), "new", "2048");
    let kid_of = |file: &Path| {
        let jwks: Value = serde_json::from_str(&cli(&["jwks", path_str(file)]).ok()).unwrap();
        jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
    };
    let (old_kid, new_kid) = (kid_of(&old.spki), kid_of(&new.pkcs1));
    let token = rs256_token(&new.private, &new_kid);

    let run = cli(&[
        "verify",
        &token,
        "--key",
        path_str(&new.pkcs1),
        "--aud",
        "app",
    ]);
    assert!(
        run.stderr
            .contains(&format!("verified: RS256 signature by kid {new_kid}")),
        "{}",
        run.stderr
    );
    let out = run.ok();
    assert!(out.contains("\"sub\": \"svc\""), "{out}");
    let err = cli(&["verify", &token, "--key", path_str(&old.spki)]).fails(1);
    assert!(err.contains(&new_kid), "{err}");

    // OpenShift's merged keys.json: the old and the new public key, in order.
    let merged = cli(&["jwks", path_str(&old.spki), path_str(&new.pkcs1)]).ok();
    let jwks: Value = serde_json::from_str(&merged).unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [old_kid.as_str(), new_kid.as_str()]);
    let jwks_file = dir.path().join("keys.json");
    fs::write(&jwks_file, &merged).unwrap();
    cli(&["verify", &token, "--jwks", path_str(&jwks_file)]).ok();
    let forged = rs256_token(&old.private, &new_kid);
    let err = cli(&["verify", &forged, "--jwks", path_str(&jwks_file)]).fails(1);
    assert!(err.contains("signature"), "{err}");
    // An RS256 token is never checked as ES256, nor the reverse.
    let p256 = dir.path().join("p256.pem");
    cli(&["generate", "-o", path_str(&p256)]).ok();
    let p256_kid = kid_of(&p256);
    let mismatched = rs256_token(&new.private, &p256_kid);
    let err = cli(&["verify", &mismatched, "--key", path_str(&p256)]).fails(1);
    assert!(err.contains("RS256") && err.contains("ES256"), "{err}");

    // A key in two files is refused.
    let err = cli(&["jwks", path_str(&old.spki), path_str(&old.spki)]).fails(2);
    assert!(err.contains("is in both"), "{err}");

    // A bundle that signs with P-256 may publish RSA keys beside it.
    let bundle = dir.path().join("bundle.pem");
    fs::write(
        &bundle,
        fs::read_to_string(&p256).unwrap() + &fs::read_to_string(&old.pkcs1).unwrap(),
    )
    .unwrap();
    let jwks: Value = serde_json::from_str(&cli(&["jwks", path_str(&bundle)]).ok()).unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert_eq!(jwks["keys"][1]["alg"], "RS256");
    cli(&["add", path_str(&bundle)]).ok();
    let text = fs::read_to_string(&bundle).unwrap();
    assert!(
        text.contains("-----BEGIN RSA PUBLIC KEY-----"),
        "kept as written: {text}"
    );
}

#[test]
fn kid_formats_match_independent_computations() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = rsa_key(dir.path(), "k", "2048");
    let p256 = dir.path().join("p256.pem");
    cli(&["generate", "-o", path_str(&p256)]).ok();
    for file in [&p256, &rsa.spki, &rsa.pkcs1] {
        let jwk_in = |format: &str| -> Value {
            let out = cli(&["jwks", "--kid-format", format, path_str(file)]).ok();
            serde_json::from_str::<Value>(&out).unwrap()["keys"][0].clone()
        };
        let hex = jwk_in("thumbprint-hex");
        let thumbprint = jwk_in("thumbprint");
        let kubernetes = jwk_in("kubernetes");
        // Only the kid differs between formats.
        let without_kid = |mut jwk: Value| {
            jwk.as_object_mut().unwrap().remove("kid");
            jwk
        };
        assert_eq!(without_kid(hex.clone()), without_kid(thumbprint.clone()));
        assert_eq!(without_kid(hex.clone()), without_kid(kubernetes.clone()));

        // thumbprint: base64url of the RFC 7638 digest (jsonwebtoken's too).
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(hex.clone()).unwrap();
        let expected = parsed
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(thumbprint["kid"], expected);
        let digest = URL_SAFE_NO_PAD.decode(&expected).unwrap();
        let as_hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex["kid"], as_hex);

        // kubernetes: base64url SHA-256 of the DER public key, as openssl
        // writes it.
        let public_pem = if file == &rsa.pkcs1 {
            openssl(&["rsa", "-RSAPublicKey_in", "-in", path_str(file), "-pubout"])
        } else if file == &p256 {
            openssl(&["pkey", "-in", path_str(file), "-pubout"])
        } else {
            fs::read(file).unwrap()
        };
        let der = openssl_run(&["pkey", "-pubin", "-outform", "DER"], Some(&public_pem)).stdout;
        assert!(!der.is_empty());
        assert_eq!(
            kubernetes["kid"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(&der))
        );
    }
    let err = cli(&["jwks", "--kid-format", "x5t", path_str(&p256)]).fails(2);
    assert!(err.contains("thumbprint-hex"), "{err}");
}
