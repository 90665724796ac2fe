//! The app-side verifier (`verifier/`, and the JavaScript package built from
//! it in `verifier-js/npm`) against a real Envoy running the filter: the
//! package's own `node --test` suite, and a live add → promote → retire
//! while both verifiers keep their cached JWKS and check every fresh token.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signed_headers_e2e::http::{Request, send};
use signed_headers_e2e::{TestBed, repository_root, signing_bundle};
use signed_headers_verifier::{CacheOptions, HttpFetch, Policy, Verifier, VerifyError};

use crate::live_reload::{LiveReloadBed, kid_of};
use crate::support::{config_with_key, now};

const HOST: &str = "app.example";

fn js_package() -> PathBuf {
    let package = repository_root().join("verifier-js").join("npm");
    assert!(
        package.join("wasm").join("bytes.js").is_file() && package.join("node_modules").is_dir(),
        "{} is not built: run `make verifier-js` (make test does)",
        package.display()
    );
    package
}

#[test]
fn javascript_package_passes_its_node_tests_against_envoy() {
    let bundle = signing_bundle();
    let key = &bundle.keys()[0];
    let bed = TestBed::start(&config_with_key(&bundle, json!({})));
    let subject = "alice";
    // Signed with the filter's own key, long expired (beyond the 60 s skew).
    let issued = u64::try_from(now()).expect("a clock after 1970") - 1000;
    let expired = key
        .signer()
        .expect("a private key")
        .sign_claims(&json!({
            "iss": HOST, "aud": HOST, "jti": "expired-1", "iat": issued, "exp": issued + 300,
            "sub": subject, "user": subject, "email": format!("{subject}@example.com"),
            "groups": [], "sid": "", "name": "",
        }))
        .expect("claims serialize");

    let package = js_package();
    let mut test_files: Vec<PathBuf> = std::fs::read_dir(package.join("test"))
        .expect("the package's test directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    test_files.sort();
    assert!(test_files.len() >= 2, "test files: {test_files:?}");
    let output = Command::new("node")
        .arg("--test")
        .args(&test_files)
        .current_dir(&package)
        .env("SIGNED_HEADERS_ENVOY_URL", bed.envoy.base_url())
        .env("SIGNED_HEADERS_IDP_TOKEN", bed.idp.token_for(subject))
        .env("SIGNED_HEADERS_SUBJECT", subject)
        .env("SIGNED_HEADERS_EXPIRED_ASSERTION", &expired)
        .output()
        .expect("cannot run node (Node.js 18 or later must be on PATH)");
    let report = output_text(&output);
    assert!(output.status.success(), "node --test failed:\n{report}");
    // The runner really ran the suites (a missing file would pass silently).
    assert!(
        report.contains("# fail 0") && report.contains("# cancelled 0"),
        "{report}"
    );
    let passed: usize = report
        .lines()
        .find_map(|line| line.strip_prefix("# pass "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0);
    assert!(passed >= 12, "only {passed} node tests passed:\n{report}");
}

/// The runtimes of `verifier-js/runtimes` (installed from npm by `make
/// verifier-js`): each runs `test/portable/cli.mjs`.
const CLI_RUNTIMES: [(&str, &[&str]); 5] = [
    ("node18/bin/node", &[]),
    ("node22/bin/node", &[]),
    ("node26/bin/node", &[]),
    (
        ".bin/deno",
        &["run", "--allow-env", "--allow-net", "--allow-read"],
    ),
    (".bin/bun", &["run"]),
];

fn runtimes_dir() -> PathBuf {
    let dir = repository_root()
        .join("verifier-js")
        .join("runtimes")
        .join("node_modules");
    assert!(
        dir.is_dir(),
        "{} is missing: run `make verifier-js` (make test does)",
        dir.display()
    );
    dir
}

/// What `test/portable/checks.mjs` needs: assertions a real Envoy minted
/// for two hosts, and an expired one signed with the filter's key.
fn portable_inputs(bed: &TestBed, key: &signed_headers_keys::BundleKey, subject: &str) -> Value {
    let assertion_for = |host: &str| {
        let response = bed.send(
            &Request::get("/")
                .host(host)
                .bearer(&bed.idp.token_for(subject)),
        );
        signed_headers_e2e::EchoedRequest::from_response(&response)
            .single_header(signed_headers_e2e::ASSERTION_HEADER)
            .to_owned()
    };
    let issued = u64::try_from(now()).expect("a clock after 1970") - 1000;
    let expired = key
        .signer()
        .expect("a private key")
        .sign_claims(&json!({
            "iss": HOST, "aud": HOST, "jti": "expired-portable", "iat": issued, "exp": issued + 300,
            "sub": subject, "user": subject, "email": "", "groups": [], "sid": "", "name": "",
        }))
        .expect("claims serialize");
    json!({
        "jwksUrl": format!("{}/.well-known/pomerium/jwks.json", bed.envoy.base_url()),
        "host": HOST,
        "subject": subject,
        "assertion": assertion_for(HOST),
        "otherHostAssertion": assertion_for("other.example"),
        "expiredAssertion": expired,
    })
}

/// A finished command's standard output and error, for a failure message.
fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// An Envoy with the filter, and the inputs (as JSON text) its assertions
/// make for the portable checks; the bed must live while they run.
fn portable_bed() -> (TestBed, String) {
    let bundle = signing_bundle();
    let bed = TestBed::start(&config_with_key(&bundle, json!({})));
    let inputs = portable_inputs(&bed, &bundle.keys()[0], "alice").to_string();
    (bed, inputs)
}

/// How many checks `checks.mjs` has: each runtime must pass them all.
const PORTABLE_CHECKS: usize = 10;

#[test]
fn javascript_package_passes_the_portable_checks_on_node_18_22_current_deno_and_bun() {
    let (_bed, inputs) = portable_bed();
    let runtimes = runtimes_dir();
    let cli = js_package().join("test").join("portable").join("cli.mjs");
    for (binary, args) in CLI_RUNTIMES {
        let output = Command::new(runtimes.join(binary))
            .args(args)
            .arg(&cli)
            .env("SIGNED_HEADERS_CHECKS", &inputs)
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|err| panic!("cannot run {binary}: {err}"));
        let report = output_text(&output);
        assert!(output.status.success(), "{binary}:\n{report}");
        assert!(
            report.contains(&format!(": {PORTABLE_CHECKS} checks passed")),
            "{binary}:\n{report}"
        );
    }
}

#[test]
fn javascript_package_passes_the_portable_checks_in_workerd_with_init_verifier() {
    let (_bed, inputs) = portable_bed();
    let package = js_package();
    let port = signed_headers_e2e::free_loopback_port();
    let dir = tempfile::tempdir().expect("a temporary directory");
    // workerd embeds files relative to its configuration: a copy of the
    // package's files, laid out as in the package.
    let module = |name: &str, kind: &str| {
        let copy = dir.path().join(name);
        std::fs::create_dir_all(copy.parent().expect("a parent")).expect("a directory");
        std::fs::copy(package.join(name), &copy).expect("a copy of the module");
        format!("(name = \"{name}\", {kind} = embed \"{name}\")")
    };
    let modules = [
        module("test/portable/worker.mjs", "esModule"),
        module("test/portable/checks.mjs", "esModule"),
        module("index.js", "esModule"),
        module("wasm/verifier.js", "esModule"),
        module("wasm/bytes.js", "esModule"),
        module("wasm/verifier_bg.wasm", "wasm"),
    ]
    .join(", ");
    let inputs_text = serde_json::to_string(&inputs).expect("a JSON string");
    let config = format!(
        r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .checks),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "main")],
);
const checks :Workerd.Worker = (
  modules = [{modules}],
  compatibilityDate = "2025-01-01",
  bindings = [(name = "CHECKS", text = {inputs_text})],
  globalOutbound = "loopback",
);
"#
    );
    let config_file = dir.path().join("workerd.capnp");
    std::fs::write(&config_file, config).expect("the workerd configuration");
    let mut workerd = Command::new(runtimes_dir().join(".bin/workerd"))
        .arg("serve")
        .arg(&config_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run workerd");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    let response = loop {
        match signed_headers_e2e::http::try_send(address, &Request::get("/")) {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(err) => {
                let _ = workerd.kill();
                let output = workerd.wait_with_output().expect("workerd's output");
                panic!(
                    "workerd never answered ({err}):\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    };
    let _ = workerd.kill();
    let _ = workerd.wait();
    assert_eq!(response.status, 200, "{}", response.text());
    let passed = response.json()["passed"].as_array().map_or(0, Vec::len);
    assert_eq!(passed, PORTABLE_CHECKS, "{}", response.text());
}

#[test]
fn javascript_package_passes_the_portable_checks_in_headless_chromium() {
    let (_bed, inputs) = portable_bed();
    let package = js_package();
    let files = [
        "index.js",
        "wasm/verifier.js",
        "wasm/bytes.js",
        "test/portable/checks.mjs",
        "test/portable/browser.html",
    ]
    .map(|name| (format!("/{name}"), package.join(name)))
    .to_vec();
    let page = signed_headers_e2e::page_server::PageServer::start(files, inputs);
    let profile = tempfile::tempdir().expect("a browser profile directory");
    // The flags that keep Chromium off the network it cannot reach here.
    let mut chromium = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!(
            "http://{}/test/portable/browser.html",
            page.address()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run chromium (Debian's package; make test installs it)");
    let result = page.wait_for_result(Duration::from_secs(90));
    let _ = chromium.kill();
    let _ = chromium.wait();
    let result: Value = serde_json::from_str(&result.expect("the page never reported"))
        .expect("the page's result is JSON");
    let passed = result["passed"].as_array().map_or(0, Vec::len);
    assert_eq!(passed, PORTABLE_CHECKS, "{result}");
    assert!(
        result["agent"]
            .as_str()
            .is_some_and(|agent| agent.contains("Chrome")),
        "{result}"
    );
}

#[test]
fn python_package_passes_its_tests_against_envoy() {
    let (_bed, inputs) = portable_bed();
    let python = repository_root().join(".venv").join("bin").join("python");
    let output = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(repository_root().join("verifier-py").join("tests"))
        .env("SIGNED_HEADERS_CHECKS", &inputs)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err} (make verifier-py)", python.display()));
    let report = output_text(&output);
    assert!(output.status.success(), "pytest failed:\n{report}");
    assert!(report.contains("11 passed"), "{report}");
}

/// A Python app from `verifier-py/tests/apps.py` on `port`, killed on drop.
struct PythonApp(Child);

impl PythonApp {
    fn start(kind: &str, port: u16, jwks_url: &str) -> Self {
        let python = repository_root().join(".venv").join("bin").join("python");
        let child = Command::new(python)
            .arg(repository_root().join("verifier-py/tests/apps.py"))
            .args([kind, &port.to_string()])
            .env("SIGNED_HEADERS_JWKS_URL", jwks_url)
            .env("SIGNED_HEADERS_HOST", HOST)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run the Python app (make verifier-py)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{kind} never listened on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child)
    }
}

impl Drop for PythonApp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn fastapi_and_flask_apps_behind_envoy_take_assertions_and_refuse_the_rest() {
    let bundle = signing_bundle();
    // Assertions for the direct requests, minted by an Envoy with the same key.
    let minting = TestBed::start(&config_with_key(&bundle, json!({})));
    let inputs = portable_inputs(&minting, &bundle.keys()[0], "alice");
    let assertion = inputs["assertion"].as_str().expect("an assertion");
    let unsigned = {
        let payload = assertion.split('.').nth(1).expect("a payload");
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    let forged = {
        let parts: Vec<&str> = assertion.split('.').collect();
        let mut signature = parts[2].to_owned();
        let last = if signature.ends_with('A') { "B" } else { "A" };
        signature.replace_range(signature.len() - 1.., last);
        format!("{}.{}.{signature}", parts[0], parts[1])
    };
    for kind in ["fastapi", "flask"] {
        let port = signed_headers_e2e::free_loopback_port();
        let idp = signed_headers_e2e::TestIdp::new();
        let envoy = signed_headers_e2e::Envoy::start(
            &signed_headers_e2e::EnvoyOptions::with_filter_config(&config_with_key(
                &bundle,
                json!({}),
            )),
            SocketAddr::from(([127, 0, 0, 1], port)),
            &idp,
        );
        let app = PythonApp::start(
            kind,
            port,
            &format!("{}/.well-known/pomerium/jwks.json", envoy.base_url()),
        );
        // Through Envoy: the filter signs, the app verifies.
        let response = envoy.send(&Request::get("/").host(HOST).bearer(&idp.token_for("alice")));
        assert_eq!(response.status, 200, "{kind}: {}", response.text());
        assert_eq!(response.json(), json!({"sub": "alice", "framework": kind}));
        // A client's own assertion never gets through Envoy.
        let response = envoy.send(
            &Request::get("/")
                .host(HOST)
                .header("x-pomerium-jwt-assertion", assertion),
        );
        assert_eq!(response.status, 401, "{kind}: {}", response.text());
        // Around Envoy, straight to the app: only a valid assertion passes.
        let direct = SocketAddr::from(([127, 0, 0, 1], port));
        for (token, code) in [
            (forged.as_str(), Some("bad_signature")),
            (
                inputs["expiredAssertion"].as_str().expect("expired"),
                Some("expired"),
            ),
            (
                inputs["otherHostAssertion"].as_str().expect("other host"),
                Some("wrong_audience"),
            ),
            (unsigned.as_str(), Some("unsupported_algorithm")),
            (assertion, None),
        ] {
            let response = send(
                direct,
                &Request::get("/")
                    .host(HOST)
                    .header("x-pomerium-jwt-assertion", token),
            );
            match code {
                Some(code) => {
                    assert_eq!(response.status, 401, "{kind}: {}", response.text());
                    assert_eq!(response.json(), json!({"error": code}), "{kind}");
                }
                None => assert_eq!(response.json()["sub"], "alice", "{kind}"),
            }
        }
        let response = send(direct, &Request::get("/").host(HOST));
        assert_eq!(
            response.json(),
            json!({"error": "missing_header"}),
            "{kind}"
        );
        drop(app);
    }
}

/// `verify-service.mjs`: Express with the package's middleware and one
/// long-lived verifier on the filter's JWKS.
struct JsVerifyService {
    child: Child,
    address: SocketAddr,
}

impl JsVerifyService {
    fn start(jwks_url: &str) -> Self {
        let package = js_package();
        let mut child = Command::new("node")
            .arg(package.join("test").join("verify-service.mjs"))
            .args([jwks_url, HOST])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run node (Node.js 18 or later must be on PATH)");
        let stdout = child.stdout.take().expect("node's stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the service's first line");
        let port: u16 = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the service did not start: {line:?}"));
        Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// The middleware's answer for this assertion: status and body.
    fn verify(&self, token: &str) -> (u16, Value) {
        let response = send(
            self.address,
            &Request::get("/").header("x-pomerium-jwt-assertion", token),
        );
        (response.status, response.json())
    }

    fn stats(&self) -> Value {
        send(self.address, &Request::get("/stats")).json()
    }
}

impl Drop for JsVerifyService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long verifiers may cache the JWKS in this test (the filter's
/// `jwks_max_age_seconds`), and so how long each rotation step waits.
const MAX_AGE_SECONDS: u64 = 2;

#[test]
fn rotation_never_fails_a_fresh_token_in_rust_javascript_or_python_verifiers() {
    let bed = LiveReloadBed::start_with_settings(
        false,
        &json!({"jwks_max_age_seconds": MAX_AGE_SECONDS}),
    );
    let first = bed.wait_for_keys("the first key", |keys| keys.kids.len() == 1);
    let jwks_url = bed.jwks_url();
    let rust = Verifier::with_fetcher(
        Policy::new(HOST, HOST),
        HttpFetch::new(&jwks_url),
        CacheOptions::default(),
    );
    let js = JsVerifyService::start(&jwks_url);
    let python_port = signed_headers_e2e::free_loopback_port();
    let _python = PythonApp::start("flask", python_port, &jwks_url);
    let python = SocketAddr::from(([127, 0, 0, 1], python_port));

    let stop = AtomicBool::new(false);
    let failures = Mutex::new(Vec::<String>::new());
    let kids_seen = Mutex::new(Vec::<String>::new());
    let first_token = Mutex::new(None::<String>);
    let started = Instant::now();
    let checked = std::thread::scope(|scope| {
        let checker = scope.spawn(|| {
            let mut checked = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let token = bed.assertion_for(&format!("user-{}", checked % 7));
                first_token
                    .lock()
                    .expect("first token")
                    .get_or_insert_with(|| token.clone());
                let kid = kid_of(&token);
                {
                    let mut kids = kids_seen.lock().expect("kids");
                    if !kids.contains(&kid) {
                        kids.push(kid.clone());
                    }
                }
                if let Err(error) = rust.verify(&token) {
                    failures
                        .lock()
                        .expect("failures")
                        .push(format!("Rust, kid {kid}: {error}"));
                }
                let (status, body) = js.verify(&token);
                if status != 200 {
                    failures
                        .lock()
                        .expect("failures")
                        .push(format!("JavaScript, kid {kid}: {status} {body}"));
                }
                let response = send(
                    python,
                    &Request::get("/")
                        .host(HOST)
                        .header("x-pomerium-jwt-assertion", &token),
                );
                if response.status != 200 {
                    failures.lock().expect("failures").push(format!(
                        "Python, kid {kid}: {} {}",
                        response.status,
                        response.text()
                    ));
                }
                checked += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            checked
        });

        // The operator's cadence: each step waits out the JWKS max-age (what
        // `--min-age` enforces for promote). Retire's own wait (token
        // lifetime) matters for tokens minted before the promotion; this
        // test verifies each token as soon as it is minted.
        let step_wait = Duration::from_secs(MAX_AGE_SECONDS + 1);
        std::thread::sleep(step_wait);
        let new_kid = bed.edit_bundle("add", &[]).trim().to_owned();
        bed.write_discovery_file();
        bed.wait_for_keys("the added key", |keys| keys.kids.len() == 2);
        std::thread::sleep(step_wait);

        let min_age = format!("{}s", MAX_AGE_SECONDS + 1);
        bed.edit_bundle("promote", &["--min-age", &min_age, "--jwks-url", &jwks_url]);
        bed.write_discovery_file();
        bed.wait_for_keys("the promoted key", |keys| keys.signing_kid == new_kid);
        std::thread::sleep(step_wait);

        bed.edit_bundle(
            "retire",
            &[
                "--min-age",
                "0",
                "--allow-shorter-wait",
                "--jwks-url",
                &jwks_url,
            ],
        );
        bed.write_discovery_file();
        bed.wait_for_keys("the retired key set", |keys| {
            keys.kids == std::slice::from_ref(&new_kid)
        });
        std::thread::sleep(step_wait);
        stop.store(true, Ordering::SeqCst);
        checker.join().expect("the checking thread")
    });
    let elapsed = started.elapsed().as_secs_f64();

    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    let kids_seen = kids_seen.into_inner().expect("kids");
    assert_eq!(
        kids_seen.len(),
        2,
        "tokens were signed by the old key, then by the new one: {kids_seen:?}"
    );
    assert_eq!(kids_seen[0], first.signing_kid);
    assert!(checked > 50, "only {checked} tokens checked");

    // Fetches: one per max-age at most (each a revalidation), plus at most
    // one unknown-kid refetch per 10 s, plus the first.
    let bound =
        (elapsed / MAX_AGE_SECONDS as f64).ceil() as u64 + (elapsed / 10.0).ceil() as u64 + 1;
    let rust_stats = rust.stats();
    assert!(
        (3..=bound).contains(&rust_stats.fetches),
        "Rust fetched the JWKS {} times in {elapsed:.1} s (bound {bound})",
        rust_stats.fetches
    );
    assert_eq!(rust_stats.failures, 0);
    assert_eq!(rust_stats.suppressed_refetches, 0);
    let js_stats = js.stats();
    let js_fetches = js_stats["fetches"].as_u64().expect("a fetch count");
    assert!(
        (3..=bound).contains(&js_fetches),
        "JavaScript fetched the JWKS {js_fetches} times in {elapsed:.1} s (bound {bound}): {js_stats}"
    );
    assert_eq!(js_stats["failures"], 0, "{js_stats}");
    assert_eq!(js_stats["suppressedRefetches"], 0, "{js_stats}");
    // The cache followed the key set: the last update names only the new key.
    let updates: Vec<&Value> = js_stats["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["type"] == "updated")
        .collect();
    assert!(updates.len() >= 3, "{js_stats}");
    assert_eq!(
        updates.last().map(|event| event["kids"].clone()),
        Some(json!([kids_seen[1]]))
    );

    // Every verifier remembered the old key's tokens (the filter reuses a
    // user's token, so each was verified many times); once the key is
    // retired, not one is accepted, although none has expired.
    let old = first_token
        .into_inner()
        .expect("first token")
        .expect("a token was checked");
    assert_eq!(kid_of(&old), kids_seen[0]);
    assert_eq!(
        rust.verify(&old),
        Err(VerifyError::UnknownKey(kids_seen[0].clone()))
    );
    let (status, body) = js.verify(&old);
    assert_eq!(
        status, 401,
        "JavaScript accepted a retired key's token: {body}"
    );
    assert_eq!(body["error"], "unknown_key", "{body}");
    let response = send(
        python,
        &Request::get("/")
            .host(HOST)
            .header("x-pomerium-jwt-assertion", &old),
    );
    assert_eq!(response.status, 401, "Python: {}", response.text());
    assert!(
        response.text().contains("unknown_key"),
        "{}",
        response.text()
    );
}
