//! `signing-key rotate` under traffic: two Envoy replicas serve one bundle
//! through `envoy/live-reload.yaml` while a steady stream of requests goes to
//! both and `rotate` (run again and again, as cron would) performs add,
//! promote and retire, with live reloads between and `--jwks-url` checks
//! against both replicas. Short intervals stand in for real ones: tokens
//! live 1 s, promote waits 1 s after add, retire 3 s after promote.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use signed_headers_e2e::http::{self, Request};
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoedRequest, JWKS_PATH, decode_segment, filter_wasm,
    run_signing_key,
};

use crate::live_reload::{LiveReloadBed, kid_of, wait_for_keys};

/// Bounds of the run: it stops at whichever comes first.
const MAX_REQUESTS_PER_REPLICA: usize = 20_000;
const MAX_DURATION: Duration = Duration::from_secs(90);
/// How often cron would run `rotate` (here: very often).
const ROTATE_EVERY: Duration = Duration::from_millis(250);

/// What the traffic saw.
#[derive(Default)]
struct Traffic {
    /// Every assertion, in the order it was received.
    tokens: Vec<String>,
    failures: Vec<String>,
}

fn lock(traffic: &Mutex<Traffic>) -> std::sync::MutexGuard<'_, Traffic> {
    traffic.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends requests to `address` until told to stop: each assertion must come
/// back (200) and verify against the JWKS the same replica serves right
/// after it was minted.
fn drive(
    address: SocketAddr,
    idp_tokens: Vec<String>,
    stop: &AtomicBool,
    traffic: &Mutex<Traffic>,
) {
    for round in 0..MAX_REQUESTS_PER_REPLICA {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let token = &idp_tokens[round % idp_tokens.len()];
        let response = http::send(
            address,
            &Request::get("/").host("app.example").bearer(token),
        );
        if response.status != 200 {
            lock(traffic).failures.push(format!(
                "request {round}: status {} {}",
                response.status,
                response.text()
            ));
            continue;
        }
        let assertion = EchoedRequest::from_response(&response)
            .single_header(ASSERTION_HEADER)
            .to_owned();
        let jwks = http::send(address, &Request::get(JWKS_PATH));
        let verified = std::panic::catch_unwind(|| {
            AssertionVerifier::from_jwks(&jwks.text()).verify(
                &assertion,
                "app.example",
                "app.example",
            );
        });
        let mut traffic = lock(traffic);
        if verified.is_err() {
            traffic.failures.push(format!(
                "request {round}: token with kid {} does not verify against the JWKS served after it: {}",
                kid_of(&assertion),
                jwks.text()
            ));
        }
        traffic.tokens.push(assertion);
    }
}

/// Whether a token is still within its lifetime (no leeway).
fn unexpired(token: &str) -> bool {
    let exp = decode_segment(token, 1)["exp"].as_u64().unwrap_or(0);
    exp > jsonwebtoken::get_current_timestamp()
}

#[test]
fn rotate_under_traffic_on_two_replicas_never_breaks_a_verifier() {
    rotate_under_traffic(false);
}

#[test]
fn rotate_under_traffic_with_kubernetes_data_link_swaps() {
    rotate_under_traffic(true);
}

/// With `kubernetes`, `rotate` edits only the bundle and the test publishes
/// each result as kubelet would (a `..data` swap); otherwise `rotate` writes
/// the discovery file itself (`--envoy-config`).
fn rotate_under_traffic(kubernetes: bool) {
    let bed = LiveReloadBed::start_with_settings(kubernetes, &json!({"ttl_seconds": 1}));
    let replica = bed.start_replica();
    let replicas = [&bed.envoy, &replica];
    let urls: Vec<String> = replicas
        .iter()
        .map(|envoy| format!("{}{JWKS_PATH}", envoy.base_url()))
        .collect();
    let first = bed.wait_for_keys("the first key", |keys| keys.kids.len() == 1);
    let old_kid = first.signing_kid.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = Arc::new(Mutex::new(Traffic::default()));
    let idp_tokens: Vec<String> = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .map(|user| bed.idp_token(user))
        .collect();
    let drivers: Vec<_> = replicas
        .iter()
        .map(|envoy| {
            let (address, tokens) = (envoy.listener_address(), idp_tokens.clone());
            let (stop, traffic) = (Arc::clone(&stop), Arc::clone(&traffic));
            thread::spawn(move || drive(address, tokens, &stop, &traffic))
        })
        .collect();

    let bundle = bed.bundle();
    let discovery = bed.discovery_file();
    let settings = bed.settings();
    let wasm = filter_wasm();
    let mut rotate_args: Vec<&std::ffi::OsStr> = vec![
        "rotate".as_ref(),
        bundle.as_os_str(),
        "--every".as_ref(),
        "0".as_ref(),
        "--promote-after".as_ref(),
        "1s".as_ref(),
        "--retire-after".as_ref(),
        "3s".as_ref(),
        // Shorter than the filter's max-age (60 s) and token lifetime: the
        // test's time, not production's.
        "--allow-shorter-wait".as_ref(),
    ];
    if !kubernetes {
        rotate_args.extend([
            "--envoy-config".as_ref(),
            discovery.as_os_str(),
            "--settings".as_ref(),
            settings.as_os_str(),
            "--wasm".as_ref(),
            wasm.as_os_str(),
        ]);
    }
    for url in &urls {
        rotate_args.push("--jwks-url".as_ref());
        rotate_args.push(url.as_ref());
    }

    let deadline = Instant::now() + MAX_DURATION;
    let mut steps: Vec<String> = Vec::new();
    let mut promoted_from: Option<usize> = None;
    let mut new_kid = String::new();
    while steps.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "rotation did not finish in {MAX_DURATION:?}: {steps:?}"
        );
        let minted_before = lock(&traffic).tokens.len();
        let decision = run_signing_key(&rotate_args);
        let step = decision.split(':').next().unwrap_or_default().to_owned();
        if step == "nothing" {
            thread::sleep(ROTATE_EVERY);
            continue;
        }
        assert_eq!(
            step,
            ["add", "promote", "retire"][steps.len()],
            "{decision}"
        );
        if kubernetes {
            bed.publish_kubernetes_style(u32::try_from(steps.len()).unwrap_or(0) + 2);
        }
        // Every replica serves the new key set before the next step...
        let expected = run_signing_key(&["jwks".as_ref(), bundle.as_os_str()]);
        for envoy in replicas {
            wait_for_keys(envoy, &format!("the JWKS after {step}"), |keys| {
                keys.body.trim() == expected.trim()
            });
        }
        // ...and a verifier holding that JWKS accepts every token minted
        // before the step that is still alive (after add and promote, every
        // token at all).
        let verifier = AssertionVerifier::from_jwks(&expected);
        let tokens = lock(&traffic).tokens[..minted_before].to_vec();
        for token in tokens
            .iter()
            .filter(|token| step != "retire" || unexpired(token))
        {
            verifier.verify(token, "app.example", "app.example");
        }
        match step.as_str() {
            "add" => {
                new_kid = bed.live_keys().kids[1].clone();
            }
            "promote" => {
                promoted_from = Some(lock(&traffic).tokens.len());
                assert_eq!(bed.live_keys().signing_kid, new_kid);
            }
            _ => {
                assert_eq!(bed.live_keys().kids, std::slice::from_ref(&new_kid));
            }
        }
        steps.push(step);
    }
    // Let the traffic see the retired state too, then stop it.
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for driver in drivers {
        driver.join().expect("a traffic thread panicked");
    }

    let traffic = lock(&traffic);
    assert!(
        traffic.failures.is_empty(),
        "{} of {} requests failed: {:#?}",
        traffic.failures.len(),
        traffic.tokens.len() + traffic.failures.len(),
        &traffic.failures[..traffic.failures.len().min(10)]
    );
    assert!(
        traffic.tokens.len() >= 100,
        "too little traffic to prove anything: {}",
        traffic.tokens.len()
    );
    let promoted_from = promoted_from.expect("promote happened");
    let (before_promote, after_promote) = traffic.tokens.split_at(promoted_from);
    assert!(!after_promote.is_empty());
    // Once every replica serves the promotion, every token minted uses the
    // new key; a token the old key signed before may still be reused
    // (until its usual refresh point: the old key is still published).
    let minted_before: std::collections::HashSet<&String> = before_promote.iter().collect();
    assert!(
        after_promote
            .iter()
            .all(|token| kid_of(token) == new_kid || minted_before.contains(token)),
        "a token minted by the old key after every replica served the promotion"
    );
    assert!(
        after_promote.iter().any(|token| kid_of(token) == new_kid),
        "the new key signs"
    );
    assert!(
        traffic.tokens[..promoted_from]
            .iter()
            .any(|token| kid_of(token) == old_kid)
    );
}
