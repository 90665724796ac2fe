//! The test identity provider: a P-256 key whose public JWKS Envoy's
//! `jwt_authn` filter trusts, and a minter for its JWTs. Tokens are signed by
//! `jsonwebtoken` (AWS-LC), so nothing here depends on the filter's signer;
//! only key generation and the JWKS document come from `signed-headers-keys`.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use signed_headers_keys::{Bundle, BundleKey, JwksDocument, KeyFormat};

/// An identity provider with one ES256 key.
pub struct TestIdp {
    kid: String,
    jwks: String,
    encoding_key: EncodingKey,
}

impl std::fmt::Debug for TestIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIdp")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TestIdp {
    /// The `iss` Envoy's `jwt_authn` provider requires.
    pub const ISSUER: &'static str = "https://idp.test";
    /// The audience Envoy's `jwt_authn` provider requires.
    pub const AUDIENCE: &'static str = "signed-headers-e2e";
    /// Lifetime of the tokens minted by [`TestIdp::token`].
    pub const TOKEN_LIFETIME_SECONDS: u64 = 600;

    pub fn new() -> Self {
        // PKCS#8 because that is the private-key encoding `jsonwebtoken` reads.
        let key = BundleKey::generate(KeyFormat::Pkcs8).expect("test IdP: cannot generate a key");
        let pkcs8_der = pem_body_der(&key.to_pem());
        let kid = key.kid().to_owned();
        let bundle = Bundle::from_keys(vec![key]).expect("test IdP: a one-key bundle");
        Self {
            kid,
            jwks: JwksDocument::new(&bundle.jwks()).body().to_owned(),
            encoding_key: EncodingKey::from_ec_der(&pkcs8_der),
        }
    }

    /// The public JWKS document, for `jwt_authn`'s `local_jwks`.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A token Envoy accepts: `iss`, `aud`, `iat` and `exp` filled in, then
    /// `claims` (an object) added on top, overriding any of those.
    pub fn token(&self, claims: &Value) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let mut payload = Map::new();
        payload.insert("iss".into(), json!(Self::ISSUER));
        payload.insert("aud".into(), json!(Self::AUDIENCE));
        payload.insert("iat".into(), json!(now));
        payload.insert("exp".into(), json!(now + Self::TOKEN_LIFETIME_SECONDS));
        let Value::Object(extra) = claims else {
            panic!("IdP claims must be a JSON object, got {claims}");
        };
        payload.extend(extra.clone());
        self.sign(&Value::Object(payload))
    }

    /// A token for a typical user: `sub`, `email`, `groups`, `name` and `sid`.
    pub fn token_for(&self, subject: &str) -> String {
        self.token(&Self::user_claims(subject))
    }

    /// The claims [`TestIdp::token_for`] puts in a token for `subject`.
    pub fn user_claims(subject: &str) -> Value {
        json!({
            "sub": subject,
            "email": format!("{subject}@example.com"),
            "groups": ["engineering", "on-call"],
            "name": format!("User {subject}"),
            "sid": format!("session-{subject}"),
        })
    }

    /// Signs `payload` verbatim (no claims added).
    pub fn sign(&self, payload: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, payload, &self.encoding_key)
            .expect("test IdP: jsonwebtoken could not sign")
    }
}

impl Default for TestIdp {
    fn default() -> Self {
        Self::new()
    }
}

/// The DER bytes inside a single PEM block.
fn pem_body_der(pem: &str) -> Vec<u8> {
    let base64_text: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(base64_text.trim())
        .expect("test IdP: the key's PEM body is not base64")
}
