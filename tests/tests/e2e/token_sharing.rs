//! One signature per user for the whole Envoy, not per worker: each worker
//! VM has its own token cache, and the shared slots (proxy-wasm shared data)
//! let a worker reuse a token another one signed. Counted with the filter's
//! own metrics, summed over the workers.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{ASSERTION_HEADER, EchoedRequest, TestBed, signing_bundle};

use crate::support::config_with_key;

const USERS: usize = 20;
const ROUNDS: usize = 6;
const SIGNED: &str = "wasmcustom.signed_headers.tokens_signed";
const SHARED_HITS: &str = "wasmcustom.signed_headers.shared_cache_hits";

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
