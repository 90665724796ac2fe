//! Property tests (proptest, on stable, in `make test`): the invariants the
//! fuzz targets check, over generated structured inputs, plus the strip
//! rules and the token cache's promises.

use proptest::prelude::*;
use signed_headers_keys::{Audience, BundleKey, Es256Signer, KeyFormat};

use crate::assertion::{TokenCache, TokenLimits};
use crate::fuzzing;
use crate::identity::Identity;
use crate::strip::StripRules;

/// A header-name-ish string: letters, digits, `-` and `_`.
fn header_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,20}"
}

/// `name` with each letter's case and each `-`/`_` chosen by `choices`.
fn respell(name: &str, choices: &[bool]) -> String {
    name.chars()
        .zip(choices.iter().cycle())
        .map(|(c, &flip)| match c {
            '-' | '_' if flip => '_',
            '-' | '_' => '-',
            c if flip => c.to_ascii_uppercase(),
            c => c,
        })
        .collect()
}

fn signer() -> Es256Signer {
    static KEY: std::sync::OnceLock<BundleKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| BundleKey::generate(KeyFormat::Sec1).unwrap())
        .signer()
        .unwrap()
}

fn identity() -> impl Strategy<Value = Identity> {
    (
        "\\PC{0,12}",
        "\\PC{0,12}",
        "\\PC{0,12}",
        prop::collection::vec("\\PC{1,8}", 0..4),
        "\\PC{0,12}",
        "\\PC{0,6}",
    )
        .prop_map(|(sub, user, email, groups, name, sid)| Identity {
            sub,
            user,
            email,
            groups,
            name,
            sid,
            groups_truncated: false,
            extra: Vec::new(),
        })
}

fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A stripped name never gets through, in any case, repetition or
    /// spelling of `-` as `_`, among any other headers.
    #[test]
    fn strip_never_lets_a_stripped_name_through(
        configured in prop::collection::vec(header_name(), 1..4),
        others in prop::collection::vec(header_name(), 0..6),
        choices in prop::collection::vec(any::<bool>(), 1..32),
        repeats in 1usize..4,
    ) {
        let rules = StripRules::new("x-pomerium-jwt-assertion", configured.clone(), vec![]);
        let mut headers: Vec<String> = others.clone();
        for name in configured.iter().chain(["x-pomerium-jwt-assertion".to_owned(), "x-pomerium-claim-email".to_owned()].iter()) {
            for repeat in 0..repeats {
                let shifted: Vec<bool> = choices.iter().skip(repeat).copied().collect();
                headers.push(respell(name, if shifted.is_empty() { &choices } else { &shifted }));
            }
        }
        let selected = rules.select(headers.iter().map(String::as_str));
        let canonical = |name: &str| name.to_ascii_lowercase().replace('_', "-");
        for header in &headers {
            let is_stripped = configured.iter().any(|c| canonical(c) == canonical(header))
                || canonical(header) == "x-pomerium-jwt-assertion"
                || canonical(header).starts_with("x-pomerium-claim-");
            if is_stripped {
                prop_assert!(selected.iter().any(|s| s.eq_ignore_ascii_case(header)), "{header} kept");
            }
        }
        // Each distinct name is removed once (Envoy removes every value).
        let mut lower: Vec<String> = selected.iter().map(|s| s.to_ascii_lowercase()).collect();
        let count = lower.len();
        lower.sort();
        lower.dedup();
        prop_assert_eq!(lower.len(), count);
    }

    /// The cache never hands out a token minted for another identity, issuer
    /// or audience, nor one with less than half its lifetime left: neither
    /// one worker's cache nor several sharing a few slots (collisions all
    /// the time).
    #[test]
    fn token_cache_serves_only_matching_fresh_tokens(
        identities in prop::collection::vec(identity(), 1..4),
        requests in prop::collection::vec((0usize..4, 0usize..2, 0usize..2, 0u64..400, 0usize..3), 1..24),
        ttl in 2u64..300,
        capacity in 0usize..4,
        shared_slots in 0usize..4,
    ) {
        let signer = signer();
        let shared = crate::assertion::tests::MemoryShared::default();
        let limits = TokenLimits { ttl_seconds: ttl, max_token_bytes: usize::MAX };
        let mut workers: Vec<TokenCache> = (0..3)
            .map(|_| TokenCache::new(capacity, limits).with_shared_slots(shared_slots))
            .collect();
        let issuers = ["iss-a", "iss-b"];
        let audiences = [Audience::from("aud-a"), Audience::Many(vec!["aud-a".into(), "aud-b".into()])];
        let mut now = 1_000_000u64;
        for (who, iss, aud, step, worker) in requests {
            now += step;
            let identity = &identities[who % identities.len()];
            let minted = workers[worker]
                .token_shared(&signer, identity, issuers[iss].into(), audiences[aud].clone(), now, &shared)
                .unwrap()
                .minted;
            let claims = claims_of(&minted.token);
            prop_assert_eq!(claims["sub"].as_str().unwrap(), identity.sub.as_str());
            prop_assert_eq!(claims["email"].as_str().unwrap(), identity.email.as_str());
            prop_assert_eq!(claims["name"].as_str().unwrap(), identity.name.as_str());
            prop_assert_eq!(claims["sid"].as_str().unwrap(), identity.sid.as_str());
            prop_assert_eq!(claims["user"].as_str().unwrap(), identity.user.as_str());
            prop_assert_eq!(claims["groups"].as_array().unwrap().len(), identity.groups.len());
            prop_assert_eq!(claims["iss"].as_str().unwrap(), issuers[iss]);
            prop_assert_eq!(serde_json::from_value::<Audience>(claims["aud"].clone()).unwrap(), audiences[aud].clone());
            let exp = claims["exp"].as_u64().unwrap();
            prop_assert!(exp >= now + ttl - ttl / 2, "exp {} at {} with ttl {}", exp, now, ttl);
            prop_assert!(claims["iat"].as_u64().unwrap() <= now);
        }
    }

    /// Any identity mints a token that verifies and decodes to it.
    #[test]
    fn minted_tokens_verify_and_round_trip(identity in identity(), audience in "\\PC{0,10}", truncated in any::<bool>()) {
        let mut data = Vec::new();
        for field in [&identity.sub, &identity.user, &identity.email] {
            data.extend(field.as_bytes());
            data.push(0xff);
        }
        data.extend(identity.groups.join("\n").as_bytes());
        data.push(0xff);
        for field in [&identity.name, &identity.sid] {
            data.extend(field.as_bytes());
            data.push(0xff);
        }
        data.push(u8::from(truncated));
        data.extend(audience.as_bytes());
        // Printable strings hold no 0xff byte and no newline: the fields
        // arrive as generated.
        fuzzing::mint(&data);
    }

    /// Any authority: accepted hosts are clean.
    #[test]
    fn accepted_hosts_are_clean(authority in "\\PC{0,40}|[a-zA-Z0-9.:\\[\\],@-]{0,40}") {
        fuzzing::authority(authority.as_bytes());
    }

    /// Bundles of any mix of keys re-serialize with the same kids in order.
    #[test]
    fn bundles_round_trip(formats in prop::collection::vec(0u8..3, 1..4), comments in prop::collection::vec("[a-z ]{0,12}", 0..3)) {
        let keys: Vec<BundleKey> = formats
            .iter()
            .map(|format| {
                let key = BundleKey::generate(match format {
                    0 => KeyFormat::Sec1,
                    1 => KeyFormat::Pkcs8,
                    _ => KeyFormat::Spki,
                })
                .unwrap();
                key.with_comments(comments.iter().map(|c| format!("# {c}")).collect())
            })
            .collect();
        let Ok(bundle) = signed_headers_keys::Bundle::from_keys(keys) else {
            return Ok(());
        };
        fuzzing::bundle(bundle.to_pem().as_bytes());
    }
}
