//! The filter configurations in `deploy/` run behind the `jwt_authn`
//! configuration each platform generates: Istio's from a
//! RequestAuthentication (1.21 and later: the payload at metadata key
//! `payload`, `scope` and `permission` split into lists, CORS preflights
//! let through, a missing token allowed) and Envoy Gateway's from a
//! SecurityPolicy (the payload at the issuer's name, the token forwarded;
//! with `optional: true`, a missing token allowed). No cluster runs here: these bootstraps mirror what the
//! platforms generate (their translators, read at Istio 1.2x and Envoy
//! Gateway 1.x), with the JWKS inline as istiod's own fetching mode puts it.
//! The signing key is sealed, as the manifests have it.

use serde::Deserialize as _;
use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoedRequest, EnvoyOptions, IDP_JWKS_PLACEHOLDER,
    JWKS_PATH, TestBed, signing_bundle,
};
use signed_headers_keys::{KEK_ENV, KeyEncryptionKey};

use crate::shipped::shipped_idp_token;

/// The documents of `deploy/<file>`, as JSON.
fn manifests(file: &str) -> Vec<Value> {
    let path = signed_headers_e2e::repository_root()
        .join("deploy")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("a manifest");
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            let value = serde_yaml::Value::deserialize(document).expect("YAML");
            serde_json::to_value(value).expect("JSON-compatible YAML")
        })
        .collect()
}

/// The filter's configuration as a manifest holds it, with the sealed
/// placeholder replaced by a bundle sealed under a new KEK; and that KEK.
fn with_sealed_key(mut configuration: Value) -> (Value, KeyEncryptionKey) {
    assert!(
        configuration["signing_key"]
            .as_str()
            .is_some_and(|key| key.starts_with("signed-headers-sealed.v1.")),
        "the manifest's signing_key is a sealed bundle: {configuration}"
    );
    let kek = KeyEncryptionKey::generate().expect("a KEK");
    let sealed = kek.seal(&signing_bundle().to_pem()).expect("sealed");
    configuration["signing_key"] = json!(sealed);
    (configuration, kek)
}

fn assertion_sub(bed: &TestBed, token: &str) -> (u16, Option<String>) {
    let response = bed.send(&Request::get("/").host("app.example").bearer(token));
    if response.status != 200 {
        return (response.status, None);
    }
    let echoed = EchoedRequest::from_response(&response);
    let jwks = bed.send(&Request::get(JWKS_PATH)).text();
    let assertion = AssertionVerifier::from_jwks(&jwks).verify(
        echoed.single_header(ASSERTION_HEADER),
        "app.example",
        "app.example",
    );
    (200, assertion.claim("sub").as_str().map(str::to_owned))
}

/// Istio's jwt_authn for one RequestAuthentication rule, with the payload
/// at `payload_key` ("payload" from 1.21 on, the issuer before).
fn istio_jwt_authn(rule: &Value, payload_key: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {
            "origins-0": {
                "issuer": rule["issuer"],
                "audiences": rule["audiences"],
                "forward": rule["forwardOriginalToken"].as_bool().unwrap_or(false),
                "payload_in_metadata": payload_key,
                "normalize_payload_in_metadata": {"space_delimited_claims": ["permission", "scope"]},
                "local_jwks": {"inline_string": IDP_JWKS_PLACEHOLDER}
            }
        },
        "rules": [{
            "match": {"prefix": "/"},
            "requires": {"requires_any": {"requirements": [
                {"provider_name": "origins-0"},
                {"allow_missing": {}}
            ]}}
        }],
        "bypass_cors_preflight": true
    })
}

fn istio_bed(payload_key: &str) -> TestBed {
    let rule = manifests("istio/request-authentication.yaml")[0]["spec"]["jwtRules"][0].clone();
    let plugin = manifests("istio/wasm-plugin.yaml")[0]["spec"].clone();
    assert_eq!(plugin["phase"], "AUTHZ", "after Istio's authentication");
    let (configuration, kek) = with_sealed_key(plugin["pluginConfig"].clone());
    let mut options = EnvoyOptions::with_filter_config(&configuration)
        .jwt_authn_config(istio_jwt_authn(&rule, payload_key))
        .env(KEK_ENV, &kek.to_text());
    for variable in plugin["vmConfig"]["env"].as_array().expect("vmConfig.env") {
        assert_eq!(variable["valueFrom"], "HOST");
        options = options.host_env_key(variable["name"].as_str().expect("a name"));
    }
    TestBed::start_with(&options)
}

#[test]
fn istio_wasm_plugin_signs_behind_the_jwt_authn_istio_generates() {
    let bed = istio_bed("payload");
    let token = shipped_idp_token(&bed.idp, "alice", &json!({"scope": "openid email"}));
    assert_eq!(assertion_sub(&bed, &token), (200, Some("alice".to_owned())));
    // No token: jwt_authn lets it through, the filter denies it.
    let response = bed.send(&Request::get("/").host("app.example"));
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), 1);
    assert!(bed.envoy.log().contains("sealed_under_kek="));
}

#[test]
fn istio_wasm_plugin_finds_no_identity_where_istio_before_1_21_put_the_payload() {
    // Before 1.21 Istio keyed the payload by issuer; the shipped
    // configuration reads `payload`, so there the user is denied, never
    // signed as someone else.
    let bed = istio_bed("https://idp.example.com");
    let token = shipped_idp_token(&bed.idp, "alice", &json!({}));
    assert_eq!(assertion_sub(&bed, &token), (401, None));
    assert_eq!(bed.upstream.request_count(), 0);
}

#[test]
fn envoy_gateway_extension_policy_signs_behind_the_jwt_authn_envoy_gateway_generates() {
    let jwt = manifests("envoy-gateway/security-policy.yaml")[0]["spec"]["jwt"].clone();
    let provider = &jwt["providers"][0];
    assert_eq!(jwt["optional"], true, "the JWKS path needs no token");
    let wasm = manifests("envoy-gateway/envoy-extension-policy.yaml")[0]["spec"]["wasm"][0].clone();
    assert_eq!(wasm["failOpen"], false);
    let (configuration, kek) = with_sealed_key(wasm["config"].clone());
    let issuer = provider["issuer"].as_str().expect("an issuer");
    let name = provider["name"].as_str().expect("a provider name");
    let jwt_authn = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {
            name: {
                "issuer": issuer,
                "audiences": provider["audiences"],
                "forward": true,
                "payload_in_metadata": issuer,
                "local_jwks": {"inline_string": IDP_JWKS_PLACEHOLDER}
            }
        },
        "rules": [{
            "match": {"prefix": "/"},
            "requires": {"requires_any": {"requirements": [
                {"provider_name": name},
                {"allow_missing": {}}
            ]}}
        }]
    });
    let mut options = EnvoyOptions::with_filter_config(&configuration)
        .jwt_authn_config(jwt_authn)
        .env(KEK_ENV, &kek.to_text());
    for key in wasm["env"]["hostKeys"].as_array().expect("env.hostKeys") {
        options = options.host_env_key(key.as_str().expect("a key"));
    }
    let bed = TestBed::start_with(&options);
    let token = shipped_idp_token(&bed.idp, "alice", &json!({}));
    assert_eq!(assertion_sub(&bed, &token), (200, Some("alice".to_owned())));
    // No token: jwt_authn lets it through (optional), the filter denies it.
    let response = bed.send(&Request::get("/").host("app.example"));
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), 1);
}

/// Every document of every manifest under `deploy/`, with its file.
fn all_manifests() -> Vec<(String, Value)> {
    let root = signed_headers_e2e::repository_root().join("deploy");
    let mut files = Vec::new();
    for platform in ["istio", "envoy-gateway", "kubernetes"] {
        for entry in std::fs::read_dir(root.join(platform)).expect("a deploy/ folder") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|ext| ext == "yaml") {
                files.push(format!(
                    "{platform}/{}",
                    path.file_name().expect("a name").to_string_lossy()
                ));
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .flat_map(|file| {
            manifests(&file)
                .into_iter()
                .map(move |document| (file.clone(), document))
        })
        .collect()
}

/// Every value under `value` whose key is `name`.
fn values_named<'a>(value: &'a Value, name: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                if key == name {
                    found.push(member);
                }
                values_named(member, name, found);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| values_named(item, name, found)),
        _ => {}
    }
}

#[test]
fn no_manifest_holds_a_usable_key_outside_a_secret() {
    let documents = all_manifests();
    assert!(documents.len() >= 10, "{}", documents.len());
    for (file, document) in &documents {
        let text = document.to_string();
        assert!(!text.contains("PRIVATE KEY"), "{file}: a PEM key");
        let mut keys = Vec::new();
        values_named(document, "signing_key", &mut keys);
        for key in keys {
            assert!(
                key.as_str()
                    .is_some_and(|key| key.starts_with("signed-headers-sealed.v1.")),
                "{file}: signing_key must be sealed: {key}"
            );
        }
        // The KEK and SIGNING_KEY reach Envoy from a Secret, never as a
        // literal value in a wider-readable resource.
        let mut env = Vec::new();
        values_named(document, "env", &mut env);
        for variable in env.iter().filter_map(|list| list.as_array()).flatten() {
            if matches!(
                variable["name"].as_str(),
                Some("SIGNED_HEADERS_KEK" | "SIGNING_KEY")
            ) {
                assert!(
                    variable.get("value").is_none(),
                    "{file}: {variable} is a literal"
                );
                assert!(
                    variable["valueFrom"]["secretKeyRef"].is_object()
                        || variable["valueFrom"] == "HOST",
                    "{file}: {variable} must come from a Secret (or the host)"
                );
            }
        }
    }
}

#[test]
fn the_kubernetes_deployment_mounts_what_live_reload_and_the_rotation_job_name() {
    let live_reload = std::fs::read_to_string(
        signed_headers_e2e::repository_root().join("envoy/live-reload.yaml"),
    )
    .expect("envoy/live-reload.yaml");
    let deployment = &manifests("kubernetes/envoy.yaml")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .expect("volume mounts")
        .iter()
        .map(|mount| mount["mountPath"].as_str().expect("a path"))
        .collect();
    assert!(mounts.contains(&"/etc/envoy/signed-headers"));
    assert!(live_reload.contains("path: /etc/envoy/signed-headers/filter.json"));
    assert!(live_reload.contains("watched_directory: {path: /etc/envoy/signed-headers}"));
    let job = manifests("kubernetes/rotation-cronjob.yaml")
        .into_iter()
        .find(|document| document["kind"] == "CronJob")
        .expect("the CronJob");
    assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid");
    let script = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .expect("the job's script");
    assert!(script.contains("--wasm /etc/envoy/module/signed_headers.wasm"));
    assert!(mounts.contains(&"/etc/envoy/module"));
    assert!(script.contains("--seal") && script.contains("--envoy-config filter.json"));
    assert!(script.contains("umask 077"));
    let role = manifests("kubernetes/rotation-cronjob.yaml")
        .into_iter()
        .find(|document| document["kind"] == "Role")
        .expect("the Role");
    assert_eq!(
        role["rules"][0]["resourceNames"],
        json!(["signed-headers-keys", "signed-headers-filter"])
    );
}
