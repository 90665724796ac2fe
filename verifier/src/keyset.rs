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
    keys: HashMap<String, Es256Key>,
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
        self.keys.get(kid).map(|key| &key.verifying)
    }

    /// The uncompressed point (`04 || x || y`) of the key `kid` names: what
    /// a driver that checks signatures itself imports.
    pub fn point(&self, kid: &str) -> Option<&[u8; 65]> {
        self.keys.get(kid).map(Es256Key::point)
    }

    pub(crate) fn key(&self, kid: &str) -> Option<&Es256Key> {
        self.keys.get(kid)
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn kids(&self) -> &[String] {
        &self.kids
    }
}

/// One P-256 public key and what checks signatures with it: AWS-LC's
/// (assembly, about five times p256's speed on x86-64) with the `aws-lc`
/// feature, p256's otherwise (the JavaScript build, where the package uses
/// WebCrypto instead when the runtime has it).
#[derive(Debug, Clone)]
pub(crate) struct Es256Key {
    verifying: VerifyingKey,
    /// The uncompressed point: what makes two keys the same key.
    point: [u8; 65],
    #[cfg(feature = "aws-lc")]
    parsed: aws_lc_rs::signature::ParsedPublicKey,
}

impl Es256Key {
    fn new(point: [u8; 65]) -> Result<Self, String> {
        let verifying =
            VerifyingKey::from_sec1_bytes(&point).map_err(|_| "not a point on P-256".to_owned())?;
        Ok(Self {
            #[cfg(feature = "aws-lc")]
            parsed: aws_lc_rs::signature::ParsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                point,
            )
            .map_err(|err| format!("AWS-LC refuses the point: {err}"))?,
            verifying,
            point,
        })
    }

    pub(crate) fn point(&self) -> &[u8; 65] {
        &self.point
    }

    /// `signature` is JWS's 64-byte `r || s`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        #[cfg(feature = "aws-lc")]
        {
            signature.len() == 64 && self.parsed.verify_sig(message, signature).is_ok()
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            self.p256_verifies(message, signature)
        }
    }

    #[cfg(any(test, not(feature = "aws-lc")))]
    fn p256_verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        p256::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|signature| self.verifying.verify(message, &signature).is_ok())
    }
}

fn verifying_key(jwk: &EcJwk) -> Result<Es256Key, String> {
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
    let (x, y) = (coordinate("x", &jwk.x)?, coordinate("y", &jwk.y)?);
    let mut point = [0x04; 65];
    for (slot, byte) in point.iter_mut().skip(1).zip(x.iter().chain(&y)) {
        *slot = *byte;
    }
    Es256Key::new(point)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};

    use super::Es256Key;

    /// The two signature checks (AWS-LC natively, p256 in the JavaScript
    /// build) must agree on every signature, so a token is valid or not
    /// whichever language verifies it.
    #[test]
    fn aws_lc_and_p256_agree_on_valid_malleated_and_broken_signatures() {
        for seed in 1u8..=16 {
            let signing = SigningKey::from_slice(&[seed; 32]).unwrap();
            let point: [u8; 65] = signing
                .verifying_key()
                .to_sec1_point(false)
                .as_bytes()
                .try_into()
                .unwrap();
            let key = Es256Key::new(point).unwrap();
            let message = format!("header.payload-{seed}");
            let signature: Signature = signing.sign(message.as_bytes());
            let bytes = signature.to_bytes();
            let (r, s) = signature.split_scalars();
            // The same signature with s replaced by n - s (valid ECDSA,
            // which neither library normalizes away).
            let high_s = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes())
                .unwrap()
                .to_bytes();
            let order_minus_one = (-p256::Scalar::ONE).to_bytes();
            let mut cases: Vec<(&str, Vec<u8>, bool)> = vec![
                ("valid", bytes.to_vec(), true),
                ("n - s", high_s.to_vec(), true),
                (
                    "r = 0",
                    [[0u8; 32].as_slice(), &bytes[32..]].concat(),
                    false,
                ),
                (
                    "s = 0",
                    [&bytes[..32], [0u8; 32].as_slice()].concat(),
                    false,
                ),
                (
                    "r = n - 1",
                    [order_minus_one.as_slice(), &bytes[32..]].concat(),
                    false,
                ),
                ("all ones", vec![0xff; 64], false),
                ("63 bytes", bytes[..63].to_vec(), false),
                ("65 bytes", [bytes.as_slice(), &[0]].concat(), false),
                ("empty", Vec::new(), false),
            ];
            let mut flipped = bytes.to_vec();
            flipped[10] ^= 1;
            cases.push(("a bit flipped", flipped, false));
            for (case, signature, valid) in &cases {
                let by_p256 = key.p256_verifies(message.as_bytes(), signature);
                assert_eq!(by_p256, *valid, "p256 on {case}");
                assert_eq!(
                    key.verifies(message.as_bytes(), signature),
                    by_p256,
                    "{case}"
                );
            }
            assert!(!key.verifies(b"another message", &bytes));
        }
    }
}
