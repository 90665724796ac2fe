//! The memo of verified tokens: a repeat is free, but never past the
//! token's `exp` or its key's removal or replacement.

// Tests: a failed step stops the test loudly.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use signed_headers_keys::BundleKey;
use signed_headers_verifier::{CacheOptions, HttpFetch, Policy, Verifier, VerifyError};
use support::{HOST, JwksServer, claims_at, jwks_of, new_key, now_seconds, sign};

/// A verifier on `server` with a clock the test moves (Unix ms).
fn clocked(server: &JwksServer) -> (Verifier, Arc<AtomicU64>) {
    let clock = Arc::new(AtomicU64::new(now_seconds() * 1000));
    let time = Arc::clone(&clock);
    let verifier = Verifier::with_fetcher(
        Policy::new(HOST, HOST),
        HttpFetch::new(&server.url()),
        CacheOptions::default(),
    )
    .with_clock(move || time.load(Ordering::SeqCst));
    (verifier, clock)
}

fn advance(clock: &AtomicU64, seconds: u64) {
    clock.fetch_add(seconds * 1000, Ordering::SeqCst);
}

#[test]
fn a_repeat_gives_the_same_claims_from_the_memo() {
    let key = new_key();
    let verifier = Verifier::from_jwks(Policy::new(HOST, HOST), &jwks_of(&[&key])).unwrap();
    let token = sign(&key, &claims_at(now_seconds()));
    let first = verifier.verify(&token).unwrap();
    assert_eq!(verifier.remembered(), 1);
    for _ in 0..10 {
        assert_eq!(verifier.verify(&token).unwrap(), first);
    }
    assert_eq!(verifier.remembered(), 1);

    // Any other byte is another token, verified in full.
    let mut tampered = token.clone();
    tampered.push('A');
    assert_eq!(verifier.verify(&tampered), Err(VerifyError::BadSignature));
    assert_eq!(verifier.remembered(), 1, "refusals are not remembered");

    let off = Verifier::from_jwks(Policy::new(HOST, HOST), &jwks_of(&[&key]))
        .unwrap()
        .memo_bytes(0);
    assert_eq!(off.verify(&token).unwrap(), first);
    assert_eq!(off.remembered(), 0);
}

#[test]
fn a_remembered_token_expires_with_its_exp_and_the_skew() {
    let key = new_key();
    let server = JwksServer::start(jwks_of(&[&key]), "max-age=86400");
    let (verifier, clock) = clocked(&server);
    let token = sign(&key, &claims_at(now_seconds()));
    verifier.verify(&token).unwrap();
    // exp is iat + 300; the skew forgives 60 s more.
    advance(&clock, 360);
    verifier.verify(&token).expect("within the skew");
    advance(&clock, 1);
    assert!(
        matches!(verifier.verify(&token), Err(VerifyError::Expired { .. })),
        "past exp + skew"
    );
    assert_eq!(verifier.remembered(), 0);
}

#[test]
fn a_remembered_token_is_refused_once_its_key_is_retired() {
    let (old, new) = (new_key(), new_key());
    let server = JwksServer::start(jwks_of(&[&new, &old]), "max-age=60");
    let (verifier, clock) = clocked(&server);
    let token = sign(&old, &claims_at(now_seconds()));
    verifier.verify(&token).unwrap();
    verifier.verify(&token).expect("remembered");

    // Retire: the JWKS stops publishing the old key. Once the cached set
    // is stale it is revalidated, and the remembered token goes with it.
    server.publish(jwks_of(&[&new]), "\"v2\"");
    advance(&clock, 30);
    verifier
        .verify(&token)
        .expect("the cached set still holds the key");
    advance(&clock, 31);
    assert_eq!(
        verifier.verify(&token),
        Err(VerifyError::UnknownKey(old.kid().to_owned()))
    );
    assert_eq!(verifier.remembered(), 0);
}

/// A token for `key` whose header names `kid` (not the key's thumbprint),
/// signed by `jsonwebtoken`.
fn sign_as(key: &BundleKey, kid: &str, claims: &Value) -> String {
    let body: String = key
        .to_pem()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).expect("PKCS#8 DER");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&der)).expect("signed")
}

/// A JWKS publishing `key` under `kid`.
fn jwks_naming(key: &BundleKey, kid: &str) -> String {
    let mut jwks: Value = serde_json::from_str(&jwks_of(&[key])).unwrap();
    jwks["keys"][0]["kid"] = json!(kid);
    jwks.to_string()
}

#[test]
fn a_kid_published_for_another_key_does_not_keep_old_tokens() {
    let (first, second) = (new_key(), new_key());
    let server = JwksServer::start(jwks_naming(&first, "signing"), "max-age=60");
    let (verifier, clock) = clocked(&server);
    let token = sign_as(&first, "signing", &claims_at(now_seconds()));
    verifier.verify(&token).unwrap();

    // The publisher reuses the kid for a new key: a token signed by the old
    // one is no longer valid under it, remembered or not.
    server.publish(jwks_naming(&second, "signing"), "\"v2\"");
    advance(&clock, 61);
    assert_eq!(verifier.verify(&token), Err(VerifyError::BadSignature));
    let fresh = sign_as(&second, "signing", &claims_at(now_seconds()));
    verifier.verify(&fresh).expect("the new key's token");
}

#[test]
fn the_memo_keeps_to_its_budget() {
    let key = new_key();
    let budget = 16 * 1024;
    let verifier = Verifier::from_jwks(Policy::new(HOST, HOST), &jwks_of(&[&key]))
        .unwrap()
        .memo_bytes(budget);
    let now = now_seconds();
    let tokens: Vec<String> = (0..200)
        .map(|index| {
            let mut claims = claims_at(now);
            claims["jti"] = json!(format!("jti-{index}"));
            sign(&key, &claims)
        })
        .collect();
    for token in &tokens {
        verifier.verify(token).unwrap();
    }
    let most = budget / (2 * tokens[0].len());
    let held = verifier.remembered();
    assert!(
        held > 0 && held <= most,
        "{held} tokens held, at most {most}"
    );
    // Forgotten tokens are verified in full again, within the budget.
    for token in tokens.iter().rev() {
        verifier.verify(token).unwrap();
    }
    assert!(verifier.remembered() <= most);
}
