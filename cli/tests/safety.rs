//! The rotation's safety checks (`--min-age`, `--jwks-url`) and `rotate`.
//! `--jwks-url` is checked here against a small JWKS server; against a
//! running Envoy in `tests/tests/e2e/live_reload.rs`.

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
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{cli, jwks_kids, openssl_ec_key, path_str, status_kids};

/// Bytes and modification time: "unchanged" means both.
fn snapshot(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        fs::read(path).unwrap(),
        fs::metadata(path).unwrap().modified().unwrap(),
    )
}

/// A JWKS server whose answer (body, x-signing-kid) the test sets.
struct JwksServer {
    url: String,
    answer: Arc<Mutex<(String, Option<String>)>>,
}

impl JwksServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/pomerium/jwks.json",
            listener.local_addr().unwrap()
        );
        let answer = Arc::new(Mutex::new((r#"{"keys":[]}"#.to_owned(), None)));
        let served = Arc::clone(&answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let (body, kid) = served.lock().unwrap().clone();
                let kid_header = kid
                    .map(|kid| format!("x-signing-kid: {kid}\r\n"))
                    .unwrap_or_default();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{kid_header}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, answer }
    }

    /// Serves `bundle`'s JWKS, naming `signing_kid` as the signer.
    fn serve(&self, bundle: &Path, signing_kid: Option<&str>) {
        let body = cli(&["jwks", path_str(bundle)]).ok();
        *self.answer.lock().unwrap() = (body, signing_kid.map(str::to_owned));
    }
}

#[test]
fn promote_and_retire_wait_for_verifiers_caches() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    let b = path_str(&bundle);
    cli(&["generate", "-o", b]).ok();
    let old = status_kids(&bundle)[0].clone();
    let new = cli(&["add", b]).ok().trim().to_owned();

    // Straight after add: verifiers may still hold the old JWKS (60 s).
    let before = snapshot(&bundle);
    let err = cli(&["promote", b]).fails(2);
    assert!(
        err.contains("was added") && err.contains("--min-age 1m"),
        "{err}"
    );
    assert_eq!(snapshot(&bundle), before, "a refused step changes nothing");

    // Once the (shortened) age has passed, promote goes ahead and records when.
    std::thread::sleep(Duration::from_millis(1100));
    cli(&["promote", "--min-age", "1s", b]).ok();
    assert_eq!(status_kids(&bundle), [new.clone(), old.clone()]);
    assert!(fs::read_to_string(&bundle).unwrap().contains("promoted="));

    // Straight after promote: the old key's tokens live on (360 s).
    let before = snapshot(&bundle);
    let err = cli(&["retire", b]).fails(2);
    assert!(
        err.contains("was promoted") && err.contains("--min-age 6m"),
        "{err}"
    );
    assert_eq!(snapshot(&bundle), before);
    // Keeping the old keys published needs no wait: their tokens still verify.
    cli(&["retire", "--keep-public", b]).ok();
    assert_eq!(jwks_kids(&bundle), [new.clone(), old]);
    cli(&["retire", "--min-age", "0", b]).ok();
    assert_eq!(status_kids(&bundle), [new]);
}

#[test]
fn keys_without_history_need_an_explicit_min_age() {
    let dir = tempfile::tempdir().unwrap();
    let first = openssl_ec_key(dir.path(), "first.pem");
    let second = openssl_ec_key(dir.path(), "second.pem");
    let bundle = dir.path().join("keys.pem");
    let pem = format!(
        "{}{}",
        fs::read_to_string(&first).unwrap(),
        fs::read_to_string(&second).unwrap()
    );
    fs::write(&bundle, pem).unwrap();
    let b = path_str(&bundle);
    let err = cli(&["promote", "--kid", &status_kids(&bundle)[1], b]).fails(2);
    assert!(
        err.contains("no record of when") && err.contains("--min-age 0"),
        "{err}"
    );
    cli(&[
        "promote",
        "--min-age",
        "0",
        "--kid",
        &status_kids(&bundle)[1],
        b,
    ])
    .ok();
}

#[test]
fn jwks_url_checks_what_the_running_filter_serves() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    let b = path_str(&bundle);
    cli(&["generate", "-o", b]).ok();
    let old = status_kids(&bundle)[0].clone();
    let deployed = dir.path().join("deployed.pem");
    fs::copy(&bundle, &deployed).unwrap();
    let new = cli(&["add", b]).ok().trim().to_owned();
    let server = JwksServer::start();

    // The new key is not deployed yet.
    server.serve(&deployed, Some(&old));
    let err = cli(&["promote", "--min-age", "0", "--jwks-url", &server.url, b]).fails(2);
    assert!(err.contains("is not published at"), "{err}");
    fs::copy(&bundle, &deployed).unwrap();
    server.serve(&deployed, Some(&old));
    cli(&["promote", "--min-age", "0", "--jwks-url", &server.url, b]).ok();

    // The promoted bundle is not deployed yet: the old key still signs there.
    let err = cli(&["retire", "--min-age", "0", "--jwks-url", &server.url, b]).fails(2);
    assert!(err.contains(&format!("still signs with {old}")), "{err}");
    // A JWKS that does not say who signs is no proof either.
    server.serve(&bundle, None);
    let err = cli(&["retire", "--min-age", "0", "--jwks-url", &server.url, b]).fails(2);
    assert!(err.contains("no x-signing-kid"), "{err}");
    server.serve(&bundle, Some(&new));
    cli(&["retire", "--min-age", "0", "--jwks-url", &server.url, b]).ok();
    assert_eq!(status_kids(&bundle), [new]);

    // An unreachable JWKS is an error, not a pass.
    cli(&["add", b]).ok();
    let err = cli(&[
        "promote",
        "--min-age",
        "0",
        "--jwks-url",
        "http://127.0.0.1:9/jwks.json",
        b,
    ])
    .fails(2);
    assert!(err.contains("fetching the JWKS"), "{err}");
}

#[test]
fn rotate_performs_the_due_step_or_nothing_and_keeps_the_discovery_file_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    let discovery = dir.path().join("filter.json");
    let b = path_str(&bundle);
    cli(&["generate", "-o", b]).ok();
    let rotate = |extra: &[&str]| {
        let mut args = vec![
            "rotate",
            b,
            "--envoy-config",
            path_str(&discovery),
            "--wasm",
            "/srv/signed_headers.wasm",
        ];
        args.extend_from_slice(extra);
        cli(&args).ok()
    };

    // Nothing due: the bundle is untouched, the discovery file written once.
    let before = snapshot(&bundle);
    let out = rotate(&["--every", "1h"]);
    assert!(out.starts_with("nothing: "), "{out}");
    assert!(out.contains("next rotation starts in"), "{out}");
    assert_eq!(snapshot(&bundle), before);
    let written = snapshot(&discovery);
    std::thread::sleep(Duration::from_millis(20));
    let out = rotate(&["--every", "1h"]);
    assert!(out.starts_with("nothing: "), "{out}");
    assert_eq!(snapshot(&bundle), before);
    assert_eq!(
        snapshot(&discovery),
        written,
        "nothing due: no file touched"
    );

    // A dry run says what it would do and does nothing.
    let out = rotate(&["--every", "0", "--dry-run"]);
    assert!(out.starts_with("would add: "), "{out}");
    assert_eq!(snapshot(&bundle), before);
    assert_eq!(snapshot(&discovery), written);

    // add, then promote once published long enough, then retire.
    let old = status_kids(&bundle)[0].clone();
    assert!(rotate(&["--every", "0"]).starts_with("add: "));
    let new = status_kids(&bundle)[1].clone();
    assert_ne!(snapshot(&discovery), written, "the new key is published");
    let out = rotate(&["--every", "0"]);
    assert!(
        out.starts_with("nothing: ") && out.contains("was added"),
        "{out}"
    );
    assert!(rotate(&["--every", "0", "--promote-after", "0"]).starts_with("promote: "));
    assert_eq!(status_kids(&bundle), [new.clone(), old]);
    let out = rotate(&["--every", "0", "--retire-after", "1h"]);
    assert!(
        out.starts_with("nothing: ") && out.contains("was promoted"),
        "{out}"
    );
    assert!(rotate(&["--every", "0", "--retire-after", "0"]).starts_with("retire: "));
    assert_eq!(status_kids(&bundle), std::slice::from_ref(&new));
    // The new key has only just started signing: the next rotation waits.
    let out = rotate(&["--every", "1h"]);
    assert!(out.starts_with("nothing: "), "{out}");
    let document = fs::read_to_string(&discovery).unwrap();
    let synced = cli(&[
        "envoy-config",
        b,
        "--wasm",
        "/srv/signed_headers.wasm",
        "-o",
        "-",
    ])
    .ok();
    assert_eq!(document, synced);
}
