//! Where the signing key comes from: `SIGNING_KEY` in Envoy's environment
//! (through `host_env_keys`), or, with no key at all, one ephemeral key that
//! every worker shares.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::json;
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoedRequest, EnvoyOptions, JWKS_PATH, TestBed,
    bundle_of, generate_key,
};
use signed_headers_keys::{JwksDocument, KeyFormat};

use crate::support::{assert_assertion_shape, assert_identity_of, upstream_assertion};

/// What the filter logs, once, for an ephemeral key.
const EPHEMERAL_KEY_LOG: &str = "signed-headers: ephemeral signing key";

/// Base64 of the DER prefix shared by every P-256 SPKI: how the logged public
/// key is found in the log line.
const P256_SPKI_BASE64_PREFIX: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE";

/// Upper bound on requests sent to get both workers some traffic.
const MAX_REQUESTS_FOR_BOTH_WORKERS: usize = 2000;

#[test]
fn signing_key_from_the_environment_through_host_env_keys() {
    let signing = generate_key(KeyFormat::Pkcs8);
    let kid = signing.kid().to_owned();
    let bundle = bundle_of(vec![signing, generate_key(KeyFormat::Sec1)]);
    let encoded = base64::engine::general_purpose::STANDARD.encode(bundle.to_pem());
    let options = EnvoyOptions::with_filter_config(&json!({"ttl_seconds": 90}))
        .env("SIGNING_KEY", &encoded)
        .host_env_key("SIGNING_KEY");
    let bed = TestBed::start_with(&options);

    let response = bed.send(&Request::get(JWKS_PATH));
    assert_eq!(response.status, 200, "{}", response.text());
    let expected: serde_json::Value =
        serde_json::from_str(JwksDocument::new(&bundle.jwks()).body()).expect("JWKS is JSON");
    assert_eq!(response.json(), expected);

    let token = bed.idp.token_for("alice");
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_assertion_shape(&assertion, &kid, 90);
    assert_identity_of(&assertion, "alice");
}

/// The base64 SPKI in the filter's ephemeral-key log line.
fn logged_public_key(line: &str) -> &str {
    let start = line
        .find(P256_SPKI_BASE64_PREFIX)
        .unwrap_or_else(|| panic!("no base64 P-256 public key in the log line: {line}"));
    let key = &line[start..];
    let end = key
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .unwrap_or(key.len());
    &key[..end]
}

#[test]
fn ephemeral_key_is_shared_by_every_worker_and_logged_once() {
    // SIGNING_KEY may be read but is unset, and no key is configured.
    let options = EnvoyOptions::with_filter_config(&json!({})).host_env_key("SIGNING_KEY");
    let bed = TestBed::start_with(&options);

    // The JWKS publishes nothing: the key dies with the process.
    let response = bed.send(&Request::get(JWKS_PATH));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), json!({"keys": []}));

    // New connections until both workers have served some (the kernel
    // spreads connections over the workers' sockets). A new identity each
    // time, so every assertion is freshly signed by the worker that served it
    // (no token reuse can hide a second key).
    let mut assertions = Vec::new();
    let mut per_worker = bed.envoy.worker_connection_counts();
    for sent in 1..=MAX_REQUESTS_FOR_BOTH_WORKERS {
        let subject = format!("user-{sent}");
        let token = bed.idp.token_for(&subject);
        let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        assertions.push((subject, echoed.single_header(ASSERTION_HEADER).to_owned()));
        if sent % 10 == 0 {
            per_worker = bed.envoy.worker_connection_counts();
            if per_worker.iter().all(|&count| count > 0) {
                break;
            }
        }
    }
    assert!(
        per_worker.iter().all(|&count| count > 0),
        "after {MAX_REQUESTS_FOR_BOTH_WORKERS} connections a worker served none: {per_worker:?}"
    );

    let log = bed.envoy.flushed_log();
    let key_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(EPHEMERAL_KEY_LOG))
        .collect();
    assert_eq!(
        key_lines.len(),
        1,
        "the ephemeral key must be logged exactly once, got: {key_lines:#?}"
    );
    let verifier = AssertionVerifier::from_spki_base64(logged_public_key(key_lines[0]));
    for (subject, token) in &assertions {
        let assertion = verifier.verify(token, "app.example", "app.example");
        assert_identity_of(&assertion, subject);
    }
    // One kid for every token.
    let kids: BTreeSet<String> = assertions
        .iter()
        .map(|(_, token)| signed_headers_e2e::decode_segment(token, 0)["kid"].to_string())
        .collect();
    assert_eq!(kids.len(), 1, "tokens carry different kids: {kids:?}");
}

#[test]
fn ephemeral_key_survives_a_configuration_reload() {
    let options = EnvoyOptions::with_filter_config(&json!({})).reloadable();
    let mut bed = TestBed::start_with(&options);
    let line = bed.wait_for_log_line(&[EPHEMERAL_KEY_LOG]);
    let verifier = AssertionVerifier::from_spki_base64(logged_public_key(&line));

    let assertion_for = |bed: &TestBed, subject: &str| {
        let token = bed.idp.token_for(subject);
        let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
        EchoedRequest::from_response(&response)
            .single_header(ASSERTION_HEADER)
            .to_owned()
    };
    let before = assertion_for(&bed, "alice");
    let checked = verifier.verify(&before, "app.example", "app.example");
    assert_eq!(
        checked.integer_claim("exp") - checked.integer_claim("iat"),
        300
    );

    // A new plugin configuration: every VM runs on_configure again.
    bed.envoy
        .reload_filter_config(&json!({"ttl_seconds": 120, "issuer_format": "uri"}));
    for subject in ["bob", "carol", "dave"] {
        let after = assertion_for(&bed, subject);
        // The new configuration is in force...
        let checked = verifier.verify(&after, "https://app.example/", "app.example");
        assert_identity_of(&checked, subject);
        assert_eq!(
            checked.integer_claim("exp") - checked.integer_claim("iat"),
            120
        );
        // ...and the key is the same: the same kid, the same logged public key.
        assert_eq!(
            signed_headers_e2e::decode_segment(&after, 0)["kid"],
            signed_headers_e2e::decode_segment(&before, 0)["kid"]
        );
    }
    let log = bed.envoy.flushed_log();
    assert_eq!(
        log.lines()
            .filter(|line| line.contains(EPHEMERAL_KEY_LOG))
            .count(),
        1,
        "a reload must not make (or log) another ephemeral key"
    );
}

/// Envoy's own `config` logger prints the listener's configuration at
/// debug level, an inline `signing_key` included (see SECURITY.md); what the
/// filter logs never holds key material at any level.
#[test]
fn the_log_never_shows_the_signing_key() {
    let bundle = bundle_of(vec![
        generate_key(KeyFormat::Sec1),
        generate_key(KeyFormat::Sec1),
    ]);
    let fragments = crate::support::private_key_fragments(&bundle.to_pem());
    let encoded = base64::engine::general_purpose::STANDARD.encode(bundle.to_pem());
    let exercise = |bed: &TestBed| {
        for _ in 0..4 {
            let response = bed.send(&Request::get(JWKS_PATH));
            assert_eq!(response.status, 200);
            crate::support::assert_no_key_material(&response.text(), &fragments);
            let token = bed.idp.token_for("alice");
            let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
            EchoedRequest::from_response(&response);
        }
        bed.envoy.flushed_log()
    };

    // Inline in the configuration, at info: nothing in the log.
    let inline = TestBed::start(&json!({"signing_key": bundle.to_pem()}));
    let log = exercise(&inline);
    assert!(log.contains("signed-headers: configured"), "{log}");
    crate::support::assert_no_key_material(&log, &fragments);

    // From SIGNING_KEY (host_env_keys), even at debug: nothing in the log.
    let from_env = TestBed::start_with(
        &EnvoyOptions::with_filter_config(&json!({}))
            .env("SIGNING_KEY", &encoded)
            .host_env_key("SIGNING_KEY")
            .log_level("debug"),
    );
    let log = exercise(&from_env);
    crate::support::assert_no_key_material(&log, &fragments);
    assert!(
        !log.contains(&encoded[..40]),
        "the base64 of the bundle is in the log"
    );
    // The filter's own lines, at debug, hold no key material either.
    let filter_lines: String = log
        .lines()
        .filter(|line| line.contains("signed-headers"))
        .collect();
    assert!(!filter_lines.is_empty());
    crate::support::assert_no_key_material(&filter_lines, &fragments);
}

#[test]
fn a_p256_key_with_explicit_curve_parameters_signs_as_its_named_curve_self() {
    // `openssl ecparam -genkey -param_enc explicit`, with its EC PARAMETERS
    // block: the filter signs with it, and publishes it under the kid of
    // the same key written with P-256's name.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = dir.path().join("explicit.pem");
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(output.status.success(), "openssl {args:?}: {output:?}");
        output.stdout
    };
    let path = key.to_str().expect("a UTF-8 path");
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-param_enc",
        "explicit",
        "-out",
        path,
    ]);
    let pem = std::fs::read_to_string(&key).expect("the key file");
    assert!(pem.contains("BEGIN EC PARAMETERS"), "{pem}");
    let named = openssl(&["ec", "-in", path, "-param_enc", "named_curve"]);
    let named = signed_headers_keys::Bundle::parse(&String::from_utf8_lossy(&named))
        .expect("openssl's named-curve form parses");
    let kid = named.keys()[0].kid().to_owned();

    let bed = TestBed::start(&json!({"signing_key": pem}));
    let jwks = bed.send(&Request::get(JWKS_PATH)).json();
    assert_eq!(jwks["keys"][0]["kid"], json!(kid));
    let token = bed.idp.token_for("alice");
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_assertion_shape(&assertion, &kid, 300);
    assert_identity_of(&assertion, "alice");
}
