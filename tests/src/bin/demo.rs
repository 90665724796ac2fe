//! `make demo`: the whole product in one run, on loopback.
//!
//! Generates a key bundle with `signing-key`, starts a real Envoy with the
//! filter (key passed as `SIGNING_KEY`, as in production) in front of an echo
//! upstream, sends one request as a test user, and prints the assertion the
//! upstream received, its decoded header and claims, the JWKS, and
//! `signing-key verify`'s verdict. Envoy stops when the demo ends.

// Like the harness it drives, the demo reports failure by panicking.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, EchoedRequest, EnvoyOptions, JWKS_PATH, TestBed, decode_segment,
};

const HOST: &str = "app.example.com";
const USER: &str = "alice";

fn main() {
    let cli = PathBuf::from(
        std::env::var_os("SIGNING_KEY_BIN")
            .expect("$SIGNING_KEY_BIN must name the signing-key binary: run `make demo`"),
    );
    let workdir = tempfile::tempdir().expect("temporary directory");
    let bundle_path = workdir.path().join("bundle.pem");

    section("1. signing-key generate");
    let bundle_arg = bundle_path.to_str().expect("UTF-8 temp path");
    run(&cli, &["generate", "-o", bundle_arg]);
    run(&cli, &["status", bundle_arg]);
    let encoded = run(&cli, &["encode", bundle_arg]);

    section("2. Envoy with the filter (SIGNING_KEY from the environment)");
    let options = EnvoyOptions::with_filter_config(&json!({}))
        .env("SIGNING_KEY", encoded.trim())
        .host_env_key("SIGNING_KEY");
    let bed = TestBed::start_with(&options);
    println!("envoy listening on {}", bed.envoy.base_url());

    section(&format!(
        "3. GET / as {USER} (identity provider token verified by jwt_authn)"
    ));
    let idp_token = bed.idp.token_for(USER);
    let response = bed.send(
        &Request::get("/")
            .host(HOST)
            .bearer(&idp_token)
            .header(ASSERTION_HEADER, "forged-by-the-client"),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let echoed = EchoedRequest::from_response(&response);
    let assertion = echoed.single_header(ASSERTION_HEADER).to_owned();
    println!("the upstream received {ASSERTION_HEADER} (the client's forged one was stripped):");
    println!("{assertion}");

    section("4. decoded");
    println!(
        "header: {}",
        pretty(&Value::Object(decode_segment(&assertion, 0)))
    );
    println!(
        "claims: {}",
        pretty(&Value::Object(decode_segment(&assertion, 1)))
    );

    section(&format!("5. GET {JWKS_PATH} (answered by the filter)"));
    let jwks = bed.send(&Request::get(JWKS_PATH).host(HOST));
    for (name, value) in &jwks.headers {
        if ["content-type", "cache-control", "etag"].contains(&name.as_str()) {
            println!("{name}: {value}");
        }
    }
    println!("{}", pretty(&jwks.json()));

    section("6. signing-key verify");
    let jwks_url = format!("{}{JWKS_PATH}", bed.envoy.base_url());
    let verdict = Command::new(&cli)
        .args([
            "verify", &assertion, "--jwks", &jwks_url, "--iss", HOST, "--aud", HOST,
        ])
        .output()
        .expect("run signing-key verify");
    print!("{}", String::from_utf8_lossy(&verdict.stdout));
    eprint!("{}", String::from_utf8_lossy(&verdict.stderr));
    if verdict.status.success() {
        println!("verdict: VALID (signature, iss, aud, exp checked against the served JWKS)");
    } else {
        println!("verdict: INVALID ({})", verdict.status);
        std::process::exit(1);
    }
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON value serializes")
}

/// Runs the CLI, echoing the command and its stderr; returns stdout.
fn run(cli: &PathBuf, args: &[&str]) -> String {
    println!("$ signing-key {}", args.join(" "));
    let output = Command::new(cli)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.display()));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "signing-key {args:?} failed: {}",
        output.status
    );
    if args.first() != Some(&"encode") {
        print!("{stdout}");
    }
    stdout
}
