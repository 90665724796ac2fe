//! The fuzz entry point for the app-side verifier (`fuzz/`, target
//! `verify`): what an app's request header can make of it. The seeds under
//! `fuzz/corpus/verify/` are replayed by `make test` (see `replay` below).

// A fuzz target reports a broken invariant by panicking: that is the whole
// point of this module (compiled only for tests and `--features fuzzing`).
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;

use crate::{
    KeySet, Policy, Verifier, VerifyError, signature_input, verify_token, verify_token_checked,
};

const NOW_SECONDS: u64 = 1_800_000_000;
const KID: &str = "fuzz-key";

fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_slice(&[7; 32]).expect("a valid scalar"))
}

fn jwks() -> String {
    let point = signing_key().verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"{KID}","x":"{}","y":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(&bytes[1..33]),
        URL_SAFE_NO_PAD.encode(&bytes[33..65])
    )
}

/// The input's first byte picks what the rest is: odd, a token as a header
/// carries it; even, a claims payload (any bytes) that is signed here with
/// the published key, so the claim checks are reached. Invariants: no
/// panic; a verifier with a memo (small, so it evicts) and one without give
/// the same verdict, twice over; the verdict equals `verify_token`'s;
/// `signature_input` points inside the token; a token accepted is one whose
/// audience, issuer and times pass; and a signature vouched for under
/// another key than the one published never counts.
pub fn verify(data: &[u8]) {
    checked_verdict(data);
}

/// [`verify`], saying whether the token was accepted (`None`: no input).
fn checked_verdict(data: &[u8]) -> Option<bool> {
    let (&mode, rest) = data.split_first()?;
    let token = if mode & 1 == 1 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#));
        let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(rest));
        let signature: p256::ecdsa::Signature = signing_key().sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    };
    let policy = Policy::new("app", "app");
    let jwks = jwks();
    let clock = || NOW_SECONDS * 1000;
    let remembering = Verifier::from_jwks(policy.clone(), &jwks)
        .expect("the fuzz JWKS")
        .memo_bytes(4096)
        .with_clock(clock);
    let forgetting = Verifier::from_jwks(policy.clone(), &jwks)
        .expect("the fuzz JWKS")
        .memo_bytes(0)
        .with_clock(clock);
    let keys = KeySet::from_jwks(&jwks).expect("the fuzz JWKS");

    let verdict = remembering.verify(&token);
    assert_eq!(remembering.verify(&token), verdict, "a repeat differs");
    assert_eq!(forgetting.verify(&token), verdict, "the memo changed it");
    assert_eq!(
        verify_token(&keys, &policy, &token, NOW_SECONDS),
        verdict,
        "Verifier and verify_token differ"
    );
    if let Ok(claims) = &verdict {
        assert!(claims.aud.iter().any(|audience| audience == "app"));
        assert_eq!(claims.iss, "app");
        assert!(claims.exp + 60 >= NOW_SECONDS);
        assert!(claims.iat <= NOW_SECONDS + 60);
    }

    match signature_input(&token) {
        Ok(input) => {
            let signed = &token[input.signed.clone()];
            let signature = &token[input.signature.clone()];
            assert!(input.signed.end < input.signature.start);
            assert!(!signed.starts_with(char::is_whitespace), "{signed}");
            assert!(!signature.contains('.'), "{signature}");
            let point = keys.point(&input.kid).copied();
            // The core trusts a signature verdict only for the key it
            // holds under the token's kid.
            let mut other = [0x04; 65];
            other[64] = 1;
            if point != Some(other) {
                let vouched = verify_token_checked(&keys, &policy, &token, NOW_SECONDS, &other);
                assert!(vouched.is_err(), "a verdict under another key counted");
            }
            if let Some(point) = point {
                // Vouched for under the right key: the same as verifying,
                // except for the signature itself.
                let vouched = verify_token_checked(&keys, &policy, &token, NOW_SECONDS, &point);
                if verdict.is_ok() {
                    assert_eq!(vouched, verdict);
                } else if vouched.is_ok() {
                    assert_eq!(verdict, Err(VerifyError::BadSignature));
                }
            }
        }
        // Refused for JavaScript's WebCrypto path: the core then verifies
        // itself. Only a non-ASCII token (whitespace around it) may pass.
        Err(error) => assert!(
            verdict.is_err() || !token.is_ascii(),
            "accepted what signature_input refuses: {error}"
        ),
    }
    Some(verdict.is_ok())
}

#[cfg(test)]
mod replay {
    use std::path::PathBuf;

    /// Every seed in `fuzz/corpus/verify/`, replayed on stable.
    #[test]
    fn the_verify_corpus_replays_without_a_broken_invariant() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/verify");
        let seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.is_file())
            .collect();
        assert!(!seeds.is_empty(), "no seeds for verify");
        for seed in &seeds {
            let accepted = super::checked_verdict(&std::fs::read(seed).expect("a seed"));
            assert!(accepted.is_some(), "{}: empty", seed.display());
            // The harness reaches acceptance: a signed, valid payload passes.
            let name = seed.file_name().and_then(|name| name.to_str());
            if let Some(name @ ("claims-valid" | "claims-aud-array" | "claims-extra")) = name {
                assert_eq!(accepted, Some(true), "{name}");
            }
        }
    }
}
