//! The JWKS cache against a real HTTP server that counts requests, with a
//! clock the test moves.

// Tests: a failed step stops the test loudly.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signed_headers_verifier::{CacheEvent, CacheOptions, HttpFetch, Policy, Verifier, VerifyError};
use support::{HOST, JwksServer, claims_at, jwks_of, new_key, now_seconds, sign};

/// A verifier on `server`'s URL whose clock reads `clock` (ms), recording
/// its cache events.
fn verifier(
    server: &JwksServer,
    clock: &Arc<AtomicU64>,
) -> (Verifier, Arc<Mutex<Vec<CacheEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&events);
    let time = Arc::clone(clock);
    let verifier = Verifier::with_fetcher(
        Policy::new(HOST, HOST),
        HttpFetch::new(&server.url()),
        CacheOptions::default(),
    )
    .with_clock(move || time.load(Ordering::SeqCst))
    .on_event(move |event| recorded.lock().expect("events").push(event.clone()));
    (verifier, events)
}

fn start_clock() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(now_seconds() * 1000))
}

fn advance(clock: &AtomicU64, seconds: u64) {
    clock.fetch_add(seconds * 1000, Ordering::SeqCst);
}

#[test]
fn max_age_is_respected_and_a_stale_set_revalidated_with_304() {
    let key = new_key();
    let server = JwksServer::start(jwks_of(&[&key]), "public, max-age=60");
    let clock = start_clock();
    let (verifier, events) = verifier(&server, &clock);
    let token = sign(&key, &claims_at(now_seconds()));

    verifier.verify(&token).expect("first verification fetches");
    for _ in 0..50 {
        verifier.verify(&token).expect("from the cache");
    }
    advance(&clock, 59);
    verifier.verify(&token).expect("still fresh");
    assert_eq!(server.requests(), 1, "no fetch within max-age");

    advance(&clock, 1);
    verifier.verify(&token).expect("revalidated");
    assert_eq!(server.requests(), 2);
    {
        let state = server.state.lock().expect("state");
        assert_eq!(state.if_none_match, [None, Some("\"v1\"".to_owned())]);
    }
    assert_eq!(verifier.stats().not_modified, 1);
    assert_eq!(
        *events.lock().expect("events"),
        [
            CacheEvent::Updated {
                kids: vec![key.kid().to_owned()]
            },
            CacheEvent::NotModified
        ]
    );
    advance(&clock, 59);
    verifier.verify(&token).expect("fresh again after the 304");
    assert_eq!(server.requests(), 2);
}

#[test]
fn an_unknown_kid_refetches_at_once_but_at_most_once_per_interval() {
    let (published, next) = (new_key(), new_key());
    let server = JwksServer::start(jwks_of(&[&published]), "max-age=600");
    let clock = start_clock();
    let (verifier, _) = verifier(&server, &clock);
    verifier
        .verify(&sign(&published, &claims_at(now_seconds())))
        .expect("the published key");
    assert_eq!(server.requests(), 1);

    // The server publishes the next key; a token signed with it arrives
    // long before max-age runs out: refetched at once.
    advance(&clock, 30);
    server.publish(jwks_of(&[&published, &next]), "\"v2\"");
    verifier
        .verify(&sign(&next, &claims_at(now_seconds())))
        .expect("refetched for the new kid");
    assert_eq!(server.requests(), 2);

    // Forged kids: one refetch per 10 s at most, however many arrive.
    let forger = new_key();
    let forged = sign(&forger, &claims_at(now_seconds()));
    advance(&clock, 10);
    for _ in 0..200 {
        assert_eq!(
            verifier.verify(&forged),
            Err(VerifyError::UnknownKey(forger.kid().to_owned()))
        );
    }
    assert_eq!(server.requests(), 3, "one refetch for 200 forged tokens");
    advance(&clock, 9);
    assert!(verifier.verify(&forged).is_err());
    assert_eq!(server.requests(), 3);
    advance(&clock, 1);
    assert!(verifier.verify(&forged).is_err());
    assert_eq!(server.requests(), 4);
    assert_eq!(verifier.stats().suppressed_refetches, 200);
}

#[test]
fn the_last_good_keys_are_kept_when_a_refetch_fails() {
    let key = new_key();
    let server = JwksServer::start(jwks_of(&[&key]), "max-age=60");
    let clock = start_clock();
    let (verifier, events) = verifier(&server, &clock);
    let token = sign(&key, &claims_at(now_seconds()));
    verifier.verify(&token).expect("fetched");

    advance(&clock, 61);
    server.fail_with(Some(503));
    verifier
        .verify(&token)
        .expect("the last good keys still verify");
    assert_eq!(server.requests(), 2);
    assert!(events.lock().expect("events").iter().any(|event| matches!(
        event,
        CacheEvent::FetchFailed { kept_last_good: true, reason } if reason.contains("503")
    )));
    // The failure is not retried on every request.
    for _ in 0..20 {
        verifier.verify(&token).expect("kept");
    }
    assert_eq!(server.requests(), 2);

    // An empty key set is not adopted either.
    server.fail_with(None);
    server.publish(r#"{"keys":[]}"#.to_owned(), "\"empty\"");
    advance(&clock, 10);
    verifier
        .verify(&token)
        .expect("an empty JWKS is not adopted");
    assert_eq!(server.requests(), 3);
    assert_eq!(verifier.stats().failures, 2);
}

#[test]
fn with_no_keys_ever_fetched_tokens_fail_and_retries_are_spaced() {
    let key = new_key();
    let server = JwksServer::start(jwks_of(&[&key]), "max-age=60");
    server.fail_with(Some(500));
    let clock = start_clock();
    let (verifier, _) = verifier(&server, &clock);
    let token = sign(&key, &claims_at(now_seconds()));
    for _ in 0..5 {
        assert!(matches!(
            verifier.verify(&token),
            Err(VerifyError::KeysUnavailable(reason)) if reason.contains("500")
        ));
    }
    assert_eq!(server.requests(), 1);
    server.fail_with(None);
    advance(&clock, 10);
    verifier.verify(&token).expect("the retry succeeds");
    assert_eq!(server.requests(), 2);
}

#[test]
fn a_closed_port_is_a_failed_fetch_not_a_panic() {
    let key = new_key();
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("an address")
    };
    let verifier = Verifier::with_fetcher(
        Policy::new(HOST, HOST).clock_skew(Duration::from_secs(5)),
        HttpFetch::new(&format!("http://{address}/jwks.json")),
        CacheOptions::default(),
    );
    let token = sign(&key, &claims_at(now_seconds()));
    assert_eq!(
        verifier.verify(&token).map_err(|err| err.code()),
        Err("keys_unavailable")
    );
}

/// A fetcher whose every fetch after the first waits for the test to let it
/// through, and says when one has started.
struct GatedFetch {
    jwks: String,
    calls: std::sync::atomic::AtomicUsize,
    started: Mutex<std::sync::mpsc::Sender<()>>,
    gate: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl signed_headers_verifier::Fetch for GatedFetch {
    fn fetch(
        &self,
        _if_none_match: Option<&str>,
    ) -> Result<signed_headers_verifier::FetchResponse, String> {
        if self.calls.fetch_add(1, Ordering::SeqCst) > 0 {
            let _ = self.started.lock().expect("sender").send(());
            let _ = self.gate.lock().expect("gate").recv();
        }
        Ok(signed_headers_verifier::FetchResponse {
            status: 200,
            etag: Some("\"v1\"".to_owned()),
            cache_control: Some("max-age=60".to_owned()),
            body: self.jwks.clone(),
        })
    }
}

#[test]
fn a_slow_revalidation_does_not_hold_up_tokens_the_stale_keys_verify() {
    let key = new_key();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel();
    let clock = start_clock();
    let time = Arc::clone(&clock);
    let verifier = Arc::new(
        Verifier::with_fetcher(
            Policy::new(HOST, HOST),
            GatedFetch {
                jwks: jwks_of(&[&key]),
                calls: std::sync::atomic::AtomicUsize::new(0),
                started: Mutex::new(started_tx),
                gate: Mutex::new(gate_rx),
            },
            CacheOptions::default(),
        )
        .with_clock(move || time.load(Ordering::SeqCst)),
    );
    let token = sign(&key, &claims_at(now_seconds()));
    verifier.verify(&token).expect("the first fetch");

    advance(&clock, 61);
    let revalidating = {
        let (verifier, token) = (Arc::clone(&verifier), token.clone());
        std::thread::spawn(move || verifier.verify(&token))
    };
    started_rx.recv().expect("the revalidation started");
    // Meanwhile another request: verified with the stale keys, at once (a
    // wait for the gated fetch would never end; the timeout only turns
    // that hang into a failure).
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    {
        let (verifier, token) = (Arc::clone(&verifier), token.clone());
        std::thread::spawn(move || {
            let _ = done_tx.send(verifier.verify(&token));
        });
    }
    let meanwhile = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a verification waited for the revalidation");
    assert!(meanwhile.is_ok(), "{meanwhile:?}");
    gate_tx.send(()).expect("the gate");
    revalidating
        .join()
        .expect("the revalidating thread")
        .expect("verified after revalidating");
    assert_eq!(verifier.stats().fetches, 2);
}

#[test]
fn verify_cached_answers_only_when_no_fetch_is_needed() {
    let key = new_key();
    let server = JwksServer::start(jwks_of(&[&key]), "max-age=60");
    let clock = start_clock();
    let (verifier, _) = verifier(&server, &clock);
    let token = sign(&key, &claims_at(now_seconds()));
    assert_eq!(verifier.verify_cached(&token), None, "no keys yet");
    assert_eq!(server.requests(), 0, "verify_cached never fetches");

    let claims = verifier.verify(&token).expect("fetched and verified");
    let other = sign(&key, &claims_at(now_seconds() + 1));
    assert_eq!(verifier.verify_cached(&token), Some(Ok(claims)));
    assert!(matches!(verifier.verify_cached(&other), Some(Ok(_))));
    let headers = [("X-Pomerium-Jwt-Assertion", token.as_str())];
    assert!(matches!(
        verifier.verify_headers_cached(headers),
        Some(Ok(_))
    ));
    assert_eq!(
        verifier.verify_headers_cached([("host", HOST)]),
        Some(Err(VerifyError::MissingHeader(
            "x-pomerium-jwt-assertion".to_owned()
        )))
    );
    // A kid the keys lack: refused at once while a refetch would be too
    // soon, left to the caller (who fetches) once it is not.
    let stranger_key = new_key();
    let stranger = sign(&stranger_key, &claims_at(now_seconds()));
    assert_eq!(
        verifier.verify_cached(&stranger),
        Some(Err(VerifyError::UnknownKey(stranger_key.kid().to_owned())))
    );
    advance(&clock, 10);
    assert_eq!(verifier.verify_cached(&stranger), None);
    // Stale keys: the caller revalidates.
    advance(&clock, 50);
    assert_eq!(verifier.verify_cached(&token), None, "stale keys");
    assert_eq!(server.requests(), 1);
}
