//! ES256 compact JWS, built directly: this is the filter's hot path.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::SecretKey;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde::{Deserialize, Serialize};

/// Signs compact JWS with one P-256 key; the protected header is encoded once.
#[derive(Clone)]
pub struct Es256Signer {
    key: SigningKey,
    kid: String,
    encoded_header: String,
}

impl std::fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ProtectedHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

impl Es256Signer {
    pub fn new(secret: &SecretKey, kid: String) -> Self {
        let header = ProtectedHeader {
            alg: "ES256",
            typ: "JWT",
            kid: &kid,
        };
        // A struct of three strings always serializes.
        let header_json = serde_json::to_vec(&header).unwrap_or_default();
        Self {
            key: SigningKey::from(secret),
            encoded_header: URL_SAFE_NO_PAD.encode(header_json),
            kid,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The length of the token [`Self::sign`] makes from a payload of
    /// `payload_len` bytes, known before signing.
    pub fn token_len(&self, payload_len: usize) -> usize {
        // header + '.' + payload + '.' + 86 characters of signature
        let encoded_payload = payload_len.div_ceil(3) * 4 - (3 - payload_len % 3) % 3;
        self.encoded_header.len() + 1 + encoded_payload + 1 + 86
    }

    /// `header.payload.signature` over the given payload bytes (JSON).
    pub fn sign(&self, payload: &[u8]) -> String {
        let mut token = String::with_capacity(self.token_len(payload.len()));
        token.push_str(&self.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature: Signature = self.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        token
    }

    /// Serializes `claims` to JSON and signs them.
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> Result<String, serde_json::Error> {
        serde_json::to_vec(claims).map(|payload| self.sign(&payload))
    }
}

/// `aud`: one audience as a string, several as an array (RFC 7519 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl From<&str> for Audience {
    fn from(audience: &str) -> Self {
        Self::One(audience.to_owned())
    }
}

impl From<String> for Audience {
    fn from(audience: String) -> Self {
        Self::One(audience)
    }
}

/// The claims of an assertion, in the order the spec lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub aud: Audience,
    pub jti: String,
    pub iat: u64,
    pub exp: u64,
    pub sub: String,
    pub user: String,
    pub email: String,
    pub groups: Vec<String>,
    pub sid: String,
    pub name: String,
    /// Present (and `true`) only when the user's groups were dropped to keep
    /// the header within its size or count limit: `groups` is then empty
    /// although the user has groups, and must not be read as "no groups".
    #[serde(default, skip_serializing_if = "is_false")]
    pub groups_truncated: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// 128 random bits, base64url: a token id that never repeats in practice.
pub fn random_jti() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
