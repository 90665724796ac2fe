//! The configurations shipped under `envoy/`, loaded as users copy them:
//! only ports, addresses and paths are substituted. `envoy/envoy.yaml`
//! fetches the identity provider's JWKS over HTTPS (here from a server with a
//! certificate for `idp.example.com` issued by a test CA), takes the signing
//! key from `SIGNING_KEY`, and drops underscore header names.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::tls::{HttpsServer, IssuedCert, TestCa};
use signed_headers_e2e::{
    AssertionVerifier, EchoUpstream, EchoedRequest, Envoy, JWKS_PATH, ShippedConfig, TestIdp,
    filter_wasm, signing_bundle,
};
use tempfile::TempDir;

use crate::support::{
    FORGED, assert_assertion_shape, assert_no_forged_identity_header, forged_assertion,
    with_forged_identity_headers,
};

/// The identity provider `envoy/envoy.yaml` trusts.
const SHIPPED_IDP_ISSUER: &str = "https://idp.example.com";
const SHIPPED_IDP_AUDIENCE: &str = "my-app";
const SHIPPED_IDP_HOST: &str = "idp.example.com";
const SHIPPED_IDP_JWKS_PATH: &str = "/.well-known/jwks.json";

/// `envoy/<file_name>` with what every shipped configuration has
/// substituted: the admin port (9901) and the listener (0.0.0.0:10000) on
/// loopback port 0, the app (127.0.0.1:8080) as `upstream`, and the filter
/// as built. The caller substitutes what is particular to the file.
pub fn load_shipped(file_name: &str, upstream: &EchoUpstream) -> ShippedConfig {
    load_shipped_with_upstream_port(file_name, upstream.address().port())
}

/// [`load_shipped`], with the app (127.0.0.1:8080) at `port` on loopback:
/// another Envoy, for instance.
pub fn load_shipped_with_upstream_port(file_name: &str, port: u16) -> ShippedConfig {
    shipped_in_front_of(file_name, port).substitute(
        "filename: target/wasm32-wasip1/release/signed_headers.wasm",
        &format!("filename: {}", filter_wasm().display()),
    )
}

/// [`load_shipped`] for a file that does not name the filter itself (it
/// comes from a discovery file).
pub fn load_shipped_without_filter(file_name: &str, upstream: &EchoUpstream) -> ShippedConfig {
    shipped_in_front_of(file_name, upstream.address().port())
}

/// `envoy/<file_name>` with its admin port and listener on loopback port 0
/// and the app at loopback `port`.
fn shipped_in_front_of(file_name: &str, port: u16) -> ShippedConfig {
    ShippedConfig::load(file_name)
        .substitute(
            "{address: 127.0.0.1, port_value: 9901}",
            "{address: 127.0.0.1, port_value: 0}",
        )
        .substitute(
            "{address: 0.0.0.0, port_value: 10000}",
            "{address: 127.0.0.1, port_value: 0}",
        )
        .substitute(
            "{address: 127.0.0.1, port_value: 8080}",
            &loopback_port(port),
        )
}

/// `config` signing with a fresh key, given as Envoy's `SIGNING_KEY` (base64
/// of the PEM bundle, as `signing-key encode` prints it); returns its kid.
pub fn with_signing_key(config: ShippedConfig) -> (ShippedConfig, String) {
    let bundle = signing_bundle();
    let kid = bundle.keys()[0].kid().to_owned();
    (
        config.env("SIGNING_KEY", &STANDARD.encode(bundle.to_pem())),
        kid,
    )
}

/// `config` with its `idp` cluster (`idp.example.com:443`) at a test server
/// on `port`, trusted through the CA certificate in `ca_file`.
pub fn with_idp_at(config: ShippedConfig, port: u16, ca_file: &std::path::Path) -> ShippedConfig {
    config
        .substitute(
            "{address: idp.example.com, port_value: 443}",
            &loopback_port(port),
        )
        .substitute(
            "{filename: /etc/ssl/certs/ca-certificates.crt}",
            &filename(ca_file),
        )
}

/// `config` with its TLS listener serving this certificate and key.
pub fn with_listener_certificate(
    config: ShippedConfig,
    cert: &IssuedCert,
    dir: &std::path::Path,
) -> ShippedConfig {
    let (cert, key) = cert.write(dir, "server");
    config
        .substitute("{filename: /etc/envoy/tls/server.crt}", &filename(&cert))
        .substitute("{filename: /etc/envoy/tls/server.key}", &filename(&key))
}

/// A `DataSource` value naming a file.
pub fn filename(path: &std::path::Path) -> String {
    format!("{{filename: {}}}", path.display())
}

/// `config` with its `"unauthenticated": "deny"` replaced by `policy` (a
/// variation on the shipped file, for the tests of each policy).
pub fn with_unauthenticated_policy(config: ShippedConfig, policy: &str) -> ShippedConfig {
    if policy == "deny" {
        return config;
    }
    config.substitute(
        r#""unauthenticated": "deny""#,
        &format!(r#""unauthenticated": "{policy}""#),
    )
}

/// A `socket_address` value on loopback.
pub fn loopback_port(port: u16) -> String {
    format!("{{address: 127.0.0.1, port_value: {port}}}")
}

/// A token the shipped `jwt_authn` provider accepts (issuer
/// `https://idp.example.com`, audience `my-app`), signed by `idp`, with the
/// members of `extra` added.
pub fn shipped_idp_token(idp: &TestIdp, subject: &str, extra: &Value) -> String {
    let mut claims = TestIdp::user_claims(subject);
    claims["iss"] = json!(SHIPPED_IDP_ISSUER);
    claims["aud"] = json!(SHIPPED_IDP_AUDIENCE);
    if let Value::Object(extra) = extra {
        for (name, value) in extra {
            claims[name] = value.clone();
        }
    }
    idp.token(&claims)
}

/// The identity provider the shipped configurations trust: a test IdP,
/// its JWKS served over HTTPS under a certificate for `idp.example.com`
/// from `ca`.
pub struct ShippedIdp {
    pub idp: TestIdp,
    pub ca: TestCa,
    pub jwks: HttpsServer,
}

impl ShippedIdp {
    pub fn start() -> Self {
        let idp = TestIdp::new();
        let ca = TestCa::new("signed-headers e2e CA");
        let jwks = HttpsServer::serve_json(
            &ca.issue_server(&[SHIPPED_IDP_HOST]),
            SHIPPED_IDP_JWKS_PATH,
            idp.jwks(),
        );
        Self { idp, ca, jwks }
    }

    /// `config` fetching the JWKS from this server, trusting the test CA
    /// (written into `dir`, whose path it returns too).
    pub fn configure(
        &self,
        config: ShippedConfig,
        dir: &std::path::Path,
    ) -> (ShippedConfig, std::path::PathBuf) {
        let ca_file = self.ca.write_cert(dir, "ca.pem");
        let config = with_idp_at(config, self.jwks.address().port(), &ca_file);
        (config, ca_file)
    }

    /// A token the shipped `jwt_authn` provider accepts.
    pub fn token(&self, subject: &str) -> String {
        shipped_idp_token(&self.idp, subject, &json!({}))
    }
}

/// `envoy/envoy.yaml` running in front of an echo upstream.
struct ShippedStaticBed {
    // Drop order: Envoy first, then what it talks to.
    envoy: Envoy,
    upstream: EchoUpstream,
    idp: ShippedIdp,
    signing_kid: String,
    _dir: TempDir,
}

impl ShippedStaticBed {
    fn start() -> Self {
        let upstream = EchoUpstream::start();
        let idp = ShippedIdp::start();
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let (config, _) = idp.configure(load_shipped("envoy.yaml", &upstream), dir.path());
        let (config, signing_kid) = with_signing_key(config);
        let envoy = Envoy::start_shipped(&config, "ingress");
        Self {
            envoy,
            upstream,
            idp,
            signing_kid,
            _dir: dir,
        }
    }

    fn idp_token(&self, subject: &str) -> String {
        self.idp.token(subject)
    }

    fn verifier(&self) -> AssertionVerifier {
        let response = self.envoy.send(&Request::get(JWKS_PATH));
        assert_eq!(response.status, 200, "{}", response.text());
        AssertionVerifier::from_jwks(&response.text())
    }
}

#[test]
fn shipped_static_config_signs_for_verified_users_and_serves_the_jwks() {
    let bed = ShippedStaticBed::start();
    assert!(
        bed.idp.jwks.served() >= 1,
        "Envoy never fetched the IdP's JWKS over HTTPS"
    );

    let token = shipped_idp_token(&bed.idp.idp, "alice", &json!({"email_verified": true}));
    // `strip_trailing_host_dot`: a trailing dot is the same host, for the
    // routing and for the audience.
    for host in ["app.example:10000", "app.example.:10000"] {
        let response = bed
            .envoy
            .send(&Request::get("/page").host(host).bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        let assertion = bed.verifier().verify(
            echoed.single_header(signed_headers_e2e::ASSERTION_HEADER),
            "app.example",
            "app.example",
        );
        assert_assertion_shape(&assertion, &bed.signing_kid, 300);
        assert_eq!(assertion.claim("sub"), "alice");
        assert_eq!(assertion.claim("email"), "alice@example.com");
        // The configuration's extra claim, with its type.
        assert_eq!(assertion.claims["email_verified"], json!(true));
        assert!(
            echoed.header_values("authorization").is_empty(),
            "the IdP token reached the app (forward: false): {:#?}",
            echoed.headers
        );
    }

    // No token: denied by the filter (`unauthenticated: deny`).
    let response = bed.envoy.send(&Request::get("/").host("app.example"));
    assert_eq!(response.status, 401, "{}", response.text());
    // A token from another IdP: refused by jwt_authn.
    let stranger = TestIdp::new().token(&json!({
        "sub": "mallory", "iss": SHIPPED_IDP_ISSUER, "aud": SHIPPED_IDP_AUDIENCE
    }));
    let response = bed
        .envoy
        .send(&Request::get("/").host("app.example").bearer(&stranger));
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), 2);

    let jwks: Value = bed.envoy.send(&Request::get(JWKS_PATH)).json();
    assert_eq!(jwks["keys"][0]["kid"], json!(bed.signing_kid));
}

#[test]
fn shipped_static_config_verifies_a_repeated_idp_token_once() {
    let bed = ShippedStaticBed::start();
    let token = bed.idp_token("alice");
    // Each request on a new connection, so both workers see the token.
    for _ in 0..4 {
        let response = bed
            .envoy
            .send(&Request::get("/").host("app.example").bearer(&token));
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let stats = bed.envoy.stats();
    let jwt_cache: Vec<(&String, &u64)> = stats
        .iter()
        .filter(|(name, _)| name.contains("jwt_authn.jwt_cache_"))
        .collect();
    let counter = |suffix: &str| {
        jwt_cache
            .iter()
            .filter(|(name, _)| name.ends_with(suffix))
            .map(|(_, value)| **value)
            .sum::<u64>()
    };
    // The cache is per worker: at most one miss on each.
    let misses = counter("jwt_cache_miss");
    assert!(
        (1..=signed_headers_e2e::CONCURRENCY as u64).contains(&misses),
        "{jwt_cache:?}"
    );
    assert_eq!(counter("jwt_cache_hit"), 4 - misses, "{jwt_cache:?}");
}

#[test]
fn shipped_static_config_signs_with_nonces_from_the_main_thread() {
    let bed = ShippedStaticBed::start();
    let stat = |name: &str| bed.envoy.stats().get(name).copied().unwrap_or(0);
    // The producer fills its queue; each worker's timer takes a batch.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while stat("wasmcustom.signed_headers.queued_nonces_taken") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no worker took a nonce from the producer (queued: {})",
            stat("wasmcustom.signed_headers.nonces_queued")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(stat("wasmcustom.signed_headers.nonces_queued") >= 16);
    let verifier = bed.verifier();
    // A new user each time: every request signs.
    for user in 0..10 {
        let subject = format!("user-{user}");
        let response = bed.envoy.send(
            &Request::get("/")
                .host("app.example")
                .bearer(&bed.idp_token(&subject)),
        );
        let echoed = EchoedRequest::from_response(&response);
        let assertion = verifier.verify(
            echoed.single_header(signed_headers_e2e::ASSERTION_HEADER),
            "app.example",
            "app.example",
        );
        assert_eq!(assertion.claim("sub"), &json!(subject));
    }
    assert_eq!(stat("wasmcustom.signed_headers.tokens_signed"), 10);
    assert_eq!(stat("wasmcustom.signed_headers.precomputed_signatures"), 10);
}

#[test]
fn shipped_static_config_lets_no_spelling_of_an_identity_header_through() {
    let bed = ShippedStaticBed::start();
    let token = bed.idp_token("alice");
    let forged = forged_assertion();
    let request = with_forged_identity_headers(
        Request::get("/").host("app.example").bearer(&token),
        &forged,
    )
    .header("x_internal_user", FORGED)
    .header("x-internal-user", FORGED)
    .header("x_unrelated_underscore", FORGED);
    let echoed = EchoedRequest::from_response(&bed.envoy.send(&request));
    assert_eq!(assert_no_forged_identity_header(&echoed, &forged), 1);
    assert!(
        echoed.headers.iter().all(|(name, _)| !name.contains('_')),
        "headers_with_underscores_action: DROP_HEADER lets no underscore name through: {:#?}",
        echoed.headers
    );
    let dropped = bed
        .envoy
        .stats()
        // The HTTP/1 codec's counter, not scoped by the listener.
        .get("http1.dropped_headers_with_underscores")
        .copied()
        .unwrap_or(0);
    assert!(dropped > 0, "Envoy itself dropped the underscore names");
}

#[test]
fn shipped_static_config_refuses_empty_and_doubled_host() {
    let bed = ShippedStaticBed::start();
    let token = bed.idp_token("alice");
    for request in [
        Request::get("/").host(""),
        Request::get("/").host("a.example").host("b.example"),
    ] {
        let response = bed.envoy.send(&request.bearer(&token));
        assert_eq!(response.status, 400, "{}", response.text());
    }
    assert_eq!(bed.upstream.request_count(), 0);
}

#[test]
fn every_shipped_envoy_config_is_loaded_by_a_test() {
    let root = signed_headers_e2e::repository_root();
    let test_dir = root.join("tests/tests/e2e");
    let sources: String = std::fs::read_dir(&test_dir)
        .expect("the e2e test directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| std::fs::read_to_string(path).expect("a test source"))
        .collect();
    let mut configs: Vec<String> = std::fs::read_dir(root.join("envoy"))
        .expect("the envoy/ directory")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "docker-compose.yaml")
        .collect();
    configs.sort();
    assert!(configs.len() >= 4, "{configs:?}");
    for config in &configs {
        let text = std::fs::read_to_string(root.join("envoy").join(config)).expect("a config");
        if text
            .contains("\"@type\": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm")
        {
            assert!(
                text.contains("failure_policy: FAIL_RELOAD"),
                "envoy/{config}: the filter must fail closed and reload (see fail_closed.rs)"
            );
        }
        let named = format!("\"{config}\"");
        assert!(
            sources.contains(&format!("load_shipped({named}"))
                || sources.contains(&format!("ShippedConfig::load({named}"))
                || sources.contains(&format!("load_shipped_without_filter({named}"))
                || sources.contains(&format!("const FILE: &str = {named};")),
            "envoy/{config} is shipped but no end-to-end test loads it"
        );
    }
}

#[test]
fn docker_compose_mounts_only_files_that_exist_and_runs_a_tested_config() {
    // No Docker engine here: check what compose would mount and run.
    let envoy_dir = signed_headers_e2e::repository_root().join("envoy");
    let compose = std::fs::read_to_string(envoy_dir.join("docker-compose.yaml"))
        .expect("envoy/docker-compose.yaml");
    let mounts: Vec<(String, String)> = compose
        .lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("- "))
        .filter(|entry| entry.starts_with("./") || entry.starts_with("../"))
        .map(|entry| {
            let mut parts = entry.split(':');
            let source = parts.next().unwrap_or_default().to_owned();
            let target = parts.next().unwrap_or_default().to_owned();
            (source, target)
        })
        .collect();
    assert_eq!(mounts.len(), 3, "{mounts:?}");
    for (source, target) in &mounts {
        let on_host = envoy_dir.join(source);
        assert!(
            on_host.exists(),
            "docker-compose.yaml mounts {source}, which does not exist (after `make build`)"
        );
        assert!(target.starts_with('/'), "{target}");
    }
    // The wasm mounted is the one the tests run, where the discovery file
    // (written with envoy-config's default --wasm) names it.
    let wasm = mounts
        .iter()
        .find(|(source, _)| source.ends_with(".wasm"))
        .expect("the filter is mounted");
    assert_eq!(
        std::fs::canonicalize(envoy_dir.join(&wasm.0)).expect("the built filter"),
        std::fs::canonicalize(filter_wasm()).expect("the built filter")
    );
    assert_eq!(
        wasm.1,
        "/srv/signed-headers/target/wasm32-wasip1/release/signed_headers.wasm"
    );
    assert!(compose.contains("working_dir: /srv/signed-headers"));
    // It runs live-reload.yaml, which live_reload.rs and rotation.rs load,
    // with the discovery directory where that file expects it.
    assert!(compose.contains(r#""envoy/live-reload.yaml""#), "{compose}");
    assert!(
        mounts.contains(&(
            "./live-reload.yaml".to_owned(),
            "/srv/signed-headers/envoy/live-reload.yaml".to_owned()
        )),
        "{mounts:?}"
    );
    assert!(
        mounts.contains(&(
            "./signed-headers".to_owned(),
            "/etc/envoy/signed-headers".to_owned()
        )),
        "{mounts:?}"
    );
    let live_reload =
        std::fs::read_to_string(envoy_dir.join("live-reload.yaml")).expect("live-reload.yaml");
    assert!(live_reload.contains("path: /etc/envoy/signed-headers/filter.json"));
}
