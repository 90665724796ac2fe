//! `make demo` prints an assertion that verifies: the demo binary runs
//! against a real Envoy, and its printed token is checked here, independently,
//! against the JWKS it printed.

use std::process::Command;

use signed_headers_e2e::AssertionVerifier;

#[test]
fn demo_prints_an_assertion_that_verifies() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let lines: Vec<&str> = stdout.lines().collect();
    let received = lines
        .iter()
        .position(|line| line.starts_with("the upstream received x-pomerium-jwt-assertion"))
        .expect("the demo names the assertion it received");
    let token = lines[received + 1];
    assert_eq!(token.split('.').count(), 3, "{token}");

    // The JWKS section: a few response headers, then the pretty JSON document.
    let jwks_start = lines
        .iter()
        .position(|line| line.starts_with("== 5."))
        .expect("JWKS section");
    let jwks_end = lines
        .iter()
        .position(|line| line.starts_with("== 6."))
        .expect("verify section");
    let jwks: String = lines[jwks_start + 1..jwks_end]
        .iter()
        .skip_while(|line| !line.starts_with('{'))
        .map(|line| format!("{line}\n"))
        .collect();

    let verified =
        AssertionVerifier::from_jwks(&jwks).verify(token, "app.example.com", "app.example.com");
    assert_eq!(verified.string_claim("sub"), "alice");
    assert!(stdout.contains("verdict: VALID"), "{stdout}");
}
