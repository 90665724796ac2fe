//! `signing-key envoy-config`: the discovery file Envoy's ECDS reads. Its
//! use against a running Envoy is tested end to end in
//! `tests/tests/e2e/live_reload.rs`; this checks the file itself.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use signed_headers_keys::Bundle;

use common::{cli, mode, path_str, set_mode};

#[test]
fn envoy_config_wraps_the_settings_and_the_bundle_in_a_discovery_response() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    cli(&["generate", "-o", path_str(&bundle)]).ok();
    cli(&["add", path_str(&bundle)]).ok();
    let settings = dir.path().join("settings.json");
    fs::write(&settings, r#"{"ttl_seconds": 120, "audience": "app"}"#).unwrap();
    let output = dir.path().join("filter.json");
    fs::write(&output, "old").unwrap();
    set_mode(&output, 0o644);

    let stderr = cli(&[
        "envoy-config",
        path_str(&bundle),
        "--settings",
        path_str(&settings),
        "--wasm",
        "/srv/signed_headers.wasm",
        "-o",
        path_str(&output),
    ])
    .fails(0);
    assert!(stderr.contains("2 key(s) published"), "{stderr}");
    assert_eq!(mode(&output), 0o600, "it holds the private keys");

    let document: Value = serde_json::from_str(&fs::read_to_string(&output).unwrap()).unwrap();
    let resource = &document["resources"][0];
    assert_eq!(
        resource["@type"],
        "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
    );
    assert_eq!(resource["name"], "signed_headers");
    let config = &resource["typed_config"]["config"];
    assert_eq!(
        resource["typed_config"]["@type"],
        "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
    );
    assert_eq!(
        config["vm_config"]["code"]["local"]["filename"],
        "/srv/signed_headers.wasm"
    );
    assert_eq!(config["failure_policy"], "FAIL_RELOAD");
    let plugin: Value =
        serde_json::from_str(config["configuration"]["value"].as_str().unwrap()).unwrap();
    assert_eq!(plugin["ttl_seconds"], 120);
    assert_eq!(plugin["audience"], "app");
    let embedded = STANDARD
        .decode(plugin["signing_key"].as_str().unwrap())
        .unwrap();
    let embedded = Bundle::parse(std::str::from_utf8(&embedded).unwrap()).unwrap();
    let original = Bundle::parse(&fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(embedded.to_pem(), original.to_pem());
    let version = document["version_info"].as_str().unwrap();
    assert!(
        version.ends_with(&original.keys()[0].kid()[..12]),
        "{version}"
    );

    // `-o -` prints the same document.
    let printed = cli(&[
        "envoy-config",
        path_str(&bundle),
        "--settings",
        path_str(&settings),
        "--wasm",
        "/srv/signed_headers.wasm",
        "-o",
        "-",
    ])
    .ok();
    assert_eq!(printed, fs::read_to_string(&output).unwrap());
}

#[test]
fn envoy_config_refuses_what_envoy_would_reject_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    cli(&["generate", "-o", path_str(&bundle)]).ok();
    let output = dir.path().join("filter.json");
    fs::write(&output, "previous").unwrap();

    let with_key = dir.path().join("with-key.json");
    fs::write(&with_key, r#"{"signing_key": "x"}"#).unwrap();
    let not_object = dir.path().join("list.json");
    fs::write(&not_object, "[1]").unwrap();
    let not_json = dir.path().join("bad.json");
    fs::write(&not_json, "{").unwrap();
    for (settings, message) in [
        (&with_key, "the key comes from the bundle"),
        (&not_object, "must be a JSON object"),
        (&not_json, "not JSON"),
    ] {
        let err = cli(&[
            "envoy-config",
            path_str(&bundle),
            "--settings",
            path_str(settings),
            "-o",
            path_str(&output),
        ])
        .fails(2);
        assert!(err.contains(message), "{err}");
        assert_eq!(fs::read_to_string(&output).unwrap(), "previous");
    }

    let public_only = dir.path().join("public.pem");
    let key = Bundle::parse(&fs::read_to_string(&bundle).unwrap()).unwrap();
    let spki = key.keys()[0].to_public_only().unwrap().to_pem();
    fs::write(&public_only, spki).unwrap();
    let err = cli(&[
        "envoy-config",
        path_str(&public_only),
        "-o",
        path_str(&output),
    ])
    .fails(2);
    assert!(err.contains("nothing in the bundle can sign"), "{err}");
    assert_eq!(fs::read_to_string(&output).unwrap(), "previous");
}
