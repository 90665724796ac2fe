use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::VerifyingKey;
use serde::Deserialize;
use signed_headers_keys::Bundle;

/// The ES256 keys of a JWKS, by `kid`. Keys of other types (the RS256
/// verify-only keys a bundle may publish) are left out: an assertion is
/// always ES256.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
    /// In document order, for events and logs.
    kids: Vec<String>,
}

/// Why a JWKS document gave no key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError(String);

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JwksError {}

impl JwksError {
    pub(crate) fn new(reason: String) -> Self {
        Self(reason)
    }
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct EcJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    kid: String,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    key_use: Option<String>,
}

impl KeySet {
    /// Parses `{"keys":[...]}`. A document without one usable ES256 key is
    /// an error: an empty key set would refuse every token, so a cache must
    /// keep what it had instead.
    pub fn from_jwks(json: &str) -> Result<Self, JwksError> {
        let document: Document = serde_json::from_str(json)
            .map_err(|err| JwksError(format!("not a JWKS document: {err}")))?;
        let mut set = Self {
            keys: HashMap::new(),
            kids: Vec::new(),
        };
        for (index, value) in document.keys.into_iter().enumerate() {
            if value.get("kty").and_then(serde_json::Value::as_str) != Some("EC") {
                continue;
            }
            let jwk: EcJwk = serde_json::from_value(value)
                .map_err(|err| JwksError(format!("key {}: {err}", index + 1)))?;
            if jwk.alg.as_deref().is_some_and(|alg| alg != "ES256")
                || jwk
                    .key_use
                    .as_deref()
                    .is_some_and(|key_use| key_use != "sig")
                || jwk.kty != "EC"
            {
                continue;
            }
            let key = verifying_key(&jwk)
                .map_err(|why| JwksError(format!("key {} ({}): {why}", index + 1, jwk.kid)))?;
            if set.keys.insert(jwk.kid.clone(), key).is_some() {
                return Err(JwksError(format!("kid {} appears twice", jwk.kid)));
            }
            set.kids.push(jwk.kid);
        }
        if set.kids.is_empty() {
            return Err(JwksError("the JWKS has no ES256 key".to_owned()));
        }
        Ok(set)
    }

    /// The keys a PEM bundle publishes (every key, private or public-only).
    pub fn from_bundle(bundle: &Bundle) -> Result<Self, JwksError> {
        let document = signed_headers_keys::JwksDocument::new(&bundle.jwks());
        Self::from_jwks(document.body())
    }

    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn kids(&self) -> &[String] {
        &self.kids
    }
}

fn verifying_key(jwk: &EcJwk) -> Result<VerifyingKey, String> {
    if jwk.crv != "P-256" {
        return Err(format!("curve {} is not P-256", jwk.crv));
    }
    let coordinate = |name: &str, value: &str| {
        let bytes = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|err| format!("{name}: {err}"))?;
        if bytes.len() == 32 {
            Ok(bytes)
        } else {
            Err(format!("{name} is {} bytes, not 32", bytes.len()))
        }
    };
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend(coordinate("x", &jwk.x)?);
    sec1.extend(coordinate("y", &jwk.y)?);
    VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "not a point on P-256".to_owned())
}
