//! Entry points for coverage-guided fuzzing (`fuzz/`, `make fuzz`): one per
//! parser the outside world reaches, each checking its invariants by
//! panicking when one breaks. The seed corpora under `fuzz/corpus/` are
//! replayed through the same functions by `make test` (see `replay` below).

// A fuzz target reports a broken invariant by panicking: that is the whole
// point of this module (compiled only for tests and `--features fuzzing`).
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::OnceLock;

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use signed_headers_keys::{
    AssertionClaims, Audience, Bundle, BundleKey, Es256Signer, JwksDocument, KeyFormat, fixed_base,
};

use crate::assertion::{TokenCache, TokenLimits};
use crate::authority;
use crate::config::Settings;
use crate::cookies;
use crate::data::header_map;
use crate::data::value::encode;
use crate::data::{Metadata, Value};
use crate::identity::{self, Identity};
use crate::jwks_endpoint::{self, PublishedKeys};
use crate::strip::StripRules;

/// A fuzz target: checks its invariants on one input.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name of their directory under `fuzz/corpus/`.
pub const TARGETS: [(&str, Target); 10] = [
    ("bundle", bundle),
    ("sealed", sealed),
    ("plugin_config", plugin_config),
    ("identity", identity),
    ("authority", authority),
    ("headers", headers),
    ("header_map", header_map),
    ("jwks_request", jwks_request),
    ("mint", mint),
    ("signing", signing),
];

/// Splits fuzz input into `count` fields at 0xff bytes (missing ones empty).
fn fields(data: &[u8], count: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(count, |&b| b == 0xff).collect();
    parts.resize(count, &[]);
    parts
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Bundle parsing, raw PEM or base64: a parsed bundle re-serializes to one
/// with the same kids in the same order, and its JWKS never holds `d`. The
/// input as DER: whatever `p256`'s own decoders read, the bundle reads too.
pub fn bundle(data: &[u8]) {
    der_reads_like_p256(data);
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Bundle::parse_signing(input);
    let Ok(parsed) = Bundle::parse(input) else {
        return;
    };
    let kids: Vec<&str> = parsed.keys().iter().map(BundleKey::kid).collect();
    let reparsed = Bundle::parse(&parsed.to_pem()).expect("a serialized bundle parses");
    let again: Vec<&str> = reparsed.keys().iter().map(BundleKey::kid).collect();
    assert_eq!(
        kids, again,
        "re-serializing changed the kids or their order"
    );
    let document = JwksDocument::new(&parsed.jwks());
    assert!(
        !document.body().contains("\"d\""),
        "a private key was published"
    );
}

/// `der` in each PEM label the bundle reads by hand (`keys/src/ec_der.rs`):
/// a key `p256`'s (RustCrypto's) decoders read is read as the same key,
/// the one exception a PKCS#8 version 2 key whose outer public key is not
/// its own, which `p256` does not look at and the bundle refuses.
fn der_reads_like_p256(der: &[u8]) {
    use base64::Engine as _;
    use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
    let read_by_p256 = [
        (
            "EC PRIVATE KEY",
            p256::SecretKey::from_sec1_der(der)
                .map(|secret| secret.public_key())
                .ok(),
        ),
        (
            "PRIVATE KEY",
            p256::SecretKey::from_pkcs8_der(der)
                .map(|secret| secret.public_key())
                .ok(),
        ),
        ("PUBLIC KEY", p256::PublicKey::from_public_key_der(der).ok()),
    ];
    for (label, public) in read_by_p256 {
        let Some(public) = public else {
            continue;
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = format!("-----BEGIN {label}-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str(&format!("-----END {label}-----\n"));
        match Bundle::parse(&pem) {
            Ok(bundle) => {
                let kids: Vec<&str> = bundle.keys().iter().map(BundleKey::kid).collect();
                assert_eq!(
                    kids,
                    [signed_headers_keys::thumbprint_kid(&public)],
                    "{label}"
                );
            }
            Err(error) => assert!(
                label == "PRIVATE KEY"
                    && error.reason == signed_headers_keys::Reason::MismatchedPublicKey,
                "p256 reads this {label}, the bundle refuses it: {error}"
            ),
        }
    }
}

/// Sealed bundles and KEK lists: fields are a `SIGNED_HEADERS_KEK` value
/// and a text. Opening never panics, a text that opens was sealed by the
/// KEK it names, and whatever is sealed opens to itself, the same sealed
/// text each time.
pub fn sealed(data: &[u8]) {
    use signed_headers_keys::KeyEncryptionKeys;
    let [keks, input] = [0, 1].map(|index| text(fields(data, 2)[index]));
    let Ok(keks) = KeyEncryptionKeys::parse(&keks) else {
        return;
    };
    if let Ok(opened) = keks.open(&input) {
        let resealed = opened
            .kek
            .seal(&opened.text)
            .expect("a text that opened reseals");
        assert_eq!(resealed.trim(), input.trim(), "sealing is deterministic");
    }
    let sealed = keks.sealing().seal(&input).expect("any text seals");
    let opened = keks.open(&sealed).expect("what was sealed opens");
    assert_eq!(opened.text.as_str(), input);
    assert_eq!(opened.kek.id(), keks.sealing().id());
}

/// The plugin configuration: never panics, and a valid one builds.
pub fn plugin_config(data: &[u8]) {
    let [config, signing_key, kek] = [0, 1, 2].map(|index| fields(data, 3)[index]);
    json_reads_as_serde_json_reads(config);
    let environment = crate::config::Environment {
        signing_key: std::str::from_utf8(signing_key).ok(),
        kek: std::str::from_utf8(kek).ok(),
    };
    // `on_configure` asks first whether this is the nonce producer's.
    if let Ok(Some(producer)) = crate::nonce_queue::ProducerSettings::parse(config) {
        assert!(producer.queue_depth >= crate::nonce_queue::BATCH);
        assert!((1..=90).contains(&producer.main_thread_percent));
    }
    if let Ok(settings) = Settings::parse(config, environment) {
        // Whatever is accepted is usable: the strip rules and sources exist.
        assert!(!settings.identity.is_empty());
        assert!(settings.strip.should_strip("x-pomerium-jwt-assertion"));
        // A header any route's settings set is a header no client sends.
        for header in settings.routes.claim_header_names() {
            assert!(settings.strip.should_strip(header), "{header}");
        }
    }
}

/// The configuration's JSON parser against serde_json: the same documents
/// accepted, read to the same values. Only ours refuses a name written
/// twice in one object; only serde_json refuses a number beyond a double.
fn json_reads_as_serde_json_reads(text: &[u8]) {
    use crate::data::json::Json;
    fn same(ours: &Json, theirs: &serde_json::Value) -> bool {
        match (ours, theirs) {
            (Json::Null, serde_json::Value::Null) => true,
            (Json::Bool(ours), serde_json::Value::Bool(theirs)) => ours == theirs,
            (Json::String(ours), serde_json::Value::String(theirs)) => ours.as_str() == theirs,
            (Json::Number(ours), serde_json::Value::Number(theirs)) => {
                let ours = ours
                    .to_claim()
                    .expect("serde_json read it, so it is finite");
                match (ours.as_f64(), theirs.as_f64()) {
                    // serde_json's default float parsing may be one unit off
                    // in the last place.
                    (Some(a), Some(b)) if ours.is_f64() || theirs.is_f64() => {
                        a == b || (a - b).abs() <= a.abs().max(b.abs()) * 1e-15
                    }
                    _ => ours == *theirs,
                }
            }
            (Json::Array(ours), serde_json::Value::Array(theirs)) => {
                ours.len() == theirs.len()
                    && ours
                        .iter()
                        .zip(theirs)
                        .all(|(ours, theirs)| same(ours, theirs))
            }
            (Json::Object(ours), serde_json::Value::Object(theirs)) => {
                ours.len() == theirs.len()
                    && ours.iter().all(|(name, value)| {
                        theirs.get(name).is_some_and(|theirs| same(value, theirs))
                    })
            }
            _ => false,
        }
    }
    let ours = crate::data::json::parse(text);
    let theirs = serde_json::from_slice::<serde_json::Value>(text);
    match (&ours, &theirs) {
        (Ok(ours), Ok(theirs)) => {
            assert!(same(ours, theirs), "{ours:?} / {theirs:?}");
            struct_reads_as_its_json_reads(theirs, same);
        }
        (Err(_), Err(_)) => {}
        (Err(ours), Ok(_)) => assert!(ours.to_string().starts_with("duplicate field"), "{ours}"),
        (Ok(_), Err(theirs)) => {
            assert!(
                theirs.to_string().starts_with("number out of range"),
                "{theirs}"
            )
        }
    }
}

/// The same document written as a `google.protobuf.Struct`, as Envoy
/// serializes one, reads to the same tree, every number a double.
fn struct_reads_as_its_json_reads(
    document: &serde_json::Value,
    same: fn(&crate::data::json::Json, &serde_json::Value) -> bool,
) {
    fn as_doubles(value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::Number(number) => number
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
            Value::Array(items) => Value::Array(items.iter().map(as_doubles).collect()),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, value)| (name.clone(), as_doubles(value)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let serde_json::Value::Object(fields) = document else {
        return;
    };
    let read = crate::data::json::from_struct(&encode::structure(fields))
        .expect("a Struct of a document that parsed");
    assert!(same(&read, &as_doubles(document)), "{read:?} / {document}");
}

/// Identity decoding: the request's dynamic metadata (the serialized
/// `metadata` property, read with its types) and the connection's
/// certificate attributes. Fields: the metadata (or, when it is a JSON
/// object, a `jwt_authn` payload Envoy would serialize from it), four
/// certificate attributes, the groups delimiter.
pub fn identity(data: &[u8]) {
    let values = fields(data, 6);
    let payload = serde_json::from_slice::<serde_json::Value>(values[0])
        .ok()
        .filter(serde_json::Value::is_object);
    let metadata_bytes = match &payload {
        Some(payload) => encode::metadata(&[(
            crate::config::DEFAULT_METADATA_NAMESPACE,
            &serde_json::json!({ crate::config::DEFAULT_PAYLOAD_KEY: payload }),
        )]),
        None => values[0].to_vec(),
    };
    let metadata = Metadata::new(&metadata_bytes);
    let connection = |attribute: &str| -> Option<Vec<u8>> {
        let index = match attribute {
            "mtls" => return Some(vec![1]),
            "uri_san_peer_certificate" => 1,
            "dns_san_peer_certificate" => 2,
            "subject_peer_certificate" => 3,
            _ => 4,
        };
        let value = values[index];
        (!value.is_empty()).then(|| value.to_vec())
    };
    // The sources as the configuration parser builds them (its defaults),
    // with nested paths, every certificate field mapped and the fuzzed
    // groups delimiter.
    let delimiter = match text(values[5]) {
        delimiter if delimiter.is_empty() => ",".to_owned(),
        delimiter => delimiter,
    };
    let configuration = serde_json::json!({"identity": [
        {"source": "jwt_authn"},
        {"source": "jwt_authn", "claims": {
            "user": "preferred_username", "groups": ["realm_access", "roles"], "name": ["a", "b", "c"],
            "extra": {"x": "x", "nested": ["a", "b"], "fixed": {"value": 1}}
        }},
        {"source": "ext_authz", "groups_delimiter": delimiter},
        {"source": "client_certificate", "claims": {
            "user": "subject_cn", "email": "dns_san", "groups": "subject", "sid": "sha256_digest"
        }},
    ]});
    let sources = Settings::parse(configuration.to_string().as_bytes(), Default::default())
        .expect("a valid configuration")
        .identity;
    let inputs = identity::Inputs {
        metadata,
        connection,
    };
    for source in sources {
        let read = identity::read(std::slice::from_ref(&source), &inputs);
        if let Some(identity) = &read {
            assert!(!identity.sub.is_empty(), "an identity without a subject");
        }
        // A string is never read as a list.
        if let Some(Value::String(groups)) = metadata
            .namespace(crate::config::DEFAULT_METADATA_NAMESPACE)
            .and_then(|namespace| namespace.path(&["jwt_payload", "groups"]))
            && matches!(&source, identity::Source::JwtAuthn { claims, .. } if claims.groups.as_deref() == Some(&["groups".to_owned()][..]))
            && let Some(identity) = &read
        {
            assert_eq!(identity.groups, [groups]);
        }
        // The request cache's key: the same bytes always give the same key,
        // and a key is made only where an identity could be read.
        let (mut first, mut second) = (Vec::new(), Vec::new());
        let made = source.input_key(metadata, &mut first);
        assert_eq!(made, source.input_key(metadata, &mut second));
        assert_eq!(first, second);
        if made.is_none() {
            assert!(read.is_none() || !source.reads_metadata());
        }
    }
    // The request key's one walk of the payload answers as one walk per
    // claim would.
    if let Some(Value::Struct(payload)) = metadata
        .namespace(crate::config::DEFAULT_METADATA_NAMESPACE)
        .and_then(|namespace| namespace.get(crate::config::DEFAULT_PAYLOAD_KEY))
    {
        let paths: Vec<Vec<String>> = [
            &["sub"][..],
            &["groups"],
            &["realm_access", "roles"],
            &["a", "b", "c"],
            &["sub"],
            &[],
        ]
        .iter()
        .map(|path| path.iter().map(|key| (*key).to_owned()).collect())
        .collect();
        let path_refs: Vec<&[String]> = paths.iter().map(Vec::as_slice).collect();
        let walked_once = payload.path_raw_each(&path_refs);
        let walked_each: Vec<_> = paths.iter().map(|path| payload.path_raw(path)).collect();
        assert_eq!(walked_once, walked_each);
    }
    if let Some(payload) = payload {
        assert_claims_follow_their_json_types(&payload, &inputs);
        assert_extra_claims_follow_their_json_types(&payload, &inputs);
    }
}

/// An extra claim is in the identity exactly when its value is a string, a
/// number, a boolean or a list, with that type; the fixed one always is.
fn assert_extra_claims_follow_their_json_types<C: Fn(&str) -> Option<Vec<u8>>>(
    payload: &serde_json::Value,
    inputs: &identity::Inputs<'_, C>,
) {
    let source = Settings::parse(
        br#"{"identity": {"source": "jwt_authn", "claims": {"extra": {"x": "x", "fixed": {"value": 1}}}}}"#,
        Default::default(),
    )
    .expect("a valid configuration")
    .identity;
    let Some(identity) = identity::read(&source, inputs) else {
        return;
    };
    let extra = |name: &str| {
        identity
            .extra
            .iter()
            .find(|(extra, _)| extra == name)
            .map(|(_, value)| value.to_json())
    };
    assert_eq!(extra("fixed"), Some(serde_json::json!(1)));
    match (payload.get("x"), extra("x")) {
        (Some(serde_json::Value::String(text)), Some(value)) => assert_eq!(value, text.as_str()),
        (Some(serde_json::Value::Bool(flag)), Some(value)) => assert_eq!(value, *flag),
        (Some(serde_json::Value::Number(_)), Some(value)) => assert!(value.is_number()),
        (Some(serde_json::Value::Array(_)), Some(value)) => assert!(value.is_array()),
        (Some(serde_json::Value::Object(_) | serde_json::Value::Null) | None, None) => {}
        (written, read) => panic!("extra claim x: {written:?} read as {read:?}"),
    }
}

/// The default `jwt_authn` mapping against the payload's JSON: each claim
/// as the README's table says its type becomes.
fn assert_claims_follow_their_json_types<C: Fn(&str) -> Option<Vec<u8>>>(
    payload: &serde_json::Value,
    inputs: &identity::Inputs<'_, C>,
) {
    use serde_json::Value as Json;
    let sources = Settings::parse(b"{}", Default::default())
        .expect("defaults")
        .identity;
    let read = identity::read(&sources, inputs);
    // JSON numbers arrive as doubles: whole ones below 2^53 are ids.
    let as_id = |value: &Json| match value {
        Json::String(text) => Some(text.clone()),
        Json::Number(number) => number
            .as_f64()
            .filter(|n| n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0)
            .map(|n| format!("{}", n as i64)),
        _ => None,
    };
    let expected_sub = payload
        .get("sub")
        .and_then(as_id)
        .filter(|sub| !sub.is_empty());
    assert_eq!(
        read.as_ref().map(|identity| identity.sub.clone()),
        expected_sub
    );
    let Some(identity) = read else { return };
    let text = |claim: &str| match payload.get(claim) {
        Some(Json::String(text)) => text.clone(),
        _ => String::new(),
    };
    assert_eq!(identity.email, text("email"));
    assert_eq!(identity.name, text("name"));
    assert_eq!(
        identity.sid,
        payload.get("sid").and_then(as_id).unwrap_or_default()
    );
    let expected_groups: Vec<String> = match payload.get("groups") {
        Some(Json::Array(items)) => items
            .iter()
            .filter(|item| item.is_string() || item.is_number())
            .filter_map(as_id)
            .collect(),
        Some(single) => as_id(single).into_iter().collect(),
        None => Vec::new(),
    };
    assert_eq!(identity.groups, expected_groups);
}

/// The request host: accepted hosts carry no port, comma, space or upper
/// case, and are never empty.
pub fn authority(data: &[u8]) {
    let authority = text(data);
    if let Ok(host) = authority::request_host(&authority) {
        assert!(!host.is_empty());
        assert!(!host.contains([',', ' ', '@', '%', '/']), "{host:?}");
        assert!(!host.chars().any(|c| c.is_ascii_uppercase()), "{host:?}");
        assert!(host.starts_with('[') || !host.contains(':'), "{host:?}");
    }
}

/// Header and cookie handling: every name the rules match is selected for
/// removal once, and a stripped cookie never survives.
pub fn headers(data: &[u8]) {
    let [names, configured, cookie_header] = [0, 1, 2].map(|index| fields(data, 3)[index]);
    let configured: Vec<String> = text(configured)
        .split(',')
        .filter(|name| !name.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let rules = StripRules::new("x-signed", configured.clone(), configured.clone());
    let names = text(names);
    let header_names: Vec<&str> = names.split('\n').collect();
    let selected = rules.select(header_names.iter().copied());
    for name in &header_names {
        if rules.should_strip(name) {
            assert!(
                selected
                    .iter()
                    .any(|chosen| chosen.eq_ignore_ascii_case(name)),
                "{name:?} must be removed"
            );
        }
    }
    for chosen in &selected {
        assert!(rules.should_strip(chosen));
    }
    if let Some(kept) = cookies::without_cookies(cookie_header, &configured) {
        for pair in kept.split(|&b| b == b';') {
            let name = pair
                .split(|&b| b == b'=')
                .next()
                .unwrap_or(pair)
                .trim_ascii();
            assert!(
                !configured
                    .iter()
                    .any(|stripped| stripped.as_bytes() == name),
                "stripped cookie {name:?} survived"
            );
        }
    }
}

/// The request's header map as the host hands it over: bytes are either
/// refused or read back exactly as they were serialized (so nothing is
/// skipped that the strip rules should have seen), and pairs the host
/// serializes are read back as they were.
pub fn header_map(data: &[u8]) {
    if let Ok(pairs) = header_map::parse(data)
        && !data.is_empty()
    {
        let as_bytes: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(name, value)| (name.as_bytes(), *value))
            .collect();
        assert_eq!(header_map::serialize(&as_bytes), data);
    }
    // The same input as pairs (name, value, name, ... split at 0xff), as
    // the host would serialize them: names UTF-8, nothing with a NUL.
    let parts: Vec<&[u8]> = data.split(|&byte| byte == 0xff).collect();
    let pairs: Vec<(&[u8], &[u8])> = parts
        .chunks(2)
        .map(|pair| (pair[0], pair.get(1).copied().unwrap_or_default()))
        .filter(|(name, value)| {
            std::str::from_utf8(name).is_ok() && !name.contains(&0) && !value.contains(&0)
        })
        .collect();
    let serialized = header_map::serialize(&pairs);
    let read = header_map::parse(&serialized).expect("a host-serialized map reads");
    let read: Vec<(&[u8], &[u8])> = read
        .iter()
        .map(|(name, value)| (name.as_bytes(), *value))
        .collect();
    assert_eq!(read, pairs);
}

fn published() -> &'static PublishedKeys {
    static PUBLISHED: OnceLock<PublishedKeys> = OnceLock::new();
    PUBLISHED.get_or_init(|| {
        let key = signing_key();
        PublishedKeys {
            document: JwksDocument::new(&[key.jwk()]),
            signing_kid: key.kid().to_owned(),
        }
    })
}

fn signing_key() -> &'static BundleKey {
    static KEY: OnceLock<BundleKey> = OnceLock::new();
    KEY.get_or_init(|| BundleKey::generate(KeyFormat::Sec1).expect("a P-256 key"))
}

/// The JWKS path: any method, path and `If-None-Match` (a preflight or not)
/// gets 200, 304, 204 (only a preflight) or 405.
pub fn jwks_request(data: &[u8]) {
    let [method, path, if_none_match] = [0, 1, 2].map(|index| text(fields(data, 3)[index]));
    let _ = jwks_endpoint::path_only(&path);
    let published = published();
    let inm = (!if_none_match.is_empty()).then_some(if_none_match.as_str());
    let preflight = path.len() % 2 == 1;
    let response = jwks_endpoint::respond(
        published,
        60,
        jwks_endpoint::DocumentRequest {
            method: &method,
            if_none_match: inm,
            preflight,
        },
    );
    match response.status {
        200 => assert_eq!(response.body.as_deref(), Some(published.document.body())),
        304 => assert!(response.body.is_none()),
        204 => assert!(method == "OPTIONS" && preflight && response.body.is_none()),
        405 => assert!(method != "GET" && method != "HEAD"),
        other => panic!("status {other}"),
    }
}

/// Minting: any identity gives a token that verifies with the signing key
/// and whose claims decode to exactly that identity.
pub fn mint(data: &[u8]) {
    let parts = fields(data, 7);
    let identity = Identity {
        sub: text(parts[0]),
        user: text(parts[1]),
        email: text(parts[2]),
        groups: text(parts[3])
            .split('\n')
            .filter(|group| !group.is_empty())
            .map(str::to_owned)
            .collect(),
        name: text(parts[4]),
        sid: text(parts[5]),
        groups_truncated: parts[6].first().is_some_and(|b| b & 1 == 1),
        extra: Vec::new(),
    };
    let key = signing_key();
    let signer = key.signer().expect("a private key");
    let mut cache = TokenCache::new(
        0,
        TokenLimits {
            ttl_seconds: 300,
            max_token_bytes: usize::MAX,
        },
    );
    let audience = Audience::from(text(parts[6]));
    let minted = cache
        .token(&signer, &identity, "issuer".into(), audience.clone(), 1_000)
        .expect("minting never fails with a working random source");
    let segments: Vec<&str> = minted.token.split('.').collect();
    assert_eq!(segments.len(), 3);
    use base64::Engine as _;
    let decode = |segment: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .expect("base64url")
    };
    let signature = Signature::from_slice(&decode(segments[2])).expect("64-byte r||s");
    let signed = format!("{}.{}", segments[0], segments[1]);
    VerifyingKey::from(key.public_key().expect("a P-256 key"))
        .verify(signed.as_bytes(), &signature)
        .expect("the token verifies");
    let claims: AssertionClaims =
        serde_json::from_slice(&decode(segments[1])).expect("the payload is JSON claims");
    assert_eq!(claims.sub, identity.sub);
    assert_eq!(claims.user, identity.user);
    assert_eq!(claims.email, identity.email);
    assert_eq!(claims.groups, identity.groups);
    assert_eq!(claims.name, identity.name);
    assert_eq!(claims.sid, identity.sid);
    assert_eq!(claims.groups_truncated, identity.groups_truncated);
    assert_eq!(claims.aud, audience);
    assert_eq!((claims.iat, claims.exp), (1_000, 1_300));
}

/// Signing: for any scalar `k`, `k·G` from the wide fixed-base tables (alone
/// and in a batch) is `p256`'s variable-base `G·k`, and (for nonzero `k` as
/// the private key) a signature is byte for byte the one `p256`'s
/// `SigningKey` makes.
pub fn signing(data: &[u8]) {
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use p256::elliptic_curve::ops::Reduce;
    use p256::{FieldBytes, ProjectivePoint, Scalar};

    let (scalar_bytes, payload) = data.split_at(data.len().min(32));
    let mut repr = FieldBytes::default();
    repr[32 - scalar_bytes.len()..].copy_from_slice(scalar_bytes);
    let k = <Scalar as Reduce<FieldBytes>>::reduce(&repr);
    let expected = (ProjectivePoint::GENERATOR * k).to_affine();
    assert_eq!(fixed_base::mul_by_generator(&k), expected);
    // A batch shares one inversion among its points.
    assert_eq!(
        fixed_base::mul_by_generator_batch([&k, &-k, &Scalar::ONE]),
        [expected, -expected, p256::AffinePoint::GENERATOR]
    );
    // From `AFFINE_BATCH` scalars on, the sums run side by side in affine
    // coordinates: k, -k, 0 (written as n, which sums to the identity), k + 1,
    // k + 2, …
    let mut ks = vec![k, -k, Scalar::ZERO];
    let mut batch_expected = vec![expected, -expected, p256::AffinePoint::IDENTITY];
    let mut multiple = ProjectivePoint::from(expected);
    for i in 1..=fixed_base::AFFINE_BATCH.saturating_sub(3) as u64 {
        multiple += ProjectivePoint::GENERATOR;
        ks.push(k + Scalar::from(i));
        batch_expected.push(multiple.to_affine());
    }
    assert_eq!(fixed_base::mul_by_generator_batch(&ks), batch_expected);
    let Ok(secret) = p256::SecretKey::from_bytes(&k.to_bytes()) else {
        return; // k = 0 is no key
    };
    let signer = Es256Signer::new(&secret, "kid".into());
    let token = signer.sign(payload).expect("a signature");
    let (input, signature) = token.rsplit_once('.').expect("a compact JWS");
    let expected: Signature = SigningKey::from(&secret).sign(input.as_bytes());
    use base64::Engine as _;
    let decode = |signature: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .expect("base64url")
    };
    assert_eq!(decode(signature)[..], expected.to_bytes()[..]);
    // The filter's own signatures (hedged nonces) verify for the same input.
    let hedged = signer.sign_hedged(payload).expect("a signature");
    let (hedged_input, hedged_signature) = hedged.rsplit_once('.').expect("a compact JWS");
    assert_eq!(hedged_input, input);
    let hedged_signature =
        Signature::from_slice(&decode(hedged_signature)).expect("an ES256 signature");
    VerifyingKey::from(&SigningKey::from(&secret))
        .verify(input.as_bytes(), &hedged_signature)
        .expect("a hedged signature verifies");
}

#[cfg(test)]
mod replay {
    use std::path::PathBuf;

    /// Every seed of every target in `fuzz/corpus/`, replayed on stable:
    /// what the fuzzer found interesting keeps being checked by `make test`.
    #[test]
    fn fuzz_corpora_replay_without_a_broken_invariant() {
        let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        for (target, run) in super::TARGETS {
            let dir = corpus.join(target);
            let seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.is_file())
                .collect();
            assert!(!seeds.is_empty(), "no seeds for {target}");
            for seed in seeds {
                let data = std::fs::read(&seed).unwrap();
                run(&data);
            }
        }
    }
}
