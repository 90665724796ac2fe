//! `signing-key verify`: tokens signed by the library's own signer checked by
//! the CLI's independent verifier (jsonwebtoken), from a JWKS file, stdin or
//! an http URL.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use signed_headers_keys::{AssertionClaims, Bundle, random_jti};

use common::{cli, cli_in};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(iat: u64, exp: u64) -> AssertionClaims {
    AssertionClaims {
        iss: "https://auth.example.com/".into(),
        aud: "app.example.com".into(),
        jti: random_jti().unwrap(),
        iat,
        exp,
        sub: "user-123".into(),
        user: "user-123".into(),
        email: "ada@example.com".into(),
        groups: vec!["admins".into(), "dev".into()],
        sid: "session-9".into(),
        name: "Ada Lovelace".into(),
        groups_truncated: false,
        claims_truncated: Vec::new(),
        extra: Default::default(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    bundle: Bundle,
    jwks: PathBuf,
}

/// A bundle of two keys made by the CLI, and its JWKS in a file.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.pem");
    cli(&["generate", "-o", path.to_str().unwrap()]).fails(0);
    cli(&["add", path.to_str().unwrap()]).ok();
    let bundle = Bundle::parse(&fs::read_to_string(&path).unwrap()).unwrap();
    let jwks = dir.path().join("jwks.json");
    fs::write(&jwks, cli(&["jwks", path.to_str().unwrap()]).ok()).unwrap();
    Fixture {
        _dir: dir,
        bundle,
        jwks,
    }
}

fn sign(bundle: &Bundle, claims: &AssertionClaims) -> String {
    bundle
        .signing_key()
        .unwrap()
        .signer()
        .unwrap()
        .sign_claims(claims)
        .unwrap()
}

fn verify(token: &str, jwks: &Path, extra: &[&str]) -> common::Run {
    let mut args = vec!["verify", token, "--jwks", jwks.to_str().unwrap()];
    args.extend_from_slice(extra);
    cli(&args)
}

#[test]
fn valid_token_verifies_and_prints_claims() {
    let f = fixture();
    let t = now();
    let expected = claims(t, t + 300);
    let token = sign(&f.bundle, &expected);
    let out = verify(
        &token,
        &f.jwks,
        &[
            "--iss",
            "https://auth.example.com/",
            "--aud",
            "app.example.com",
        ],
    )
    .ok();
    let printed: AssertionClaims = serde_json::from_str(&out).unwrap();
    assert_eq!(printed, expected);
    assert!(out.contains("\n  \""), "pretty JSON expected: {out}");
    // Without --iss/--aud those are not checked.
    verify(&token, &f.jwks, &[]).ok();
    // A token signed by the second (published, not signing) key verifies too.
    let second = f.bundle.keys()[1].signer().unwrap();
    let token = second.sign_claims(&expected).unwrap();
    verify(&token, &f.jwks, &["--aud", "app.example.com"]).ok();
}

#[test]
fn token_from_stdin_is_trimmed() {
    let f = fixture();
    let t = now();
    let token = sign(&f.bundle, &claims(t, t + 300));
    let input = format!("\n  {token}\r\n");
    let run = cli_in(
        &["verify", "-", "--jwks", f.jwks.to_str().unwrap()],
        None,
        Some(input.as_bytes()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("ada@example.com"));
}

#[track_caller]
fn assert_fails(run: common::Run, reason: &str) {
    let err = run.fails(1);
    assert!(err.contains(reason), "expected {reason:?} in stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn expired_token_fails() {
    let f = fixture();
    let t = now();
    // Expired 2 minutes ago: beyond the 60 s leeway.
    let token = sign(&f.bundle, &claims(t - 420, t - 120));
    assert_fails(verify(&token, &f.jwks, &[]), "expired");
    // Expired 10 s ago: within the leeway, still accepted.
    let token = sign(&f.bundle, &claims(t - 310, t - 10));
    verify(&token, &f.jwks, &[]).ok();
}

#[test]
fn iat_in_the_future_fails() {
    let f = fixture();
    let t = now();
    let token = sign(&f.bundle, &claims(t + 600, t + 900));
    assert_fails(verify(&token, &f.jwks, &[]), "iat");
    // 20 s ahead is clock skew within the leeway.
    let token = sign(&f.bundle, &claims(t + 20, t + 320));
    verify(&token, &f.jwks, &[]).ok();
}

#[test]
fn wrong_audience_and_issuer_fail() {
    let f = fixture();
    let t = now();
    let token = sign(&f.bundle, &claims(t, t + 300));
    assert_fails(
        verify(&token, &f.jwks, &["--aud", "other.example.com"]),
        "wrong audience",
    );
    assert_fails(
        verify(&token, &f.jwks, &["--iss", "https://evil.example.com/"]),
        "wrong issuer",
    );
}

#[test]
fn tampered_payload_fails() {
    let f = fixture();
    let t = now();
    let token = sign(&f.bundle, &claims(t, t + 300));
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims(t, t + 300);
    forged.email = "mallory@example.com".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_fails(verify(&tampered, &f.jwks, &[]), "signature does not verify");
    // A flipped signature bit fails too.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
    assert_fails(verify(&bad_sig, &f.jwks, &[]), "signature does not verify");
}

#[test]
fn kid_missing_from_jwks_fails_naming_the_kid() {
    let f = fixture();
    let other = fixture();
    let t = now();
    let token = sign(&other.bundle, &claims(t, t + 300));
    let kid = other.bundle.signing_key().unwrap().kid().to_owned();
    assert_fails(
        verify(&token, &f.jwks, &[]),
        &format!("kid {kid} is not in the JWKS"),
    );
}

#[test]
fn other_algorithms_and_garbage_fail() {
    let f = fixture();
    let t = now();
    let token = sign(&f.bundle, &claims(t, t + 300));
    let parts: Vec<&str> = token.split('.').collect();
    let kid = f.bundle.signing_key().unwrap().kid().to_owned();
    let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#));
    let none = format!("{none_header}.{}.", parts[1]);
    assert_fails(verify(&none, &f.jwks, &[]), "only ES256");
    let hs_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#));
    let hs = format!("{hs_header}.{}.{}", parts[1], parts[2]);
    assert_fails(verify(&hs, &f.jwks, &[]), "only ES256");
    assert_fails(verify("not-a-token", &f.jwks, &[]), "malformed token");
}

#[test]
fn a_token_with_critical_header_extensions_fails() {
    // RFC 7515 section 4.1.11: properly signed, but naming an extension
    // this verifier would have to understand. Signed here with
    // jsonwebtoken's own ES256, over a header written by hand.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k.pem");
    cli(&["generate", "--pkcs8", "-o", key_file.to_str().unwrap()]).fails(0);
    let pem = fs::read_to_string(&key_file).unwrap();
    let kid = Bundle::parse(&pem).unwrap().keys()[0].kid().to_owned();
    let jwks = dir.path().join("jwks.json");
    fs::write(&jwks, cli(&["jwks", key_file.to_str().unwrap()]).ok()).unwrap();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----") && !line.starts_with('#'))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_der(&der);
    let t = now();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(t, t + 300)).unwrap());
    let signed = |header: String| {
        let header = URL_SAFE_NO_PAD.encode(header);
        let input = format!("{header}.{payload}");
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::ES256)
                .unwrap();
        format!("{input}.{signature}")
    };
    let critical = signed(format!(
        r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}","crit":["urn:example:must-understand"],"urn:example:must-understand":true}}"#
    ));
    assert_fails(verify(&critical, &jwks, &[]), "crit");
    // The same token without `crit` verifies.
    let plain = signed(format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#));
    let run = verify(&plain, &jwks, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("verified: ES256 signature by kid"),
        "{}",
        run.stderr
    );
}

/// Serves `body` as the JWKS on a loopback port for exactly one request and
/// hands back the request line it received.
fn serve_once(body: String) -> (String, thread::JoinHandle<String>) {
    serve_once_with("200 OK", body)
}

/// [`serve_once`] with another status line.
fn serve_once_with(status: &'static str, body: String) -> (String, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/.well-known/pomerium/jwks.json",
        listener.local_addr().unwrap()
    );
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
        }
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
        stream.flush().unwrap();
        request_line
    });
    (url, handle)
}

#[test]
fn jwks_from_http_url() {
    let f = fixture();
    let t = now();
    let token = sign(&f.bundle, &claims(t, t + 300));
    let body = fs::read_to_string(&f.jwks).unwrap();

    let (url, server) = serve_once(body.clone());
    let run = cli(&["verify", &token, "--jwks", &url, "--aud", "app.example.com"]);
    let request = server.join().unwrap();
    assert_eq!(
        request.trim_end(),
        "GET /.well-known/pomerium/jwks.json HTTP/1.1"
    );
    assert!(run.ok().contains("\"sub\": \"user-123\""));

    // The same URL source also reports failures with exit 1.
    let (url, server) = serve_once(body);
    let run = cli(&["verify", &token, "--jwks", &url, "--aud", "nope"]);
    server.join().unwrap();
    assert_fails(run, "wrong audience");
}

#[test]
fn unreachable_or_invalid_jwks_is_an_input_error() {
    let f = fixture();
    let t = now();
    let token = sign(&f.bundle, &claims(t, t + 300));
    // Nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = cli(&[
        "verify",
        &token,
        "--jwks",
        &format!("http://127.0.0.1:{port}/jwks"),
    ])
    .fails(2);
    assert!(err.contains("fetching the JWKS"), "{err}");
    // A JWKS URL that answers, but not with a JWKS.
    let (url, server) = serve_once_with("404 Not Found", "{}".to_owned());
    let err = cli(&["verify", &token, "--jwks", &url]).fails(2);
    assert!(err.contains("HTTP status 404"), "{err}");
    server.join().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    fs::write(&bad, "not json").unwrap();
    let err = verify(&token, &bad, &[]).fails(2);
    assert!(err.contains("not a JWKS"), "{err}");
    let err = verify(&token, &dir.path().join("missing.json"), &[]).fails(2);
    assert!(err.contains("missing.json"), "{err}");
}
