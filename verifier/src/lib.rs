//! Verifies signed-headers assertions (`x-pomerium-jwt-assertion`) in the
//! app behind Envoy.
//!
//! A [`Verifier`] checks the ES256 signature by `kid`, refuses every other
//! `alg`, and checks `exp`/`iat` with a clock skew, `iss` and `aud` against a
//! [`Policy`]. Keys come from a static JWKS or PEM bundle, or from the
//! filter's JWKS URL through a [`JwksCache`] that honours `Cache-Control:
//! max-age`, revalidates with `If-None-Match`, refetches at once (but rate
//! limited) on an unknown `kid`, and keeps the last good key set when a
//! refetch fails: the app side of the three-step rotation.
//!
//! A memo of verified tokens makes a repeated token (the filter reuses a
//! user's token for half its lifetime) cost a lookup instead of a signature
//! check, never past the token's `exp` or its key's removal.
//!
//! The cache is sans-I/O: [`Verifier`] drives it with a blocking [`Fetch`]
//! (with the `http` feature, [`HttpFetch`] over ureq); the JavaScript package
//! drives the same cache with the runtime's `fetch`.

mod cache;
mod claims;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(feature = "http")]
mod http;
mod keyset;
mod memo;
mod policy;
mod token;
mod verifier;

pub use cache::{CacheEvent, CacheOptions, CacheStats, FetchResponse, JwksCache, Plan};
pub use claims::Claims;
pub use error::VerifyError;
#[cfg(feature = "http")]
pub use http::{HttpFetch, TrustedRoots, jwks_agent};
pub use keyset::{JwksError, KeySet};
pub use memo::{DEFAULT_MEMO_BYTES, VerifiedTokens};
pub use policy::Policy;
pub use token::{SignatureInput, kid_of, signature_input, verify_token, verify_token_checked};
pub use verifier::{Fetch, Verifier};
