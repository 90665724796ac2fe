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

use common::{cli, jwks_kids, openssl_ec_key, path_str, status_kids, step_now};

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
        Self::serving_max_age(None)
    }

    /// A server that also says `Cache-Control: public, max-age=<seconds>`.
    fn start_with_max_age(seconds: u64) -> Self {
        Self::serving_max_age(Some(seconds))
    }

    fn serving_max_age(max_age: Option<u64>) -> Self {
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
                let mut kid_header = kid
                    .map(|kid| format!("x-signing-kid: {kid}\r\n"))
                    .unwrap_or_default();
                if let Some(seconds) = max_age {
                    kid_header.push_str(&format!("cache-control: public, max-age={seconds}\r\n"));
                }
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
        err.contains("was added")
            && err.contains(
                "verifiers may cache the JWKS for 1m (the filter's default jwks_max_age_seconds)"
            ),
        "{err}"
    );
    assert_eq!(snapshot(&bundle), before, "a refused step changes nothing");
    // A shorter wait than the settings call for is refused unless meant.
    let err = cli(&["promote", "--min-age", "1s", b]).fails(2);
    assert!(
        err.contains("--min-age 1s is shorter than the 1m") && err.contains("--allow-shorter-wait"),
        "{err}"
    );
    assert_eq!(snapshot(&bundle), before);

    // Once the (shortened) age has passed, promote goes ahead and records when.
    std::thread::sleep(Duration::from_millis(1100));
    cli(&["promote", "--min-age", "1s", "--allow-shorter-wait", b]).ok();
    assert_eq!(status_kids(&bundle), [new.clone(), old.clone()]);
    assert!(fs::read_to_string(&bundle).unwrap().contains("promoted="));

    // Straight after promote: the old key's tokens live on (360 s).
    let before = snapshot(&bundle);
    let err = cli(&["retire", b]).fails(2);
    assert!(
        err.contains("was promoted")
            && err.contains("tokens they signed live 5m (the filter's default ttl_seconds) plus 1m of clock skew"),
        "{err}"
    );
    assert_eq!(snapshot(&bundle), before);
    // Keeping the old keys published needs no wait: their tokens still verify.
    cli(&["retire", "--keep-public", b]).ok();
    assert_eq!(jwks_kids(&bundle), [new.clone(), old]);
    step_now("retire", &[b]).ok();
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
    step_now("promote", &["--kid", &status_kids(&bundle)[1], b]).ok();
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
    let err = step_now("promote", &["--jwks-url", &server.url, b]).fails(2);
    assert!(err.contains("is not published at"), "{err}");
    fs::copy(&bundle, &deployed).unwrap();
    server.serve(&deployed, Some(&old));
    step_now("promote", &["--jwks-url", &server.url, b]).ok();

    // The promoted bundle is not deployed yet: the old key still signs there.
    let err = step_now("retire", &["--jwks-url", &server.url, b]).fails(2);
    assert!(err.contains(&format!("still signs with {old}")), "{err}");
    // A JWKS that does not say who signs is no proof either.
    server.serve(&bundle, None);
    let err = step_now("retire", &["--jwks-url", &server.url, b]).fails(2);
    assert!(err.contains("no x-signing-kid"), "{err}");
    server.serve(&bundle, Some(&new));
    step_now("retire", &["--jwks-url", &server.url, b]).ok();
    assert_eq!(status_kids(&bundle), [new]);

    // An unreachable JWKS is an error, not a pass.
    cli(&["add", b]).ok();
    let err = step_now(
        "promote",
        &["--jwks-url", "http://127.0.0.1:9/jwks.json", b],
    )
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
    assert!(
        rotate(&[
            "--every",
            "0",
            "--promote-after",
            "0",
            "--allow-shorter-wait"
        ])
        .starts_with("promote: ")
    );
    assert_eq!(status_kids(&bundle), [new.clone(), old]);
    let out = rotate(&["--every", "0", "--retire-after", "1h"]);
    assert!(
        out.starts_with("nothing: ") && out.contains("was promoted"),
        "{out}"
    );
    assert!(
        rotate(&[
            "--every",
            "0",
            "--retire-after",
            "0",
            "--allow-shorter-wait"
        ])
        .starts_with("retire: ")
    );
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

/// A bundle whose history says its newest key was added `added_ago` ago
/// and nothing was promoted; returns its path.
fn bundle_added_ago(dir: &Path, added_ago: Duration) -> std::path::PathBuf {
    let bundle = dir.join("keys.pem");
    let b = path_str(&bundle);
    cli(&["generate", "-o", b]).ok();
    cli(&["add", b]).ok();
    let text = fs::read_to_string(&bundle).unwrap();
    let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now() - added_ago);
    let rewritten: Vec<String> = text
        .lines()
        .map(|line| match line.split_once(" added=") {
            Some((head, _)) if line.starts_with("# signing-key:") => format!("{head} added={when}"),
            _ => line.to_owned(),
        })
        .collect();
    fs::write(&bundle, rewritten.join("\n") + "\n").unwrap();
    bundle
}

#[test]
fn the_waits_follow_the_settings_they_are_handed() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.json");
    fs::write(
        &settings,
        r#"{"ttl_seconds": 3600, "jwks_max_age_seconds": 600}"#,
    )
    .unwrap();
    let s = path_str(&settings);
    let discovery = dir.path().join("filter.json");

    // Added 2 minutes ago: past the default 60 s, not the 10 minutes
    // verifiers may cache the JWKS under these settings.
    let bundle = bundle_added_ago(dir.path(), Duration::from_secs(120));
    let b = path_str(&bundle);
    let rotate = |extra: &[&str]| {
        let mut args = vec!["rotate", b, "--every", "1h", "--settings", s];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let before = snapshot(&bundle);
    let out = rotate(&["--envoy-config", path_str(&discovery)]).ok();
    assert!(
        out.starts_with("nothing: ")
            && out.contains(&format!(
                "verifiers may cache the JWKS for 10m (jwks_max_age_seconds in {s})"
            )),
        "{out}"
    );
    let err = cli(&["promote", "--settings", s, b]).fails(2);
    assert!(err.contains("was added 2m ago; wait 7m"), "{err}");
    assert_eq!(snapshot(&bundle), before);
    // An explicit wait shorter than the settings is refused, then taken
    // when the operator says so.
    let err = rotate(&["--promote-after", "1m"]).fails(2);
    assert!(
        err.contains("--promote-after 1m is shorter than the 10m"),
        "{err}"
    );
    let err = cli(&["promote", "--settings", s, "--min-age", "90s", b]).fails(2);
    assert!(
        err.contains("--min-age 1m 30s is shorter than the 10m"),
        "{err}"
    );
    assert_eq!(snapshot(&bundle), before);
    let out = rotate(&["--promote-after", "1m", "--allow-shorter-wait"]).ok();
    assert!(out.starts_with("promote: "), "{out}");

    // Promoted just now: retire waits the hour-long tokens out, plus skew.
    let out = rotate(&[]).ok();
    assert!(
        out.starts_with("nothing: ")
            && out.contains(&format!(
                "tokens they signed live 1h (ttl_seconds in {s}) plus 1m of clock skew"
            ))
            && out.contains("; wait 1h"),
        "{out}"
    );
    let err = cli(&["retire", "--settings", s, "--min-age", "6m", b]).fails(2);
    assert!(
        err.contains("--min-age 6m is shorter than the 1h 1m"),
        "{err}"
    );

    // Settings the filter would refuse are refused here too.
    fs::write(&settings, r#"{"ttl_seconds": "1h"}"#).unwrap();
    let err = cli(&["retire", "--settings", s, b]).fails(2);
    assert!(err.contains("ttl_seconds is \"1h\""), "{err}");
}

#[test]
fn the_promote_wait_follows_the_largest_max_age_the_replicas_serve() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_added_ago(dir.path(), Duration::from_secs(120));
    let b = path_str(&bundle);
    let short = JwksServer::start_with_max_age(30);
    let long = JwksServer::start_with_max_age(900);
    short.serve(&bundle, None);
    long.serve(&bundle, None);
    // Both replicas publish the new key, but one tells verifiers to keep
    // its JWKS for 15 minutes: two minutes is not enough.
    let err = cli(&[
        "promote",
        "--jwks-url",
        &short.url,
        "--jwks-url",
        &long.url,
        b,
    ])
    .fails(2);
    assert!(
        err.contains(&format!(
            "verifiers may cache the JWKS for 15m (the max-age {} serves)",
            long.url
        )),
        "{err}"
    );
    // The short one alone: its 30 s have passed.
    cli(&["promote", "--jwks-url", &short.url, b]).ok();
}
