//! The filter's caches, counted with its own metrics (summed over the
//! workers): one signature per user for the whole Envoy, not per worker
//! (each worker VM has its own token cache; the shared slots in proxy-wasm
//! shared data let a worker reuse a token another one signed), and a
//! repeated request's identity read once per worker (the request cache,
//! keyed by the raw `jwt_authn` payload and authority).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoedRequest, EnvoyOptions, TestBed, signing_bundle,
};

use crate::support::config_with_key;

const USERS: usize = 20;
const ROUNDS: usize = 6;
const SIGNED: &str = "wasmcustom.signed_headers.tokens_signed";
const SHARED_HITS: &str = "wasmcustom.signed_headers.shared_cache_hits";
const IDENTITY_READS: &str = "wasmcustom.signed_headers.identity_reads";

/// Every user's requests, each on a new connection (so spread over the
/// workers); returns the distinct tokens each user got, and the counters.
fn traffic(settings: Value) -> (BTreeMap<String, BTreeSet<String>>, u64, u64) {
    let bed = TestBed::start(&config_with_key(&signing_bundle(), settings));
    let tokens: Vec<(String, String)> = (0..USERS)
        .map(|user| {
            let subject = format!("user-{user:02}");
            let token = bed.idp.token_for(&subject);
            (subject, token)
        })
        .collect();
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for _ in 0..ROUNDS {
        for (subject, token) in &tokens {
            let response = bed.send(&Request::get("/").host("app.example").bearer(token));
            let assertion = EchoedRequest::from_response(&response)
                .single_header(ASSERTION_HEADER)
                .to_owned();
            seen.entry(subject.clone()).or_default().insert(assertion);
        }
    }
    let workers = bed.envoy.worker_connection_counts();
    assert!(
        workers.len() == 2 && workers.iter().all(|&count| count > 0),
        "both workers must take connections for this test to mean anything: {workers:?}"
    );
    let stats = bed.envoy.stats();
    let counter = |name: &str| {
        *stats
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in Envoy's stats"))
    };
    (seen, counter(SIGNED), counter(SHARED_HITS))
}

#[test]
fn workers_share_tokens_so_each_user_costs_one_signature() {
    let (seen, signed, shared_hits) = traffic(json!({}));
    for (subject, tokens) in &seen {
        assert_eq!(
            tokens.len(),
            1,
            "{subject} got {} tokens (signed {signed}, shared hits {shared_hits}): {seen:#?}",
            tokens.len()
        );
    }
    assert_eq!(signed, USERS as u64, "one signature per user");
    assert!(
        shared_hits >= 1,
        "the other worker took at least one token from the shared slots"
    );
}

#[test]
fn without_shared_slots_each_worker_signs_on_its_own() {
    let (seen, signed, shared_hits) = traffic(json!({"shared_token_cache_slots": 0}));
    assert_eq!(shared_hits, 0);
    // A user whose requests reached both workers got two tokens.
    let twice = seen.values().filter(|tokens| tokens.len() == 2).count();
    assert!(twice > 0, "{seen:?}");
    assert_eq!(
        signed,
        seen.values().map(|tokens| tokens.len() as u64).sum::<u64>()
    );
    assert!(signed > USERS as u64);
}

#[test]
fn a_repeated_request_reads_its_identity_once_per_worker() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"claim_headers": ["email", "groups"]}),
    ));
    let alice = bed.idp.token_for("alice");
    let bob = bed.idp.token_for("bob");
    let send = |token: &str, host: &str| {
        let response = bed.envoy.send(&Request::get("/").host(host).bearer(token));
        EchoedRequest::from_response(&response)
    };
    let reads = || bed.envoy.stats().get(IDENTITY_READS).copied().unwrap_or(0);

    let first = send(&alice, "app.example");
    let mut assertions = BTreeSet::new();
    for _ in 0..10 {
        let echoed = send(&alice, "app.example");
        assert_eq!(
            echoed.header_values("x-pomerium-claim-email"),
            ["alice@example.com"]
        );
        assert_eq!(
            echoed.single_header("x-pomerium-claim-groups"),
            first.single_header("x-pomerium-claim-groups")
        );
        assertions.insert(echoed.single_header(ASSERTION_HEADER).to_owned());
    }
    let after_alice = reads();
    assert!(
        (1..=signed_headers_e2e::CONCURRENCY as u64).contains(&after_alice),
        "11 requests of one token read the identity {after_alice} times"
    );
    // The shared slots give the second worker the first one's token.
    assert_eq!(assertions.len(), 1);

    // Another user, another host: each read (at least) once, and served
    // their own identity and audience.
    let echoed = send(&bob, "app.example");
    let claims = signed_headers_e2e::decode_segment(echoed.single_header(ASSERTION_HEADER), 1);
    assert_eq!(claims["sub"], "bob");
    let echoed = send(&alice, "other.example");
    let claims = signed_headers_e2e::decode_segment(echoed.single_header(ASSERTION_HEADER), 1);
    assert_eq!(
        (claims["sub"].as_str(), claims["aud"].as_str()),
        (Some("alice"), Some("other.example"))
    );
    assert!(reads() >= after_alice + 2);
}

/// The assertion for a request with `idp_token` to `app.example`, checked
/// by jsonwebtoken (AWS-LC), not our own p256.
fn verified_assertion(bed: &TestBed, verifier: &AssertionVerifier, idp_token: &str) -> String {
    let response = bed
        .envoy
        .send(&Request::get("/").host("app.example").bearer(idp_token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = echoed.single_header(ASSERTION_HEADER);
    verifier.verify(assertion, "app.example", "app.example");
    assertion.to_owned()
}

/// The filter with a signing key and no token cache: every request signs.
fn signing_every_request() -> EnvoyOptions {
    EnvoyOptions::with_filter_config(&config_with_key(
        &signing_bundle(),
        json!({"token_cache_entries": 0}),
    ))
}

#[test]
fn nonces_precomputed_between_requests_sign_tokens_that_verify() {
    // Every request signs; the workers top up precomputed nonces on a timer.
    let bed = TestBed::start_with(&signing_every_request());
    let verifier = bed.jwks_verifier();
    let token = bed.idp.token_for("alice");
    let precomputed = || {
        bed.envoy
            .stats()
            .get("wasmcustom.signed_headers.precomputed_signatures")
            .copied()
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut sent = 0u64;
    let mut assertions = BTreeSet::new();
    while sent < 20 || precomputed() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no signature used a precomputed nonce"
        );
        assertions.insert(verified_assertion(&bed, &verifier, &token));
        sent += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(assertions.len() as u64, sent, "every request signed anew");
    let stats = bed.envoy.stats();
    assert_eq!(stats.get(SIGNED).copied(), Some(sent));
    assert!(precomputed() >= 1);
}

/// Calls of `callback` (e.g. `proxy_on_tick`) into the filter's VMs so far
/// (Envoy's wasm trace lines).
fn host_calls(bed: &TestBed, callback: &str) -> usize {
    bed.envoy
        .flushed_log()
        .matches(&format!("[host->vm] {callback}("))
        .count()
}

/// The window idle ticks are counted over: once a second, at most 4 a VM.
const TICK_WINDOW: std::time::Duration = std::time::Duration::from_secs(3);

/// Ticks the filter's root contexts get in the next [`TICK_WINDOW`].
fn ticks_in_window(bed: &TestBed) -> usize {
    let before = host_calls(bed, "proxy_on_tick");
    std::thread::sleep(TICK_WINDOW);
    host_calls(bed, "proxy_on_tick") - before
}

/// Asserts that the next [`TICK_WINDOW`] has at most `most` ticks, and at
/// least one (with none in the log, the count would prove nothing).
fn assert_idle(bed: &TestBed, most: usize, when: &str) {
    let ticks = ticks_in_window(bed);
    assert!(ticks <= most, "{ticks} ticks in {TICK_WINDOW:?} {when}");
    assert!(
        ticks >= 1,
        "no tick in the log {when}: this test would prove nothing"
    );
}

#[test]
fn a_worker_with_a_full_nonce_pool_ticks_once_a_second_until_signing_uses_it() {
    let bed = TestBed::start_with(&signing_every_request().log_level("trace"));
    // Once every pool is full, each VM ticks once a second; signatures that
    // use nonces bring back the 10 ms tick until they are replaced.
    // At most 4 ticks in 3 s (were 300) for each worker's VM and for the
    // main thread's copy of the filter (Envoy configures it too).
    let idle_most = (bed.envoy.concurrency() + 1) * 4;
    // 64 ticks of 10 ms fill a worker's pool.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_idle(&bed, idle_most, "while idle");

    let verifier = bed.jwks_verifier();
    let token = bed.idp.token_for("alice");
    for _ in 0..100 {
        verified_assertion(&bed, &verifier, &token);
    }
    let refilling = ticks_in_window(&bed);
    assert!(
        refilling > idle_most,
        "{refilling} ticks in {TICK_WINDOW:?} after 100 signatures used 100 nonces"
    );
    // Refilled (100 ticks, spread over the workers), with room for a slow
    // machine, before counting again.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_idle(&bed, idle_most, "once refilled");
}

/// The `r` half of an ES256 signature: two signatures sharing it used one
/// nonce twice (and together give the private key away).
fn signature_r(token: &str) -> Vec<u8> {
    let signature = token.rsplit('.').next().expect("a compact JWS");
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
            .expect("base64url signature");
    assert_eq!(bytes.len(), 64, "an ES256 signature is r || s");
    bytes[..32].to_vec()
}

const QUEUED: &str = "wasmcustom.signed_headers.nonces_queued";
const TAKEN: &str = "wasmcustom.signed_headers.queued_nonces_taken";

/// Waits up to 15 s for `done`, failing with `what`.
fn wait_for(what: &str, done: &dyn Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A test bed whose filter signs every request, with a nonce producer
/// keeping `depth` nonces queued.
fn producer_bed(depth: u64, log_level: &str) -> TestBed {
    TestBed::start_with(
        &signing_every_request()
            .nonce_producer(&json!({"nonce_producer": {"queue_depth": depth}}))
            .log_level(log_level),
    )
}

#[test]
fn an_idle_nonce_producer_ticks_once_a_second_until_workers_take_its_nonces() {
    const DEPTH: u64 = 64;
    let bed = producer_bed(DEPTH, "trace");
    let stat = |name: &str| bed.envoy.stats().get(name).copied().unwrap_or(0);
    let wake_ups = || host_calls(&bed, "proxy_on_queue_ready");
    // Each worker's VM, the main thread's copy of the filter and the
    // producer: at most 4 ticks each in 3 s once idle (the producer alone
    // ticked 300 times before it could sleep).
    let idle_most = (bed.envoy.concurrency() + 2) * 4;
    wait_for("the producer never filled its queue", &|| {
        stat(QUEUED).saturating_sub(stat(TAKEN)) == DEPTH
    });
    // The workers' pools fill at 10 ms ticks, from the queue or themselves;
    // the queue is topped up again after.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_idle(&bed, idle_most, "while idle");

    let verifier = bed.jwks_verifier();
    let token = bed.idp.token_for("alice");
    let woken_before = wake_ups();
    for _ in 0..200 {
        verified_assertion(&bed, &verifier, &token);
    }
    assert!(stat(TAKEN) > 0, "no worker took queued nonces");
    assert!(
        wake_ups() > woken_before,
        "workers took nonces without waking the producer"
    );
    wait_for("the producer did not top its queue up", &|| {
        stat(QUEUED).saturating_sub(stat(TAKEN)) == DEPTH
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_idle(&bed, idle_most, "once the queue was full again");
}

#[test]
fn a_producer_configured_as_a_struct_fills_its_queue_to_its_depth() {
    // A Struct's numbers are doubles: 48 must read as the whole number.
    const DEPTH: u64 = 48;
    let bed = TestBed::start_with(
        &signing_every_request()
            .nonce_producer_as_struct(&json!({"nonce_producer": {"queue_depth": DEPTH}})),
    );
    let stat = |name: &str| bed.envoy.stats().get(name).copied().unwrap_or(0);
    wait_for("the producer never filled its queue", &|| {
        stat(QUEUED).saturating_sub(stat(TAKEN)) == DEPTH
    });
    // And no further: the depth is the one written.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(stat(QUEUED).saturating_sub(stat(TAKEN)), DEPTH);
}

#[test]
fn nonces_from_the_main_thread_producer_sign_every_token_once() {
    const DEPTH: u64 = 64;
    let bed = producer_bed(DEPTH, "info");
    let stat = |name: &str| bed.envoy.stats().get(name).copied().unwrap_or(0);
    // The producer fills the queue; the workers top their pools up from it.
    wait_for("the producer never queued nonces", &|| {
        stat(QUEUED) >= DEPTH
    });
    wait_for("no worker took queued nonces", &|| stat(TAKEN) > 0);

    let verifier = bed.jwks_verifier();
    let token = bed.idp.token_for("alice");
    let mut nonces_used = BTreeSet::new();
    const REQUESTS: u64 = 400;
    for _ in 0..REQUESTS {
        let assertion = verified_assertion(&bed, &verifier, &token);
        assert!(
            nonces_used.insert(signature_r(&assertion)),
            "two signatures share a nonce"
        );
    }
    assert_eq!(stat(SIGNED), REQUESTS);
    // Every signature used a precomputed nonce, more than the workers' own
    // pools (64 each) and timers (one per 10 ms) hold: most came from the
    // queue.
    assert_eq!(
        stat("wasmcustom.signed_headers.precomputed_signatures"),
        REQUESTS
    );
    assert!(stat(TAKEN) >= REQUESTS / 2, "taken {}", stat(TAKEN));
    // Idle again, the producer tops the queue up to exactly its depth:
    // what it queued, less what the workers took.
    wait_for("the queue is not back at its depth", &|| {
        stat(QUEUED).saturating_sub(stat(TAKEN)) == DEPTH
    });
}
