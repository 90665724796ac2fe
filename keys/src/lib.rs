//! Keys for signed identity headers: P-256 PEM bundles, their JWKs and JWKS
//! document, and ES256 compact JWS. Pure Rust with no proxy-wasm in it, so the
//! Envoy filter and the `signing-key` CLI compute the same bytes.

mod asn1;
mod bundle;
mod ec_der;
mod error;
pub mod fixed_base;
pub mod hedged;
pub mod hmac_drbg;
mod jwk;
mod jws;
mod rsa;
mod safegcd;
mod sealed;

pub use bundle::{
    Bundle, BundleKey, KeyFormat, KeyGenerationError, KidFormat, MAX_SCOPE_NAME_BYTES,
    is_scope_name,
};
pub use error::{BundleError, Reason};
pub use jwk::{Jwk, JwksDocument, rsa_thumbprint_kid, strong_etag, thumbprint_kid};
pub use jws::{
    AssertionClaims, Audience, Es256Signer, MAX_NONCE_CANDIDATES, PrecomputedNonce,
    SignClaimsError, SigningFailed, random_jti,
};
pub use rsa::{MIN_RSA_BITS, RsaPublic};
pub use sealed::{KEK_ENV, KeyEncryptionKey, KeyEncryptionKeys, Opened, SealError, is_sealed};
