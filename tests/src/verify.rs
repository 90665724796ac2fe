//! Independent verification of the filter's assertions with `jsonwebtoken`:
//! keys come from the JWKS the filter publishes (selected by `kid`) or from a
//! bare SPKI public key (the ephemeral key the filter logs).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1,
/// BIT STRING of 66 bytes), followed by the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Verifies assertions against a fixed set of public keys.
pub struct AssertionVerifier {
    keys: Vec<VerifierKey>,
}

struct VerifierKey {
    /// `None` for a bare public key: it verifies tokens whatever their `kid`.
    kid: Option<String>,
    key: DecodingKey,
}

/// A token that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    /// The JOSE header exactly as sent.
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

impl VerifiedAssertion {
    /// A claim that must be present.
    pub fn claim(&self, name: &str) -> &Value {
        self.claims
            .get(name)
            .unwrap_or_else(|| panic!("assertion has no {name} claim: {:?}", self.claims))
    }

    /// A claim that must be an integer (never a float).
    pub fn integer_claim(&self, name: &str) -> i64 {
        self.claim(name)
            .as_i64()
            .unwrap_or_else(|| panic!("claim {name} is not an integer: {:?}", self.claims))
    }

    /// A claim that must be a string.
    pub fn string_claim(&self, name: &str) -> &str {
        self.claim(name)
            .as_str()
            .unwrap_or_else(|| panic!("claim {name} is not a string: {:?}", self.claims))
    }
}

impl AssertionVerifier {
    /// The keys of a JWKS document (as served by the filter), each usable only
    /// for tokens carrying its `kid`.
    pub fn from_jwks(jwks_json: &str) -> Self {
        let set: JwkSet = serde_json::from_str(jwks_json)
            .unwrap_or_else(|err| panic!("JWKS is not a valid JWK set ({err}): {jwks_json}"));
        let keys = set
            .keys
            .iter()
            .map(|jwk| VerifierKey {
                kid: Some(
                    jwk.common
                        .key_id
                        .clone()
                        .unwrap_or_else(|| panic!("JWK without kid in {jwks_json}")),
                ),
                key: DecodingKey::from_jwk(jwk)
                    .unwrap_or_else(|err| panic!("unusable JWK ({err}) in {jwks_json}")),
            })
            .collect();
        Self { keys }
    }

    /// A single P-256 public key given as base64 of its SPKI DER (what the
    /// filter logs for an ephemeral key).
    pub fn from_spki_base64(spki_base64: &str) -> Self {
        let der = STANDARD
            .decode(spki_base64.trim())
            .unwrap_or_else(|err| panic!("public key {spki_base64:?} is not base64: {err}"));
        let point = der
            .strip_prefix(P256_SPKI_PREFIX.as_slice())
            .filter(|point| point.len() == 65 && point.first() == Some(&0x04))
            .unwrap_or_else(|| {
                panic!("public key {spki_base64:?} is not an uncompressed P-256 SPKI")
            });
        let (x, y) = point.get(1..).unwrap_or_default().split_at(32);
        let key =
            DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(x), &URL_SAFE_NO_PAD.encode(y))
                .expect("P-256 point coordinates are valid base64url");
        Self {
            keys: vec![VerifierKey { kid: None, key }],
        }
    }

    /// The `kid`s this verifier knows, in order.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref()).collect()
    }

    /// Verifies an assertion: ES256 signature by the key its `kid` names,
    /// `typ` JWT, `iss` and `aud` as given, `exp` in the future (`jsonwebtoken`'s
    /// default 60 s leeway). Panics with the token and the reason otherwise.
    pub fn verify(&self, token: &str, issuer: &str, audience: &str) -> VerifiedAssertion {
        let header = decode_segment(token, 0);
        assert_eq!(
            header.get("alg").and_then(Value::as_str),
            Some("ES256"),
            "assertion header alg: {header:?}"
        );
        assert_eq!(
            header.get("typ").and_then(Value::as_str),
            Some("JWT"),
            "assertion header typ: {header:?}"
        );
        let kid = header.get("kid").and_then(Value::as_str);
        let key = self
            .keys
            .iter()
            .find(|k| k.kid.is_none() || k.kid.as_deref() == kid)
            .unwrap_or_else(|| {
                panic!(
                    "no published key has the assertion's kid {kid:?} (published: {:?})",
                    self.kids()
                )
            });

        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .unwrap_or_else(|err| {
                panic!(
                    "assertion does not verify ({err:?}), expected iss {issuer:?} aud {audience:?}; \
                     header {header:?}, claims {:?}",
                    decode_segment(token, 1)
                )
            });
        VerifiedAssertion {
            header,
            claims: data.claims,
        }
    }
}

/// The JSON object in segment `index` of a compact JWS (no verification).
pub fn decode_segment(token: &str, index: usize) -> Map<String, Value> {
    let segment = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("{token:?} is not a compact JWS"));
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap_or_else(|err| panic!("JWS segment {index} of {token:?} is not base64url: {err}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|err| {
        panic!("JWS segment {index} of {token:?} is not a JSON object: {err}")
    })
}
