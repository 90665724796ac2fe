//! Fuzz target `jwks_request`: see `signed_headers::fuzzing::jwks_request` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::jwks_request(data));
