//! Configurations the filter must refuse. Envoy 1.40 runs the plugin's
//! `on_configure` while loading the static listener; when it returns false
//! Envoy logs "Unable to create Wasm plugin" and exits with status 1, so a
//! broken configuration never serves traffic. The filter's own log line must
//! say what is wrong.

use serde_json::{Value, json};
use signed_headers_e2e::{
    EnvoyOptions, FailedStart, TestBed, fixture_text, generate_key, signing_bundle,
};
use signed_headers_keys::KeyFormat;

/// Starts Envoy with `configuration`, checks it refused to start, and
/// returns the failure.
fn refused(configuration: &EnvoyOptions) -> FailedStart {
    let failure = TestBed::expect_refused(configuration);
    let status = failure.exit_status.unwrap_or_else(|| {
        panic!(
            "Envoy neither started nor exited.\n--- Envoy log ---\n{}",
            failure.log
        )
    });
    assert!(
        !status.success(),
        "Envoy exited successfully ({status}) with an invalid configuration.\n--- Envoy log ---\n{}",
        failure.log
    );
    assert!(
        failure.log_has_line_with(&["Unable to create Wasm plugin"]),
        "Envoy failed for another reason than the plugin.\n--- Envoy log ---\n{}",
        failure.log
    );
    failure
}

/// Asserts Envoy refuses the plugin configuration `config` and a filter log
/// line contains every one of `needles`.
fn assert_refused_with(config: &Value, needles: &[&str]) {
    let failure = refused(&EnvoyOptions::with_filter_config(config));
    let mut line_needles = vec!["signed-headers:"];
    line_needles.extend_from_slice(needles);
    assert!(
        failure.log_has_line_with(&line_needles),
        "no filter log line contains all of {line_needles:?}.\n--- Envoy log ---\n{}",
        failure.log
    );
}

#[test]
fn unreadable_pem_is_refused() {
    let garbage =
        "-----BEGIN EC PRIVATE KEY-----\nthis is not base64!\n-----END EC PRIVATE KEY-----\n";
    assert_refused_with(&json!({"signing_key": garbage}), &["signing_key"]);
}

#[test]
fn rsa_key_is_refused() {
    // `openssl genrsa 2048` (a PKCS#8 "PRIVATE KEY" block with an RSA key).
    let rsa = fixture_text("rsa-2048.pem");
    assert_refused_with(&json!({"signing_key": rsa}), &["signing_key", "RSA"]);
}

#[test]
fn public_key_only_bundle_is_refused() {
    let public_only = generate_key(KeyFormat::Sec1)
        .to_public_only()
        .expect("public half of a fresh key")
        .to_pem();
    assert_refused_with(
        &json!({"signing_key": public_only}),
        &["signing_key", "private key"],
    );
}

#[test]
fn unknown_field_is_refused() {
    let config = json!({"signing_key": signing_bundle().to_pem(), "signing_keys": "typo"});
    assert_refused_with(&config, &["unknown field", "signing_keys"]);
}

#[test]
fn wrong_types_are_refused() {
    assert_refused_with(&json!({"ttl_seconds": "x"}), &["ttl_seconds"]);
    assert_refused_with(&json!({"strip": {"names": "x-extra"}}), &["names"]);
}

#[test]
fn conflicting_or_unknown_values_are_refused() {
    assert_refused_with(
        &json!({"issuer": "https://fixed.example", "issuer_format": "uri"}),
        &["issuer"],
    );
    assert_refused_with(&json!({"unauthenticated": "maybe"}), &["unauthenticated"]);
    assert_refused_with(&json!({"issuer_format": "url"}), &["issuer_format"]);
}

#[test]
fn configuration_that_is_not_json_is_refused() {
    let failure = refused(&EnvoyOptions::with_raw_filter_config("{not json"));
    assert!(
        failure.log_has_line_with(&["signed-headers:", "configuration"]),
        "no filter log line explains the configuration error.\n--- Envoy log ---\n{}",
        failure.log
    );
}

#[test]
fn a_struct_configuration_is_held_to_the_same_rules() {
    // A Struct's numbers are doubles: a fraction where a whole number goes
    // is refused by name, as in JSON text.
    let failure = refused(&EnvoyOptions::with_struct_filter_config(
        &json!({"unauthenticated": "pass", "ttl_seconds": 1.5}),
    ));
    assert!(
        failure.log_has_line_with(&["signed-headers:", "ttl_seconds: invalid value: 1.5"]),
        "{}",
        failure.log
    );
}

#[test]
fn a_name_written_twice_is_refused_with_its_place() {
    // Which of the two would count is anyone's guess: neither does.
    let failure = refused(&EnvoyOptions::with_raw_filter_config(
        "{\"unauthenticated\": \"deny\",\n \"unauthenticated\": \"pass\"}",
    ));
    assert!(
        failure.log_has_line_with(&[
            "signed-headers:",
            "duplicate field `unauthenticated` at line 2 column 2"
        ]),
        "{}",
        failure.log
    );
}

#[test]
fn a_key_pasted_into_the_wrong_field_is_refused_without_logging_it() {
    let bundle = signing_bundle();
    let pem = bundle.to_pem();
    let fragments = crate::support::private_key_fragments(&pem);
    for config in [
        json!({"header": pem}),
        json!({"identity": {"source": pem}}),
        json!({"signing_key": [pem]}),
    ] {
        let failure = refused(&EnvoyOptions::with_filter_config(&config));
        assert!(
            failure.log_has_line_with(&["signed-headers: invalid configuration"]),
            "{}",
            failure.log
        );
        crate::support::assert_no_key_material(&failure.log, &fragments);
    }
}

/// The nonce producer (a bootstrap `WasmService`) is refused as a filter
/// is: Envoy does not start.
#[test]
fn invalid_nonce_producer_is_refused() {
    let options = EnvoyOptions::with_filter_config(&json!({}))
        .nonce_producer(&json!({"nonce_producer": {"main_thread_percent": 0}}));
    let failure = refused(&options);
    assert!(
        failure.log_has_line_with(&[
            "signed-headers: invalid configuration",
            "nonce_producer.main_thread_percent",
            "out of range"
        ]),
        "{}",
        failure.log
    );
    assert!(failure.log_has_line_with(&["Unable to create Wasm plugin signed_headers_nonces"]));
}

#[test]
fn an_extra_claim_cannot_take_a_claim_the_filter_sets() {
    for name in [
        "iss",
        "aud",
        "exp",
        "jti",
        "sub",
        "groups",
        "claims_truncated",
    ] {
        assert_refused_with(
            &json!({"identity": {"source": "jwt_authn", "claims": {"extra": {name: "x"}}}}),
            &[
                &format!("identity.claims.extra.{name}:"),
                "is a claim the filter sets itself",
            ],
        );
    }
}

#[test]
fn bad_route_settings_are_refused_when_envoy_loads_the_filter() {
    let key = signing_bundle().to_pem();
    // A typo in one of the named settings: Envoy refuses the filter, as for
    // a top-level field; no route ever sees the mistake.
    assert_refused_with(
        &json!({"signing_key": key, "route_settings": {"billing": {"audiance": "billing"}}}),
        &["route_settings", "unknown field", "audiance"],
    );
    assert_refused_with(
        &json!({"signing_key": key, "route_settings": {"billing": {"audience": ""}}}),
        &["route_settings.billing.audience", "must not be empty"],
    );
    assert_refused_with(
        &json!({"signing_key": key, "route_settings": {"billing": {"claim_headers": ["tenant"]}}}),
        &["route_settings.billing.claim_headers[0]", "unknown claim"],
    );
}
