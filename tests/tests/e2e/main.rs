//! End-to-end tests: a real Envoy (`$ENVOY_BIN`) running the built filter
//! (`$SIGNED_HEADERS_WASM`) between a raw HTTP client and an echo upstream.
//! Run them with `make test`, which builds both and exports the variables.
//!
//! One test binary (modules below) so the suite links once; each test starts
//! its own Envoy, on ports the kernel picks, so tests run in parallel.

// All of this binary is test code, helpers included: a panic is how it
// reports a failure (clippy exempts only `#[test]` functions themselves).
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod assertion;
mod bad_input;
mod browser_login;
mod caches;
mod claims;
mod demo;
mod discovery;
mod ext_authz;
mod fail_closed;
mod harness;
mod host;
mod invalid_config;
mod jwks;
mod keys;
mod live_reload;
mod mtls;
mod oci;
mod platforms;
mod policy;
mod providers;
mod readme;
mod remote_module;
mod rotation;
mod route_settings;
mod shipped;
mod soak;
mod strip;
mod support;
mod verifier;
