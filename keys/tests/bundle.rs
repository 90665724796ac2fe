//! Bundle parsing against keys written by openssl (fixtures in testdata/).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};
use signed_headers_keys::{Bundle, BundleKey, JwksDocument, KeyFormat, Reason};

fn fixture(name: &str) -> String {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn reason(input: &str) -> (Option<usize>, Reason) {
    let error = Bundle::parse(input).unwrap_err();
    (error.block, error.reason)
}

#[test]
fn accepts_every_openssl_p256_format_and_skips_ec_parameters() {
    let sec1 = fixture("sec1-with-params.pem");
    assert!(sec1.contains("EC PARAMETERS"));
    let bundle = Bundle::parse(&sec1).unwrap();
    assert_eq!(bundle.keys().len(), 1);
    assert_eq!(bundle.keys()[0].format(), KeyFormat::Sec1);

    let pkcs8 = Bundle::parse(&fixture("pkcs8.pem")).unwrap();
    assert_eq!(pkcs8.keys()[0].format(), KeyFormat::Pkcs8);
    let public = Bundle::parse(&fixture("pkcs8-public.pem")).unwrap();
    assert!(!public.keys()[0].is_private());
    assert_eq!(public.keys()[0].kid(), pkcs8.keys()[0].kid());
    assert!(public.signing_key().is_none());
    assert_eq!(
        Bundle::parse_signing(&fixture("pkcs8-public.pem"))
            .unwrap_err()
            .reason,
        Reason::NoPrivateKey
    );
}

#[test]
fn kid_is_the_rfc7638_thumbprint_of_openssls_public_key() {
    // x||y as printed by openssl, independent of our encoder.
    let xy = hex_decode(fixture("pkcs8-public-xy.hex").trim());
    let (x, y) = xy.split_at(32);
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(x),
        URL_SAFE_NO_PAD.encode(y)
    );
    let expected: String = Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let bundle = Bundle::parse(&fixture("pkcs8.pem")).unwrap();
    let key = &bundle.keys()[0];
    assert_eq!(key.kid(), expected);
    let jwk = key.jwk();
    assert_eq!(
        (jwk.x.as_deref().unwrap(), jwk.y.as_deref().unwrap()),
        (
            URL_SAFE_NO_PAD.encode(x).as_str(),
            URL_SAFE_NO_PAD.encode(y).as_str()
        )
    );
}

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn base64_crlf_and_whitespace_are_tolerated() {
    let pem = format!(
        "{}{}",
        fixture("pkcs8.pem"),
        fixture("sec1-with-params.pem")
    );
    let expected: Vec<String> = Bundle::parse(&pem)
        .unwrap()
        .keys()
        .iter()
        .map(|k| k.kid().to_owned())
        .collect();
    assert_eq!(expected.len(), 2);
    let variants = [
        pem.replace('\n', "\r\n"),
        format!("\n\n  {pem}\n\t\n"),
        format!("\u{feff}{pem}"),
        STANDARD.encode(&pem),
        format!("{}\n", STANDARD.encode(&pem)),
        STANDARD.encode(&pem).trim_end_matches('=').to_owned(),
        STANDARD.encode(pem.replace('\n', "\r\n")),
    ];
    for variant in variants {
        let kids: Vec<String> = Bundle::parse(&variant)
            .unwrap()
            .keys()
            .iter()
            .map(|k| k.kid().to_owned())
            .collect();
        assert_eq!(kids, expected);
    }
}

#[test]
fn rejections_name_the_block_and_reason() {
    let good = fixture("pkcs8.pem");
    let with = |bad: &str| format!("{good}{bad}");
    assert_eq!(
        reason(&with(&fixture("rsa.pem"))),
        (Some(2), Reason::RsaPrivate)
    );
    assert_eq!(
        reason(&with(&fixture("p384.pem"))),
        (Some(2), Reason::OtherCurve("P-384 (secp384r1)".into()))
    );
    assert_eq!(
        reason(&fixture("p384-pkcs8.pem")),
        (Some(1), Reason::OtherCurve("P-384 (secp384r1)".into()))
    );
    assert_eq!(
        reason(&fixture("encrypted-pkcs8.pem")),
        (Some(1), Reason::Encrypted)
    );
    assert_eq!(
        reason(&fixture("encrypted-sec1.pem")),
        (Some(1), Reason::Encrypted)
    );
    assert_eq!(
        reason(&fixture("ed25519.pem")),
        (Some(1), Reason::UnsupportedAlgorithm("Ed25519".into()))
    );
    assert_eq!(
        reason(&with(&fixture("cert.pem"))),
        (Some(2), Reason::UnsupportedLabel("CERTIFICATE".into()))
    );
    // EC PARAMETERS is block 1, so the duplicate private key is block 3.
    let sec1 = fixture("sec1-with-params.pem");
    assert_eq!(
        reason(&format!("{sec1}{sec1}")),
        (Some(4), Reason::Duplicate { first_block: 2 })
    );
    assert_eq!(
        reason(&with(&fixture("pkcs8-public.pem"))),
        (Some(2), Reason::Duplicate { first_block: 1 })
    );
    assert_eq!(reason(""), (None, Reason::Empty));
    assert_eq!(reason(" \n\t"), (None, Reason::Empty));
    assert_eq!(reason("hello world"), (None, Reason::NotPem));
    assert_eq!(
        reason(&STANDARD.encode("not pem at all")),
        (None, Reason::NotPem)
    );
    assert_eq!(
        reason(&format!("{good}trailing words\n")),
        (
            None,
            Reason::StrayText {
                line: good.lines().count() + 1
            }
        )
    );
    assert_eq!(
        reason(&format!("\n\n{good}junk\n")),
        (
            None,
            Reason::StrayText {
                line: good.lines().count() + 3
            }
        ),
        "line numbers count leading blank lines"
    );
    let truncated: String = good.lines().take(3).map(|l| format!("{l}\n")).collect();
    assert_eq!(reason(&truncated), (Some(1), Reason::UnterminatedBlock));
    let corrupted = good.replacen("MIG", "MIG!!", 1);
    assert!(matches!(reason(&corrupted), (Some(1), Reason::BadPem(_))));
    let not_a_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(reason(not_a_key), (Some(1), Reason::Malformed(_))));
    let only_params = fixture("sec1-with-params.pem")
        .split("-----BEGIN EC PRIVATE KEY")
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(reason(&only_params), (None, Reason::Empty));
}

#[test]
fn error_messages_read_well() {
    let error =
        Bundle::parse(&format!("{}{}", fixture("pkcs8.pem"), fixture("rsa.pem"))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "block 2: RSA private key: only P-256 keys sign here; to publish an RSA key (verify-only, RS256), add its public half: openssl pkey -in KEY -pubout"
    );
}

#[test]
fn serialization_round_trips_and_keeps_existing_keys_byte_for_byte() {
    let other = BundleKey::generate(KeyFormat::Sec1).unwrap();
    let original = format!(
        "{}{}",
        fixture("pkcs8.pem"),
        other.to_public_only().unwrap().to_pem()
    );
    let bundle = Bundle::parse(&original).unwrap();
    assert_eq!(bundle.to_pem(), original);
    let reparsed = Bundle::parse(&bundle.to_pem()).unwrap();
    assert_eq!(reparsed.jwks(), bundle.jwks());
}

#[test]
fn from_keys_refuses_duplicates_and_emptiness() {
    let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
    let public = key.to_public_only().unwrap();
    assert_eq!(
        Bundle::from_keys(vec![key.clone(), public])
            .unwrap_err()
            .reason,
        Reason::Duplicate { first_block: 1 }
    );
    assert_eq!(Bundle::from_keys(vec![]).unwrap_err().reason, Reason::Empty);
    assert_eq!(Bundle::from_keys(vec![key]).unwrap().keys().len(), 1);
}

#[test]
fn first_private_key_signs_and_every_key_is_published() {
    let public_only = BundleKey::generate(KeyFormat::Sec1)
        .unwrap()
        .to_public_only()
        .unwrap();
    let signing = BundleKey::generate(KeyFormat::Pkcs8).unwrap();
    let later = BundleKey::generate(KeyFormat::Sec1).unwrap();
    let bundle =
        Bundle::from_keys(vec![public_only.clone(), signing.clone(), later.clone()]).unwrap();
    assert_eq!(bundle.signing_key().unwrap().kid(), signing.kid());
    let kids: Vec<String> = bundle.jwks().into_iter().map(|j| j.kid).collect();
    assert_eq!(kids, [public_only.kid(), signing.kid(), later.kid()]);
}

#[test]
fn jwks_document_has_only_public_members_and_a_strong_etag() {
    let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
    let document = JwksDocument::new(&[key.jwk()]);
    let json: serde_json::Value = serde_json::from_str(document.body()).unwrap();
    let jwk = &json["keys"][0];
    let mut members: Vec<&str> = jwk
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["alg"], "ES256");
    assert!(document.etag().starts_with('"') && document.etag().ends_with('"'));
    assert!(!document.etag().starts_with("W/"));
    assert_ne!(document.etag(), JwksDocument::empty().etag());
    assert_eq!(JwksDocument::empty().body(), r#"{"keys":[]}"#);
}

#[test]
fn signed_tokens_have_the_spec_header_and_a_valid_r_s_signature() {
    let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
    let token = key.signer().unwrap().sign(br#"{"sub":"alice"}"#).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(
        header,
        serde_json::json!({"alg":"ES256","typ":"JWT","kid":key.kid()})
    );
    assert_eq!(
        URL_SAFE_NO_PAD.decode(parts[1]).unwrap(),
        br#"{"sub":"alice"}"#
    );
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert_eq!(signature.len(), 64);
    let verifier = VerifyingKey::from(key.public_key().unwrap());
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = Signature::from_slice(&signature).unwrap();
    verifier.verify(signed.as_bytes(), &signature).unwrap();
    assert!(verifier.verify(b"tampered", &signature).is_err());
}

#[test]
fn comment_lines_belong_to_the_key_below_and_round_trip() {
    let sec1 = fixture("sec1-with-params.pem");
    let pkcs8 = fixture("pkcs8.pem");
    // The comment before EC PARAMETERS carries over to the key it precedes.
    let text = format!("# first key\n{sec1}\n  # second key\n# added today\n{pkcs8}");
    let bundle = Bundle::parse(&text).unwrap();
    assert_eq!(bundle.keys()[0].comments(), ["# first key"]);
    assert_eq!(
        bundle.keys()[1].comments(),
        ["# second key", "# added today"]
    );
    let written = bundle.to_pem();
    // The EC PARAMETERS block is written back with its key.
    assert!(written.starts_with(
        "# first key\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\n"
    ));
    let reparsed = Bundle::parse(&written).unwrap();
    assert_eq!(reparsed.to_pem(), written);
    assert_eq!(
        reparsed.keys()[1].comments(),
        ["# second key", "# added today"]
    );
    // Kept when a key is reduced to its public half.
    let public = bundle.keys()[1].to_public_only().unwrap();
    assert_eq!(public.comments(), ["# second key", "# added today"]);

    assert_eq!(
        reason(&format!("{pkcs8}# dangling\n")),
        (
            None,
            Reason::TrailingComment {
                line: pkcs8.lines().count() + 1
            }
        )
    );
}

#[test]
fn with_comments_always_writes_parseable_comments() {
    let key = BundleKey::generate(KeyFormat::Sec1)
        .unwrap()
        .with_comments(vec!["no hash\nsecond line".into(), "# fine".into()]);
    assert_eq!(key.comments(), ["# no hash second line", "# fine"]);
    let bundle = Bundle::parse(&key.to_pem()).unwrap();
    assert_eq!(bundle.keys()[0].comments(), key.comments());
}

#[test]
fn token_length_is_known_before_signing() {
    let signer = BundleKey::generate(KeyFormat::Sec1)
        .unwrap()
        .signer()
        .unwrap();
    for payload_len in 0..40 {
        let payload = vec![b'a'; payload_len];
        assert_eq!(
            signer.token_len(payload_len),
            signer.sign(&payload).unwrap().len(),
            "payload of {payload_len} bytes"
        );
    }
}

#[test]
fn one_audience_is_a_string_and_several_an_array() {
    use signed_headers_keys::Audience;
    let one = serde_json::to_value(Audience::from("app")).unwrap();
    assert_eq!(one, serde_json::json!("app"));
    let many = Audience::Many(vec!["a".into(), "b".into()]);
    assert_eq!(
        serde_json::to_value(&many).unwrap(),
        serde_json::json!(["a", "b"])
    );
    let back: Audience = serde_json::from_value(serde_json::json!(["a", "b"])).unwrap();
    assert_eq!(back, many);
}

#[test]
fn a_scope_comment_puts_a_key_in_a_scope_that_signs_with_its_first_private_key() {
    let unscoped = BundleKey::generate(KeyFormat::Sec1).unwrap();
    let a_old = BundleKey::generate(KeyFormat::Sec1)
        .unwrap()
        .in_scope(Some("tenant-a"));
    let a_new = BundleKey::generate(KeyFormat::Pkcs8)
        .unwrap()
        .in_scope(Some("tenant-a"));
    let b_public = BundleKey::generate(KeyFormat::Sec1)
        .unwrap()
        .in_scope(Some("tenant-b"))
        .to_public_only()
        .unwrap()
        .in_scope(Some("tenant-b"));
    let bundle = Bundle::from_keys(vec![
        a_old.clone(),
        unscoped.clone(),
        a_new.clone(),
        b_public.clone(),
    ])
    .unwrap();
    // Written as a comment line openssl ignores, read back from the PEM.
    let pem = bundle.to_pem();
    assert!(
        pem.starts_with("# scope: tenant-a\n-----BEGIN EC PRIVATE KEY-----"),
        "{pem}"
    );
    let bundle = Bundle::parse(&pem).unwrap();
    assert_eq!(bundle.scopes(), [Some("tenant-a"), None, Some("tenant-b")]);
    let kids = |scope| -> Vec<&str> { bundle.keys_in_scope(scope).map(BundleKey::kid).collect() };
    assert_eq!(kids(Some("tenant-a")), [a_old.kid(), a_new.kid()]);
    assert_eq!(kids(None), [unscoped.kid()]);
    assert_eq!(
        bundle
            .signing_key_in_scope(Some("tenant-a"))
            .map(BundleKey::kid),
        Some(a_old.kid())
    );
    assert_eq!(
        bundle.signing_key_in_scope(None).map(BundleKey::kid),
        Some(unscoped.kid())
    );
    assert!(
        bundle.signing_key_in_scope(Some("tenant-b")).is_none(),
        "public only"
    );
    // Moving a key out of its scope keeps its other comments.
    let moved = a_new.with_comments(vec!["# note".into(), "# scope: tenant-a".into()]);
    let moved = moved.in_scope(None);
    assert_eq!(moved.comments(), ["# note"]);
    assert_eq!(moved.scope(), None);
}
