//! Public JWKs, RFC 7638 thumbprints and the JWKS document the filter serves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::PublicKey;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::rsa::RsaPublic;

/// A public key as published (member order as in the spec): an ES256 key
/// (`crv`, `x`, `y`) or a verify-only RS256 key (`n`, `e`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    pub kid: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub alg: String,
}

impl Jwk {
    pub(crate) fn new(public: &PublicKey, kid: String) -> Self {
        let (x, y) = coordinates(public);
        Self {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(x),
            y: Some(y),
            n: None,
            e: None,
            kid,
            key_use: "sig".into(),
            alg: "ES256".into(),
        }
    }

    pub(crate) fn rsa(public: &RsaPublic, kid: String) -> Self {
        Self {
            kty: "RSA".into(),
            crv: None,
            x: None,
            y: None,
            n: Some(URL_SAFE_NO_PAD.encode(&public.n)),
            e: Some(URL_SAFE_NO_PAD.encode(&public.e)),
            kid,
            key_use: "sig".into(),
            alg: "RS256".into(),
        }
    }
}

/// Base64url (no padding) of the affine x and y coordinates.
fn coordinates(public: &PublicKey) -> (String, String) {
    let point = public.to_sec1_point(false);
    let encode = |bytes: Option<&[u8]>| URL_SAFE_NO_PAD.encode(bytes.unwrap_or_default());
    (
        encode(point.x().map(|x| x.as_slice())),
        encode(point.y().map(|y| y.as_slice())),
    )
}

/// Lowercase hex of the RFC 7638 SHA-256 thumbprint of the key's JWK.
pub fn thumbprint_kid(public: &PublicKey) -> String {
    let (x, y) = coordinates(public);
    // RFC 7638: required members only, lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    hex(&Sha256::digest(canonical.as_bytes()))
}

/// The same for an RSA key (members `e`, `kty`, `n`).
pub fn rsa_thumbprint_kid(public: &RsaPublic) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(&public.e),
        URL_SAFE_NO_PAD.encode(&public.n)
    );
    hex(&Sha256::digest(canonical.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// `{"keys":[...]}`, serialized once, with its strong ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksDocument {
    body: String,
    etag: String,
}

#[derive(Serialize)]
struct JwksBody<'a> {
    keys: &'a [Jwk],
}

/// A strong `ETag` for a document served as `body`: quoted hex of its
/// SHA-256 (128 bits), so equal bodies get equal tags on every replica.
pub fn strong_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex(digest.get(..16).unwrap_or_default()))
}

impl JwksDocument {
    pub fn new(keys: &[Jwk]) -> Self {
        // Serializing plain strings into a String cannot fail; fall back to an
        // empty set rather than panic if it ever did.
        let body = serde_json::to_string(&JwksBody { keys })
            .unwrap_or_else(|_| String::from(r#"{"keys":[]}"#));
        let etag = strong_etag(body.as_bytes());
        Self { body, etag }
    }

    pub fn empty() -> Self {
        Self::new(&[])
    }

    /// The exact bytes served (and printed by `signing-key jwks`).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// A strong ETag, quoted, derived from the body.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}
