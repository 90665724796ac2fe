//! Soak: many distinct users at saturation through a real Envoy, with the
//! token cache on. Bounded by a request count and by `SOAK_SECONDS`
//! (default a few seconds in `make test`; `make soak` runs minutes). Every
//! answer must be 2xx, no wasm VM may fail, and Envoy's memory must stay
//! flat after warm-up (resident set from `/proc`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use signed_headers_e2e::http::{self, Request};
use signed_headers_e2e::{ASSERTION_HEADER, EchoedRequest, EnvoyOptions, TestBed, signing_bundle};

use crate::support::{assert_no_wasm_failure, config_with_key, vms_created};

/// Distinct identities: half the default token cache, so it fills and
/// serves hits.
const USERS: usize = 2000;
const CLIENT_THREADS: usize = 8;
const MAX_REQUESTS: u64 = 2_000_000;
const DEFAULT_SECONDS: u64 = 6;
/// Growth of Envoy's resident set after warm-up that still counts as flat:
/// allocator slack, not a leak (a leak at this rate grows without bound).
const FLAT_MEMORY_SLACK_KIB: u64 = 24 * 1024;

fn soak_duration() -> Duration {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_SECONDS);
    Duration::from_secs(seconds)
}

/// Envoy's resident set size, KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc status")
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// Runs the load for `duration` (or until `budget` requests), returns the
/// number sent.
fn load(bed: &TestBed, tokens: &Arc<Vec<String>>, duration: Duration, tally: &Arc<Tally>) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let address = bed.envoy.listener_address();
    let workers: Vec<_> = (0..CLIENT_THREADS)
        .map(|thread_index| {
            let (tokens, stop, sent, tally) = (
                Arc::clone(tokens),
                Arc::clone(&stop),
                Arc::clone(&sent),
                Arc::clone(tally),
            );
            thread::spawn(move || {
                let mut n = thread_index;
                while !stop.load(Ordering::Relaxed) {
                    if sent.fetch_add(1, Ordering::Relaxed) >= MAX_REQUESTS {
                        return;
                    }
                    n = n.wrapping_mul(2_654_435_761).wrapping_add(12_345);
                    let token = &tokens[n % tokens.len()];
                    match http::try_send(
                        address,
                        &Request::get("/soak").host("app.example").bearer(token),
                    ) {
                        Ok(response) if (200..300).contains(&response.status) => {
                            if EchoedRequest::from_response(&response)
                                .header_values(ASSERTION_HEADER)
                                .len()
                                == 1
                            {
                                tally.ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                tally
                                    .failures
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .push("no assertion".to_owned());
                            }
                        }
                        Ok(response) => tally
                            .failures
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(format!("status {}: {}", response.status, response.text())),
                        Err(err) => tally
                            .failures
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(format!("I/O: {err}")),
                    }
                }
            })
        })
        .collect();
    thread::sleep(duration);
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().expect("a load thread panicked");
    }
    sent.load(Ordering::SeqCst).min(MAX_REQUESTS)
}

#[test]
fn soak_many_users_at_saturation_stays_2xx_with_flat_memory() {
    soak(&EnvoyOptions::with_filter_config(&config_with_key(
        &signing_bundle(),
        json!({}),
    )));
}

/// Every request signs, with nonces from the main thread's producer: the
/// queue stays bounded (memory flat, and settles at its depth when idle).
#[test]
fn soak_signing_every_request_with_the_nonce_producer() {
    const DEPTH: u64 = 1024;
    let bed = soak(
        &EnvoyOptions::with_filter_config(&config_with_key(
            &signing_bundle(),
            json!({"token_cache_entries": 0}),
        ))
        .nonce_producer(&json!({"nonce_producer": {"queue_depth": DEPTH}})),
    );
    let stat = |name: &str| bed.envoy.stats().get(name).copied().unwrap_or(0);
    assert!(stat("wasmcustom.signed_headers.queued_nonces_taken") > 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let waiting = stat("wasmcustom.signed_headers.nonces_queued")
            .saturating_sub(stat("wasmcustom.signed_headers.queued_nonces_taken"));
        if waiting == DEPTH {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue holds {waiting} nonces, not its depth {DEPTH}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Saturates Envoy started with `options` with many users' requests and
/// checks every answer, the memory and the VMs; returns the test bed.
fn soak(options: &EnvoyOptions) -> TestBed {
    let bed = TestBed::start_with(options);
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..USERS)
            .map(|n| bed.idp.token_for(&format!("user-{n:05}")))
            .collect(),
    );
    let total = soak_duration();
    let warm_up = (total / 4).max(Duration::from_secs(1));
    let tally = Arc::new(Tally::default());

    let created = vms_created(&bed);
    load(&bed, &tokens, warm_up, &tally);
    let warm_kib = resident_kib(bed.envoy.pid());
    let started = Instant::now();
    let sent = load(&bed, &tokens, total, &tally);
    let elapsed = started.elapsed();
    let end_kib = resident_kib(bed.envoy.pid());

    let failures = tally
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        sent,
        &failures[..failures.len().min(5)]
    );
    let ok = tally.ok.load(Ordering::SeqCst);
    assert!(ok > 0);
    eprintln!(
        "soak: {ok} requests 2xx, {sent} in the measured {:.1} s ({:.0}/s), {USERS} users; Envoy RSS {warm_kib} KiB after warm-up, {end_kib} KiB at the end",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64()
    );
    assert!(
        end_kib <= warm_kib + FLAT_MEMORY_SLACK_KIB,
        "Envoy grew from {warm_kib} KiB to {end_kib} KiB after warm-up"
    );
    assert_no_wasm_failure(&bed, created);
    bed
}
