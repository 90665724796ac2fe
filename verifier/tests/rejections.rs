//! Every way a token is refused, and the ways it is accepted.

// Tests: a failed step stops the test loudly.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use signed_headers_verifier::{Policy, Verifier, VerifyError};
use support::{HOST, bundle_pem, claims_at, jwks_of, new_key, now_seconds, sign};

fn verifier_for(key: &signed_headers_keys::BundleKey) -> Verifier {
    Verifier::from_jwks(Policy::new(HOST, HOST), &jwks_of(&[key])).expect("a verifier")
}

fn encode(part: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(part.to_string())
}

#[test]
fn a_fresh_assertion_verifies_with_typed_claims() {
    let key = new_key();
    let now = now_seconds();
    let claims = verifier_for(&key)
        .verify(&sign(&key, &claims_at(now)))
        .expect("a valid token");
    assert_eq!(claims.sub, "alice-id");
    assert_eq!(claims.email, "alice@example.com");
    assert_eq!(claims.groups, ["admins", "staff"]);
    assert_eq!(claims.aud, [HOST]);
    assert_eq!(claims.exp, now + 300);
    assert!(!claims.groups_truncated);
}

/// The key as `jsonwebtoken`'s own signer takes it (PKCS#8 DER).
fn jsonwebtoken_key(key: &signed_headers_keys::BundleKey) -> EncodingKey {
    let pem = key.to_pem();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PKCS#8 DER");
    EncodingKey::from_ec_der(&der)
}

#[test]
fn a_token_signed_by_another_implementation_verifies() {
    let key = new_key();
    let encoding = jsonwebtoken_key(&key);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid().to_owned());
    let mut claims = claims_at(now_seconds());
    claims["aud"] = json!(["other.example", HOST]);
    let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("a token");
    let verified = verifier_for(&key).verify(&token).expect("valid");
    assert_eq!(verified.aud, ["other.example", HOST]);
}

#[test]
fn a_bundle_gives_the_same_keys_as_its_jwks() {
    let (old, new) = (new_key(), new_key());
    let verifier = Verifier::from_bundle(Policy::new(HOST, HOST), &bundle_pem(&[&new, &old]))
        .expect("a bundle");
    let now = now_seconds();
    verifier
        .verify(&sign(&old, &claims_at(now)))
        .expect("old key");
    verifier
        .verify(&sign(&new, &claims_at(now)))
        .expect("new key");
}

#[test]
fn expired_beyond_the_skew_is_refused_within_it_accepted() {
    let key = new_key();
    let verifier = verifier_for(&key);
    let now = now_seconds();
    let expired = sign(&key, &claims_at(now - 300 - 61));
    assert!(matches!(
        verifier.verify(&expired),
        Err(VerifyError::Expired { .. })
    ));
    let just_expired = sign(&key, &claims_at(now - 300 - 50));
    verifier
        .verify(&just_expired)
        .expect("within the 60 s skew");
    let strict = Verifier::from_jwks(
        Policy::new(HOST, HOST).clock_skew(std::time::Duration::ZERO),
        &jwks_of(&[&key]),
    )
    .expect("a verifier");
    assert_eq!(
        strict.verify(&just_expired).map_err(|e| e.code()),
        Err("expired")
    );
}

#[test]
fn issued_in_the_future_beyond_the_skew_is_refused() {
    let key = new_key();
    let verifier = verifier_for(&key);
    let now = now_seconds();
    let early = sign(&key, &claims_at(now + 120));
    assert!(matches!(
        verifier.verify(&early),
        Err(VerifyError::NotYetValid { .. })
    ));
    verifier
        .verify(&sign(&key, &claims_at(now + 30)))
        .expect("within the skew");
    let mut claims = claims_at(now);
    claims["nbf"] = json!(now + 120);
    assert!(matches!(
        verifier.verify(&sign(&key, &claims)),
        Err(VerifyError::NotYetValid { .. })
    ));
}

#[test]
fn wrong_audience_and_wrong_issuer_are_refused() {
    let key = new_key();
    let verifier = verifier_for(&key);
    let mut claims = claims_at(now_seconds());
    claims["aud"] = json!("evil.example");
    assert_eq!(
        verifier.verify(&sign(&key, &claims)),
        Err(VerifyError::WrongAudience(vec!["evil.example".to_owned()]))
    );
    let mut claims = claims_at(now_seconds());
    claims["iss"] = json!("https://evil.example/");
    assert_eq!(
        verifier.verify(&sign(&key, &claims)),
        Err(VerifyError::WrongIssuer("https://evil.example/".to_owned()))
    );
    // Several expected audiences: any one will do.
    let several = Verifier::from_jwks(
        Policy::new(HOST, HOST).or_audience("evil.example"),
        &jwks_of(&[&key]),
    )
    .expect("a verifier");
    let mut claims = claims_at(now_seconds());
    claims["aud"] = json!("evil.example");
    several
        .verify(&sign(&key, &claims))
        .expect("a listed audience");
}

#[test]
fn an_unknown_kid_is_refused() {
    let (published, other) = (new_key(), new_key());
    let token = sign(&other, &claims_at(now_seconds()));
    assert_eq!(
        verifier_for(&published).verify(&token),
        Err(VerifyError::UnknownKey(other.kid().to_owned()))
    );
}

#[test]
fn a_tampered_payload_or_signature_is_refused() {
    let key = new_key();
    let verifier = verifier_for(&key);
    let token = sign(&key, &claims_at(now_seconds()));
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims_at(now_seconds());
    claims["email"] = json!("mallory@example.com");
    let tampered = format!("{}.{}.{}", parts[0], encode(&claims), parts[2]);
    assert_eq!(verifier.verify(&tampered), Err(VerifyError::BadSignature));
    // Another key's signature under this key's kid.
    let forged = sign(&new_key(), &claims_at(now_seconds()));
    let forged_signature = forged.rsplit('.').next().expect("a signature");
    let swapped = format!("{}.{}.{forged_signature}", parts[0], parts[1]);
    assert_eq!(verifier.verify(&swapped), Err(VerifyError::BadSignature));
    let truncated = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..40]);
    assert_eq!(verifier.verify(&truncated), Err(VerifyError::BadSignature));
}

#[test]
fn alg_none_is_refused() {
    let key = new_key();
    let header = json!({"alg": "none", "typ": "JWT", "kid": key.kid()});
    let token = format!("{}.{}.", encode(&header), encode(&claims_at(now_seconds())));
    assert_eq!(
        verifier_for(&key).verify(&token),
        Err(VerifyError::UnsupportedAlgorithm("none".to_owned()))
    );
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    let key = new_key();
    let jwk = key.jwk();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid().to_owned());
    // The classic confusion attack: the public key (any encoding an app
    // might use as an HMAC secret) as the HS256 secret.
    for secret in [
        key.to_public_only().expect("public half").to_pem(),
        serde_json::to_string(&jwk).expect("JSON"),
        jwk.x.clone().unwrap_or_default(),
    ] {
        let token = jsonwebtoken::encode(
            &header,
            &claims_at(now_seconds()),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("a token");
        assert_eq!(
            verifier_for(&key).verify(&token),
            Err(VerifyError::UnsupportedAlgorithm("HS256".to_owned()))
        );
    }
}

#[test]
fn a_missing_kid_is_refused() {
    let key = new_key();
    let token = sign(&key, &claims_at(now_seconds()));
    let parts: Vec<&str> = token.split('.').collect();
    let header = json!({"alg": "ES256", "typ": "JWT"});
    let token = format!("{}.{}.{}", encode(&header), parts[1], parts[2]);
    assert_eq!(
        verifier_for(&key).verify(&token),
        Err(VerifyError::MissingKid)
    );
}

#[test]
fn critical_header_extensions_are_refused_even_when_signed() {
    // RFC 7515 section 4.1.11: the header names an extension this verifier
    // would have to understand, and the signature covers it.
    let key = new_key();
    let encoding = jsonwebtoken_key(&key);
    let header = json!({
        "alg": "ES256", "typ": "JWT", "kid": key.kid(),
        "crit": ["urn:example:must-understand"], "urn:example:must-understand": true
    });
    let input = format!("{}.{}", encode(&header), encode(&claims_at(now_seconds())));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &encoding, Algorithm::ES256)
        .expect("a signature");
    let refused = verifier_for(&key).verify(&format!("{input}.{signature}"));
    assert!(
        matches!(&refused, Err(error) if error.code() == "malformed"),
        "{refused:?}"
    );
}

#[test]
fn malformed_tokens_are_refused_with_a_reason() {
    let key = new_key();
    let verifier = verifier_for(&key);
    let mut without_exp = claims_at(now_seconds());
    without_exp
        .as_object_mut()
        .expect("an object")
        .remove("exp");
    let mut float_exp = claims_at(now_seconds());
    float_exp["exp"] = json!(1.5e9);
    for token in [
        String::new(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "!!!.e30.AAAA".to_owned(),
        sign(&key, &without_exp),
        sign(&key, &float_exp),
        "x".repeat(20_000),
    ] {
        let refused = verifier.verify(&token);
        assert!(
            matches!(refused, Err(VerifyError::Malformed(_))),
            "{token:.40}: {refused:?}"
        );
    }
}

#[test]
fn the_header_must_be_there_exactly_once_in_any_case() {
    let key = new_key();
    let verifier = verifier_for(&key);
    let token = sign(&key, &claims_at(now_seconds()));
    let claims = verifier
        .verify_headers([("Host", HOST), ("X-Pomerium-JWT-Assertion", token.as_str())])
        .expect("found in another letter case");
    assert_eq!(claims.sub, "alice-id");
    assert_eq!(
        verifier.verify_headers([("host", HOST)]),
        Err(VerifyError::MissingHeader(
            "x-pomerium-jwt-assertion".to_owned()
        ))
    );
    assert_eq!(
        verifier
            .verify_headers([
                ("x-pomerium-jwt-assertion", token.as_str()),
                ("x-pomerium-jwt-assertion", token.as_str())
            ])
            .map_err(|err| err.code()),
        Err("duplicate_header")
    );
}
